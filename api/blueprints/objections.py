"""Objections (异议) against credit lines and credit repair (信用修复): file and decide."""

from __future__ import annotations

import json

import marshmallow as ma
from flask_smorest import Blueprint
from marshmallow import validate

from scoring import credit_store

from ..auth import requires
from ..cache import snapshot
from ..context import current_engine, current_principal, note_audit
from ..frames import records
from ..guard import require_institution_scope
from ..schemas import DATE_RANGE, ID, INSTITUTION_CODE, UtcDateTime
from . import _ratings
from .credit import latest_run_id

blp = Blueprint("objections", __name__, url_prefix="/api/v1", description="异议与信用修复 / objections and repair")

STATUSES = ("pending", "upheld", "rejected", "approved")


class ObjectionCreateSchema(ma.Schema):
    line_id = ma.fields.String(required=True, validate=validate.Length(min=1, max=300))
    reason = ma.fields.String(required=True, validate=validate.Length(min=1, max=4000))
    attachments = ma.fields.List(
        ma.fields.String(validate=validate.Length(min=1, max=300)),
        load_default=list,
        validate=validate.Length(max=50),
        metadata={"description": "附件名称"},
    )
    run_id = ma.fields.Integer(load_default=None, validate=ID)


class RepairCreateSchema(ma.Schema):
    line_id = ma.fields.String(required=True, validate=validate.Length(min=1, max=300))
    reason = ma.fields.String(required=True, validate=validate.Length(min=1, max=4000))
    applied_on = ma.fields.Date(load_default=None, validate=DATE_RANGE)
    run_id = ma.fields.Integer(load_default=None, validate=ID)


class ObjectionDecisionSchema(ma.Schema):
    upheld = ma.fields.Boolean(required=True, metadata={"description": "true: 异议成立（撤销该行并重新评价）"})
    note = ma.fields.String(load_default="", validate=validate.Length(max=4000))


class RepairDecisionSchema(ma.Schema):
    approved = ma.fields.Boolean(required=True)
    note = ma.fields.String(load_default="", validate=validate.Length(max=4000))


class ListArgs(ma.Schema):
    status = ma.fields.String(validate=validate.OneOf(STATUSES))
    institution_code = ma.fields.String(validate=validate.Regexp(INSTITUTION_CODE))


class ObjectionSchema(ma.Schema):
    objection_id = ma.fields.Integer(required=True)
    run_id = ma.fields.Integer(required=True)
    line_id = ma.fields.String(required=True)
    institution_code = ma.fields.String(required=True)
    rule_id = ma.fields.String(required=True)
    reason = ma.fields.String(required=True)
    attachments = ma.fields.List(ma.fields.String(), required=True)
    status = ma.fields.String(required=True)
    filed_by = ma.fields.String(required=True)
    filed_at = UtcDateTime(required=True)
    decided_by = ma.fields.String(required=True, allow_none=True)
    decided_at = UtcDateTime(required=True, allow_none=True)
    decision_note = ma.fields.String(required=True, allow_none=True)
    regrade_run_id = ma.fields.Integer(required=True, allow_none=True)


class RepairSchema(ma.Schema):
    repair_id = ma.fields.Integer(required=True)
    run_id = ma.fields.Integer(required=True)
    line_id = ma.fields.String(required=True)
    institution_code = ma.fields.String(required=True)
    rule_id = ma.fields.String(required=True)
    event_date = ma.fields.Date(required=True, validate=DATE_RANGE, allow_none=True)
    applied_on = ma.fields.Date(required=True, validate=DATE_RANGE)
    reason = ma.fields.String(required=True)
    waiting_months = ma.fields.Integer(required=True)
    restore = ma.fields.Float(required=True)
    status = ma.fields.String(required=True)
    applied_by = ma.fields.String(required=True)
    applied_at = UtcDateTime(required=True)
    decided_by = ma.fields.String(required=True, allow_none=True)
    decided_at = UtcDateTime(required=True, allow_none=True)
    decision_note = ma.fields.String(required=True, allow_none=True)
    effective_date = ma.fields.Date(required=True, validate=DATE_RANGE, allow_none=True)


def objection_rows(code: str | None = None) -> list[dict]:
    rows = records(credit_store.list_objections(current_engine(), code))
    for row in rows:
        row["attachments"] = json.loads(row["attachments"] or "[]")
    return _ratings.in_scope(rows, current_principal())


def repair_rows(code: str | None = None) -> list[dict]:
    return _ratings.in_scope(records(credit_store.list_repairs(current_engine(), code)), current_principal())


def _line_of(code: str, line_id: str, run_id: int | None) -> int:
    """The run to use after checking ``line_id`` is a line of institution ``code`` in it (404 otherwise)."""
    run_id = run_id or latest_run_id(code)
    lines = credit_store.run_lines(current_engine(), run_id, code)
    if line_id not in set(lines["line_id"]):
        raise credit_store.CreditRecordNotFound(f"line_id {line_id!r} is not a credit line of {code} in run #{run_id}")
    return run_id


def _one(rows: list[dict], key: str, value: int, what: str) -> dict:
    for row in rows:
        if row[key] == value:
            return row
    raise credit_store.CreditRecordNotFound(f"{key} {value!r} is not a stored {what}")


def file_objection(code: str, body: dict, actor: str) -> int:
    run_id = _line_of(code, body["line_id"], body.get("run_id"))
    return credit_store.file_objection(
        current_engine(),
        body["line_id"],
        reason=body["reason"],
        actor=actor,
        attachments=body["attachments"],
        run_id=run_id,
    )


def decide_objection(objection_id: int, upheld: bool, note: str, actor: str) -> credit_store.ObjectionDecision:
    row = _one(records(credit_store.list_objections(current_engine())), "objection_id", objection_id, "objection")
    require_institution_scope(row["institution_code"])
    decision = credit_store.decide_objection(current_engine(), objection_id, upheld=upheld, actor=actor, note=note)
    snapshot("grades").forget()  # an upheld objection re-grades at once
    return decision


def decide_repair(repair_id: int, approved: bool, note: str, actor: str) -> credit_store.RepairDecision:
    row = _one(records(credit_store.list_repairs(current_engine())), "repair_id", repair_id, "repair")
    require_institution_scope(row["institution_code"])
    return credit_store.approve_repair(current_engine(), repair_id, actor=actor, approved=approved, note=note)


@blp.route("/institutions/<code>/objections", methods=["POST"])
@requires("objections:write")
@blp.arguments(ObjectionCreateSchema, as_kwargs=False)
@blp.response(201, ObjectionSchema)
def create_objection(body: dict, code: str):
    """File an objection against one credit line of the institution; the line is pending until decided."""
    objection_id = file_objection(code, body, f"api:{current_principal().name}")
    note_audit(objection_id=objection_id)
    return _one(objection_rows(code), "objection_id", objection_id, "objection")


@blp.route("/objections", methods=["GET"])
@requires("objections:read")
@blp.arguments(ListArgs, location="query", as_kwargs=False)
@blp.response(200, ObjectionSchema(many=True))
def list_objections(args: dict):
    """Objections about institutions in the caller's regions."""
    rows = objection_rows(args.get("institution_code"))
    return [r for r in rows if not args.get("status") or r["status"] == args["status"]]


@blp.route("/objections/<int(max=2147483647):objection_id>/decision", methods=["POST"])
@requires("objections:decide")
@blp.arguments(ObjectionDecisionSchema, as_kwargs=False)
@blp.response(200, ObjectionSchema)
def decide(body: dict, objection_id: int):
    """Uphold (the line is removed and the institution re-graded at once) or reject an objection."""
    decision = decide_objection(objection_id, body["upheld"], body["note"], f"api:{current_principal().name}")
    note_audit(objection_id=objection_id, status=decision.status, regrade_run_id=decision.regrade_run_id)
    return _one(objection_rows(), "objection_id", objection_id, "objection")


@blp.route("/institutions/<code>/repairs", methods=["POST"])
@requires("objections:write")
@blp.arguments(RepairCreateSchema, as_kwargs=False)
@blp.response(201, RepairSchema)
def create_repair(body: dict, code: str):
    """Apply for credit repair of one deduction line (vetoes are not repairable within the cycle)."""
    run_id = _line_of(code, body["line_id"], body.get("run_id"))
    repair_id = credit_store.apply_repair(
        current_engine(),
        body["line_id"],
        reason=body["reason"],
        actor=f"api:{current_principal().name}",
        applied_on=body.get("applied_on"),
        run_id=run_id,
    )
    note_audit(repair_id=repair_id)
    return _one(repair_rows(code), "repair_id", repair_id, "repair")


@blp.route("/repairs", methods=["GET"])
@requires("objections:read")
@blp.arguments(ListArgs, location="query", as_kwargs=False)
@blp.response(200, RepairSchema(many=True))
def list_repairs(args: dict):
    """Repair applications about institutions in the caller's regions."""
    rows = repair_rows(args.get("institution_code"))
    return [r for r in rows if not args.get("status") or r["status"] == args["status"]]


@blp.route("/repairs/<int(max=2147483647):repair_id>/decision", methods=["POST"])
@requires("objections:decide")
@blp.arguments(RepairDecisionSchema, as_kwargs=False)
@blp.response(200, RepairSchema)
def decide_repair_view(body: dict, repair_id: int):
    """Approve or reject a repair application."""
    decision = decide_repair(repair_id, body["approved"], body["note"], f"api:{current_principal().name}")
    note_audit(repair_id=repair_id, status=decision.status)
    return _one(repair_rows(), "repair_id", repair_id, "repair")
