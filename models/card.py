"""A model card per registered model version: what it is for, what it learned from, how well it does.

Generated from the registry's metadata (and, when given, a backtest summary), so that it always
describes the file that is actually deployed.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ._markdown import format_value, markdown_table
from .registry import ModelRecord

__all__ = ["model_card"]

_GROUP_TITLES = {
    "kind": "机构类型 institution kind",
    "ownership": "所有制 ownership",
    "region_code": "区县 county",
}
_METRIC_COLUMNS = (
    "inspections",
    "violation_rate",
    "roc_auc",
    "pr_auc",
    "brier",
    "calibration_error",
    "baseline_roc_auc",
)


def _table(rows: dict[str, dict[str, Any]], first: str) -> str:
    header = f"| {first} | " + " | ".join(_METRIC_COLUMNS) + " |"
    rule = "|" + "---|" * (len(_METRIC_COLUMNS) + 1)
    body = [
        f"| {name} | " + " | ".join(format_value(row.get(c)) for c in _METRIC_COLUMNS) + " |"
        for name, row in rows.items()
    ]
    return "\n".join([header, rule, *body])


def _families(features: list[dict[str, str]]) -> str:
    """Feature counts by name prefix (the feature family: viol, clm, si, cmp, ref, stf, ...)."""
    counts: dict[str, int] = {}
    for feature in features:
        prefix = feature["name"].split("_", 1)[0] if "_" in feature["name"] else "static"
        counts[prefix] = counts.get(prefix, 0) + 1
    return ", ".join(f"{prefix} {count}" for prefix, count in sorted(counts.items(), key=lambda kv: -kv[1]))


def model_card(record: ModelRecord, *, backtest: pd.DataFrame | None = None) -> str:
    """The Markdown model card of a registered version."""
    meta = record.metadata
    config = meta.get("config", {})
    metrics = meta.get("metrics", {})
    features = meta.get("features", [])
    lines = [
        f"# 模型卡 Model card: {record.version}",
        "",
        f"- 格式 format: `{record.format_version}`; SHA-256 `{record.sha256}`",
        f"- 生成时间 created: {meta.get('created_at', record.created_at)}; "
        f"启用 active: {'是 yes' if record.active else '否 no'}",
        f"- 训练窗口 training window: {record.trained_from} … {record.trained_to}; "
        f"校准切片起 calibration slice from {meta.get('calibration_start', '–')}",
        f"- 行数 rows: {meta.get('rows', {})}",
        f"- 库版本 libraries: {', '.join(f'{k} {v}' for k, v in meta.get('libraries', {}).items())}",
        "",
        "## 用途 Intended use",
        "",
        "估计每家定点医药机构在一次随机检查（平均水平的检查人员）中被发现违规的概率、涉及金额和优先级"
        "（概率×金额），用于排定重点检查和抽查比例，并给出可读的原因。它是线索，不是结论：不能替代检查，"
        "不得作为处罚、信用扣分或公开的唯一依据。",
        "",
        "Estimates, for each designated institution, the probability that a random inspection by an average "
        "inspector finds a violation, the amount at stake and the priority (probability × amount), to order "
        "targeted inspections and sampling ratios, with readable reasons. A lead, not a verdict: it does not "
        "replace an inspection and must not be the sole basis of a penalty, a credit deduction or a publication.",
        "",
        "## 数据 Data",
        "",
        "每行是一次检查：检查日之前已知的特征（时点正确），结果为是否发现问题及问题金额。检查方式和检查人员"
        "（检查组此前的发现率）作为干扰变量参与拟合，评分时固定为随机检查、平均检查人员。"
        "重点检查是有选择的，其结果偏高；模型以检查方式为条件来吸收这种偏差。",
        "",
        "One row per inspection: features known before its date (point in time), outcome = violation found and "
        "amount found. Inspection kind and the team's earlier detection record are nuisance inputs while fitting "
        "and are fixed to a random inspection by an average inspector when scoring. Targeted inspections are "
        "selected, so they find more; conditioning on the kind absorbs that.",
        "",
        f"- 特征 features: {len(features)} ({_families(features)}); 全部列名与类型见注册表元数据 / every name and "
        "dtype is in the registry metadata",
        "- 最重要的特征（占增益比例）most important features (share of gain): "
        + (", ".join(f"`{name}` {share:.1%}" for name, share in list(meta.get("importance", {}).items())[:15]) or "–"),
        f"- 干扰变量 nuisance: {', '.join(f'`{n}`' for n in meta.get('nuisance', [])) or '–'}",
        f"- 评分时的中性值 neutral values: {meta.get('neutral', {})}",
        f"- 风险等级概率分界 risk-level cuts (低/中/高/极高): {config.get('bands')}",
        f"- 校准 calibration: {config.get('calibration')}; 树 trees: {config.get('n_estimators')} × "
        f"{config.get('num_leaves')} leaves, learning rate {config.get('learning_rate')}",
        "",
        "## 指标 Metrics",
        "",
        "校准切片上（训练窗口最后一段，未用于拟合树）/ On the calibration slice (the latest part of the training "
        "window, not used to fit the trees); AUC is unaffected by calibration, Brier and calibration error are "
        "optimistic there — the backtest gives the honest out-of-time figures.",
        "",
        _table({"overall": metrics.get("overall", {})}, "总体 overall"),
        "",
    ]
    for group, rows in metrics.get("by_group", {}).items():
        lines += [f"### 按{_GROUP_TITLES.get(group, group)}", "", _table(rows, group), ""]
    if backtest is not None and not backtest.empty:
        lines += ["## 回测 Backtest (out of time)", "", markdown_table(backtest), ""]
    lines += [
        "## 已知局限 Known limits",
        "",
        "- 标签有选择性：未被检查的机构没有结果，重点检查发现率偏高；违规率只能由随机抽查按入样概率加权估计。"
        " / Selective labels: uninspected institutions have no outcome and targeted inspections find more; "
        "prevalence is estimated only from random draws weighted by inclusion probability.",
        "- 检查人员效应：各检查组的发现能力不同，模型以检查组此前的发现记录近似，新检查人员的记录被收缩到平均值。"
        " / Inspector effects are approximated by the team's shrunk earlier detection record; "
        "new inspectors count as average.",
        "- 时点：特征只用检查日之前已知的事件；数据迟报会让近期特征偏低。 / Point in time: late-reported events "
        "make recent features too low.",
        "- 公平：机构类型、所有制、区县只用于按组报告，不作为特征；请对照上表的分组指标检查差异。"
        " / Kind, ownership and county are audit attributes only, never features; "
        "check the by-group tables for disparities.",
        "- 漂移：行为和监管重点会变，模型应至少每年重训并回测。 / Drift: retrain and backtest at least yearly.",
        "- 模拟数据上的指标不代表真实数据；真实数据基准见 docs/real-data.md。 / Figures on simulated data do not "
        "carry over to real data; see docs/real-data.md for real-data benchmarks.",
        "",
    ]
    return "\n".join(lines)
