"""Staff points under the national rule (医保支付资格记分, 2024).

Each responsible person collects points per event; points are summed per calendar year (the
12-point cycle) and start again at zero each January. Reaching 9 points in a year suspends the
person's payment qualification for 1–6 months; reaching 12 terminates it, with a ban on
re-registration of 1 year when reached cumulatively and 3 years when one event carries 12 points.

The rule's numbers live in :class:`StaffPointRule`; the national rule is :data:`NATIONAL_RULE`.
:func:`staff_cycles` gives one row per person and year (the table credit policies select from
as ``staff_cycles``) and :func:`staff_qualification` the status of each person on a date.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

__all__ = [
    "NATIONAL_RULE",
    "STAFF_CYCLE_COLUMNS",
    "STAFF_OUTCOMES",
    "StaffPointRule",
    "staff_cycles",
    "staff_qualification",
]

STAFF_OUTCOMES: tuple[str, ...] = ("none", "suspension", "termination")

# Columns of the derived ``staff_cycles`` table and their contract types.
STAFF_CYCLE_COLUMNS: dict[str, str] = {
    "cycle_key": "text",
    "staff_code": "text",
    "institution_code": "text",
    "cycle_year": "int",
    "points": "int",
    "max_event_points": "int",
    "outcome": "code",
    "date": "date",
    "suspended_until": "date",
    "ban_years": "int",
    "banned_until": "date",
    "event_ids": "list",
}


def _default_suspension_months() -> dict[int, int]:
    # The national rule allows 1–6 months from 9 points; this default spreads the range over the
    # totals that do not yet terminate (9, 10, 11). Bureaus set their own mapping.
    return {9: 1, 10: 3, 11: 6}


@dataclass(frozen=True)
class StaffPointRule:
    """The numbers of a staff-points rule.

    suspension_at: yearly total from which payment qualification is suspended;
    termination_at: yearly total at which it is terminated;
    suspension_months: months of suspension by yearly total (every total from ``suspension_at`` to
        ``termination_at - 1``), each between 1 and 6;
    ban_years_cumulative / ban_years_single_event: years before the person may register again
        after termination reached over several events / in one event.
    """

    suspension_at: int = 9
    termination_at: int = 12
    suspension_months: Mapping[int, int] = field(default_factory=_default_suspension_months)
    ban_years_cumulative: int = 1
    ban_years_single_event: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.suspension_at < self.termination_at:
            raise ValueError(
                f"suspension_at must be at least 1 and below termination_at ({self.termination_at}); "
                f"got {self.suspension_at!r}"
            )
        wanted = set(range(self.suspension_at, self.termination_at))
        if set(self.suspension_months) != wanted:
            raise ValueError(
                f"suspension_months must give months for totals {sorted(wanted)}; got {dict(self.suspension_months)!r}"
            )
        bad = {k: v for k, v in self.suspension_months.items() if not 1 <= v <= 6}
        if bad:
            raise ValueError(f"suspension_months must be 1 to 6 months (national rule); got {bad!r}")
        for name in ("ban_years_cumulative", "ban_years_single_event"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1; got {getattr(self, name)!r}")


NATIONAL_RULE = StaffPointRule()


def _empty_cycles() -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(dtype=object) for name in STAFF_CYCLE_COLUMNS})
    for name, kind in STAFF_CYCLE_COLUMNS.items():
        if kind == "int":
            frame[name] = frame[name].astype("Int64")
        elif kind == "date":
            frame[name] = frame[name].astype("datetime64[ns]")
    return frame


def _events_until(staff_points: pd.DataFrame, as_of: date) -> pd.DataFrame:
    events = staff_points.loc[
        staff_points["date"] <= pd.Timestamp(as_of), ["event_id", "staff_code", "institution_code", "date", "points"]
    ]
    events = events.sort_values(["staff_code", "date", "event_id"], kind="mergesort").reset_index(drop=True)
    events["cycle_year"] = events["date"].dt.year.astype("int64")
    events["points"] = events["points"].astype("int64")
    return events


def _add_months(dates: pd.Series, months: pd.Series) -> pd.Series:
    result = pd.Series(pd.NaT, index=dates.index, dtype="datetime64[ns]")
    for value in months.dropna().unique():
        rows = months == value
        result[rows] = dates[rows] + pd.DateOffset(months=int(value))
    return result


def _first_reaching(cumulative: np.ndarray, group: np.ndarray, threshold: int, n_groups: int) -> np.ndarray:
    """Per person-year, the row whose running total first reaches ``threshold`` (-1 when none does)."""
    rows = np.flatnonzero(cumulative >= threshold)
    first = np.full(n_groups, -1)
    # Rows are in order, so the first row of each group among ``rows`` is where the total got there.
    groups, at = np.unique(group[rows], return_index=True)
    first[groups] = rows[at]
    return first


def staff_cycles(staff_points: pd.DataFrame, as_of: date, rule: StaffPointRule = NATIONAL_RULE) -> pd.DataFrame:
    """One row per person and calendar year with events up to ``as_of``: total, outcome and dates.

    The outcome is attributed to the institution of the event that reached the threshold (for
    ``none``, of the person's latest event that year); ``date`` is the day the outcome was reached
    (for ``none``, the latest event).
    """
    if staff_points.empty:
        return _empty_cycles()
    events = _events_until(staff_points, as_of)
    if events.empty:
        return _empty_cycles()
    staff = events["staff_code"].to_numpy(dtype=object)
    year = events["cycle_year"].to_numpy()
    points = events["points"].to_numpy()
    starts_mask = np.ones(len(events), dtype=bool)
    starts_mask[1:] = (staff[1:] != staff[:-1]) | (year[1:] != year[:-1])
    starts = np.flatnonzero(starts_mask)
    ends = np.append(starts[1:], len(events)) - 1
    group = np.cumsum(starts_mask) - 1
    running = np.cumsum(points)
    cumulative = running - (running[starts] - points[starts])[group]
    n = len(starts)
    suspension = _first_reaching(cumulative, group, rule.suspension_at, n)
    termination = _first_reaching(cumulative, group, rule.termination_at, n)
    dates = events["date"].to_numpy(dtype="datetime64[ns]")
    institutions = events["institution_code"].to_numpy(dtype=object)
    ids = events["event_id"].astype(str).to_numpy(dtype=object) + ";"
    terminated = termination >= 0
    suspended = (suspension >= 0) & ~terminated
    deciding = np.where(terminated, termination, np.where(suspended, suspension, ends))
    total = cumulative[ends]
    cycles = pd.DataFrame(
        {
            "staff_code": staff[starts],
            "cycle_year": year[starts],
            "points": total,
            "max_event_points": np.maximum.reduceat(points, starts),
            "outcome": np.select([terminated, suspended], ["termination", "suspension"], "none").astype(object),
            "date": dates[deciding],
            "institution_code": institutions[deciding],
            "event_ids": [text[:-1] for text in np.add.reduceat(ids, starts)],
        }
    )
    months = pd.Series(np.where(suspended, total, 0)).map(dict(rule.suspension_months))
    cycles["suspended_until"] = _add_months(cycles["date"].where(suspended), months)
    single_event = cycles["max_event_points"].to_numpy() >= rule.termination_at
    ban_years = np.where(single_event, rule.ban_years_single_event, rule.ban_years_cumulative)
    cycles["ban_years"] = pd.Series(np.where(terminated, ban_years, np.nan)).astype("Int64")
    cycles["banned_until"] = _add_months(cycles["date"].where(terminated), cycles["ban_years"] * 12)
    cycles["cycle_key"] = cycles["staff_code"].astype(str) + "/" + cycles["cycle_year"].astype(str)
    for name in ("cycle_year", "points", "max_event_points"):
        cycles[name] = cycles[name].astype("Int64")
    return cycles[list(STAFF_CYCLE_COLUMNS)]


def staff_qualification(
    staff_points: pd.DataFrame,
    as_of: date,
    *,
    staff: pd.DataFrame | None = None,
    rule: StaffPointRule = NATIONAL_RULE,
) -> pd.DataFrame:
    """Each person's payment qualification on ``as_of``: points this year, status, since and until.

    status is ``terminated`` while a ban runs, ``suspended`` during a suspension, else ``active``.
    With ``staff`` (the contract table) every registered person appears, those without points too.
    """
    as_of_ts = pd.Timestamp(as_of)
    cycles = staff_cycles(staff_points, as_of, rule)
    people = cycles[["staff_code", "institution_code"]].drop_duplicates("staff_code", keep="last")
    if staff is not None and not staff.empty:
        people = pd.concat([staff[["staff_code", "institution_code"]], people]).drop_duplicates("staff_code")
    current = cycles.loc[cycles["cycle_year"] == as_of_ts.year].set_index("staff_code")["points"]
    banned = cycles.loc[(cycles["outcome"] == "termination") & (cycles["banned_until"] > as_of_ts)]
    banned = banned.sort_values("date").drop_duplicates("staff_code", keep="last").set_index("staff_code")
    suspended = cycles.loc[
        (cycles["outcome"] == "suspension") & (cycles["date"] <= as_of_ts) & (cycles["suspended_until"] > as_of_ts)
    ]
    suspended = suspended.sort_values("date").drop_duplicates("staff_code", keep="last").set_index("staff_code")
    result = people.sort_values("staff_code", kind="mergesort").reset_index(drop=True)
    codes = result["staff_code"]
    result["cycle_points"] = codes.map(current).fillna(0).astype("Int64")
    is_banned = codes.isin(banned.index)
    is_suspended = codes.isin(suspended.index) & ~is_banned
    result["status"] = np.select([is_banned, is_suspended], ["terminated", "suspended"], "active")
    since = pd.Series(pd.NaT, index=result.index, dtype="datetime64[ns]")
    until = since.copy()
    for rows, source, end in ((is_banned, banned, "banned_until"), (is_suspended, suspended, "suspended_until")):
        if rows.any():
            since[rows] = codes[rows].map(source["date"])
            until[rows] = codes[rows].map(source[end])
    result["since"], result["until"] = since, until
    return result
