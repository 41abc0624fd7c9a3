"""Rule matching: every record each indicator or veto selects, with its points, vectorised.

Each source table is wrapped once in a :class:`TableView` that caches what several rules reuse
(factorised code columns, event dates, flags, the evaluated-site position of each row), so that a
policy of twenty-odd rules over a million violations costs a few passes of numpy work.

``match_rules`` returns one row per (rule, record), by default only records inside the rule's
validity window; repair checks ask for the whole history of a few sites instead.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

from ._credit_sources import SOURCE_TABLES
from .policy import CreditPolicy, Indicator, RecordFilter, Selector, Veto

MATCH_COLUMNS = (
    "site",
    "rule_id",
    "kind",
    "record_table",
    "record_key",
    "record_ids",
    "event_date",
    "base_points",
    "amount_multiplier",
    "source_multiplier",
    "lenient_multiplier",
    "points_rule",
    "under_appeal",
    "veto_grade",
    "case_source",
)


class TableView:
    """One source table prepared for matching; ``site`` is each row's evaluated-site position (-1: none)."""

    def __init__(self, name: str, frame: pd.DataFrame, sites: pd.Index) -> None:
        self.name = name
        self.frame = frame.reset_index(drop=True)
        codes, uniques = pd.factorize(self.frame["institution_code"])
        positions = sites.get_indexer(uniques) if len(uniques) else np.array([], dtype=np.intp)
        self.site = np.where(codes >= 0, positions[codes] if len(positions) else -1, -1)
        self._codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._flags: dict[str, np.ndarray] = {}
        self._dates: dict[tuple[str, ...], np.ndarray] = {}
        self._arrow: dict[str, pa.Array] = {}

    def __len__(self) -> int:
        return len(self.frame)

    def codes(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """Integer codes (-1 for empty) and the distinct values of a text or code column."""
        if column not in self._codes:
            codes, uniques = pd.factorize(self.frame[column])
            self._codes[column] = (codes, np.asarray(uniques, dtype=object))
        return self._codes[column]

    def flag(self, column: str) -> np.ndarray:
        """A boolean column with empty read as "no" (fraud, lenient, verified, substantiated...)."""
        if column not in self._flags:
            self._flags[column] = self.frame[column].fillna(False).to_numpy(dtype=bool)
        return self._flags[column]

    def event_dates(self, selector: Selector, as_of: pd.Timestamp) -> np.ndarray:
        if selector.date not in self._dates:
            dates = self.frame[selector.date[0]]
            for column in selector.date[1:]:
                dates = dates.fillna(self.frame[column])
            if self.name == "institutions":
                # An agreement status without a status date is taken as known on the evaluation date.
                dates = dates.fillna(as_of)
            self._dates[selector.date] = dates.to_numpy(dtype="datetime64[ns]")
        return self._dates[selector.date]

    def mask(self, record_filter: RecordFilter) -> np.ndarray:
        values = self.frame[record_filter.column]
        if record_filter.values is not None:
            if values.dtype == "boolean":
                return self.flag(record_filter.column) == record_filter.values[0]
            if values.dtype.kind in "iuf" or str(values.dtype) == "Int64":
                return values.isin(record_filter.values).to_numpy(dtype=bool, na_value=False)
            codes, uniques = self.codes(record_filter.column)
            wanted = np.isin(uniques, np.asarray(record_filter.values, dtype=object))
            return np.append(wanted, False)[codes]  # code -1 (empty) picks the trailing False
        numbers = values.astype("float64").to_numpy()
        mask = ~np.isnan(numbers)
        if record_filter.minimum is not None:
            mask &= numbers >= record_filter.minimum
        if record_filter.maximum is not None:
            mask &= numbers < record_filter.maximum
        return mask

    def text(self, column: str, rows: np.ndarray) -> pa.Array:
        """The values of a text column at ``rows`` as an Arrow array (no copy to Python objects)."""
        if column not in self._arrow:
            values = self.frame[column]
            array = pa.array(values.array if values.dtype == "str" else values.astype("str").array)
            self._arrow[column] = (array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array).cast(
                pa.large_string()
            )
        return self._arrow[column].take(pa.array(rows))


def build_views(data: dict[str, pd.DataFrame], sites: pd.Index, policy: CreditPolicy) -> dict[str, TableView]:
    return {name: TableView(name, data[name], sites) for name in policy.tables()}


def _selected_rows(
    view: TableView, selector: Selector, as_of: pd.Timestamp, opens: pd.Timestamp | None, sites: np.ndarray | None
) -> np.ndarray:
    dates = view.event_dates(selector, as_of)
    mask = (dates <= as_of.to_datetime64()) & (view.site >= 0)
    if opens is not None:
        mask &= dates > opens.to_datetime64()
    if sites is not None:
        mask &= np.isin(view.site, sites)
    for record_filter in selector.filters:
        mask &= view.mask(record_filter)
    return np.flatnonzero(mask)


def _amount_multiplier(view: TableView, rows: np.ndarray, rule: Indicator) -> np.ndarray:
    if not rule.amount_bands:
        return np.ones(len(rows))
    mins = np.array([b.min for b in rule.amount_bands])
    factors = np.array([b.multiplier for b in rule.amount_bands])
    amounts = view.frame[rule.amount_column].to_numpy(dtype="float64", na_value=0.0)[rows]
    # Band lower bounds are inclusive: an amount equal to a band's min falls in that band.
    return factors[np.searchsorted(mins, amounts, side="right") - 1]


def _source_multiplier(view: TableView, rows: np.ndarray, rule: Indicator) -> np.ndarray:
    if not rule.source_multipliers:
        return np.ones(len(rows))
    codes, uniques = view.codes("source")
    factors = dict(rule.source_multipliers)
    lookup = np.array([factors.get(u, 1.0) for u in uniques] + [1.0])
    return lookup[codes[rows]]


def _lenient_multiplier(view: TableView, rows: np.ndarray, rule: Indicator) -> np.ndarray:
    if rule.lenient_factor == 1.0 or "lenient" not in view.frame.columns:
        return np.ones(len(rows))
    return np.where(view.flag("lenient")[rows], rule.lenient_factor, 1.0)


def _match_columns(
    view: TableView, rows: np.ndarray, dates: np.ndarray, rule: Indicator | Veto, rule_code: int, decimals: int
) -> dict[str, object]:
    """The match columns of one rule as plain arrays (one DataFrame is built for all rules at the end)."""
    n = len(rows)
    keys = view.text(SOURCE_TABLES[view.name].key, rows)
    if isinstance(rule, Indicator):
        amount = _amount_multiplier(view, rows, rule)
        source_factor = _source_multiplier(view, rows, rule)
        lenient = _lenient_multiplier(view, rows, rule)
        points = np.round(rule.points * amount * source_factor * lenient, decimals)
        kind, base, veto_grade = rule.kind, rule.points, None
        case_source = view.text("source", rows) if rule.source_multipliers else pa.nulls(n, pa.large_string())
    else:
        amount = source_factor = lenient = np.ones(n)
        points = np.zeros(n)
        kind, base, veto_grade, case_source = "veto", 0.0, rule.grade, pa.nulls(n, pa.large_string())
    if view.name == "violations":
        codes, uniques = view.codes("status")
        under_appeal = np.append(uniques == "under_appeal", False)[codes[rows]]
    else:
        under_appeal = np.zeros(n, dtype=bool)
    return {
        "site": view.site[rows],
        "rule_id": np.full(n, rule_code),
        "kind": np.full(n, kind, dtype=object),
        "record_table": np.full(n, view.name, dtype=object),
        "record_key": keys,
        "record_ids": view.text("event_ids", rows) if view.name == "staff_cycles" else keys,
        "event_date": dates[rows],
        "base_points": np.full(n, base, dtype=float),
        "amount_multiplier": amount,
        "source_multiplier": source_factor,
        "lenient_multiplier": lenient,
        "points_rule": points,
        "under_appeal": under_appeal,
        "veto_grade": np.full(n, veto_grade, dtype=object),
        "case_source": case_source,
    }


def _frame(parts: list[dict[str, object]], rule_ids: pd.CategoricalDtype) -> pd.DataFrame:
    columns: dict[str, object] = {}
    for name in MATCH_COLUMNS:
        pieces = [part[name] for part in parts]
        if name in ("record_key", "record_ids", "case_source"):
            columns[name] = pd.array(pa.chunked_array(pieces, type=pa.large_string()), dtype="str")
        else:
            columns[name] = np.concatenate(pieces)
    columns["rule_id"] = pd.Categorical.from_codes(columns["rule_id"], dtype=rule_ids)
    return pd.DataFrame(columns)


def rule_categories(policy: CreditPolicy) -> pd.CategoricalDtype:
    """Rule ids as an ordered categorical in policy order (indicators, then vetoes)."""
    return pd.CategoricalDtype([r.id for r in (*policy.indicators, *policy.vetoes)], ordered=True)


def match_rules(
    views: dict[str, TableView],
    policy: CreditPolicy,
    as_of: date,
    *,
    windowed: bool = True,
    sites: np.ndarray | None = None,
) -> pd.DataFrame:
    """Every (rule, record) pair dated on or before ``as_of`` — within the rule's window if ``windowed``.

    sites: only records of these evaluated-site positions.
    """
    as_of_ts = pd.Timestamp(as_of)
    rule_ids = rule_categories(policy)
    starts = window_starts(policy, as_of)
    parts = []
    for code, rule in enumerate((*policy.indicators, *policy.vetoes)):
        view = views[rule.selector.table]
        if not len(view):
            continue
        opens = starts[rule.id] if windowed else None
        rows = _selected_rows(view, rule.selector, as_of_ts, opens, sites)
        if len(rows):
            dates = view.event_dates(rule.selector, as_of_ts)
            parts.append(_match_columns(view, rows, dates, rule, code, policy.decimals))
    if not parts:
        return empty_matches(rule_ids)
    return _frame(parts, rule_ids)


def empty_matches(rule_ids: pd.CategoricalDtype) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in MATCH_COLUMNS})
    frame["site"] = frame["site"].astype("int64")
    frame["rule_id"] = frame["rule_id"].astype(rule_ids)
    frame["event_date"] = frame["event_date"].astype("datetime64[ns]")
    for c in ("base_points", "amount_multiplier", "source_multiplier", "lenient_multiplier", "points_rule"):
        frame[c] = frame[c].astype("float64")
    frame["under_appeal"] = frame["under_appeal"].astype(bool)
    return frame


def window_starts(policy: CreditPolicy, as_of: date) -> dict[str, pd.Timestamp]:
    """Per rule, the day before its validity window opens: a record counts if dated after it.

    An event dated ``d`` counts while ``as_of - window_months < d <= as_of`` (calendar months, the
    day clipped to the month's end): an event of 2024-03-15 with 12 months counts up to and
    including 2025-03-14, one of 2024-02-29 up to 2025-02-28.
    """
    as_of_ts = pd.Timestamp(as_of)
    return {r.id: as_of_ts - pd.DateOffset(months=r.window_months) for r in (*policy.indicators, *policy.vetoes)}
