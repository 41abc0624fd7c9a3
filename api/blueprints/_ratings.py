"""Current credit grade and model risk level per institution, for lists, filters and scope checks.

Grades come from the credit store's public functions (``scoring.credit_store.latest_results``).
Risk levels need the model's stored scores: the models package stores none yet, so lists show no
risk level and the risk filter matches nothing until it does (see docs/api.md).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from scoring import credit_store

from .. import store
from ..auth import Principal
from ..cache import snapshot
from ..frames import records

GRADE_FIELDS = ("grade", "score", "veto", "run_id", "as_of", "policy_name")


def load_latest_grades(engine: Engine) -> dict[str, dict[str, Any]]:
    """Institution code → its result in the newest credit run that evaluated it (grade, score,
    veto, run_id, as_of, policy_name); empty before any run."""
    latest = credit_store.latest_results(engine)
    return {row["institution_code"]: {k: row[k] for k in GRADE_FIELDS} for row in records(latest)}


def latest_grades() -> dict[str, dict[str, Any]]:
    """The snapshot of :func:`load_latest_grades` (see ``api.cache``)."""
    return snapshot("grades").get()


def current_grades(engine: Engine) -> dict[str, str]:
    """Institution code → current grade."""
    return {code: row["grade"] for code, row in latest_grades().items()}


def current_risk_levels(engine: Engine) -> dict[str, str]:
    """Institution code → risk level from stored model scores; none are stored by the models package yet."""
    return {}


def codes_with(engine: Engine, *, grade: str | None, risk_level: str | None) -> frozenset[str] | None:
    """Codes having this grade and/or risk level; None when neither filter is asked for."""
    if grade is None and risk_level is None:
        return None
    codes: set[str] | None = None
    if grade is not None:
        codes = {code for code, value in current_grades(engine).items() if value == grade}
    if risk_level is not None:
        risky = {code for code, value in current_risk_levels(engine).items() if value == risk_level}
        codes = risky if codes is None else codes & risky
    return frozenset(codes or ())


def attach(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Add ``grade`` and ``risk_level`` to institution rows in place."""
    grades, risks = current_grades(engine), current_risk_levels(engine)
    for row in rows:
        row["grade"] = grades.get(row["institution_code"])
        row["risk_level"] = risks.get(row["institution_code"])


def in_scope(rows: list[dict[str, Any]], principal: Principal, *, key: str = "institution_code") -> list[dict]:
    """Only rows about institutions in the caller's regions (all rows for all-region callers)."""
    if principal.regions is None:
        return rows
    from ..context import current_engine

    allowed = set(store.institution_codes(current_engine(), store.InstitutionFilter(regions=principal.regions)))
    return [row for row in rows if row[key] in allowed]
