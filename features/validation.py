"""Typing and checking of raw frames against the contract.

Every column is parsed vectorised; every failure is collected as a :class:`Problem` (row,
column, value received, reason), never just the first. The typed frame uses the project's
in-memory conventions: dates ``datetime64[ns]``, money ``float64``, integers ``Int64``,
booleans ``boolean``, codes as the English code, lists as ``;``-joined strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from .contract import CODE_LISTS, LEVEL_LABELS, Column, Table
from .problems import Problem

_TRUE = {"true", "1", "是", "y", "yes", "1.0"}
_FALSE = {"false", "0", "否", "n", "no", "0.0"}
_DATE_FORMATS = (
    (re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$"), "%Y-%m-%d"),
    (re.compile(r"^\d{4}/\d{1,2}/\d{1,2}$"), "%Y/%m/%d"),
    (re.compile(r"^\d{8}$"), "%Y%m%d"),
    (re.compile(r"^\d{4}-\d{1,2}-\d{1,2}[ T]00:00(:00(\.0+)?)?$"), "ISO8601"),
)
LIST_SPLIT = re.compile(r"[;；]")


def _text(values: pd.Series) -> pd.Series:
    """Values as stripped strings, with empty strings and nulls as <NA>."""
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        text = values.astype("string").str.strip()
    else:
        text = values.astype("string")
    return text.mask(text == "", pd.NA)


def _integral_text(text: pd.Series) -> pd.Series:
    """'12.0' → '12', as spreadsheet tools export integer columns with gaps."""
    return text.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)


class _ColumnParser:
    """Parses one column; ``bad`` marks values present but invalid, with a reason each."""

    def __init__(self, column: Column, values: pd.Series):
        self.column = column
        self.values = values
        self.failures: list[tuple[pd.Series, str, str]] = []  # (mask, reason, detail)

    def fail(self, mask: pd.Series, reason: str, detail: str = "") -> None:
        mask = mask.fillna(False).astype(bool)
        if mask.any():
            self.failures.append((mask, reason, detail))

    def parse(self) -> pd.Series:
        handler: Callable[[], pd.Series] = getattr(self, f"_parse_{self.column.type}")
        return handler()

    def _parse_text(self) -> pd.Series:
        text = _text(self.values)
        if pd.api.types.is_float_dtype(self.values):  # numeric codes read from parquet/xlsx
            text = _integral_text(text)
        if self.column.pattern:
            self.fail(
                text.notna() & ~text.str.match(self.column.pattern).fillna(False),
                "bad_format",
                f"expected pattern {self.column.pattern}",
            )
        return text.astype(object).where(text.notna(), None)

    def _parse_code(self) -> pd.Series:
        text = _text(self.values)
        codes = CODE_LISTS[self.column.codes or ""]
        lookup = {c: c for c in codes} | {c.lower(): c for c in codes} | {label: c for c, label in codes.items()}
        mapped = text.astype(object).map(lookup)
        retry = mapped.isna() & text.notna()
        if retry.any():
            mapped[retry] = text[retry].str.lower().astype(object).map(lookup)
        allowed = ", ".join(f"{c} {label}" for c, label in codes.items())
        self.fail(text.notna() & mapped.isna(), "bad_code", f"{self.column.codes}: {allowed}")
        return mapped.astype(object).where(mapped.notna(), None)

    def _numeric(self, *, thousands: bool) -> pd.Series:
        if pd.api.types.is_numeric_dtype(self.values) and not pd.api.types.is_bool_dtype(self.values):
            return self.values.astype("float64")
        text = _text(self.values)
        if thousands:
            text = text.str.replace(r"(?<=\d),(?=\d{3}(\D|$))", "", regex=True)
        number = pd.to_numeric(text.astype(object), errors="coerce")
        self.fail(text.notna() & number.isna(), "bad_number")
        return number.astype("float64")

    def _check_range(self, number: pd.Series) -> None:
        col = self.column
        if col.nonnegative:
            self.fail(number < 0, "negative")
        if col.min_value is not None:
            self.fail(number < col.min_value, "out_of_range", f"minimum {col.min_value:g}")
        if col.max_value is not None:
            self.fail(number > col.max_value, "out_of_range", f"maximum {col.max_value:g}")

    def _parse_int(self) -> pd.Series:
        values = self.values
        if self.column.name == "level" and not pd.api.types.is_numeric_dtype(values):
            text = _text(values)
            values = text.map(lambda v: LEVEL_LABELS.get(v, v) if isinstance(v, str) else v)
            self.values = values.astype(object)
        number = self._numeric(thousands=False)
        self.fail(number.notna() & (number != np.floor(number)), "bad_integer")
        self._check_range(number)
        whole = number.where(number == np.floor(number))
        return whole.round().astype("Int64")

    def _parse_money(self) -> pd.Series:
        number = self._numeric(thousands=True)
        cents = number * 100
        self.fail(number.notna() & ((cents - cents.round()).abs() > 1e-6), "too_many_decimals")
        self._check_range(number)
        return number

    def _parse_number(self) -> pd.Series:
        number = self._numeric(thousands=True)
        self._check_range(number)
        return number

    def _parse_date(self) -> pd.Series:
        values = self.values
        if pd.api.types.is_datetime64_any_dtype(values):
            return pd.to_datetime(values).dt.tz_localize(None).dt.normalize().astype("datetime64[ns]")
        result = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
        is_stamp = values.map(lambda v: isinstance(v, (pd.Timestamp, np.datetime64)) or hasattr(v, "year"))
        if is_stamp.any():
            stamps = pd.to_datetime(values[is_stamp].astype(object), errors="coerce")
            result[is_stamp] = stamps.dt.normalize().astype("datetime64[ns]")
        text = _text(values.where(~is_stamp))
        text = _integral_text(text)
        parsed = pd.Series(False, index=values.index)
        for pattern, fmt in _DATE_FORMATS:
            mask = text.notna() & text.str.match(pattern).fillna(False) & ~parsed
            if mask.any():
                dates = pd.to_datetime(text[mask].astype(object), format=fmt, errors="coerce")
                result[mask] = dates.dt.normalize().astype("datetime64[ns]")
                parsed |= mask & dates.reindex(mask.index).notna()
        self.fail(text.notna() & ~parsed, "bad_date", "expected YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD")
        return result

    def _parse_bool(self) -> pd.Series:
        if pd.api.types.is_bool_dtype(self.values):
            return self.values.astype("boolean")
        text = _text(self.values).str.lower()
        result = pd.Series(pd.NA, index=self.values.index, dtype="boolean")
        result[text.isin(_TRUE).fillna(False)] = True
        result[text.isin(_FALSE).fillna(False)] = False
        self.fail(text.notna() & result.isna(), "bad_bool", "expected true/false, 1/0, 是/否 or Y/N")
        return result

    def _parse_list(self) -> pd.Series:
        text = _text(self.values)

        def canonical(value: object) -> object:
            if not isinstance(value, str):
                return None
            items = [part.strip() for part in LIST_SPLIT.split(value) if part.strip()]
            return ";".join(items) if items else None

        result = text.map(canonical).astype(object)
        if self.column.min_items:
            counts = result.map(lambda v: len(v.split(";")) if isinstance(v, str) else 0)
            self.fail(
                result.notna() & (counts < self.column.min_items),
                "too_few_items",
                f"at least {self.column.min_items} required",
            )
        return result


def _raw_value(values: pd.Series, position: int) -> str | None:
    value = values.iloc[position]
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return str(value)


def parse_frame(raw: pd.DataFrame, table: Table, file: str, row_offset: int) -> tuple[pd.DataFrame, list[Problem]]:
    """Type every contract column of ``raw`` and collect all value- and row-level problems."""
    problems: list[Problem] = []
    typed: dict[str, pd.Series] = {}
    bad_rows = pd.Series(False, index=raw.index)

    def report(
        mask: pd.Series, column: str | None, reason: str, detail: str = "", source: pd.Series | None = None
    ) -> None:
        nonlocal bad_rows
        mask = mask.fillna(False).astype(bool)
        for position in np.flatnonzero(mask.to_numpy()):
            value = _raw_value(source, position) if source is not None else None
            problems.append(Problem(table.name, file, int(position) + row_offset, column, value, reason, detail))
        bad_rows |= mask

    for column in table.columns:
        if column.name not in raw.columns:
            typed[column.name] = pd.Series(
                pd.NA if column.type in ("int", "bool") else None, index=raw.index, dtype=_dtype_for(column)
            )
            continue
        parser = _ColumnParser(column, raw[column.name])
        series = parser.parse()
        for mask, reason, detail in parser.failures:
            report(mask, column.name, reason, detail, raw[column.name])
        invalid = np.zeros(len(raw), dtype=bool)
        for mask, _, _ in parser.failures:
            invalid |= mask.to_numpy()
        if column.required:
            report(series.isna() & ~invalid, column.name, "required")
        typed[column.name] = series
    frame = pd.DataFrame(typed, index=raw.index)
    for mask, column, reason, detail in _row_rules(frame, table.name):
        report(mask, column, reason, detail, raw[column] if column in raw.columns else None)
    dup = frame.duplicated(list(table.key), keep="first") & frame[list(table.key)].notna().all(axis=1)
    key_source = raw[table.key[0]] if table.key[0] in raw.columns else None
    report(dup, table.key[0], "duplicate_key", "key repeated within the file", key_source)
    problems.sort(key=lambda p: (p.row or 0, p.column or ""))
    frame["_row"] = (np.arange(len(frame)) + row_offset).astype("int64")
    frame["_bad"] = bad_rows.to_numpy()
    return frame, problems


def _dtype_for(column: Column) -> str:
    return {"int": "Int64", "bool": "boolean", "money": "float64", "number": "float64", "date": "datetime64[ns]"}.get(
        column.type, "object"
    )


def _row_rules(f: pd.DataFrame, table: str) -> list[tuple[pd.Series, str, str, str]]:
    """Cross-column rules: (mask of failing rows, column blamed, reason, detail)."""
    rules: list[tuple[pd.Series, str, str, str]] = []
    if table == "claims":
        inpatient = f["visit_type"] == "inpatient"
        rules.append((f["discharge_date"] < f["admit_date"], "discharge_date", "discharge_before_admit", ""))
        rules.append(
            (
                inpatient & f["discharge_date"].isna() & f["admit_date"].notna(),
                "discharge_date",
                "discharge_missing",
                "",
            )
        )
        rules.append((f["fund_amount"] > f["total_amount"] + 1e-9, "fund_amount", "fund_exceeds_total", ""))
        parts = f[["drug_amount", "exam_amount", "material_amount", "service_amount"]].fillna(0).sum(axis=1)
        rules.append(
            (
                parts > f["total_amount"] + 0.005,
                "total_amount",
                "parts_exceed_total",
                "drug + exam + material + service > total",
            )
        )
    elif table == "violations":
        rules.append((f["decision_date"] < f["found_date"], "decision_date", "decision_before_found", ""))
    elif table == "self_inspections":
        rules.append((f["period_end"] < f["period_start"], "period_end", "period_end_before_start", ""))
        rules.append((f["verified_date"] < f["submitted_date"], "verified_date", "verified_before_submitted", ""))
    return [(mask.fillna(False), col, reason, detail) for mask, col, reason, detail in rules]
