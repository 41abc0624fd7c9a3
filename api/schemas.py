"""Request and response schemas of the API (marshmallow), the OpenAPI description's source.

Contract tables' response schemas are generated from ``features.contract`` so that a column added
there appears in the API without a second declaration.
"""

from __future__ import annotations

import datetime

import marshmallow as ma
from marshmallow import validate

from features.contract import CODE_LISTS, TABLES

from .store import ROLES

ID_MAX = 2**31 - 1  # ids are 32-bit integers in every supported database
ID = validate.Range(min=1, max=ID_MAX)
# Dates the service reasons about (evaluation, draw and inspection dates): far outside this range a
# request is a typo, and pandas' nanosecond timestamps cannot hold it anyway.
DATE_RANGE = validate.Range(
    min=datetime.date(1990, 1, 1), max=datetime.date(2100, 12, 31), error="must be between 1990-01-01 and 2100-12-31"
)
REGION = validate.Regexp(r"^\d{6}$", error="must be a 6-digit region code, e.g. 441502")
INSTITUTION_CODE = r"^[HP]\d{11}$"


class UtcDateTime(ma.fields.DateTime):
    """Stored times are naive UTC; RFC 3339 wants the offset, so it is added on the way out."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return super()._serialize(value, attr, obj, **kwargs)


_FIELD_BY_TYPE = {
    "text": ma.fields.String,
    "code": ma.fields.String,
    "list": ma.fields.String,
    "int": ma.fields.Integer,
    "money": ma.fields.Float,
    "number": ma.fields.Float,
    "date": ma.fields.Date,
    "bool": ma.fields.Boolean,
}


def contract_schema(table_name: str, name: str, *, extra: dict[str, ma.fields.Field] | None = None) -> type[ma.Schema]:
    """A response schema with one field per contract column (nullable unless required)."""
    table = TABLES[table_name]
    fields: dict[str, ma.fields.Field] = {}
    for column in table.columns:
        metadata = {"description": column.zh + (f" ({column.note})" if column.note else "")}
        if column.codes:
            metadata["enum"] = list(CODE_LISTS[column.codes])
        nullable = not (column.required or column.name in table.key)
        fields[column.name] = _FIELD_BY_TYPE[column.type](allow_none=nullable, required=True, metadata=metadata)
    fields.update(extra or {})
    return ma.Schema.from_dict(fields, name=name)


def _one_of(code_list: str) -> validate.OneOf:
    return validate.OneOf(list(CODE_LISTS[code_list]))


class PageArgs(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = ma.fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class PageSchema(ma.Schema):
    total = ma.fields.Integer(required=True)
    page = ma.fields.Integer(required=True)
    per_page = ma.fields.Integer(required=True)


GRADES = ("A", "B", "C", "D", "E")
RISK_LEVELS = ("low", "medium", "high", "very_high")  # the model's 低 / 中 / 高 / 极高


class InstitutionListArgs(PageArgs):
    county = ma.fields.String(validate=REGION, metadata={"description": "区县代码 region (county) code"})
    kind = ma.fields.String(validate=_one_of("institution_kind"), metadata={"description": "机构类型"})
    status = ma.fields.String(validate=_one_of("institution_status"), metadata={"description": "协议状态"})
    grade = ma.fields.String(validate=validate.OneOf(GRADES), metadata={"description": "信用等级"})
    risk_level = ma.fields.String(validate=validate.OneOf(RISK_LEVELS), metadata={"description": "风险等级"})
    q = ma.fields.String(validate=validate.Length(min=1, max=100), metadata={"description": "名称或编码包含"})


class InstitutionSummarySchema(ma.Schema):
    institution_code = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    level = ma.fields.Integer(required=True, allow_none=True)
    ownership = ma.fields.String(required=True)
    region_code = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    grade = ma.fields.String(allow_none=True, metadata={"description": "当前信用等级（如已评价）"})
    risk_level = ma.fields.String(
        allow_none=True,
        validate=validate.OneOf(RISK_LEVELS),
        metadata={"description": "模型风险等级（如已评分）: low 低, medium 中, high 高, very_high 极高"},
    )
    risk_probability = ma.fields.Float(allow_none=True, metadata={"description": "模型估计的检查发现违规概率"})
    risk_priority = ma.fields.Float(allow_none=True, metadata={"description": "优先级 = 概率 × 预期金额（元）"})


class InstitutionPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(InstitutionSummarySchema), required=True)


class CountsSchema(ma.Schema):
    violations = ma.fields.Integer(required=True)
    inspections = ma.fields.Integer(required=True)
    complaints = ma.fields.Integer(required=True)
    referrals = ma.fields.Integer(required=True)
    self_inspections = ma.fields.Integer(required=True)
    staff = ma.fields.Integer(required=True)
    staff_points = ma.fields.Integer(required=True)


class RiskReasonSchema(ma.Schema):
    feature = ma.fields.String(required=True, metadata={"description": "特征名"})
    zh = ma.fields.String(required=True, metadata={"description": "原因（中文）"})
    en = ma.fields.String(required=True, metadata={"description": "Reason in English"})
    contribution = ma.fields.Float(required=True, metadata={"description": "对风险对数几率的贡献"})


class RiskScoreSchema(ma.Schema):
    batch_id = ma.fields.Integer(required=True)
    model_version = ma.fields.String(required=True)
    as_of = ma.fields.Date(required=True, metadata={"description": "特征截止日期"})
    scored_at = UtcDateTime(required=True)
    scored_by = ma.fields.String(required=True)
    probability = ma.fields.Float(required=True)
    expected_amount = ma.fields.Float(required=True, metadata={"description": "预期发现金额（元）"})
    priority = ma.fields.Float(required=True)
    risk_level = ma.fields.String(required=True, validate=validate.OneOf(RISK_LEVELS))
    risk_level_zh = ma.fields.String(required=True)
    risk_level_en = ma.fields.String(required=True)
    reasons = ma.fields.List(ma.fields.Nested(RiskReasonSchema), required=True)


class InstitutionRiskSchema(ma.Schema):
    institution_code = ma.fields.String(required=True)
    current = ma.fields.Nested(
        RiskScoreSchema, required=True, allow_none=True, metadata={"description": "最新评分；未评分时为 null"}
    )
    history = ma.fields.List(
        ma.fields.Nested(RiskScoreSchema), required=True, metadata={"description": "每次评分，最新在前"}
    )


ViolationSchema = contract_schema("violations", "Violation")
InspectionSchema = contract_schema("inspections", "Inspection")

InstitutionDetailSchema = contract_schema(
    "institutions",
    "InstitutionDetail",
    extra={
        "counts": ma.fields.Nested(CountsSchema, required=True),
        "recent_violations": ma.fields.List(ma.fields.Nested(ViolationSchema), required=True),
        "recent_inspections": ma.fields.List(ma.fields.Nested(InspectionSchema), required=True),
        "risk": ma.fields.Nested(
            RiskScoreSchema,
            required=True,
            allow_none=True,
            metadata={"description": "最新模型风险评分及原因；未评分时为 null"},
        ),
    },
)


class InspectionListArgs(PageArgs):
    county = ma.fields.String(validate=REGION)
    kind = ma.fields.String(validate=_one_of("inspection_kind"))
    year = ma.fields.Integer(validate=validate.Range(min=1990, max=2100))
    institution_code = ma.fields.String(validate=validate.Regexp(INSTITUTION_CODE))


InspectionRowSchema = contract_schema(
    "inspections",
    "InspectionRow",
    extra={
        "institution_name": ma.fields.String(required=True),
        "region_code": ma.fields.String(required=True),
    },
)


class InspectionPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(InspectionRowSchema), required=True)


class ImportArgs(ma.Schema):
    table = ma.fields.String(validate=validate.OneOf(sorted(TABLES)), metadata={"description": "所有文件对应的表"})
    skip_bad_rows = ma.fields.Boolean(load_default=False, metadata={"description": "写入正确行并列出跳过的行"})


class ImportFilesSchema(ma.Schema):
    files = ma.fields.List(
        ma.fields.Raw(metadata={"type": "string", "format": "binary"}),
        required=True,
        metadata={"description": "CSV, XLSX or Parquet files named after their table (e.g. institutions.csv)"},
    )


class FileReportSchema(ma.Schema):
    file = ma.fields.String(required=True)
    table = ma.fields.String(required=True)
    sha256 = ma.fields.String(required=True)
    rows_received = ma.fields.Integer(required=True)
    rows_written = ma.fields.Integer(required=True)
    rows_unchanged = ma.fields.Integer(required=True)
    rows_skipped = ma.fields.Integer(required=True)


class SkippedRowSchema(ma.Schema):
    table = ma.fields.String(allow_none=True)
    file = ma.fields.String(allow_none=True)
    row = ma.fields.Integer(allow_none=True)
    column = ma.fields.String(allow_none=True)
    value = ma.fields.String(allow_none=True)
    reason = ma.fields.String(required=True)
    reason_zh = ma.fields.String()
    detail = ma.fields.String()


class ImportReportSchema(ma.Schema):
    import_id = ma.fields.Integer(required=True, allow_none=True)
    rows_written = ma.fields.Integer(required=True)
    rows_unchanged = ma.fields.Integer(required=True)
    files = ma.fields.List(ma.fields.Nested(FileReportSchema), required=True)
    skipped = ma.fields.List(ma.fields.Nested(SkippedRowSchema), required=True)


class ImportRecordSchema(ma.Schema):
    import_id = ma.fields.Integer(required=True)
    started_at = UtcDateTime(required=True)
    finished_at = UtcDateTime(required=True, allow_none=True)
    actor = ma.fields.String(required=True, allow_none=True)
    skip_bad_rows = ma.fields.Boolean(required=True)
    rows_written = ma.fields.Integer(required=True)
    rows_unchanged = ma.fields.Integer(required=True)
    rows_skipped = ma.fields.Integer(required=True)


class AuditArgs(ma.Schema):
    after_seq = ma.fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**62))
    limit = ma.fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    action = ma.fields.String(validate=validate.Length(max=80))
    resource_prefix = ma.fields.String(validate=validate.Length(max=300))
    actor_token_id = ma.fields.Integer(validate=ID)


class AuditEntrySchema(ma.Schema):
    seq = ma.fields.Integer(required=True)
    at = ma.fields.String(required=True)
    actor_token_id = ma.fields.Integer(required=True, allow_none=True)
    actor = ma.fields.String(required=True, allow_none=True)
    role = ma.fields.String(required=True, allow_none=True)
    action = ma.fields.String(required=True)
    resource = ma.fields.String(required=True)
    region = ma.fields.String(required=True, allow_none=True)
    payload = ma.fields.Dict(required=True)
    payload_sha256 = ma.fields.String(required=True)
    prev_hash = ma.fields.String(required=True)
    entry_hash = ma.fields.String(required=True)


class AuditVerifySchema(ma.Schema):
    ok = ma.fields.Boolean(required=True)
    entries = ma.fields.Integer(required=True)
    head_seq = ma.fields.Integer(required=True, allow_none=True)
    head = ma.fields.String(required=True)
    broken_seq = ma.fields.Integer(required=True, allow_none=True)
    reason = ma.fields.String(required=True, allow_none=True)


class MeSchema(ma.Schema):
    token_id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    role = ma.fields.String(required=True, validate=validate.OneOf(ROLES))
    regions = ma.fields.List(ma.fields.String(), required=True, allow_none=True)
    permissions = ma.fields.List(ma.fields.String(), required=True)


class HealthSchema(ma.Schema):
    status = ma.fields.String(required=True)
    database = ma.fields.String(required=True)
    version = ma.fields.String(required=True)
