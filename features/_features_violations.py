"""Violation history (违规处理历史): counts and amounts by severity, category and source, and what they imply.

A violation is known from its ``found_date``. Overturned violations (``status == 'overturned'``)
are left out at every date: the contract records no date of the ruling, and a finding that was
annulled should not weigh on a grade or teach a model (the one look-ahead the contract forces).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._features_catalogue import FeatureSpec
from ._features_windows import Queries, day_numbers, event_index, safe_ratio, window_label, window_text
from .contract import CODE_LISTS, DISPOSITION_SEVERITY

WINDOWS: tuple[int, ...] = (12, 24, 36)
FAMILY = "violations"
_SOURCE = "violations (found_date)"
_MISSING = "0 when none; missing when the violations table is absent"
_GROUPS = (("disp", "disposition", "处理方式为{}的"), ("cat", "category", "{}类"), ("src", "source", "来源为{}的"))
_CODE_LIST = {"disposition": "disposition", "category": "violation_category", "source": "violation_source"}


def _known(violations: pd.DataFrame) -> pd.DataFrame:
    return violations[violations["status"].astype(str) != "overturned"]


def _weights(violations: pd.DataFrame) -> pd.DataFrame:
    amount = violations["amount"].astype("float64").fillna(0.0).to_numpy()
    columns: dict[str, np.ndarray] = {"n": np.ones(len(violations)), "amount": amount}
    for short, column, _ in _GROUPS:
        values = violations[column].astype(str).to_numpy()
        for code in CODE_LISTS[_CODE_LIST[column]]:
            hit = (values == code).astype(np.float64)
            columns[f"n_{short}_{code}"] = hit
            columns[f"amount_{short}_{code}"] = hit * amount
    fraud = violations["fraud"].astype("boolean").fillna(False).to_numpy(dtype=np.float64)
    columns["fraud_n"] = fraud
    columns["fraud_amount"] = fraud * amount
    columns["lenient_n"] = violations["lenient"].astype("boolean").fillna(False).to_numpy(dtype=np.float64)
    penalty = violations["penalty_amount"] if "penalty_amount" in violations else pd.Series(0.0, violations.index)
    columns["penalty"] = penalty.astype("float64").fillna(0.0).to_numpy()
    return pd.DataFrame(columns)


def _max_severity(sums: dict[str, np.ndarray]) -> np.ndarray:
    severity = np.zeros(len(sums["n"]))
    for code, rank in DISPOSITION_SEVERITY.items():
        severity = np.where(sums[f"n_disp_{code}"] > 0, np.maximum(severity, rank), severity)
    return severity


def violation_features(violations: pd.DataFrame, institutions: pd.Index, queries: Queries) -> dict[str, np.ndarray]:
    """The violation family for each query row, keyed by feature name (catalogue order)."""
    known = _known(violations)
    index = event_index(
        institutions.get_indexer(known["institution_code"].astype(str)),
        day_numbers(known["found_date"]),
        _weights(known),
    )
    sums = {window: queries.sums(index, window) for window in (*WINDOWS, None)}
    out: dict[str, np.ndarray] = {}
    for window in WINDOWS:
        label = window_label(window)
        out[f"viol_n_{label}"] = sums[window]["n"]
        out[f"viol_amount_{label}"] = sums[window]["amount"]
    out["viol_n_ever"] = sums[None]["n"]
    for short, column, _ in _GROUPS:
        for code in CODE_LISTS[_CODE_LIST[column]]:
            for window in WINDOWS:
                label = window_label(window)
                out[f"viol_n_{short}_{code}_{label}"] = sums[window][f"n_{short}_{code}"]
                out[f"viol_amount_{short}_{code}_{label}"] = sums[window][f"amount_{short}_{code}"]
    out["viol_days_since_last"] = queries.days_since_last(index)
    for window in (12, 36, None):
        out[f"viol_max_severity_{window_label(window)}"] = _max_severity(sums[window])
    categories = np.column_stack([sums[36][f"n_cat_{c}"] for c in CODE_LISTS["violation_category"]])
    out["viol_repeat_max_36m"] = categories.max(axis=1)
    out["viol_repeat_categories_36m"] = (categories >= 2).sum(axis=1).astype(np.float64)
    out["viol_fraud_n_36m"] = sums[36]["fraud_n"]
    out["viol_fraud_amount_36m"] = sums[36]["fraud_amount"]
    out["viol_fraud_n_ever"] = sums[None]["fraud_n"]
    out["viol_lenient_n_36m"] = sums[36]["lenient_n"]
    out["viol_lenient_share_36m"] = safe_ratio(sums[36]["lenient_n"], sums[36]["n"])
    out["viol_penalty_36m"] = sums[36]["penalty"]
    return out


def violation_catalogue() -> list[FeatureSpec]:
    specs: list[FeatureSpec] = []

    def add(name: str, zh: str, meaning: str, window: int | None, missing: str = _MISSING, en: str = "") -> None:
        specs.append(FeatureSpec(name, zh, meaning, FAMILY, _SOURCE, window_text(window, "found_date"), missing, en=en))

    for window in WINDOWS:
        label = window_label(window)
        add(f"viol_n_{label}", f"近{window}个月违规次数", "violations found (not overturned)", window)
        add(f"viol_amount_{label}", f"近{window}个月违规金额", "amount involved in those violations (yuan)", window)
    add("viol_n_ever", "历史违规次数", "violations found (not overturned), all history", None)
    for short, column, zh_pattern in _GROUPS:
        for code, zh in CODE_LISTS[_CODE_LIST[column]].items():
            for window in WINDOWS:
                label, prefix = window_label(window), zh_pattern.format(zh)
                add(
                    f"viol_n_{short}_{code}_{label}",
                    f"近{window}个月{prefix}违规次数",
                    f"violations with {column} {code}",
                    window,
                )
                add(
                    f"viol_amount_{short}_{code}_{label}",
                    f"近{window}个月{prefix}违规金额",
                    f"amount of violations with {column} {code} (yuan)",
                    window,
                )
    add(
        "viol_days_since_last",
        "距上次违规天数",
        "days from the last violation found to as_of",
        None,
        "missing when no violation was found before as_of or the table is absent",
        en="days since the last violation",
    )
    for window in (12, 36, None):
        zh = "历史" if window is None else f"近{window}个月"
        add(
            f"viol_max_severity_{window_label(window)}",
            f"{zh}最重处理方式等级",
            "heaviest disposition on the ladder, 1 (interview) to 13 (police referral); 0 when none",
            window,
            en="heaviest disposition (1 interview to 13 police referral)",
        )
    add("viol_repeat_max_36m", "近36个月同类违规最多次数", "largest count of violations of one category", 36)
    add("viol_repeat_categories_36m", "近36个月重复违规类别数", "categories with two or more violations", 36)
    add("viol_fraud_n_36m", "近36个月欺诈骗保次数", "violations confirmed as fraud (Art. 40)", 36)
    add("viol_fraud_amount_36m", "近36个月欺诈骗保金额", "amount of violations confirmed as fraud (yuan)", 36)
    add("viol_fraud_n_ever", "历史欺诈骗保次数", "violations confirmed as fraud, all history", None)
    add("viol_lenient_n_36m", "近36个月从轻处理次数", "violations handled leniently (从轻/减轻/免罚)", 36)
    add(
        "viol_lenient_share_36m",
        "近36个月从轻处理占比",
        "share of violations handled leniently",
        36,
        "missing when no violation in the window or the table is absent",
    )
    add("viol_penalty_36m", "近36个月罚款及违约金", "fines and liquidated damages (yuan)", 36)
    specs.append(
        FeatureSpec(
            "viol_amount_to_fund_12m",
            "近12个月违规金额占基金收入比",
            "violation amount in the last 12 months / fund paid to the institution over the 12 closed months",
            FAMILY,
            "violations (found_date) + claims (settle_date)",
            "12 months before as_of",
            "missing when the institution had no fund income, or the violations or claims table is absent",
            en="violation amount / fund income",
        )
    )
    return specs
