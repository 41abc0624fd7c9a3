"""The records a credit evaluation reads: from caller-supplied frames or from the store, typed alike.

Point in time is applied later, per rule; here every table is brought to the contract's types,
missing optional columns are added empty, and overturned violations are dropped (they never count).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from features.contract import TABLES
from features.storage import CONTRACT_TABLES, load_table

from ._credit_sources import DERIVED_FROM
from .policy import CreditPolicy
from .staff_points import staff_cycles

log = logging.getLogger(__name__)

# Columns every evaluation needs besides what the policy's rules name.
_ALWAYS = {
    "institutions": ("institution_code", "credit_code", "kind", "level", "designated_since", "status", "status_since"),
    "violations": ("violation_id", "institution_code", "status"),
    "staff_points": ("event_id", "staff_code", "institution_code", "date", "points"),
}


def contract_tables_needed(policy: CreditPolicy) -> list[str]:
    """The contract tables to read for ``policy``: institutions and every rule's table."""
    names = {"institutions"} | {DERIVED_FROM.get(t, t) for t in policy.tables()}
    return sorted(names)


def _columns_needed(policy: CreditPolicy, table: str) -> list[str]:
    wanted = set(_ALWAYS.get(table, ()))
    contract = TABLES[table]
    wanted.add(contract.key[0])
    if "institution_code" in contract.column_names:
        wanted.add("institution_code")
    for rule in (*policy.indicators, *policy.vetoes):
        if rule.selector.table != table:
            continue
        wanted.update(rule.selector.date)
        wanted.update(f.column for f in rule.selector.filters)
        if getattr(rule, "amount_column", None):
            wanted.add(rule.amount_column)
        if getattr(rule, "source_multipliers", ()):
            wanted.add("source")
        if table == "violations":
            wanted.update(("lenient", "status"))
    return [c for c in contract.column_names if c in wanted]


def _empty_column(kind: str, length: int, index: pd.Index) -> pd.Series:
    dtypes = {"date": "datetime64[ns]", "int": "Int64", "money": "float64", "number": "float64", "bool": "boolean"}
    return pd.Series(pd.NA if kind in ("int", "bool") else None, index=index, dtype=dtypes.get(kind, object))


def coerce_table(frame: pd.DataFrame, name: str, *, check_required: bool = True) -> pd.DataFrame:
    """``frame`` with the contract's column types (missing optional columns added empty).

    Raises ValueError naming the table and the missing required columns (unless the frame was
    read from the store with only the columns the policy needs: ``check_required=False``).
    """
    table = TABLES[name]
    missing = [c for c in table.required_columns if c not in frame.columns]
    if check_required and missing and not frame.empty:
        raise ValueError(f"table {name!r} lacks required column(s) {missing}; columns given: {list(frame.columns)}")
    columns = {}
    for column in table.columns:
        if column.name in frame.columns:
            columns[column.name] = _typed(frame[column.name], column.type)
        else:
            columns[column.name] = _empty_column(column.type, len(frame), frame.index)
    return pd.DataFrame(columns, index=frame.index)


def _typed(values: pd.Series, kind: str) -> pd.Series:
    if kind == "date":
        return values if values.dtype == "datetime64[ns]" else pd.to_datetime(values).astype("datetime64[ns]")
    if kind == "int":
        return values if values.dtype == "Int64" else pd.to_numeric(values).astype("Int64")
    if kind in ("money", "number"):
        return values if values.dtype == "float64" else pd.to_numeric(values).astype("float64")
    if kind == "bool":
        return values if values.dtype == "boolean" else values.astype("boolean")
    return values


def _load(engine: Engine, name: str, columns: list[str], institutions: Sequence[str] | None) -> pd.DataFrame:
    where = None
    if institutions is not None and "institution_code" in TABLES[name].column_names:
        where = CONTRACT_TABLES[name].c.institution_code.in_(sorted(set(institutions)))
    frame = load_table(engine, name, columns=columns, where=where)
    return frame


def subject_members(engine: Engine, policy: CreditPolicy, institution_codes: Sequence[str]) -> list[str]:
    """Every institution sharing a credit subject with ``institution_codes`` (themselves included)."""
    codes = sorted(set(institution_codes))
    if policy.subject != "credit_code":
        return codes
    sql = CONTRACT_TABLES["institutions"]
    with engine.connect() as connection:
        credit_codes = connection.execute(
            sa.select(sql.c.credit_code).where(sql.c.institution_code.in_(codes), sql.c.credit_code.is_not(None))
        ).scalars()
        shared = {c for c in credit_codes if c}
        if not shared:
            return codes
        others = connection.execute(
            sa.select(sql.c.institution_code).where(sql.c.credit_code.in_(sorted(shared)))
        ).scalars()
        return sorted(set(codes) | set(others))


def gather_tables(
    policy: CreditPolicy,
    as_of: date,
    *,
    engine: Engine | None,
    tables: Mapping[str, pd.DataFrame] | None,
    institutions: Sequence[str] | None = None,
) -> tuple[dict[str, pd.DataFrame], tuple[str, ...]]:
    """The typed frames the policy reads, and the names of the rule tables that hold no data."""
    if tables is None and engine is None:
        raise ValueError("evaluate_credit needs data: pass engine (the store) or tables (a dict of frames)")
    result: dict[str, pd.DataFrame] = {}
    for name in contract_tables_needed(policy):
        if tables is not None:
            given = tables.get(name)
            frame = coerce_table(given if given is not None else pd.DataFrame(), name)
            if institutions is not None and "institution_code" in frame.columns:
                frame = frame.loc[frame["institution_code"].isin(set(institutions))]
        else:
            loaded = _load(engine, name, _columns_needed(policy, name), institutions)
            frame = coerce_table(loaded, name, check_required=False)
        result[name] = frame
    violations = result.get("violations")
    if violations is not None:
        result["violations"] = violations.loc[violations["status"] != "overturned"]
    if "staff_cycles" in policy.tables():
        result["staff_cycles"] = staff_cycles(result["staff_points"], as_of)
    empty = tuple(sorted(t for t in policy.tables() if t != "institutions" and result[t].empty))
    if empty:
        log.info("credit evaluation: no records in %s; their rules add no lines", ", ".join(empty))
    return result, empty
