"""Targeted inspections (重点检查) and merging all checks of one institution into one visit.

Leads always get a visit and bypass the yearly routine cap: substantiated complaints, referrals
from other departments, smart-audit signals above their thresholds, D/E credit grades and a high
model risk. The rest of the budget goes by priority: expected fund loss (risk probability x amount)
where both are known, then the lowest credit score. Every pick carries its reasons, in Chinese and
English, with the value that triggered it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from scoring._frames import split_list

__all__ = ["VISIT_ORIGINS", "TargetedSelection", "TargetingRules", "merge_visits", "select_targeted"]

logger = logging.getLogger(__name__)

VISIT_ORIGINS = ("random", "targeted", "routine")

# code -> (Chinese, English) templates of the reasons of priority picks.
PRIORITY_REASONS: dict[str, tuple[str, str]] = {
    "expected_loss": (
        "预计基金损失 {loss:,.0f} 元（风险概率 {probability:.2f} × 涉及金额 {amount:,.0f} 元），优先级第 {rank} 位",
        "expected fund loss ¥{loss:,.0f} (risk {probability:.2f} x amount ¥{amount:,.0f}), priority {rank}",
    ),
    "low_credit_score": (
        "信用分 {score:.1f}，按信用分由低到高优先级第 {rank} 位",
        "credit score {score:.1f}, priority {rank} by lowest credit score",
    ),
    "no_priority_signal": (
        "无风险评分与信用分，按机构编码顺序补足预算，第 {rank} 位",
        "no risk score or credit score; budget filled in code order, priority {rank}",
    ),
}


@dataclass(frozen=True)
class TargetingRules:
    """What makes an institution a mandatory target, and what its visit checks.

    trigger_grades: credit grades always targeted (D/E: 重点监管).
    min_substantiated_complaints / min_referrals: counts at or above which an institution is targeted;
        None turns the trigger off.
    signal_thresholds: smart-audit feature column -> threshold; a value strictly above it triggers.
    signal_labels: feature column -> {"zh": ..., "en": ...} names used in the reasons; with
        ``"kind": "peer_z"`` the value is a peer z-score, told as standard deviations above the peers.
    high_risk_probability: risk_probability at or above which an institution is targeted; None = off.
    signal_items: feature column -> check-item code its visit must cover.
    default_items: check items of every targeted visit.
    """

    trigger_grades: tuple[str, ...] = ("D", "E")
    min_substantiated_complaints: int | None = 1
    min_referrals: int | None = 1
    signal_thresholds: Mapping[str, float] = field(default_factory=dict)
    signal_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    high_risk_probability: float | None = 0.9
    signal_items: Mapping[str, str] = field(default_factory=dict)
    default_items: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "trigger_grades", tuple(self.trigger_grades))
        object.__setattr__(self, "default_items", tuple(self.default_items))
        for name in ("min_substantiated_complaints", "min_referrals"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be None or an integer >= 1; got {value!r}")
        for column, threshold in self.signal_thresholds.items():
            if not _is_number(threshold):
                raise ValueError(f"signal_thresholds[{column!r}] must be a finite number; got {threshold!r}")
        risk = self.high_risk_probability
        if risk is not None and (not _is_number(risk) or not 0 < risk <= 1):
            raise ValueError(f"high_risk_probability must be None or a probability in (0, 1]; got {risk!r}")
        unknown = sorted(set(self.signal_items) - set(self.signal_thresholds))
        if unknown:
            raise ValueError(
                f"signal_items names signal(s) {unknown} without a threshold; signals: {sorted(self.signal_thresholds)}"
            )


@dataclass(frozen=True)
class TargetedSelection:
    """The targeted picks.

    selected: institution_code, trigger (boolean: picked by a lead rather than by priority),
        priority_rank (Int64, 1 = first priority pick; missing for triggered ones), expected_loss,
        items (``;``-joined), reason_codes (``;``-joined) — triggered first, then by priority.
    reasons: institution_code, code, zh, en, value — one row per reason (long format, for storage).
    """

    selected: pd.DataFrame
    reasons: pd.DataFrame

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-serialisable record per pick, with its reasons as a list of {code, zh, en, value}."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for row in self.reasons.to_dict("records"):
            grouped.setdefault(row["institution_code"], []).append(
                {key: _plain(row[key]) for key in ("code", "zh", "en", "value")}
            )
        records = []
        for row in self.selected.to_dict("records"):
            record = {key: _plain(value) for key, value in row.items()}
            record["items"] = [item for item in (record["items"] or "").split(";") if item]
            record["reasons"] = grouped.get(row["institution_code"], [])
            records.append(record)
        return records


def select_targeted(frame: pd.DataFrame, *, budget: int, rules: TargetingRules | None = None) -> TargetedSelection:
    """Pick targeted inspections from one row per institution.

    Columns: institution_code; grade; optional credit_score, risk_probability, expected_amount,
    substantiated_complaints, referrals; and the smart-audit columns named in the rules. Triggered
    institutions are always picked, even beyond ``budget``; the remaining budget goes by priority.
    """
    rules = rules or TargetingRules()
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 0:
        raise ValueError(f"budget must be an integer >= 0; got {budget!r}")
    required = ["institution_code", "grade", *rules.signal_thresholds]
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ValueError(f"targeting frame is missing column(s) {missing}; it has {list(frame.columns)}")
    if frame["institution_code"].duplicated().any():
        duplicated = frame.loc[frame["institution_code"].duplicated(), "institution_code"].head(5).tolist()
        raise ValueError(f"targeting frame must have one row per institution; duplicated: {duplicated}")
    data = frame.reset_index(drop=True)
    reasons = _trigger_reasons(data, rules)
    triggered = set(reasons["institution_code"]) if not reasons.empty else set()
    remaining = max(0, budget - len(triggered))
    ranked = _priority_order(data[~data["institution_code"].isin(list(triggered))])
    picks = ranked.head(remaining)
    reasons = pd.concat([reasons, _priority_reasons(picks)], ignore_index=True)
    selected = _selection_table(data, triggered, picks, reasons, rules)
    if len(triggered) > budget:
        logger.warning("targeted leads (%d) exceed the budget (%d); all leads are kept", len(triggered), budget)
    logger.info("targeted selection: %d triggered, %d by priority", len(triggered), len(picks))
    return TargetedSelection(selected=selected, reasons=_reasons_table(reasons, selected))


def _trigger_reasons(data: pd.DataFrame, rules: TargetingRules) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    codes = data["institution_code"].astype(str)
    for column, code, minimum, zh, en in (
        (
            "substantiated_complaints",
            "substantiated_complaint",
            rules.min_substantiated_complaints,
            "属实投诉举报 {value:g} 件",
            "{value:g} substantiated complaint(s)",
        ),
        (
            "referrals",
            "referral",
            rules.min_referrals,
            "其他部门移送/通报 {value:g} 件",
            "{value:g} referral(s) from other departments",
        ),
    ):
        if minimum is None or column not in data.columns:
            continue
        values = pd.to_numeric(data[column], errors="coerce")
        rows += _rows(codes, values, values >= minimum, code, zh, en)
    for column, threshold in rules.signal_thresholds.items():
        values = pd.to_numeric(data[column], errors="coerce")
        label = rules.signal_labels.get(column, {})
        name_zh, name_en = label.get("zh", column), label.get("en", column)
        if label.get("kind") == "peer_z":  # a robust z-score within the peer group: told as a distance
            zh = f"智能审核指标「{name_zh}」高于同类机构 {{value:.1f}} 个标准差，超过阈值 {threshold:.4g}"
            en = (
                f"smart-audit signal {name_en} is {{value:.1f}} SD above its peers, above the threshold {threshold:.4g}"
            )
        else:
            zh = f"智能审核指标「{name_zh}」为 {{value:.4g}}，超过阈值 {threshold:.4g}"
            en = f"smart-audit signal {name_en} is {{value:.4g}}, above the threshold {threshold:.4g}"
        rows += _rows(codes, values, values > threshold, f"smart_audit:{column}", zh, en)
    grades = data["grade"].astype("string").str.strip()
    hit = grades.isin(list(rules.trigger_grades)).fillna(False).astype(bool)
    rows += _rows(
        codes,
        grades,
        hit,
        "low_grade",
        "信用等级为 {value}（重点监管对象）",
        "credit grade {value} (key supervision target)",
    )
    if rules.high_risk_probability is not None and "risk_probability" in data.columns:
        values = pd.to_numeric(data["risk_probability"], errors="coerce")
        threshold = rules.high_risk_probability
        rows += _rows(
            codes,
            values,
            values >= threshold,
            "high_risk",
            f"模型风险概率 {{value:.2f}}，不低于高风险阈值 {threshold:g}",
            f"model risk probability {{value:.2f}}, at or above the high-risk threshold {threshold:g}",
        )
    return pd.DataFrame(rows, columns=["institution_code", "code", "zh", "en", "value"])


def _rows(codes: pd.Series, values: pd.Series, hit: pd.Series, code: str, zh: str, en: str) -> list[dict[str, Any]]:
    hit = hit.fillna(False).astype(bool)
    return [
        {
            "institution_code": institution,
            "code": code,
            "zh": zh.format(value=value),
            "en": en.format(value=value),
            "value": _plain(value),
        }
        for institution, value in zip(codes[hit].tolist(), values[hit].tolist(), strict=True)
    ]


def _priority_order(rest: pd.DataFrame) -> pd.DataFrame:
    """Expected loss (probability x amount) descending where known, then credit score ascending, then code."""
    probability = _numeric_column(rest, "risk_probability")
    amount = _numeric_column(rest, "expected_amount")
    ordered = rest.assign(
        expected_loss=probability * amount,
        priority_probability=probability,
        priority_amount=amount,
        priority_score=_numeric_column(rest, "credit_score"),
    )
    ordered = ordered.assign(no_loss=ordered["expected_loss"].isna()).sort_values(
        ["no_loss", "expected_loss", "priority_score", "institution_code"],
        ascending=[True, False, True, True],
        na_position="last",
    )
    return ordered.assign(priority_rank=range(1, len(ordered) + 1))


def _numeric_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """A column as float64, or all-NaN when the frame does not have it."""
    if column not in frame.columns:
        return pd.Series(math.nan, index=frame.index, dtype="float64")
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


def _priority_reasons(picks: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for row in picks.itertuples(index=False):
        details = {
            "loss": row.expected_loss,
            "probability": row.priority_probability,
            "amount": row.priority_amount,
            "score": row.priority_score,
            "rank": row.priority_rank,
        }
        if not math.isnan(row.expected_loss):
            code, value = "expected_loss", row.expected_loss
        elif not math.isnan(row.priority_score):
            code, value = "low_credit_score", row.priority_score
        else:
            code, value = "no_priority_signal", None
        zh, en = PRIORITY_REASONS[code]
        rows.append(
            {
                "institution_code": row.institution_code,
                "code": code,
                "zh": zh.format(**details),
                "en": en.format(**details),
                "value": _plain(value),
            }
        )
    return pd.DataFrame(rows, columns=["institution_code", "code", "zh", "en", "value"])


def _selection_table(
    data: pd.DataFrame, triggered: set[str], picks: pd.DataFrame, reasons: pd.DataFrame, rules: TargetingRules
) -> pd.DataFrame:
    trigger_codes = sorted(triggered)
    codes = trigger_codes + picks["institution_code"].astype(str).tolist()
    ranks = [pd.NA] * len(trigger_codes) + picks["priority_rank"].tolist()
    loss = _numeric_column(data, "risk_probability") * _numeric_column(data, "expected_amount")
    loss_by_code = dict(zip(data["institution_code"].astype(str), loss, strict=True))
    reason_codes = (
        reasons.groupby("institution_code", sort=False)["code"].agg(list).to_dict() if not reasons.empty else {}
    )
    items = [";".join(_visit_items(reason_codes.get(code, []), rules)) for code in codes]
    return pd.DataFrame(
        {
            "institution_code": pd.array(codes, dtype="string"),
            "trigger": pd.array([code in triggered for code in codes], dtype="boolean"),
            "priority_rank": pd.array(ranks, dtype="Int64"),
            "expected_loss": pd.array([loss_by_code.get(code, float("nan")) for code in codes], dtype="float64"),
            "items": pd.array(items, dtype="string"),
            "reason_codes": pd.array([";".join(reason_codes.get(code, [])) for code in codes], dtype="string"),
        }
    )


def _visit_items(reason_codes: list[str], rules: TargetingRules) -> list[str]:
    items = set(rules.default_items)
    for code in reason_codes:
        if code.startswith("smart_audit:") and code[len("smart_audit:") :] in rules.signal_items:
            items.add(rules.signal_items[code[len("smart_audit:") :]])
    return sorted(items)


def _reasons_table(reasons: pd.DataFrame, selected: pd.DataFrame) -> pd.DataFrame:
    order = {code: index for index, code in enumerate(selected["institution_code"].tolist())}
    table = reasons.assign(_order=reasons["institution_code"].map(order)).sort_values("_order", kind="stable")
    table = table.drop(columns="_order").reset_index(drop=True)
    for column in ("institution_code", "code", "zh", "en"):
        table[column] = table[column].astype("string")
    table["value"] = table["value"].astype(object)
    return table


# --------------------------------------------------------------------------- one visit per institution


def merge_visits(
    random: pd.DataFrame | None = None,
    targeted: pd.DataFrame | None = None,
    routine: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Combine every check of one institution into one visit (综合查一次).

    Each input has institution_code and optionally items (``;``-joined). Returns one row per
    institution: institution_code, origins (``;``-joined in the order random, targeted, routine) and
    items (the sorted union), sorted by institution_code.
    """
    parts = []
    for origin, frame in zip(VISIT_ORIGINS, (random, targeted, routine), strict=True):
        if frame is None or frame.empty:
            continue
        if "institution_code" not in frame.columns:
            raise ValueError(f"{origin} visits need an institution_code column; got {list(frame.columns)}")
        items = (
            split_list(frame["items"].fillna(""))
            if "items" in frame.columns
            else pd.Series([[]] * len(frame), index=frame.index)
        )
        parts.append(
            pd.DataFrame({"institution_code": frame["institution_code"].astype(str), "origin": origin, "items": items})
        )
    if not parts:
        return pd.DataFrame(
            {column: pd.array([], dtype="string") for column in ("institution_code", "origins", "items")}
        )
    visits = pd.concat(parts, ignore_index=True)
    rank = {origin: index for index, origin in enumerate(VISIT_ORIGINS)}
    merged = visits.groupby("institution_code", sort=True).agg(
        origins=("origin", lambda values: ";".join(sorted(set(values), key=rank.__getitem__))),
        items=("items", lambda lists: ";".join(sorted({item for items in lists for item in items}))),
    )
    return merged.reset_index().astype("string")


def _plain(value: Any) -> Any:
    """numpy / pandas scalars as plain JSON values (missing as None)."""
    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
