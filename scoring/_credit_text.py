"""Texts credit staff and institutions read: one sentence per line, in Chinese and in English.

Each distinct combination of rule, factors, points and flags is worded once in Python; the record
key and date of every line are then joined in by Arrow in one pass, so that hundreds of thousands of
lines take about a second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.contract import CODE_LISTS

from ._credit_sources import TABLE_LABELS
from .policy import CreditPolicy

_SOURCE_ZH = CODE_LISTS["violation_source"]

# What makes two lines' sentences differ apart from the record key and the date.
_COMBO_COLUMNS = (
    "rule_id",
    "kind",
    "record_table",
    "base_points",
    "amount_multiplier",
    "source_multiplier",
    "lenient_multiplier",
    "case_source",
    "points",
    "points_rule",
    "veto_grade",
    "capped",
    "under_appeal",
    "objection_pending",
    "repair_id",
    "repair_state",
    "repair_effective",
)


def _date_text(value) -> str:
    return "—" if value is None or pd.isna(value) else pd.Timestamp(value).date().isoformat()


def _factors(row, fmt: str) -> tuple[str, str]:
    """The ``[base × amount × source × lenient]`` part, shown when any factor differs from 1."""
    amount, source, lenient = row.amount_multiplier, row.source_multiplier, row.lenient_multiplier
    if row.kind == "veto" or (amount == 1 and source == 1 and lenient == 1):
        return "", ""
    base = format(row.base_points, fmt)
    zh, en = f"［{base} 分", f" [{base} points"
    if amount != 1:
        zh, en = zh + f" × 金额档 {amount:g}", en + f" × amount band {amount:g}"
    if source != 1:
        code = row.case_source or ""
        zh, en = zh + f" × 来源（{_SOURCE_ZH.get(code, code)}）{source:g}", en + f" × source {code} {source:g}"
    if lenient != 1:
        zh, en = zh + f" × 从轻 {lenient:g}", en + f" × lenient {lenient:g}"
    return zh + "］", en + "]"


def _flags(row, fmt: str) -> tuple[str, str]:
    rule_points = format(abs(row.points_rule), fmt)
    repair = "" if pd.isna(row.repair_id) else str(int(row.repair_id))
    effective = _date_text(row.repair_effective)
    zh, en = [], []
    if row.capped:
        zh.append(f"（已达封顶，原 {rule_points} 分）")
        en.append(f" (capped; {rule_points} before the cap)")
    state = row.repair_state
    if state == "lifted":
        zh.append(f"（信用修复 #{repair} 已生效，原 {rule_points} 分）")
        en.append(f" (credit repair #{repair} in effect; {rule_points} before repair)")
    elif state == "waiting":
        zh.append(f"（信用修复 #{repair} 已批准，{effective} 起生效）")
        en.append(f" (credit repair #{repair} approved, in effect from {effective})")
    elif state == "interrupted":
        zh.append(f"（信用修复 #{repair} 未生效：等待期内有新的失信事件）")
        en.append(f" (credit repair #{repair} not in effect: new event in the waiting period)")
    elif state == "not_repairable":
        zh.append(f"（信用修复 #{repair} 未生效：本办法下该项不可修复）")
        en.append(f" (credit repair #{repair} not in effect: not repairable under this policy)")
    if row.under_appeal:
        zh.append("（复议诉讼中）")
        en.append(" (under appeal)")
    if row.objection_pending:
        zh.append("（异议处理中）")
        en.append(" (objection pending)")
    return "".join(zh), "".join(en)


def _action(row, fmt: str) -> tuple[str, str]:
    points = format(abs(row.points), fmt)
    if row.kind == "deduction":
        return f"扣 {points} 分", f"−{points} points"
    if row.kind == "bonus":
        return f"加 {points} 分", f"+{points} points"
    return f"一票否决，等级不高于 {row.veto_grade}", f"veto: grade no better than {row.veto_grade}"


def _parts(combos: pd.DataFrame, policy: CreditPolicy) -> tuple[list[str], list[str], list[str], list[str]]:
    """For each distinct combination: the sentence before the record key and after the date."""
    fmt = f".{policy.decimals}f"
    rules = {r.id: r for r in (*policy.indicators, *policy.vetoes)}
    head_zh, head_en, tail_zh, tail_en = [], [], [], []
    for row in combos.itertuples(index=False):
        rule = rules[str(row.rule_id)]
        label_zh, label_en = TABLE_LABELS[row.record_table]
        action_zh, action_en = _action(row, fmt)
        factors_zh, factors_en = _factors(row, fmt)
        flags_zh, flags_en = _flags(row, fmt)
        head_zh.append(f"{rule.name_zh}：{label_zh} ")
        head_en.append(f"{rule.name_en}: {label_en} ")
        tail_zh.append(f"）{action_zh}{factors_zh}{flags_zh}")
        tail_en.append(f") {action_en}{factors_en}{flags_en}")
    return head_zh, head_en, tail_zh, tail_en


def line_texts(lines: pd.DataFrame, policy: CreditPolicy) -> tuple[pd.Series, pd.Series]:
    """Chinese and English sentences for every line of an evaluation.

    Sentences are composed once per distinct combination of rule, factors, points and flags, then
    joined with each line's record key and date in one vectorised pass.
    """
    if lines.empty:
        return pd.Series([], dtype="str", index=lines.index), pd.Series([], dtype="str", index=lines.index)
    grouped = lines.groupby(list(_COMBO_COLUMNS), sort=False, dropna=False, observed=True)
    combo = grouped.ngroup().to_numpy()
    firsts = pd.Series(np.arange(len(lines))).groupby(combo).first().to_numpy()
    head_zh, head_en, tail_zh, tail_en = _parts(lines.iloc[firsts], policy)
    take = pa.array(combo)
    keys = pa.array(lines["record_key"].astype("str").array).cast(pa.large_string())
    dates = pc.strftime(pa.array(lines["event_date"].to_numpy(dtype="datetime64[ns]")), format="%Y-%m-%d")
    dates = pc.fill_null(dates, "—").cast(pa.large_string())

    def pick(parts: list[str]) -> pa.Array:
        return pa.array(parts, type=pa.large_string()).take(take)

    def text(value: str) -> pa.Scalar:
        return pa.scalar(value, type=pa.large_string())

    zh = pc.binary_join_element_wise(pick(head_zh), keys, text("（"), dates, pick(tail_zh), text(""))
    en = pc.binary_join_element_wise(pick(head_en), keys, text(" ("), dates, pick(tail_en), text(""))
    return (
        pd.Series(pd.array(zh, dtype="str"), index=lines.index),
        pd.Series(pd.array(en, dtype="str"), index=lines.index),
    )


_HEAD = {
    "zh": "机构 {code} 信用评价：{title}（{policy}），评价日 {as_of}{run}",
    "en": "Credit evaluation of {code}: {title} ({policy}), as of {as_of}{run}",
}
_SCORE = {
    "zh": "得分 {score} / {scale}，等级 {grade}（按得分 {score_grade}）{peer}",
    "en": "Score {score} / {scale}, grade {grade} (by score {score_grade}){peer}",
}
_TOTALS = {"zh": "扣分合计 {ded}，加分合计 {bon}", "en": "Deductions {ded}, bonuses {bon}"}
_NO_LINES = {"zh": "  （无扣分、加分或否决事项）", "en": "  (no deduction, bonus or veto)"}
_LINES_HEAD = {"zh": "明细（行号 · 分值 · 说明）：", "en": "Lines (line id · points · reason):"}


def render_explanation(
    result: Mapping,
    lines: pd.DataFrame,
    policy: CreditPolicy,
    *,
    as_of: str,
    lang: str = "zh",
    run_id: int | None = None,
    history: Sequence[str] = (),
) -> str:
    """The grade of one institution and every line behind it, as text in ``lang`` (zh or en)."""
    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be one of ['zh', 'en']; got {lang!r}")
    fmt = f".{policy.decimals}f"
    title = policy.title_zh if lang == "zh" else policy.title_en
    run = "" if run_id is None else ("，评价批次 #" if lang == "zh" else ", run #") + str(run_id)
    peer = result.get("peer_group")
    peer_text = "" if peer is None or pd.isna(peer) else ("，同类组 " if lang == "zh" else ", peer group ") + str(peer)
    out = [
        _HEAD[lang].format(code=result["institution_code"], title=title, policy=policy.name, as_of=as_of, run=run),
        _SCORE[lang].format(
            score=format(float(result["score"]), fmt),
            scale=format(policy.scale, "g"),
            grade=result["grade"],
            score_grade=result["score_grade"],
            peer=peer_text,
        ),
        _TOTALS[lang].format(ded=format(float(result["deductions"]), fmt), bon=format(float(result["bonuses"]), fmt)),
        _LINES_HEAD[lang],
    ]
    if lines.empty:
        out.append(_NO_LINES[lang])
    text_column = "text_zh" if lang == "zh" else "text_en"
    for row in lines.itertuples(index=False):
        points = float(row.points)
        shown = "否决" if row.kind == "veto" and lang == "zh" else "veto" if row.kind == "veto" else f"{points:+{fmt}}"
        out.append(f"  {row.line_id} · {shown} · {getattr(row, text_column)}")
    if history:
        out.append("异议与信用修复记录：" if lang == "zh" else "Objections and credit repairs:")
        out.extend(f"  {item}" for item in history)
    return "\n".join(out)
