"""Time arithmetic and point-in-time window sums shared by every feature family.

A feature as of ``t`` sums events dated in ``[t - window, t)``: strictly before ``t``. Events are
kept sorted by (institution, day) with prefix sums of their weights, so that the sum over any
window for any number of (institution, as_of) queries costs two binary searches per query; this
is what makes a panel of features at thousands of dates cheap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

_DAY_OFFSET = 1 << 21  # keeps day numbers of any real date positive inside a key
_INSTITUTION_STRIDE = 1 << 23
NO_DAY = np.iinfo(np.int64).min // 4  # "before any event": the lower bound of an open window


def as_timestamp(value: object, name: str = "as_of") -> pd.Timestamp:
    """A midnight timestamp from a date, datetime, Timestamp or ISO string."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a date such as '2024-07-01'; got {value!r}") from error
    if pd.isna(stamp):
        raise ValueError(f"{name} must be a date such as '2024-07-01'; got {value!r}")
    if stamp.tzinfo is not None:
        raise ValueError(f"{name} must be a calendar date without time zone; got {value!r}")
    return stamp.normalize()


def day_numbers(values: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 as int64; missing dates become ``NO_DAY``."""
    dates = pd.DatetimeIndex(pd.to_datetime(values))
    days = dates.values.astype("datetime64[D]").astype(np.int64)
    return np.where(dates.isna(), NO_DAY, days)


def month_numbers(values: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Months since year 0 (``year * 12 + month - 1``), the month key used by the claim aggregates."""
    dates = pd.DatetimeIndex(pd.to_datetime(values))
    return (dates.year.to_numpy(np.int64) * 12 + dates.month.to_numpy(np.int64) - 1).astype(np.int64)


def month_start(month: int) -> pd.Timestamp:
    """The first day of a month number."""
    return pd.Timestamp(year=month // 12, month=month % 12 + 1, day=1)


def month_starts(months: np.ndarray | pd.Series) -> np.ndarray:
    """The first day of each month number, as datetime64[ns] (vectorised :func:`month_start`)."""
    numbers = np.asarray(months, dtype=np.int64) - 1970 * 12
    return numbers.astype("datetime64[M]").astype("datetime64[ns]")


def months_before(dates: pd.DatetimeIndex, months: int) -> pd.DatetimeIndex:
    """``dates`` moved back by whole calendar months (the 31st falls back to the month's last day)."""
    return pd.DatetimeIndex(dates) - pd.DateOffset(months=months)


@dataclass(frozen=True)
class EventIndex:
    """Events sorted by (institution, day) with exclusive prefix sums of their weight columns."""

    keys: np.ndarray
    prefix: np.ndarray  # (n events + 1, n columns); row i sums events 0..i-1
    columns: tuple[str, ...]

    def column(self, name: str) -> int:
        return self.columns.index(name)


def _keys(institution: np.ndarray, day: np.ndarray) -> np.ndarray:
    day = np.clip(day, -_DAY_OFFSET + 1, _DAY_OFFSET - 1)
    return institution.astype(np.int64) * _INSTITUTION_STRIDE + (day + _DAY_OFFSET)


def event_index(institution: np.ndarray, day: np.ndarray, weights: pd.DataFrame) -> EventIndex:
    """Index events (``institution`` as integer positions, ``day`` as day numbers) and their weights.

    Events without a day (``NO_DAY``) or without a known institution (negative position) are left
    out: they cannot be placed in time or attributed.
    """
    keep = (day != NO_DAY) & (institution >= 0)
    keys = _keys(institution[keep], day[keep])
    values = weights.to_numpy(dtype=np.float64, na_value=0.0)[keep]
    order = np.argsort(keys, kind="stable")
    prefix = np.zeros((len(order) + 1, values.shape[1]), dtype=np.float64)
    np.cumsum(values[order], axis=0, out=prefix[1:])
    return EventIndex(keys[order], prefix, tuple(weights.columns))


def window_sums(index: EventIndex, institution: np.ndarray, start_day: np.ndarray, end_day: np.ndarray) -> np.ndarray:
    """Sums of every weight column over events with ``start_day <= day < end_day``, one row per query."""
    start_day = np.where(start_day == NO_DAY, -_DAY_OFFSET + 1, start_day)
    upper = np.searchsorted(index.keys, _keys(institution, end_day), side="left")
    lower = np.searchsorted(index.keys, _keys(institution, start_day), side="left")
    return index.prefix[upper] - index.prefix[lower]


def last_event_day(index: EventIndex, institution: np.ndarray, end_day: np.ndarray) -> np.ndarray:
    """Day of the latest event strictly before ``end_day`` for each query, NaN when there is none."""
    if len(index.keys) == 0:
        return np.full(len(institution), np.nan)
    upper = np.searchsorted(index.keys, _keys(institution, end_day), side="left")
    previous = np.maximum(upper - 1, 0)
    found = (upper > 0) & (index.keys[previous] // _INSTITUTION_STRIDE == institution)
    days = (index.keys[previous] % _INSTITUTION_STRIDE - _DAY_OFFSET).astype(np.float64)
    return np.where(found, days, np.nan)


def window_bounds(as_of: pd.DatetimeIndex, months: Iterable[int | None]) -> dict[int | None, np.ndarray]:
    """Start day of each window (``None`` = all history) for every as_of date."""
    bounds: dict[int | None, np.ndarray] = {}
    for window in months:
        if window is None:
            bounds[None] = np.full(len(as_of), NO_DAY, dtype=np.int64)
        else:
            bounds[window] = day_numbers(months_before(as_of, window))
    return bounds


def safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is zero or missing."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=np.isfinite(denominator) & (denominator != 0))
    return out


@dataclass(frozen=True)
class Queries:
    """The (institution, as_of) rows a feature frame is computed for."""

    institution: np.ndarray  # positions in the institutions index
    as_of: pd.DatetimeIndex
    day: np.ndarray  # as_of as day numbers
    starts: dict[int | None, np.ndarray]  # window length in months (None: all history) -> first day

    @classmethod
    def build(cls, institution: np.ndarray, as_of: pd.DatetimeIndex, windows: Iterable[int | None]) -> Queries:
        as_of = pd.DatetimeIndex(as_of)
        return cls(np.asarray(institution, dtype=np.int64), as_of, day_numbers(as_of), window_bounds(as_of, windows))

    def __len__(self) -> int:
        return len(self.institution)

    def sums(self, index: EventIndex, window: int | None) -> dict[str, np.ndarray]:
        """Every weight column of ``index`` summed over the window before each query."""
        totals = window_sums(index, self.institution, self.starts[window], self.day)
        return {name: totals[:, i] for i, name in enumerate(index.columns)}

    def days_since_last(self, index: EventIndex) -> np.ndarray:
        return self.day - last_event_day(index, self.institution, self.day)


def window_label(window: int | None) -> str:
    return "ever" if window is None else f"{window}m"


def window_text(window: int | None, date_column: str) -> str:
    if window is None:
        return f"all history before as_of, by {date_column}"
    return f"[as_of - {window} months, as_of), by {date_column}"
