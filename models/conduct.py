"""Conduct, not size: turn the feature catalogue's raw columns into the risk model's inputs.

The feature catalogue (``features.build``) reports what happened: counts of violations, claims,
complaints, staff points, and money in yuan. Most of those counts grow with the institution's size,
so a model fitted on them learns "big institutions are risky" and explains a score with "14,217
claims in the last 12 months" — identity, not conduct. This module re-expresses them as rates:

- per year of exposure (violations, referrals: an institution designated for 8 months has had 8
  months to be caught);
- per 10,000 claims (violations, complaints, smart-audit hits already come as shares of claims);
- per yuan of fund income (violation amounts, refunds, unreported amounts);
- per staff member (staff points);
- shares (contradicted self-inspections, substantiated complaints).

Raw volumes (claims, fund, beds, staff), raw ``*_n_*`` counts and raw amounts are dropped, and so
are case-mix levels (cost per visit, drug share ...: they mostly say what kind of institution it is;
their peer z-scores stay). One
**size control** stays, ``size__log_claims_12m`` (log of 1 + claims settled): rates computed on few
claims are noisier and the model may need to know that, but it is never given as a reason
(:meth:`models.training.RiskModel.contributions` folds it into ``_size_control``). Identity columns
(kind, level, ownership) are not inputs either; kind and ownership stay as audit columns.

:func:`conduct_features` is applied to training rows and to scoring snapshots alike, so the model
sees the same columns in both; :func:`conduct_catalogue` names the new columns for the reasons.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = [
    "CONDUCT_DIRECTIONS",
    "SIZE_PREFIX",
    "conduct_catalogue",
    "conduct_features",
    "conduct_monotone",
    "is_size_control",
]

SIZE_PREFIX = "size__"
_KEYS = ("institution_code", "as_of")
# Exposure shorter than this (years) is taken as this, so a new institution's one violation is not
# read as a rate of 12 a year.
_MIN_EXPOSURE_YEARS = 0.5
# Identity and size columns of the catalogue: never inputs.
_IDENTITY = ("kind", "level", "ownership", "beds", "staff_count")
# Levels that mostly tell the kind of institution (a hospital's cost per visit is 30 times a clinic's,
# a pharmacy's drug share is near 1): only their peer z-scores, which compare like with like, are conduct.
_CASE_MIX = (
    "clm_fund_per_visit_12m",
    "clm_cost_per_visit_12m",
    "clm_drug_share_12m",
    "clm_exam_share_12m",
    "clm_inpatient_share_12m",
)
# Raw volumes (they scale with size); their information is kept as rates below.
_VOLUME = re.compile(
    r"^(clm_(claims|stays|fund|total)_12m"
    r"|clm_\w+_n_12m"
    r"|viol_(n|amount)_(?!to_fund)\w+"
    r"|viol_fraud_(n|amount)_(ever|\d+m)|viol_lenient_n_\d+m|viol_penalty_\d+m"
    r"|si_(reports|problems_reported|refunded|no_problem_reports|verified|problems_found|gap_amount"
    r"|contradicted|contradicted_by_verification|contradicted_by_findings)_36m"
    r"|cmp_(received|substantiated|unfounded)_\d+m|cmp_pending"
    r"|ref_\w+_\d+m"
    r"|stf_(points|events|staff_scored|suspended|terminated)_\d+m)$"
)
# Conduct features whose direction is obvious from the domain: more of it is never less risky.
CONDUCT_DIRECTIONS: dict[str, int] = {
    "viol_per_year_12m": 1,
    "viol_per_year_36m": 1,
    "viol_per_year_ever": 1,
    "viol_per_10k_claims_36m": 1,
    "viol_amount_to_fund_36m": 1,
    "viol_fraud_ever": 1,
    "viol_fraud_36m": 1,
    "viol_penalty_to_fund_36m": 1,
    "si_contradicted_per_year_36m": 1,
    "si_unreported_amount_to_fund_36m": 1,
    "cmp_substantiated_per_10k_claims_36m": 1,
    "ref_per_year_36m": 1,
    "stf_points_per_staff_12m": 1,
    "stf_staff_scored_share_12m": 1,
}


def is_size_control(name: str) -> bool:
    """Whether a column is a size control (fitted, never shown as a reason)."""
    return str(name).startswith(SIZE_PREFIX)


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    """A numeric column as float64 (NaN where absent or missing)."""
    if name not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    return pd.to_numeric(frame[name].astype("Float64"), errors="coerce").astype("float64")


def _ratio(numerator: pd.Series, denominator: pd.Series, scale: float = 1.0) -> pd.Series:
    """numerator / denominator × scale; NaN where the denominator is not positive."""
    return (numerator * scale / denominator.where(denominator > 0)).astype("float64")


def _exposure(frame: pd.DataFrame, window_years: float | None) -> pd.Series:
    """Years the institution could have been caught in the window (designated years, capped by the window)."""
    designated = _col(frame, "years_designated")
    years = designated if window_years is None else designated.clip(upper=window_years)
    fallback = window_years if window_years is not None else np.nan
    return years.fillna(fallback).clip(lower=_MIN_EXPOSURE_YEARS)


def _derived(frame: pd.DataFrame) -> dict[str, pd.Series]:
    claims_year = _col(frame, "clm_claims_12m")
    fund_year = _col(frame, "clm_fund_12m")
    staff = _col(frame, "staff_count")
    exposure_36 = _exposure(frame, 3.0)
    # Claims and fund over the 36-month window, from the last 12 months' pace.
    claims_36, fund_36 = claims_year * exposure_36, fund_year * exposure_36
    si_reports = _col(frame, "si_reports_36m")
    si_verified = _col(frame, "si_verified_36m")
    return {
        "viol_per_year_12m": _col(frame, "viol_n_12m") / _exposure(frame, 1.0),
        "viol_per_year_36m": _col(frame, "viol_n_36m") / exposure_36,
        "viol_per_year_ever": _col(frame, "viol_n_ever") / _exposure(frame, None),
        "viol_per_10k_claims_36m": _ratio(_col(frame, "viol_n_36m"), claims_36, 1e4),
        "viol_amount_to_fund_36m": _ratio(_col(frame, "viol_amount_36m"), fund_36),
        "viol_penalty_to_fund_36m": _ratio(_col(frame, "viol_penalty_36m"), fund_36),
        "viol_fraud_36m": (_col(frame, "viol_fraud_n_36m") > 0)
        .astype("float64")
        .where(_col(frame, "viol_fraud_n_36m").notna()),
        "viol_fraud_ever": (_col(frame, "viol_fraud_n_ever") > 0)
        .astype("float64")
        .where(_col(frame, "viol_fraud_n_ever").notna()),
        "si_no_problem_share_36m": _ratio(_col(frame, "si_no_problem_reports_36m"), si_reports),
        "si_problems_per_report_36m": _ratio(_col(frame, "si_problems_reported_36m"), si_reports),
        "si_refunded_to_fund_36m": _ratio(_col(frame, "si_refunded_36m"), fund_36),
        "si_verified_share_36m": _ratio(si_verified, si_reports),
        "si_contradicted_per_year_36m": _col(frame, "si_contradicted_36m") / exposure_36,
        # Amount verification found beyond what was refunded, per verified report, relative to a
        # month of fund income, so a large hospital's refunds do not dwarf a clinic's.
        "si_unreported_amount_to_fund_36m": _ratio(_col(frame, "si_gap_amount_36m"), fund_year / 12.0),
        "cmp_received_per_10k_claims_12m": _ratio(_col(frame, "cmp_received_12m"), claims_year, 1e4),
        "cmp_substantiated_per_10k_claims_36m": _ratio(_col(frame, "cmp_substantiated_36m"), claims_36, 1e4),
        "cmp_pending_per_10k_claims": _ratio(_col(frame, "cmp_pending"), claims_year, 1e4),
        "ref_per_year_36m": _col(frame, "ref_n_36m") / exposure_36,
        "stf_points_per_staff_12m": _ratio(_col(frame, "stf_points_12m"), staff),
        "stf_staff_scored_share_12m": _ratio(_col(frame, "stf_staff_scored_12m"), staff),
        "stf_suspended_share_12m": _ratio(_col(frame, "stf_suspended_12m"), staff),
        SIZE_PREFIX + "log_claims_12m": np.log1p(claims_year),
    }


def conduct_features(frame: pd.DataFrame, *, keep: Iterable[str] = ()) -> pd.DataFrame:
    """The frame with raw volumes and identity columns replaced by conduct rates and one size control.

    Columns that are neither identity nor volume (rates, shares, peer z-scores, trends, severities,
    days since) pass through unchanged, as do ``keep`` and the keys. A derived column whose inputs
    are all absent is left out rather than filled with NaN.
    """
    keep = set(keep) | set(_KEYS)
    derived = {
        name: values for name, values in _derived(frame).items() if values.notna().any() or name in frame.columns
    }
    dropped = [
        c
        for c in frame.columns
        if c not in keep and (c in _IDENTITY or c in _CASE_MIX or _VOLUME.match(str(c))) and c not in derived
    ]
    result = frame.drop(columns=dropped)
    new = pd.DataFrame({k: v for k, v in derived.items() if k not in result.columns}, index=frame.index)
    return pd.concat([result, new], axis=1)


_CATALOGUE: tuple[tuple[str, str, str, str], ...] = (
    (
        "viol_per_year_12m",
        "近12个月违规次数（每年）",
        "violations found per year of designation, last 12 months",
        "number",
    ),
    ("viol_per_year_36m", "近36个月年均违规次数", "violations found per year of designation, last 36 months", "number"),
    ("viol_per_year_ever", "历史年均违规次数", "violations found per year of designation, all history", "number"),
    (
        "viol_per_10k_claims_36m",
        "近36个月每万人次违规次数",
        "violations found per 10,000 claims, last 36 months",
        "number",
    ),
    (
        "viol_amount_to_fund_36m",
        "近36个月违规金额占基金收入比",
        "violation amount / fund income, last 36 months",
        "share",
    ),
    ("viol_fraud_ever", "曾被认定欺诈骗保", "ever confirmed as fraud", "flag"),
    ("viol_fraud_36m", "近36个月被认定欺诈骗保", "confirmed as fraud in the last 36 months", "flag"),
    (
        "viol_penalty_to_fund_36m",
        "近36个月罚款及违约金占基金收入比",
        "fines and liquidated damages / fund income, last 36 months",
        "share",
    ),
    (
        "si_no_problem_share_36m",
        "近36个月自查报告“无问题”占比",
        "share of self-inspection reports stating no problem, last 36 months",
        "share",
    ),
    (
        "si_problems_per_report_36m",
        "近36个月每份自查报告自报问题数",
        "problems self-reported per self-inspection report, last 36 months",
        "number",
    ),
    (
        "si_refunded_to_fund_36m",
        "近36个月主动退款占基金收入比",
        "money refunded of its own accord / fund income, last 36 months",
        "share",
    ),
    (
        "si_verified_share_36m",
        "近36个月自查报告被核查占比",
        "share of self-inspection reports verified by the bureau, last 36 months",
        "share",
    ),
    (
        "si_contradicted_per_year_36m",
        "近36个月年均被推翻的“无问题”自查报告",
        "'no problem' self-inspection reports contradicted, per year, last 36 months",
        "number",
    ),
    (
        "si_unreported_amount_to_fund_36m",
        "近36个月核查发现未自报金额（占月基金收入）",
        "amount verification found beyond refunds per verified report / a month's fund income, last 36 months",
        "share",
    ),
    (
        "cmp_received_per_10k_claims_12m",
        "近12个月每万人次投诉举报",
        "complaints received per 10,000 claims, last 12 months",
        "number",
    ),
    (
        "cmp_substantiated_per_10k_claims_36m",
        "近36个月每万人次查实投诉",
        "substantiated complaints per 10,000 claims, last 36 months",
        "number",
    ),
    (
        "cmp_pending_per_10k_claims",
        "每万人次未办结投诉",
        "complaints pending per 10,000 claims of the last 12 months",
        "number",
    ),
    ("ref_per_year_36m", "近36个月年均部门通报", "referrals from other departments per year, last 36 months", "number"),
    ("stf_points_per_staff_12m", "近12个月人均记分", "staff points per staff member, last 12 months", "number"),
    ("stf_staff_scored_share_12m", "近12个月被记分人员占比", "share of staff given points, last 12 months", "share"),
    (
        "stf_suspended_share_12m",
        "近12个月被暂停支付资格人员占比",
        "share of staff suspended by points, last 12 months",
        "share",
    ),
    (
        SIZE_PREFIX + "log_claims_12m",
        "规模控制：近12个月结算人次（对数）",
        "size control: log(1 + claims), never a reason",
        "number",
    ),
)


def conduct_catalogue(catalogue: pd.DataFrame | None = None) -> pd.DataFrame:
    """The feature catalogue with entries for the derived columns (``name``, ``zh``, ``meaning``, ``unit``)."""
    derived = pd.DataFrame(_CATALOGUE, columns=["name", "zh", "meaning", "unit"]).assign(
        family="conduct", source="models.conduct", window="", missing="NaN when the denominator is 0 or absent"
    )
    if catalogue is None or len(catalogue) == 0:
        return derived
    kept = catalogue[~catalogue["name"].isin(derived["name"])]
    return pd.concat([kept, derived], ignore_index=True)


# Smart-audit rules whose hits are abuse signals: a higher rate (or peer z-score) is never safer.
_FLAG_RATE = re.compile(
    r"^clm_(split_admission|exam_heavy_stay|overlap_stay|elsewhere_during_stay|idle_stay|phantom_bed_signal"
    r"|low_standard_stay|long_supply|supply_ahead|deceased_settlement|duplicate_item|trace_reuse"
    r"|frequent_low_value|group_visit)_rate_12m(_pz)?$"
)
_RISING = re.compile(
    r"^(viol_max_severity_\w+|viol_repeat_\w+|viol_amount_to_fund_12m|si_contradicted_share_36m|si_gap_problems_36m)$"
)


def conduct_monotone(features: Iterable[str]) -> dict[str, int]:
    """Monotone directions for the conduct features among ``features`` whose direction the domain fixes.

    +1: more of it never lowers the risk (violations per year, smart-audit hit rates and their peer
    z-scores, contradicted self-inspections, staff points per head); -1: days since the last violation.
    Shares whose meaning depends on the case mix (drug share, cost per visit, growth) are left free.
    """
    directions: dict[str, int] = {}
    for name in features:
        if name in CONDUCT_DIRECTIONS:
            directions[name] = CONDUCT_DIRECTIONS[name]
        elif _FLAG_RATE.match(name) or _RISING.match(name):
            directions[name] = 1
        elif name == "viol_days_since_last":
            directions[name] = -1
    return directions
