"""Credit grades (信用等级) and credit runs (信用评价批次): current, history, lines, reasons, migration."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint
from marshmallow import validate

from scoring import credit_store
from scoring.policy import builtin_policies

from ..auth import requires
from ..cache import snapshot
from ..context import current_engine, current_principal, note_audit
from ..frames import records
from ..guard import require_all_regions
from ..schemas import DATE_RANGE, ID, PageArgs, PageSchema, UtcDateTime
from . import _ratings

blp = Blueprint("credit", __name__, url_prefix="/api/v1", description="信用评价 / credit grades and runs")


class GradeSchema(ma.Schema):
    institution_code = ma.fields.String(required=True)
    grade = ma.fields.String(required=True)
    score = ma.fields.Float(required=True)
    veto = ma.fields.Boolean(required=True)
    run_id = ma.fields.Integer(required=True)
    as_of = ma.fields.Date(required=True, validate=DATE_RANGE)
    policy_name = ma.fields.String(required=True)


class GradeHistoryItemSchema(ma.Schema):
    run_id = ma.fields.Integer(required=True)
    as_of = ma.fields.Date(required=True, validate=DATE_RANGE)
    policy_name = ma.fields.String(required=True)
    created_at = UtcDateTime(required=True)
    score = ma.fields.Float(required=True)
    grade = ma.fields.String(required=True)
    veto = ma.fields.Boolean(required=True)


class RunArgs(ma.Schema):
    run_id = ma.fields.Integer(validate=ID, metadata={"description": "默认：最新一次评价"})


class ReasonArgs(RunArgs):
    lang = ma.fields.String(load_default="zh", validate=validate.OneOf(["zh", "en"]))


class CreditLineSchema(ma.Schema):
    line_id = ma.fields.String(required=True)
    institution_code = ma.fields.String(required=True)
    rule_id = ma.fields.String(required=True)
    kind = ma.fields.String(required=True, metadata={"enum": ["veto", "deduction", "bonus"]})
    points = ma.fields.Float(required=True)
    event_date = ma.fields.Date(required=True, validate=DATE_RANGE, allow_none=True)
    record_table = ma.fields.String(required=True)
    record_key = ma.fields.String(required=True)
    case_source = ma.fields.String(required=True, allow_none=True)
    veto_grade = ma.fields.String(required=True, allow_none=True)
    capped = ma.fields.Boolean(required=True)
    under_appeal = ma.fields.Boolean(required=True)
    objection_pending = ma.fields.Boolean(required=True)
    repair_state = ma.fields.String(required=True, allow_none=True)
    text_zh = ma.fields.String(required=True)
    text_en = ma.fields.String(required=True)


class ExplanationSchema(ma.Schema):
    institution_code = ma.fields.String(required=True)
    lang = ma.fields.String(required=True)
    text = ma.fields.String(required=True)


class CompareArgs(ma.Schema):
    run_a = ma.fields.Integer(required=True, validate=ID)
    run_b = ma.fields.Integer(required=True, validate=ID)


class MigrationSchema(ma.Schema):
    run_a = ma.fields.Integer(required=True)
    run_b = ma.fields.Integer(required=True)
    grades_a = ma.fields.List(ma.fields.String(), required=True)
    grades_b = ma.fields.List(ma.fields.String(), required=True)
    counts = ma.fields.List(
        ma.fields.List(ma.fields.Integer()),
        required=True,
        metadata={"description": "counts[i][j]: grade_a[i] in run_a and grades_b[j] in run_b"},
    )


class GradeChangeSchema(ma.Schema):
    institution_code = ma.fields.String(required=True)
    grade_a = ma.fields.String(required=True)
    grade_b = ma.fields.String(required=True)
    score_a = ma.fields.Float(required=True)
    score_b = ma.fields.Float(required=True)
    direction = ma.fields.String(required=True, allow_none=True)
    reason_zh = ma.fields.String(required=True)
    reason_en = ma.fields.String(required=True)


class PolicySchema(ma.Schema):
    name = ma.fields.String(required=True)


class RunCreateSchema(ma.Schema):
    as_of = ma.fields.Date(required=True, validate=DATE_RANGE, metadata={"description": "评价基准日"})
    policy = ma.fields.String(
        load_default=None,
        validate=validate.OneOf(builtin_policies()),
        metadata={"description": f"评价办法（内置：{', '.join(builtin_policies())}）"},
    )


class RunSchema(ma.Schema):
    run_id = ma.fields.Integer(required=True)
    as_of = ma.fields.Date(required=True, validate=DATE_RANGE)
    policy_name = ma.fields.String(required=True)
    policy_hash = ma.fields.String(required=True)
    scope = ma.fields.String(required=True, allow_none=True)
    parent_run_id = ma.fields.Integer(required=True, allow_none=True)
    reason = ma.fields.String(required=True, allow_none=True)
    institutions = ma.fields.Integer(required=True)
    created_at = UtcDateTime(required=True)
    created_by = ma.fields.String(required=True)
    status = ma.fields.String(required=True, metadata={"description": "completed: runs are evaluated synchronously"})
    distribution = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)


class RunResultSchema(ma.Schema):
    institution_code = ma.fields.String(required=True)
    subject = ma.fields.String(required=True)
    score = ma.fields.Float(required=True)
    grade = ma.fields.String(required=True)
    score_grade = ma.fields.String(required=True)
    veto = ma.fields.Boolean(required=True)
    deductions = ma.fields.Float(required=True)
    bonuses = ma.fields.Float(required=True)
    peer_group = ma.fields.String(required=True, allow_none=True)
    line_count = ma.fields.Integer(required=True)


class RunResultPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(RunResultSchema), required=True)


def latest_run_id(code: str) -> int:
    """The newest run that graded institution ``code`` (404 when it was never graded)."""
    history = credit_store.score_history(current_engine(), code)
    if history.empty:
        raise credit_store.CreditRecordNotFound(f"institution {code!r} has not been graded by any credit run yet")
    return int(history["run_id"].iloc[-1])


@blp.route("/institutions/<code>/grade", methods=["GET"])
@requires("grades:read")
@blp.response(200, GradeSchema)
def current_grade(code: str):
    """The institution's current grade: from the newest run that evaluated it."""
    latest = _ratings.latest_grades().get(code)
    if latest is None:
        raise credit_store.CreditRecordNotFound(f"institution {code!r} has not been graded by any credit run yet")
    return {"institution_code": code, **latest}


@blp.route("/institutions/<code>/grade/history", methods=["GET"])
@requires("grades:read")
@blp.response(200, GradeHistoryItemSchema(many=True))
def grade_history(code: str):
    """Score and grade in every run, oldest first (the credit time series)."""
    return records(credit_store.score_history(current_engine(), code))


@blp.route("/institutions/<code>/grade/lines", methods=["GET"])
@requires("grades:read", audit_read="institution.credit_lines")
@blp.arguments(RunArgs, location="query", as_kwargs=False)
@blp.response(200, CreditLineSchema(many=True))
def grade_lines(args: dict, code: str):
    """Every deduction, bonus and veto line behind the grade (of the institution's credit subject)."""
    run_id = args.get("run_id") or latest_run_id(code)
    return records(credit_store.run_lines(current_engine(), run_id, code))


@blp.route("/institutions/<code>/grade/reasons", methods=["GET"])
@requires("grades:read", audit_read="institution.credit_reasons")
@blp.arguments(ReasonArgs, location="query", as_kwargs=False)
@blp.response(200, ExplanationSchema)
def grade_reasons(args: dict, code: str):
    """The grade explained in words (Chinese or English): lines, rules, objections and repairs."""
    run_id = args.get("run_id") or latest_run_id(code)
    text = credit_store.explain(current_engine(), code, run_id, lang=args["lang"])
    return {"institution_code": code, "lang": args["lang"], "text": text}


@blp.route("/grades/migration", methods=["GET"])
@requires("grades:read")
@blp.arguments(CompareArgs, location="query", as_kwargs=False)
@blp.response(200, MigrationSchema)
def migration(args: dict):
    """Institutions by grade in run_a (rows) and run_b (columns) — city-wide, so all-region tokens only."""
    require_all_regions("The migration matrix")
    matrix = credit_store.migration_matrix(current_engine(), args["run_a"], args["run_b"])
    return {
        "run_a": args["run_a"],
        "run_b": args["run_b"],
        "grades_a": [str(x) for x in matrix.index],
        "grades_b": [str(x) for x in matrix.columns],
        "counts": matrix.to_numpy().tolist(),
    }


@blp.route("/grades/changes", methods=["GET"])
@requires("grades:read")
@blp.arguments(CompareArgs, location="query", as_kwargs=False)
@blp.response(200, GradeChangeSchema(many=True))
def changes(args: dict):
    """Institutions (in the caller's regions) whose grade differs between two runs, with the reasons."""
    frame = credit_store.grade_changes(current_engine(), args["run_a"], args["run_b"])
    return _ratings.in_scope(records(frame), current_principal())


@blp.route("/credit/policies", methods=["GET"])
@requires("grades:read")
@blp.response(200, PolicySchema(many=True))
def policies():
    """The built-in credit policies a run may use."""
    return [{"name": name} for name in builtin_policies()]


@blp.route("/credit/runs", methods=["GET"])
@requires("grades:read")
@blp.response(200, RunSchema(many=True))
def list_runs():
    """Every stored credit run, newest first."""
    return [_run(row) for row in records(credit_store.list_runs(current_engine()))]


def _run(row: dict, distribution: dict | None = None) -> dict:
    return {**row, "status": "completed", "distribution": distribution or {}}


def _distribution(run_id: int) -> dict[str, int]:
    results = credit_store.run_results(current_engine(), run_id)
    return {str(k): int(v) for k, v in results["grade"].value_counts().sort_index().items()}


@blp.route("/credit/runs", methods=["POST"])
@requires("credit:run")
@blp.arguments(RunCreateSchema, as_kwargs=False)
@blp.response(201, RunSchema)
def start_run(body: dict):
    """Evaluate every institution as of a date with a built-in policy and store the run (synchronous)."""
    require_all_regions("A credit run")
    policy = body.get("policy") or builtin_policies()[0]
    run = credit_store.run_evaluation(current_engine(), body["as_of"], policy, actor=f"api:{current_principal().name}")
    note_audit(run_id=run.run_id)
    snapshot("grades").forget()
    return _run_detail(run.run_id)


def _run_detail(run_id: int) -> dict:
    for row in records(credit_store.list_runs(current_engine())):
        if row["run_id"] == run_id:
            return _run(row, _distribution(run_id))
    raise credit_store.CreditRecordNotFound(f"run_id {run_id!r} is not a stored credit run")


@blp.route("/credit/runs/<int(max=2147483647):run_id>", methods=["GET"])
@requires("grades:read")
@blp.response(200, RunSchema)
def get_run(run_id: int):
    """One run: date, policy and hash, scope, who ran it, grade distribution."""
    return _run_detail(run_id)


class RunResultArgs(PageArgs):
    grade = ma.fields.String(validate=validate.Length(min=1, max=8))


@blp.route("/credit/runs/<int(max=2147483647):run_id>/results", methods=["GET"])
@requires("grades:read")
@blp.arguments(RunResultArgs, location="query", as_kwargs=False)
@blp.response(200, RunResultPageSchema)
def run_results(args: dict, run_id: int):
    """The run's result per institution in the caller's regions, optionally of one grade, paged."""
    rows = _ratings.in_scope(records(credit_store.run_results(current_engine(), run_id)), current_principal())
    if args.get("grade"):
        rows = [r for r in rows if r["grade"] == args["grade"]]
    page, per_page = args["page"], args["per_page"]
    return {
        "items": rows[(page - 1) * per_page : page * per_page],
        "total": len(rows),
        "page": page,
        "per_page": per_page,
    }
