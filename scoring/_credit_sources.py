"""The record tables a credit policy may select from, with their keys, dates and filterable columns.

Contract tables are described by ``features.contract``; ``staff_cycles`` is derived from
``staff_points`` by :mod:`scoring.staff_points` (one row per person and calendar year).
"""

from __future__ import annotations

from dataclasses import dataclass

from features.contract import CODE_LISTS, TABLES

from .staff_points import STAFF_CYCLE_COLUMNS, STAFF_OUTCOMES

# Column types a filter may test; dates and lists are not filterable.
FILTERABLE_TYPES = ("code", "bool", "int", "money", "number", "text")


@dataclass(frozen=True)
class SourceColumn:
    name: str
    type: str
    codes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SourceTable:
    """A table indicators and vetoes can select records from.

    key: the column naming one record; dates: the default event-date columns (first non-empty wins);
    amount: the default money column for amount bands; filterable: the columns a filter may test.
    """

    name: str
    zh: str
    key: str
    dates: tuple[str, ...]
    amount: str | None
    columns: dict[str, SourceColumn]
    filterable: tuple[str, ...]

    def date_columns(self) -> list[str]:
        return [c.name for c in self.columns.values() if c.type == "date"]

    def money_columns(self) -> list[str]:
        return [c.name for c in self.columns.values() if c.type == "money"]


def _contract_columns(table: str) -> dict[str, SourceColumn]:
    columns = {}
    for column in TABLES[table].columns:
        codes = tuple(CODE_LISTS[column.codes]) if column.codes else None
        columns[column.name] = SourceColumn(column.name, column.type, codes)
    return columns


def _filterable(columns: dict[str, SourceColumn], exclude: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name, column in columns.items() if column.type in FILTERABLE_TYPES and name not in exclude)


def _contract_source(name: str, key: str, dates: tuple[str, ...], amount: str | None) -> SourceTable:
    columns = _contract_columns(name)
    # Identifiers and free text that identify rather than describe conduct are not filterable.
    exclude = (key, "institution_code", "inspection_id", "staff_codes", "staff_code", "reason")
    return SourceTable(name, TABLES[name].zh, key, dates, amount, columns, _filterable(columns, exclude))


def _staff_cycles_source() -> SourceTable:
    columns = {
        name: SourceColumn(name, kind, STAFF_OUTCOMES if name == "outcome" else None)
        for name, kind in STAFF_CYCLE_COLUMNS.items()
    }
    exclude = ("cycle_key", "staff_code", "institution_code", "event_ids")
    return SourceTable(
        "staff_cycles", "人员记分周期", "cycle_key", ("date",), None, columns, _filterable(columns, exclude)
    )


def _institutions_source() -> SourceTable:
    columns = _contract_columns("institutions")
    # Conduct, not identity: only the agreement status of an institution may select it, never its
    # kind, ownership or region (domain.md §8).
    return SourceTable(
        "institutions", TABLES["institutions"].zh, "institution_code", ("status_since",), None, columns, ("status",)
    )


SOURCE_TABLES: dict[str, SourceTable] = {
    "violations": _contract_source("violations", "violation_id", ("decision_date", "found_date"), "amount"),
    "complaints": _contract_source("complaints", "complaint_id", ("closed_date", "received_date"), None),
    "referrals": _contract_source("referrals", "referral_id", ("date",), None),
    "self_inspections": _contract_source("self_inspections", "report_id", ("submitted_date",), "amount_refunded"),
    "staff_points": _contract_source("staff_points", "event_id", ("date",), None),
    "staff_cycles": _staff_cycles_source(),
    "institutions": _institutions_source(),
}

# Labels used in line texts.
TABLE_LABELS: dict[str, tuple[str, str]] = {
    "violations": ("违规记录", "violation"),
    "complaints": ("投诉举报", "complaint"),
    "referrals": ("部门通报", "referral"),
    "self_inspections": ("自查自纠报告", "self-inspection report"),
    "staff_points": ("人员记分", "staff point event"),
    "staff_cycles": ("人员年度记分", "staff yearly points"),
    "institutions": ("协议状态", "agreement status"),
}

# The contract tables an evaluation may need, and the derived table each one feeds.
DERIVED_FROM = {"staff_cycles": "staff_points"}
