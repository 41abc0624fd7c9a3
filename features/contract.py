"""The source-data contract (数据接口规范), version 1, declared once.

Every table, column, Chinese alias, type and code list that a bureau's export may contain is
declared here and nowhere else; the reader, the validator, the storage layer and the simulator all
read these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

CONTRACT_VERSION = 1

ColumnType = Literal["text", "code", "int", "money", "number", "date", "bool", "list"]

CODE_LISTS: dict[str, dict[str, str]] = {
    "institution_kind": {
        "hospital": "医院",
        "primary_care": "基层医疗机构",
        "village_clinic": "村卫生室",
        "clinic": "门诊部/诊所",
        "pharmacy": "零售药店",
    },
    "ownership": {"public": "公立", "private": "民营"},
    "institution_status": {"active": "正常", "suspended": "中止", "terminated": "解除"},
    "visit_type": {
        "outpatient": "普通门诊",
        "inpatient": "住院",
        "chronic": "门诊慢特病",
        "pharmacy": "药店购药",
    },
    "sex": {"M": "男", "F": "女"},
    "item_type": {"drug": "药品", "service": "诊疗项目", "material": "医用耗材"},
    "violation_source": {
        "routine_inspection": "日常检查",
        "random_inspection": "双随机抽查",
        "targeted_inspection": "重点检查",
        "special_inspection": "专项检查",
        "flying_inspection": "飞行检查",
        "cross_inspection": "交叉检查",
        "smart_audit": "智能审核",
        "complaint": "投诉举报",
        "referral": "部门移送",
        "self_inspection": "自查自纠",
        "audit": "审计",
    },
    "violation_category": {
        "split_admission": "分解住院",
        "phantom_bed": "挂床住院",
        "low_standard_admission": "低标准入院",
        "overtreatment": "过度诊疗/过度检查",
        "overprescription": "超量开药",
        "duplicate_billing": "重复收费",
        "unbundling": "分解收费",
        "overcharging": "超标准收费",
        "item_substitution": "串换项目",
        "out_of_scope": "超医保支付范围",
        "fabricated_service": "虚构医药服务",
        "fake_visit": "虚假就医/空刷",
        "deceased_settlement": "死亡人员结算",
        "resale": "倒卖药品",
        "management": "内部管理违规",
        "other": "其他",
    },
    # Ordered lightest to heaviest: the order is meaningful (DISPOSITION_SEVERITY).
    "disposition": {
        "interview": "约谈",
        "rectification": "限期整改",
        "recovery": "追回",
        "refusal": "拒付",
        "payment_suspension": "暂停拨付",
        "liquidated_damages": "违约金",
        "staff_suspension": "中止医保医师/科室服务",
        "agreement_suspension": "中止协议",
        "penalty_art39": "行政处罚(第三十九条)",
        "penalty_art38": "行政处罚(第三十八条)",
        "penalty_art40": "行政处罚(第四十条,欺诈骗保)",
        "agreement_termination": "解除协议",
        "police_referral": "移送公安",
    },
    "violation_status": {"confirmed": "已确认", "under_appeal": "复议诉讼中", "overturned": "已撤销"},
    "inspection_kind": {
        "routine": "日常检查",
        "random": "双随机抽查",
        "targeted": "重点检查",
        "special": "专项检查",
        "flying": "飞行检查",
        "cross": "交叉检查",
        "complaint": "投诉核查",
    },
    "inspection_level": {"province": "省级", "city": "市级", "county": "县级"},
    "complaint_channel": {"hotline": "电话", "online": "网络", "letter": "信件", "visit": "来访"},
    "department": {
        "health": "卫生健康",
        "market": "市场监管",
        "tax": "税务",
        "police": "公安",
        "audit": "审计",
        "discipline": "纪检监察",
    },
    "staff_role": {
        "doctor": "医师",
        "nurse": "护士",
        "pharmacist": "药师",
        "technician": "技师",
        "other": "其他",
    },
    "staff_status": {"active": "正常", "suspended": "暂停", "terminated": "终止"},
}

DISPOSITION_SEVERITY: dict[str, int] = {code: rank for rank, code in enumerate(CODE_LISTS["disposition"], start=1)}

# Hospital level is an integer column whose values also have Chinese spellings.
LEVEL_LABELS: dict[str, int] = {"三级": 3, "二级": 2, "一级": 1, "未定级": 0}


@dataclass(frozen=True)
class Column:
    name: str
    zh: str
    type: ColumnType
    required: bool = False
    codes: str | None = None
    note: str = ""
    nonnegative: bool = False
    min_value: float | None = None
    max_value: float | None = None
    pattern: str | None = None
    min_items: int | None = None


@dataclass(frozen=True)
class Table:
    name: str
    zh: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    required_table: bool = False
    large: bool = False
    references: dict[str, str] = field(default_factory=dict)  # column -> table it must exist in

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name!r} has no column {name!r}")


C = Column
INSTITUTION_CODE_PATTERN = r"^[HP]\d{6}\d{5}$"

_TABLES: tuple[Table, ...] = (
    Table(
        "institutions",
        "定点医药机构",
        ("institution_code",),
        (
            C("institution_code", "机构编码", "text", True, pattern=INSTITUTION_CODE_PATTERN),
            C("name", "机构名称", "text", True),
            C("credit_code", "统一社会信用代码", "text", pattern=r"^[0-9A-Z]{18}$"),
            C("kind", "机构类型", "code", True, codes="institution_kind"),
            C("level", "医院等级", "int", min_value=0, max_value=3),
            C("ownership", "所有制", "code", True, codes="ownership"),
            C("region_code", "行政区划代码", "text", True, pattern=r"^\d{6}$"),
            C("beds", "床位数", "int", nonnegative=True),
            C("staff_count", "职工人数", "int", nonnegative=True),
            C("designated_since", "定点日期", "date", True),
            C("status", "协议状态", "code", True, codes="institution_status"),
            C("status_since", "状态日期", "date"),
        ),
        required_table=True,
    ),
    Table(
        "claims",
        "结算记录",
        ("claim_id",),
        (
            C("claim_id", "结算流水号", "text", True),
            C("institution_code", "机构编码", "text", True),
            C("patient_id", "参保人编号", "text", True),
            C("visit_type", "就诊类型", "code", True, codes="visit_type"),
            C("admit_date", "就诊/入院日期", "date", True),
            C("discharge_date", "出院日期", "date", note="required for inpatient"),
            C("settle_date", "结算日期", "date", True),
            C("diagnosis_code", "主诊断编码", "text"),
            C("emergency", "急诊", "bool"),
            C("total_amount", "医疗总费用", "money", True, nonnegative=True),
            C("fund_amount", "统筹基金支付", "money", True, nonnegative=True),
            C("drug_amount", "药品费", "money", nonnegative=True),
            C("exam_amount", "检查检验费", "money", nonnegative=True),
            C("material_amount", "耗材费", "money", nonnegative=True),
            C("service_amount", "诊疗服务费", "money", nonnegative=True),
            C("days_supply", "最大用药天数", "int", nonnegative=True),
            C("doctor_code", "医保医师代码", "text"),
            C("patient_birth_year", "出生年份", "int", min_value=1880, max_value=2100),
            C("patient_sex", "性别", "code", codes="sex"),
            C("remote", "异地就医", "bool"),
        ),
        large=True,
        references={"institution_code": "institutions"},
    ),
    Table(
        "claim_items",
        "费用明细",
        ("claim_id", "line_no"),
        (
            C("claim_id", "结算流水号", "text", True),
            C("line_no", "明细序号", "int", True, min_value=0),
            C("item_code", "医保项目编码", "text", True),
            C("item_type", "项目类别", "code", True, codes="item_type"),
            C("item_date", "费用发生日期", "date", True),
            C("quantity", "数量", "number", True, min_value=0),
            C("unit_price", "单价", "money", True, nonnegative=True),
            C("amount", "金额", "money", True, nonnegative=True),
            C("trace_code", "药品追溯码", "text"),
        ),
        large=True,
        references={"claim_id": "claims"},
    ),
    Table(
        "deaths",
        "死亡人员",
        ("patient_id",),
        (
            C("patient_id", "参保人编号", "text", True),
            C("death_date", "死亡日期", "date", True),
        ),
    ),
    Table(
        "violations",
        "违规处理记录",
        ("violation_id",),
        (
            C("violation_id", "违规记录编号", "text", True),
            C("institution_code", "机构编码", "text", True),
            C("found_date", "发现日期", "date", True),
            C("decision_date", "处理决定日期", "date"),
            C("source", "线索来源", "code", True, codes="violation_source"),
            C("inspection_id", "检查编号", "text"),
            C("category", "违规类型", "code", True, codes="violation_category"),
            C("amount", "违规金额", "money", True, nonnegative=True),
            C("disposition", "处理方式", "code", True, codes="disposition"),
            C("penalty_amount", "罚款/违约金", "money", nonnegative=True),
            C("fraud", "欺诈骗保", "bool"),
            C("lenient", "从轻减轻免罚", "bool"),
            C("status", "状态", "code", True, codes="violation_status"),
            C("staff_codes", "责任人员", "list"),
        ),
        required_table=True,
        references={"institution_code": "institutions", "inspection_id": "inspections"},
    ),
    Table(
        "inspections",
        "检查记录",
        ("inspection_id",),
        (
            C("inspection_id", "检查编号", "text", True),
            C("institution_code", "机构编码", "text", True),
            C("start_date", "检查日期", "date", True),
            C("kind", "检查方式", "code", True, codes="inspection_kind"),
            C("level", "检查层级", "code", True, codes="inspection_level"),
            C("items", "检查事项", "list"),
            C("inspector_codes", "执法人员", "list", True, min_items=2),
            C("draw_id", "抽查批次", "text"),
            C("found_violation", "是否发现问题", "bool", True),
            C("amount_found", "问题金额", "money", nonnegative=True),
            C("result_published", "结果公开日期", "date"),
        ),
        required_table=True,
        references={"institution_code": "institutions"},
    ),
    Table(
        "self_inspections",
        "自查自纠",
        ("report_id",),
        (
            C("report_id", "报告编号", "text", True),
            C("institution_code", "机构编码", "text", True),
            C("period_start", "自查起始", "date", True),
            C("period_end", "自查截止", "date", True),
            C("submitted_date", "提交日期", "date", True),
            C("problems_reported", "自查问题数", "int", True, nonnegative=True),
            C("amount_refunded", "主动退回金额", "money", True, nonnegative=True),
            C("verified", "是否复核", "bool"),
            C("verified_date", "复核日期", "date"),
            C("problems_found", "复核发现问题数", "int", nonnegative=True),
            C("amount_found", "复核问题金额", "money", nonnegative=True),
        ),
        references={"institution_code": "institutions"},
    ),
    Table(
        "complaints",
        "投诉举报",
        ("complaint_id",),
        (
            C("complaint_id", "举报编号", "text", True),
            C("institution_code", "机构编码", "text", True),
            C("received_date", "受理日期", "date", True),
            C("channel", "渠道", "code", codes="complaint_channel"),
            C("substantiated", "是否属实", "bool"),
            C("closed_date", "办结日期", "date"),
        ),
        references={"institution_code": "institutions"},
    ),
    Table(
        "referrals",
        "部门通报",
        ("referral_id",),
        (
            C("referral_id", "通报编号", "text", True),
            C("institution_code", "机构编码", "text", True),
            C("date", "通报日期", "date", True),
            C("department", "通报部门", "code", True, codes="department"),
            C("category", "问题类别", "text"),
        ),
        references={"institution_code": "institutions"},
    ),
    Table(
        "staff",
        "医保支付资格人员",
        ("staff_code",),
        (
            C("staff_code", "人员代码", "text", True),
            C("institution_code", "机构编码", "text", True),
            C("role", "类别", "code", True, codes="staff_role"),
            C("status", "支付资格状态", "code", True, codes="staff_status"),
        ),
        references={"institution_code": "institutions"},
    ),
    Table(
        "staff_points",
        "记分记录",
        ("event_id",),
        (
            C("event_id", "记分编号", "text", True),
            C("staff_code", "人员代码", "text", True),
            C("institution_code", "机构编码", "text", True),
            C("date", "记分日期", "date", True),
            C("points", "记分分值", "int", True, min_value=1, max_value=12),
            C("reason", "记分事由", "text"),
        ),
        references={"institution_code": "institutions", "staff_code": "staff"},
    ),
    Table(
        "inspectors",
        "执法人员库",
        ("inspector_code",),
        (
            C("inspector_code", "执法人员编号", "text", True),
            C("name", "姓名", "text", True),
            C("region_code", "所属区划", "text", True, pattern=r"^\d{6}$"),
            C("certified", "持执法证", "bool", True),
            C("active", "在岗", "bool", True),
            C("specialties", "专长", "list"),
            C("conflicts", "回避机构", "list"),
        ),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in _TABLES}
REQUIRED_TABLES: tuple[str, ...] = tuple(t.name for t in _TABLES if t.required_table)
LARGE_TABLES: tuple[str, ...] = tuple(t.name for t in _TABLES if t.large)

# Import order: referenced tables before the tables that reference them.
IMPORT_ORDER: tuple[str, ...] = (
    "institutions",
    "inspectors",
    "staff",
    "deaths",
    "inspections",
    "violations",
    "self_inspections",
    "complaints",
    "referrals",
    "staff_points",
    "claims",
    "claim_items",
)
assert set(IMPORT_ORDER) == set(TABLES)


def get_table(name: str) -> Table:
    """Return the declaration of table ``name`` (English or Chinese name)."""
    for table in _TABLES:
        if name in (table.name, table.zh):
            return table
    raise KeyError(f"unknown table {name!r}; expected one of {sorted(TABLES)}")


def code_label(code_list: str, code: str, lang: str = "zh") -> str:
    """The Chinese (or English) display label of a code."""
    if lang == "en":
        return code
    return CODE_LISTS[code_list].get(code, code)
