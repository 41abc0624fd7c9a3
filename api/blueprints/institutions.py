"""Institutions (定点医药机构): the list with filters, one institution's detail and its risk score."""

from __future__ import annotations

from flask_smorest import Blueprint

from scoring import risk_store

from .. import store
from ..auth import requires
from ..context import current_engine, current_principal
from ..frames import records
from ..schemas import InstitutionDetailSchema, InstitutionListArgs, InstitutionPageSchema, InstitutionRiskSchema
from . import _ratings

blp = Blueprint("institutions", __name__, url_prefix="/api/v1/institutions", description="定点医药机构 / institutions")


def institution_filter(args: dict) -> store.InstitutionFilter:
    """The caller's region scope combined with the list filters (grade and risk via ratings)."""
    engine = current_engine()
    codes = _ratings.codes_with(engine, grade=args.get("grade"), risk_level=args.get("risk_level"))
    return store.InstitutionFilter(
        regions=current_principal().regions,
        county=args.get("county"),
        kind=args.get("kind"),
        status=args.get("status"),
        codes=codes,
        q=args.get("q"),
    )


@blp.route("", methods=["GET"])
@requires("institutions:read")
@blp.arguments(InstitutionListArgs, location="query", as_kwargs=False)
@blp.response(200, InstitutionPageSchema)
def list_institutions(args: dict):
    """Institutions in the caller's regions, filtered by county, kind, status, grade and risk level."""
    engine = current_engine()
    page, per_page = args["page"], args["per_page"]
    rows, total = store.list_institutions(engine, institution_filter(args), page=page, per_page=per_page)
    _ratings.attach(engine, rows)
    return {"items": rows, "total": total, "page": page, "per_page": per_page}


@blp.route("/<code>", methods=["GET"])
@requires("institutions:read", audit_read="institution.read")
@blp.response(200, InstitutionDetailSchema)
def get_institution(code: str):
    """One institution: every stored field, counts of related records, latest violations and
    inspections, and the newest risk score with its reasons. Each read is written to the audit log."""
    engine = current_engine()
    detail = store.get_institution(engine, code)
    detail["recent_violations"] = store.recent_rows(engine, "violations", code, order_by="found_date")
    detail["recent_inspections"] = store.recent_rows(engine, "inspections", code, order_by="start_date")
    detail["risk"] = _ratings.risk_score(engine, code)
    return detail


@blp.route("/<code>/risk", methods=["GET"])
@requires("model:read", audit_read="institution.risk.read")
@blp.response(200, InstitutionRiskSchema)
def get_institution_risk(code: str):
    """The institution's newest risk score with its reasons (Chinese and English) and every earlier
    score, newest first; ``current`` is null until scores are stored. Each read is audited."""
    history = records(risk_store.institution_scores(current_engine(), code))
    return {"institution_code": code, "current": history[0] if history else None, "history": history}
