"""Random draws (双随机抽查): freeze the pool, enter the seed, draw, fetch, verify, export.

Each step is one call of ``scoring.selection_store`` / ``scoring.publication``; this module parses,
checks the caller's regions and serialises.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import marshmallow as ma
from flask import Response, jsonify, send_file
from flask_smorest import Blueprint
from marshmallow import validate
from werkzeug.exceptions import Conflict, Forbidden

from scoring import publication, selection_store
from scoring.draws import DrawDesign, Seed

from ..auth import requires
from ..context import current_engine, current_principal, note_audit
from ..frames import records
from ..schemas import DATE_RANGE, REGION, UtcDateTime

blp = Blueprint("draws", __name__, url_prefix="/api/v1/draws", description="双随机抽查 / random draws")

DRAW_ID = r"^[0-9]{8}-[0-9a-f]{12}$"
GRADE_KEY = validate.Regexp(r"^[A-Z][A-Z+]?$", error="strata are credit grades such as A, B, C, D")


class DrawCreateSchema(ma.Schema):
    as_of = ma.fields.Date(
        required=True, validate=DATE_RANGE, metadata={"description": "抽查基准日（对象库按此日期确定）"}
    )
    regions = ma.fields.List(ma.fields.String(validate=REGION), required=True, validate=validate.Length(min=1, max=50))
    item = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=60),
        metadata={"description": "检查事项（可选）"},
    )
    ratios = ma.fields.Dict(
        keys=ma.fields.String(validate=GRADE_KEY),
        values=ma.fields.Decimal(as_string=True),
        load_default=None,
        metadata={"description": '各信用等级抽查比例，如 {"A": "0.02"}；默认按政策'},
    )


class SeedSchema(ma.Schema):
    source = ma.fields.String(required=True, validate=validate.OneOf(["dice", "beacon"]))
    value = ma.fields.String(
        required=True,
        validate=validate.Length(min=1, max=1100),
        metadata={"description": "骰子数字（20–200 位）或公开随机信标值"},
    )
    reference = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=500),
        metadata={"description": "来源说明：谁在何处掷骰，或信标脉冲地址"},
    )


class ExportArgs(ma.Schema):
    stage = ma.fields.String(load_default="draw", validate=validate.OneOf(["pool", "draw", "results"]))
    format = ma.fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx", "json"]))


class DrawSummarySchema(ma.Schema):
    draw_id = ma.fields.String(required=True)
    status = ma.fields.String(required=True, metadata={"enum": list(selection_store.DRAW_STATUSES)})
    as_of = ma.fields.Date(required=True, validate=DATE_RANGE)
    regions = ma.fields.List(ma.fields.String(), required=True)
    item = ma.fields.String(required=True, allow_none=True)
    method = ma.fields.String(required=True)
    pool_size = ma.fields.Integer(required=True)
    selected_count = ma.fields.Integer(required=True, allow_none=True)
    pool_hash = ma.fields.String(required=True)
    frozen_at = UtcDateTime(required=True)
    frozen_by = ma.fields.String(required=True)
    drawn_at = UtcDateTime(required=True, allow_none=True)
    drawn_by = ma.fields.String(required=True, allow_none=True)


class SelectedSchema(ma.Schema):
    draw_rank = ma.fields.Integer(required=True)
    institution_code = ma.fields.String(required=True)
    region_code = ma.fields.String(required=True)
    stratum = ma.fields.String(required=True)
    inclusion_probability = ma.fields.Float(required=True)
    ticket = ma.fields.String(required=True)
    lead_inspector_code = ma.fields.String(required=True, allow_none=True)
    inspector_codes = ma.fields.String(required=True, allow_none=True)


class ExclusionSchema(ma.Schema):
    institution_code = ma.fields.String(required=True)
    reason_code = ma.fields.String(required=True)
    reason_zh = ma.fields.String(required=True, allow_none=True)
    reason_en = ma.fields.String(required=True, allow_none=True)


class SeedOutSchema(ma.Schema):
    source = ma.fields.String(required=True)
    value = ma.fields.String(required=True)
    reference = ma.fields.String(required=True, allow_none=True)


class DrawDetailSchema(DrawSummarySchema):
    status_zh = ma.fields.String(required=True)
    bureau_level = ma.fields.String(required=True)
    seed = ma.fields.Nested(SeedOutSchema, required=True, allow_none=True)
    failure = ma.fields.String(required=True, allow_none=True)
    strata = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)
    selected = ma.fields.List(ma.fields.Nested(SelectedSchema), required=True)
    exclusions = ma.fields.List(ma.fields.Nested(ExclusionSchema), required=True)


class VerificationSchema(ma.Schema):
    draw_id = ma.fields.String(required=True, allow_none=True)
    ok = ma.fields.Boolean(required=True)
    checks = ma.fields.List(ma.fields.String(), required=True)
    discrepancy = ma.fields.String(required=True, allow_none=True)
    summary = ma.fields.String(required=True)


def _check_regions(regions: list[str] | tuple[str, ...]) -> None:
    principal = current_principal()
    outside = sorted(r for r in regions if not principal.sees_region(r))
    if outside:
        raise Forbidden(
            f"regions {outside} are outside your scope {principal.scope_label}. / 区县 {outside} 不在您的管辖范围。"
        )


def load_draw(draw_id: str) -> selection_store.StoredDraw:
    """A stored draw of the caller's regions (404 unknown, 403 another county's)."""
    draw = selection_store.get_draw(current_engine(), draw_id)
    _check_regions(draw.regions)
    return draw


def draw_detail(draw: selection_store.StoredDraw) -> dict:
    selected = draw.selected
    if not draw.assignments.empty and not selected.empty:
        teams = draw.assignments[["institution_code", "lead_inspector_code", "inspector_codes"]]
        selected = selected.merge(teams, on="institution_code", how="left")
    strata = draw.units["stratum"].value_counts().sort_index()
    return {
        "draw_id": draw.draw_id,
        "status": draw.status,
        "status_zh": draw.status_zh,
        "as_of": draw.as_of,
        "regions": list(draw.regions),
        "bureau_level": draw.bureau_level,
        "item": draw.item,
        "method": draw.method,
        "pool_size": draw.pool_size,
        "selected_count": draw.selected_count,
        "pool_hash": draw.pool_hash,
        "frozen_at": draw.frozen_at,
        "frozen_by": draw.frozen_by,
        "drawn_at": draw.drawn_at,
        "drawn_by": draw.drawn_by,
        "seed": draw.seed.to_dict() if draw.seed else None,
        "failure": draw.failure,
        "strata": {str(k): int(v) for k, v in strata.items()},
        "selected": [
            {
                **row,
                "lead_inspector_code": row.get("lead_inspector_code"),
                "inspector_codes": row.get("inspector_codes"),
            }
            for row in records(selected)
        ],
        "exclusions": records(draw.exclusions),
    }


def freeze(body: dict, actor: str) -> selection_store.FrozenDraw:
    """Freeze a stratified draw of ``body['regions']`` graded by the latest credit evaluation."""
    _check_regions(body["regions"])
    design = DrawDesign.stratified({k: str(v) for k, v in body["ratios"].items()}) if body.get("ratios") else None
    engine = current_engine()
    return selection_store.freeze_draw(
        engine,
        as_of=body["as_of"],
        regions=body["regions"],
        item=body.get("item"),
        design=design,
        grades=selection_store.latest_credit_grades(engine),
        actor=actor,
    )


def enter_seed(draw_id: str, body: dict, actor: str) -> selection_store.StoredDraw:
    """Enter the public seed of a frozen draw and draw (409 if it is not frozen any more)."""
    load_draw(draw_id)
    seed = Seed(body["source"], body["value"], body.get("reference"))
    try:
        return selection_store.enter_seed_and_draw(current_engine(), draw_id, seed, actor)
    except selection_store.DrawStateError as error:
        raise Conflict(str(error)) from error


@blp.route("", methods=["POST"])
@requires("draws:write")
@blp.arguments(DrawCreateSchema, as_kwargs=False)
@blp.response(201, DrawDetailSchema)
def create_draw(body: dict):
    """Freeze the eligible pool and publish its hash; the draw waits for a seed entered later."""
    try:
        frozen = freeze(body, f"api:{current_principal().name}")
    except selection_store.DrawStateError as error:
        raise Conflict(str(error)) from error
    note_audit(draw_id=frozen.draw_id, pool_hash=frozen.pool_hash)
    return draw_detail(selection_store.get_draw(current_engine(), frozen.draw_id))


@blp.route("", methods=["GET"])
@requires("draws:read")
@blp.response(200, DrawSummarySchema(many=True))
def list_draws():
    """Draws of the caller's regions, newest first."""
    principal = current_principal()
    rows = records(selection_store.list_draws(current_engine()))
    out = []
    for row in rows:
        row["regions"] = [r for r in str(row["regions"]).split(";") if r]
        if all(principal.sees_region(r) for r in row["regions"]):
            out.append(row)
    return out


@blp.route("/<draw_id>", methods=["GET"])
@requires("draws:read")
@blp.response(200, DrawDetailSchema)
def get_draw(draw_id: str):
    """A draw: state, pool hash, seed, the drawn institutions with their teams, exclusions."""
    return draw_detail(load_draw(draw_id))


@blp.route("/<draw_id>/pool", methods=["GET"])
@requires("draws:read")
@blp.response(200, {"type": "object"})
def get_pool(draw_id: str):
    """The frozen pool document exactly as hashed (publish it with the hash before the seed)."""
    return jsonify(load_draw(draw_id).pool_document)


@blp.route("/<draw_id>/seed", methods=["POST"])
@requires("draws:write")
@blp.arguments(SeedSchema, as_kwargs=False)
@blp.response(200, DrawDetailSchema)
def post_seed(body: dict, draw_id: str):
    """Enter the seed (dice rolled in public, or a beacon value) once, and draw."""
    draw = enter_seed(draw_id, body, f"api:{current_principal().name}")
    note_audit(draw_id=draw_id, seed_source=body["source"], selected=draw.selected_count)
    return draw_detail(draw)


@blp.route("/<draw_id>/verify", methods=["GET"])
@requires("draws:read")
@blp.response(200, VerificationSchema)
def verify(draw_id: str):
    """Replay the draw with the published verifier and compare with what is stored."""
    load_draw(draw_id)
    result = selection_store.verify_stored_draw(current_engine(), draw_id)
    return {
        "draw_id": result.draw_id,
        "ok": result.ok,
        "checks": result.checks,
        "discrepancy": result.discrepancy,
        "summary": result.summary(),
    }


_EXPORTS = {"pool": publication.export_pool, "draw": publication.export_draw, "results": publication.export_results}
_MIMETYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}


def export_file(draw_id: str, stage: str, fmt: str) -> Response:
    """The published file of one stage (pool list, draw list, results) as a download."""
    load_draw(draw_id)
    role = "pool" if (fmt == "json" and stage == "pool") else fmt
    with tempfile.TemporaryDirectory(prefix="medcredit-export-") as folder:
        files = _EXPORTS[stage](current_engine(), draw_id, Path(folder)).files
        if role not in files:
            raise LookupError(f"format {fmt!r} is not published for stage {stage!r}; published: {sorted(files)}")
        data = files[role].read_bytes()
        name = files[role].name
    return send_file(io.BytesIO(data), mimetype=_MIMETYPES[fmt], as_attachment=True, download_name=name)


@blp.route("/<draw_id>/export", methods=["GET"])
@requires("draws:read")
@blp.arguments(ExportArgs, location="query", as_kwargs=False)
@blp.response(200, {"type": "string", "format": "binary"}, content_type="text/csv")
@blp.alt_response(
    200,
    success=True,
    content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    schema={"type": "string", "format": "binary"},
)
def export(args: dict, draw_id: str):
    """Download the pool list, draw list (with teams) or results as CSV, XLSX or JSON (draw document)."""
    return export_file(draw_id, args["stage"], args["format"])
