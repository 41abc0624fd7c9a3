"""Current credit grade and model risk level per institution, for lists, filters and scope checks.

Grades come from the credit store's public functions (``scoring.credit_store.latest_results``),
risk levels from the stored model scores (``scoring.risk_store.latest_scores``, written by
``medcredit model score --store``); both are kept in per-worker snapshots (``api.cache``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from scoring import credit_store, risk_store

from .. import store
from ..auth import Principal
from ..cache import snapshot
from ..frames import records

GRADE_FIELDS = ("grade", "score", "veto", "run_id", "as_of", "policy_name")
RISK_FIELDS = ("risk_level", "probability", "expected_amount", "priority", "as_of", "model_version", "batch_id")


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


def load_latest_risks(engine: Engine) -> dict[str, dict[str, Any]]:
    """Institution code → its newest stored risk score (level code, probability, expected amount,
    priority, as_of, model_version, batch_id); empty before any scores are stored."""
    latest = risk_store.latest_scores(engine)
    return {row["institution_code"]: {k: row[k] for k in RISK_FIELDS} for row in records(latest)}


def latest_risks() -> dict[str, dict[str, Any]]:
    """The snapshot of :func:`load_latest_risks` (see ``api.cache``)."""
    return snapshot("risks").get()


def current_risk_levels(engine: Engine) -> dict[str, str]:
    """Institution code → risk level code (low, medium, high, very_high) from the newest stored scores."""
    return {code: row["risk_level"] for code, row in latest_risks().items()}


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
    """Add ``grade``, ``risk_level``, ``risk_probability`` and ``risk_priority`` to institution rows in place."""
    grades, risks = current_grades(engine), latest_risks()
    for row in rows:
        row["grade"] = grades.get(row["institution_code"])
        risk = risks.get(row["institution_code"]) or {}
        row["risk_level"] = risk.get("risk_level")
        row["risk_probability"] = risk.get("probability")
        row["risk_priority"] = risk.get("priority")


def risk_score(engine: Engine, code: str) -> dict[str, Any] | None:
    """The institution's newest stored risk score with its reasons (read fresh), or None."""
    history = records(risk_store.institution_scores(engine, code))
    return history[0] if history else None


def in_scope(rows: list[dict[str, Any]], principal: Principal, *, key: str = "institution_code") -> list[dict]:
    """Only rows about institutions in the caller's regions (all rows for all-region callers)."""
    if principal.regions is None:
        return rows
    from ..context import current_engine

    allowed = set(store.institution_codes(current_engine(), store.InstitutionFilter(regions=principal.regions)))
    return [row for row in rows if row[key] in allowed]
