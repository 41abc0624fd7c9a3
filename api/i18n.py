"""Dashboard text in Simplified Chinese (default) and English (``?lang=en`` or the ``lang`` cookie)."""

from __future__ import annotations

from flask import g, request

from features.contract import CODE_LISTS

LANGS = ("zh", "en")

TEXT: dict[str, tuple[str, str]] = {
    "app_name": ("医保定点机构信用与风险监管平台", "Medical-insurance credit & risk supervision"),
    "nav_overview": ("总览", "Overview"),
    "nav_institutions": ("机构", "Institutions"),
    "nav_draws": ("双随机抽查", "Random draws"),
    "nav_plan": ("检查计划", "Inspection plan"),
    "nav_objections": ("异议与修复", "Objections & repair"),
    "nav_api": ("API 文档", "API docs"),
    "logout": ("退出", "Sign out"),
    "login_title": ("登录", "Sign in"),
    "login_hint": (
        "请粘贴管理员发放的 API 令牌。令牌仅在本会话中使用。",
        "Paste the API token your administrator gave you.",
    ),
    "token": ("令牌", "Token"),
    "login_failed": ("令牌无效或已撤销。", "The token is unknown or revoked."),
    "role": ("角色", "Role"),
    "scope": ("管辖范围", "Scope"),
    "all_regions": ("全部区县", "All regions"),
    "institutions_total": ("定点机构", "Designated institutions"),
    "inspections_total": ("检查记录", "Inspections"),
    "violations_total": ("违规处理", "Violations handled"),
    "counties": ("区县", "Counties"),
    "by_county_kind": ("机构分布（按区县与类型）", "Institutions by county and kind"),
    "grades_by_county": ("信用等级分布（按区县）", "Credit grades by county"),
    "grades_by_kind": ("信用等级分布（按机构类型）", "Credit grades by kind"),
    "grade_trend": ("信用等级走势（按评价批次）", "Grades by credit run"),
    "risk_by_county": ("风险等级分布（按区县）", "Risk levels by county"),
    "trend": ("年度趋势", "Yearly trend"),
    "trend_inspections": ("检查次数", "Inspections"),
    "trend_violations": ("违规处理数", "Violations"),
    "trend_found_rate": ("检查发现问题比例", "Share of inspections finding problems"),
    "county": ("区县", "County"),
    "kind": ("类型", "Kind"),
    "status": ("协议状态", "Status"),
    "grade": ("信用等级", "Grade"),
    "risk_level": ("风险等级", "Risk level"),
    "search": ("名称或编码", "Name or code"),
    "filter": ("筛选", "Filter"),
    "reset": ("重置", "Reset"),
    "any": ("全部", "Any"),
    "code": ("机构编码", "Code"),
    "name": ("机构名称", "Name"),
    "level": ("等级", "Level"),
    "ownership": ("所有制", "Ownership"),
    "results": ("条结果", "results"),
    "prev": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "page": ("页", "page"),
    "basic_info": ("基本信息", "Basic information"),
    "credit_code": ("统一社会信用代码", "Credit code"),
    "beds": ("床位数", "Beds"),
    "staff_count": ("职工人数", "Staff"),
    "designated_since": ("定点日期", "Designated since"),
    "related_records": ("相关记录", "Related records"),
    "recent_violations": ("最近违规处理", "Recent violations"),
    "recent_inspections": ("最近检查", "Recent inspections"),
    "found_date": ("发现日期", "Found"),
    "category": ("违规类型", "Category"),
    "amount": ("金额（元）", "Amount (¥)"),
    "disposition": ("处理方式", "Disposition"),
    "source": ("线索来源", "Source"),
    "start_date": ("检查日期", "Date"),
    "inspection_kind": ("检查方式", "Kind"),
    "found_violation": ("发现问题", "Found problems"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "none_yet": ("暂无记录", "No records yet"),
    "credit_lines": ("信用扣分/加分明细", "Credit lines"),
    "risk_reasons": ("风险原因", "Risk reasons"),
    "grade_history": ("信用等级历史", "Grade history"),
    "audited_note": ("本页访问已记入审计日志。", "This view has been written to the audit log."),
    "not_available": ("尚未生成", "Not available yet"),
    "error": ("出错了", "Something went wrong"),
    "back": ("返回", "Back"),
    "counts_violations": ("违规处理", "Violations"),
    "counts_inspections": ("检查", "Inspections"),
    "counts_complaints": ("投诉举报", "Complaints"),
    "counts_referrals": ("部门通报", "Referrals"),
    "counts_self_inspections": ("自查自纠", "Self-inspections"),
    "counts_staff": ("医保支付资格人员", "Staff"),
    "counts_staff_points": ("人员记分", "Staff points"),
    "total": ("合计", "Total"),
    "draws_title": ("双随机抽查", "Random draws"),
    "draws_intro": (
        "流程：① 封存对象库并公布哈希 → ② 公开掷骰或取公共随机信标，录入种子 → ③ 抽取 → ④ 任何人可复核。",
        "Steps: ① freeze the pool and publish its hash → ② roll dice in public or take a beacon value and enter "
        "the seed → ③ draw → ④ anyone can verify.",
    ),
    "new_draw": ("新建抽查（封存对象库）", "New draw (freeze the pool)"),
    "as_of": ("基准日", "As of"),
    "regions": ("区县", "Counties"),
    "item": ("检查事项（可选）", "Check item (optional)"),
    "freeze": ("封存对象库", "Freeze pool"),
    "draw_id": ("批次号", "Draw"),
    "pool_size": ("对象库户数", "Pool size"),
    "selected_count": ("抽中户数", "Selected"),
    "pool_hash": ("对象库哈希（SHA-256）", "Pool hash (SHA-256)"),
    "frozen_at": ("封存时间", "Frozen at"),
    "draw_status": ("状态", "Status"),
    "step_freeze": ("封存对象库", "Pool frozen"),
    "step_seed": ("录入种子", "Seed entered"),
    "step_draw": ("抽取结果", "Result"),
    "step_verify": ("复核验证", "Verified"),
    "enter_seed": ("录入种子并抽取", "Enter seed and draw"),
    "seed_source": ("种子来源", "Seed source"),
    "seed_dice": ("公开掷骰（20–200 位数字）", "Dice rolled in public (20–200 digits)"),
    "seed_beacon": ("公共随机信标", "Public randomness beacon"),
    "seed_value": ("种子", "Seed"),
    "seed_reference": ("来源说明（谁、何时、何地）", "Reference (who, when, where)"),
    "seed_once": (
        "种子只能录入一次，录入后立即抽取，不可更改。",
        "A seed is entered once and draws at once; it cannot be changed.",
    ),
    "draw_result": ("抽取结果", "Result"),
    "rank": ("序号", "No."),
    "stratum": ("分层（信用等级）", "Stratum (grade)"),
    "probability": ("入选概率", "Inclusion probability"),
    "lead_inspector": ("检查组长", "Lead inspector"),
    "inspectors": ("检查人员", "Inspectors"),
    "verify": ("复核验证", "Verify"),
    "verified_ok": ("验证通过", "Verified"),
    "verified_bad": ("验证未通过", "Not verified"),
    "export": ("导出", "Export"),
    "export_pool": ("对象库清单", "Pool list"),
    "export_draw": ("抽查名单", "Draw list"),
    "export_json": ("抽取文件（供复核）", "Draw document (for verification)"),
    "seed": ("种子", "Seed"),
    "no_draws": ("尚无抽查批次", "No draws yet"),
    "plan_title": ("年度检查计划", "Yearly inspection plan"),
    "plan_intro": (
        "按年度安排：已抽取的双随机批次和重点检查作为既定轮次，其余在用机构各安排一次日常检查（信用等级低者优先），"
        "不超过执法人员每月能力。",
        "Draws and targeted selections become known rounds; every other active institution gets one routine "
        "visit (lower grades first) within the inspectors' monthly capacity.",
    ),
    "year": ("年度", "Year"),
    "visits_per_inspector": ("每名执法人员每月检查户数", "Visits per inspector per month"),
    "team_size": ("每组人数", "Team size"),
    "make_plan": ("生成计划", "Make plan"),
    "plan_id": ("计划编号", "Plan"),
    "month": ("月份", "Month"),
    "visits": ("检查安排", "Visits"),
    "open_plan": ("查看计划", "Open plan"),
    "objections_title": ("异议与信用修复", "Objections and credit repair"),
    "objections": ("异议", "Objections"),
    "repairs": ("信用修复申请", "Repair applications"),
    "line_id": ("明细行", "Line"),
    "reason": ("理由", "Reason"),
    "filed": ("提出", "Filed"),
    "decision": ("处理", "Decision"),
    "uphold": ("异议成立", "Uphold"),
    "reject": ("异议不成立", "Reject"),
    "approve": ("批准修复", "Approve"),
    "deny": ("不予批准", "Reject"),
    "note": ("处理意见", "Note"),
    "file_objection": ("提出异议", "File objection"),
    "apply_repair": ("申请修复", "Apply for repair"),
    "points": ("分值", "Points"),
    "score": ("信用得分", "Score"),
    "veto": ("一票否决", "Veto"),
    "credit_run": ("评价批次", "Run"),
    "score_history": ("信用得分走势", "Score history"),
    "objection_filed": ("已提出异议。", "Objection filed."),
    "decided": ("已处理。", "Decided."),
    "draw_frozen": ("对象库已封存，请公布哈希后录入种子。", "Pool frozen: publish the hash, then enter the seed."),
    "draw_done": ("已抽取。", "Drawn."),
    "plan_made": ("计划已生成。", "Plan made."),
    "status_frozen": ("已封存待抽取", "frozen"),
    "status_drawn": ("已抽取", "drawn"),
    "status_failed": ("抽取失败", "failed"),
    "status_pending": ("待处理", "pending"),
    "status_upheld": ("异议成立", "upheld"),
    "status_rejected": ("不成立/未批准", "rejected"),
    "status_approved": ("已批准", "approved"),
    "institution": ("机构", "Institution"),
    "kind_deduction": ("扣分", "deduction"),
    "kind_bonus": ("加分", "bonus"),
    "kind_veto": ("否决", "veto"),
    "pending_objection": ("异议待处理", "objection pending"),
    "risk_low": ("低", "low"),
    "risk_medium": ("中", "medium"),
    "risk_high": ("高", "high"),
    "risk_very_high": ("极高", "very high"),
}

_LIST_FOR_FIELD = {
    "kind": "institution_kind",
    "ownership": "ownership",
    "status": "institution_status",
    "category": "violation_category",
    "disposition": "disposition",
    "source": "violation_source",
    "inspection_kind": "inspection_kind",
    "visit_type": "visit_type",
}


def current_lang() -> str:
    lang = g.get("lang")
    if lang:
        return lang
    asked = request.args.get("lang") or request.cookies.get("lang") or "zh"
    g.lang = asked if asked in LANGS else "zh"
    return g.lang


def t(key: str) -> str:
    """The dashboard text ``key`` in the current language."""
    zh, en = TEXT[key]
    return en if current_lang() == "en" else zh


def label(field: str, code: str | None) -> str:
    """A code's display label (Chinese label, or the English code)."""
    if code is None:
        return "—"
    if current_lang() == "en":
        return str(code).replace("_", " ")
    return CODE_LISTS[_LIST_FOR_FIELD[field]].get(code, code)
