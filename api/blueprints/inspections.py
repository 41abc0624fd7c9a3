"""Inspections (检查记录) of institutions in the caller's regions."""

from __future__ import annotations

from flask_smorest import Blueprint

from .. import store
from ..auth import requires
from ..context import current_engine, current_principal
from ..schemas import InspectionListArgs, InspectionPageSchema

blp = Blueprint("inspections", __name__, url_prefix="/api/v1/inspections", description="检查记录 / inspections")


@blp.route("", methods=["GET"])
@requires("inspections:read")
@blp.arguments(InspectionListArgs, location="query", as_kwargs=False)
@blp.response(200, InspectionPageSchema)
def list_inspections(args: dict):
    """Stored inspections, newest first, filtered by county, kind, year or institution."""
    filters = store.InstitutionFilter(regions=current_principal().regions, county=args.get("county"))
    rows, total = store.list_inspections(
        current_engine(),
        filters,
        kind=args.get("kind"),
        year=args.get("year"),
        institution_code=args.get("institution_code"),
        page=args["page"],
        per_page=args["per_page"],
    )
    return {"items": rows, "total": total, "page": args["page"], "per_page": args["per_page"]}
