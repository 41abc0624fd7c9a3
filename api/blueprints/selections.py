"""Targeted selections (重点检查选取), yearly plans (年度检查计划) and inspection outcomes (检查结果)."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint
from marshmallow import validate
from werkzeug.exceptions import Forbidden

from features.build import label_leads
from features.claim_features import RULE_NAMES
from scoring import outcomes, selection_store
from scoring.plan import PlanRules

from ..auth import requires
from ..context import current_engine, current_principal, note_audit
from ..frames import records
from ..guard import require_all_regions, require_institution_scope
from ..schemas import DATE_RANGE, ID, INSTITUTION_CODE, REGION, UtcDateTime

blp = Blueprint(
    "selections",
    __name__,
    url_prefix="/api/v1",
    description="重点检查、年度计划与检查结果 / targeting, plans, outcomes",
)

Rows = ma.fields.List(ma.fields.Dict(), required=True)


class TargetedCreateSchema(ma.Schema):
    as_of = ma.fields.Date(required=True, validate=DATE_RANGE)
    budget = ma.fields.Integer(
        required=True, validate=validate.Range(min=1, max=100_000), metadata={"description": "可安排的重点检查户数"}
    )
    regions = ma.fields.List(
        ma.fields.String(validate=REGION), load_default=None, metadata={"description": "默认：令牌的全部管辖区县"}
    )


class TargetedSchema(ma.Schema):
    selection_id = ma.fields.Integer(required=True)
    as_of = ma.fields.Date(required=True, validate=DATE_RANGE)
    budget = ma.fields.Integer(required=True)
    rules = ma.fields.Dict(required=True)
    created_at = UtcDateTime(required=True)
    created_by = ma.fields.String(required=True)
    selected = Rows
    reasons = Rows


class TargetedSummarySchema(ma.Schema):
    selection_id = ma.fields.Integer(required=True)
    as_of = ma.fields.Date(required=True)
    budget = ma.fields.Integer(required=True)
    triggered = ma.fields.Integer(required=True, metadata={"description": "因线索必检的机构数"})
    selected_count = ma.fields.Integer(required=True)
    created_at = UtcDateTime(required=True)
    created_by = ma.fields.String(required=True)


class PlanCreateSchema(ma.Schema):
    year = ma.fields.Integer(required=True, validate=validate.Range(min=2000, max=2100))
    visits_per_inspector_per_month = ma.fields.Integer(load_default=4, validate=validate.Range(min=1, max=100))
    team_size = ma.fields.Integer(load_default=2, validate=validate.Range(min=2, max=10))
    working_months = ma.fields.List(
        ma.fields.Integer(validate=validate.Range(min=1, max=12)),
        load_default=lambda: list(range(1, 13)),
        validate=validate.Length(min=1, max=12),
    )
    draw_ids = ma.fields.List(ma.fields.String(validate=validate.Length(max=40)), load_default=list)
    selection_ids = ma.fields.List(ma.fields.Integer(validate=ID), load_default=list)
    regions = ma.fields.List(ma.fields.String(validate=REGION), load_default=None)


class PlanSchema(ma.Schema):
    plan_id = ma.fields.Integer(required=True)
    year = ma.fields.Integer(required=True)
    rules = ma.fields.Dict(required=True)
    sources = ma.fields.Dict(required=True)
    created_at = UtcDateTime(required=True)
    created_by = ma.fields.String(required=True)
    months = Rows
    visits = Rows


class PlanSummarySchema(ma.Schema):
    plan_id = ma.fields.Integer(required=True)
    year = ma.fields.Integer(required=True)
    regions = ma.fields.List(
        ma.fields.String(), required=True, allow_none=True, metadata={"description": "计划的区县；null：全市"}
    )
    draw_ids = ma.fields.List(ma.fields.String(), required=True)
    selection_ids = ma.fields.List(ma.fields.Integer(), required=True)
    visits = ma.fields.Integer(required=True)
    created_at = UtcDateTime(required=True)
    created_by = ma.fields.String(required=True)


class ViolationInSchema(ma.Schema):
    category = ma.fields.String(required=True, validate=validate.Length(min=1, max=40))
    amount = ma.fields.Float(required=True, validate=validate.Range(min=0, max=1e12))
    disposition = ma.fields.String(required=True, validate=validate.Length(min=1, max=40))
    status = ma.fields.String(load_default="confirmed", validate=validate.Length(min=1, max=40))
    violation_id = ma.fields.String(validate=validate.Length(min=1, max=60))
    found_date = ma.fields.Date(validate=DATE_RANGE)
    decision_date = ma.fields.Date(validate=DATE_RANGE)
    penalty_amount = ma.fields.Float(validate=validate.Range(min=0, max=1e12))
    fraud = ma.fields.Boolean()
    lenient = ma.fields.Boolean()


class OutcomeCreateSchema(ma.Schema):
    institution_code = ma.fields.String(required=True, validate=validate.Regexp(INSTITUTION_CODE))
    start_date = ma.fields.Date(required=True, validate=DATE_RANGE)
    level = ma.fields.String(required=True, validate=validate.OneOf(["province", "city", "county"]))
    kind = ma.fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    inspector_codes = ma.fields.List(ma.fields.String(validate=validate.Length(min=1, max=40)), load_default=None)
    found_violation = ma.fields.Boolean(required=True)
    amount_found = ma.fields.Float(load_default=None, validate=validate.Range(min=0, max=1e12))
    violations = ma.fields.List(
        ma.fields.Nested(ViolationInSchema), load_default=list, validate=validate.Length(max=200)
    )
    draw_id = ma.fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    items = ma.fields.List(ma.fields.String(validate=validate.Length(min=1, max=60)), load_default=None)
    inspection_id = ma.fields.String(load_default=None, validate=validate.Length(min=1, max=60))


class OutcomeSchema(ma.Schema):
    inspection_id = ma.fields.String(required=True)
    violation_ids = ma.fields.List(ma.fields.String(), required=True)
    import_id = ma.fields.Integer(required=True, allow_none=True)
    written = ma.fields.Boolean(required=True)
    publication_due = ma.fields.Date(required=True, validate=DATE_RANGE)


def _regions(asked: list[str] | None) -> list[str] | None:
    """The regions to work on: those asked (within scope) or the caller's whole scope."""
    principal = current_principal()
    if asked is None:
        return None if principal.regions is None else sorted(principal.regions)
    outside = sorted(r for r in asked if not principal.sees_region(r))
    if outside:
        raise Forbidden(f"regions {outside} are outside your scope {principal.scope_label}. / 区县不在管辖范围。")
    return sorted(set(asked))


def _grades():
    return selection_store.latest_credit_grades(current_engine())


def _targeted(stored: selection_store.StoredTargetedSelection) -> dict:
    return {
        **{k: getattr(stored, k) for k in ("selection_id", "as_of", "budget", "rules", "created_at", "created_by")},
        "selected": records(stored.selected),
        "reasons": records(stored.reasons),
    }


@blp.route("/selections", methods=["POST"])
@requires("selections:write")
@blp.arguments(TargetedCreateSchema, as_kwargs=False)
@blp.response(201, TargetedSchema)
def create_targeted(body: dict):
    """Pick targeted inspections within a budget from leads, grades and signals, with reasons."""
    stored = selection_store.select_and_save_targeted(
        current_engine(),
        as_of=body["as_of"],
        budget=body["budget"],
        grades=_grades(),
        actor=f"api:{current_principal().name}",
        regions=_regions(body.get("regions")),
    )
    note_audit(selection_id=stored.selection_id)
    return _targeted(stored)


@blp.route("/selections/targeted", methods=["GET"])
@requires("selections:read")
@blp.response(200, TargetedSummarySchema(many=True))
def list_targeted():
    """Stored targeted selections, newest first, without their picks (city-wide: all-region tokens)."""
    require_all_regions("The list of stored targeted selections")
    return records(selection_store.list_targeted_selections(current_engine()))


@blp.route("/selections/<int(max=2147483647):selection_id>", methods=["GET"])
@requires("selections:read")
@blp.response(200, TargetedSchema)
def get_targeted(selection_id: int):
    """A stored targeted selection with every pick's reasons (city-wide: all-region tokens)."""
    require_all_regions("A stored targeted selection")
    return _targeted(selection_store.get_targeted_selection(current_engine(), selection_id))


class LeadsArgs(ma.Schema):
    institution_code = ma.fields.String(
        validate=validate.Regexp(INSTITUTION_CODE), metadata={"description": "只看这家被选机构"}
    )
    rule = ma.fields.String(validate=validate.OneOf(RULE_NAMES), metadata={"description": "只看这条审核规则"})


class LeadSchema(ma.Schema):
    claim_id = ma.fields.String(required=True)
    institution_code = ma.fields.String(required=True)
    rule = ma.fields.String(required=True)
    rule_zh = ma.fields.String(required=True)
    rule_en = ma.fields.String(required=True)
    event_month = ma.fields.String(required=True, metadata={"description": "规则触发（可知）的月份 YYYY-MM"})
    known_from = ma.fields.Date(required=True, metadata={"description": "进入特征的日期（次月1日）"})


class SelectionLeadsSchema(ma.Schema):
    selection_id = ma.fields.Integer(required=True)
    as_of = ma.fields.Date(required=True)
    counts = ma.fields.List(ma.fields.Dict(), required=True, metadata={"description": "每条规则的线索数"})
    leads = ma.fields.List(ma.fields.Nested(LeadSchema), required=True)


@blp.route("/selections/<int(max=2147483647):selection_id>/leads", methods=["GET"])
@requires("selections:read", audit_read="selection.leads.read")
@blp.arguments(LeadsArgs, location="query", as_kwargs=False)
@blp.response(200, SelectionLeadsSchema)
def get_targeted_leads(args: dict, selection_id: int):
    """The claims the smart-audit rules flagged at the selection's picks (智能审核线索), as of its date.

    Leads to check on the visit, not verdicts. Computed from the stored claims when asked (city-wide:
    all-region tokens). Each read is audited.
    """
    require_all_regions("The leads of a targeted selection")
    code = args.get("institution_code")
    stored = selection_store.get_targeted_selection(current_engine(), selection_id)
    if code and code not in set(stored.selected["institution_code"].astype(str)):
        raise LookupError(
            f"机构 {code} 不在重点检查选取 {selection_id} 中 / "
            f"{code} is not a pick of targeted selection {selection_id}"
        )
    leads = selection_store.selection_leads(current_engine(), stored)
    if code:
        leads = leads[leads["institution_code"] == code]
    if args.get("rule"):
        leads = leads[leads["rule"] == args["rule"]]
    table = label_leads(leads)
    counts = table.groupby(["rule", "rule_zh", "rule_en"], sort=True).size().rename("claims").reset_index()
    return {
        "selection_id": selection_id,
        "as_of": stored.as_of,
        "counts": records(counts),
        "leads": records(table),
    }


def _plan(stored: selection_store.StoredPlan) -> dict:
    return {
        **{k: getattr(stored, k) for k in ("plan_id", "year", "rules", "sources", "created_at", "created_by")},
        "months": records(stored.months),
        "visits": records(stored.visits),
    }


@blp.route("/plans", methods=["POST"])
@requires("plans:write")
@blp.arguments(PlanCreateSchema, as_kwargs=False)
@blp.response(201, PlanSchema)
def create_plan(body: dict):
    """Plan a year: draws and targeted selections as known rounds, a routine visit for every other
    active institution (riskier grades first), within the inspectors' monthly capacity."""
    rules = PlanRules(
        year=body["year"],
        visits_per_inspector_per_month=body["visits_per_inspector_per_month"],
        team_size=body["team_size"],
        working_months=tuple(body["working_months"]),
    )
    stored = selection_store.plan_year(
        current_engine(),
        rules=rules,
        actor=f"api:{current_principal().name}",
        grades=_grades(),
        draw_ids=body["draw_ids"],
        selection_ids=body["selection_ids"],
        regions=_regions(body.get("regions")),
    )
    note_audit(plan_id=stored.plan_id)
    return _plan(stored)


def _split(text: str) -> list[str]:
    return [part for part in text.split(";") if part]


@blp.route("/plans", methods=["GET"])
@requires("plans:read")
@blp.response(200, PlanSummarySchema(many=True))
def list_plans():
    """Stored yearly plans, newest first: year, regions, sources and visit count (city-wide:
    all-region tokens)."""
    require_all_regions("The list of stored plans")
    return [
        {
            **row,
            "regions": _split(row["regions"]) or None,
            "draw_ids": _split(row["draw_ids"]),
            "selection_ids": [int(x) for x in _split(row["selection_ids"])],
        }
        for row in records(selection_store.list_plans(current_engine()))
    ]


@blp.route("/plans/<int(max=2147483647):plan_id>", methods=["GET"])
@requires("plans:read")
@blp.response(200, PlanSchema)
def get_plan(plan_id: int):
    """A stored yearly plan: months (capacity and load) and visits (city-wide: all-region tokens)."""
    require_all_regions("A stored plan")
    return _plan(selection_store.get_plan(current_engine(), plan_id))


@blp.route("/inspections", methods=["POST"])
@requires("inspections:write")
@blp.arguments(OutcomeCreateSchema, as_kwargs=False)
@blp.response(201, OutcomeSchema)
def record_outcome(body: dict):
    """Record an inspection's outcome and its violations (validated like an import)."""
    require_institution_scope(body["institution_code"])
    recorded = outcomes.record_outcome(current_engine(), **body, actor=f"api:{current_principal().name}")
    note_audit(inspection_id=recorded.inspection_id, violation_ids=list(recorded.violation_ids))
    return {**vars(recorded), "violation_ids": list(recorded.violation_ids)}
