"""Self-inspection honesty (自查自纠诚信): what institutions report about themselves, and how it holds up.

Dates of knowledge: a report counts from its ``submitted_date``; a verification (复核) from its
``verified_date`` (a verification without a date cannot be placed in time and is not used); a
"no problem" report is contradicted by later findings when a violation of the same institution, not
itself self-reported and not overturned, is found within ``followup_days`` after submission (the
contract has no period on a violation, so "the same period" is the year following the report).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._features_catalogue import FeatureSpec
from ._features_windows import NO_DAY, Queries, day_numbers, event_index, safe_ratio, window_text

WINDOW = 36
FOLLOWUP_DAYS = 365
FAMILY = "self_inspection"
_MISSING = "0 when none; missing when the self_inspections table is absent"


def _first_contradicting_finding(reports: pd.DataFrame, violations: pd.DataFrame, followup_days: int) -> np.ndarray:
    """Day of the first later violation contradicting each 'no problem' report (NO_DAY when none)."""
    found = np.full(len(reports), NO_DAY, dtype=np.int64)
    findings = violations[
        (violations["status"].astype(str) != "overturned") & (violations["source"].astype(str) != "self_inspection")
    ]
    if findings.empty or reports.empty:
        return found
    left = pd.DataFrame(
        {
            "row": np.arange(len(reports)),
            "institution_code": reports["institution_code"].astype(str).to_numpy(),
            "submitted": day_numbers(reports["submitted_date"]),
        }
    )
    right = pd.DataFrame(
        {
            "institution_code": findings["institution_code"].astype(str).to_numpy(),
            "found": day_numbers(findings["found_date"]),
        }
    )
    pairs = left.merge(right, on="institution_code")
    later = pairs[(pairs["found"] > pairs["submitted"]) & (pairs["found"] <= pairs["submitted"] + followup_days)]
    first = later.groupby("row")["found"].min()
    found[first.index.to_numpy()] = first.to_numpy()
    return found


def _earliest(*days: np.ndarray) -> np.ndarray:
    """Element-wise earliest day, ignoring NO_DAY (NO_DAY when all are missing)."""
    never = np.iinfo(np.int64).max
    earliest = np.minimum.reduce([np.where(d == NO_DAY, never, d) for d in days])
    return np.where(earliest == never, NO_DAY, earliest)


def self_inspection_features(
    reports: pd.DataFrame,
    violations: pd.DataFrame | None,
    institutions: pd.Index,
    queries: Queries,
    followup_days: int = FOLLOWUP_DAYS,
) -> dict[str, np.ndarray]:
    """The self-inspection family for each query row (the findings features need ``violations``)."""
    inst = institutions.get_indexer(reports["institution_code"].astype(str))
    submitted = day_numbers(reports["submitted_date"])
    reported = reports["problems_reported"].astype("Float64").fillna(0).to_numpy(np.float64)
    refunded = reports["amount_refunded"].astype("float64").fillna(0.0).to_numpy()
    no_problem = (reported == 0).astype(np.float64)
    report_index = event_index(
        inst, submitted, pd.DataFrame({"n": 1.0, "problems": reported, "refunded": refunded, "no_problem": no_problem})
    )

    # A verification counts from its date (never before the report it verifies); an empty "verified"
    # with a verification date is taken as verified, an explicit False is not.
    verified_date = day_numbers(reports["verified_date"])
    verified = reports["verified"].astype("boolean").fillna(True).to_numpy(dtype=bool) & (verified_date != NO_DAY)
    verified_day = np.where(verified, np.maximum(verified_date, submitted), NO_DAY)
    found_n = reports["problems_found"].astype("Float64").fillna(0).to_numpy(np.float64)
    found_amount = reports["amount_found"].astype("float64").fillna(0.0).to_numpy()
    by_verification = (no_problem > 0) & (found_n > 0) & verified
    verification_index = event_index(
        inst,
        verified_day,
        pd.DataFrame(
            {
                "n": 1.0,
                "problems_found": found_n,
                "amount_found": found_amount,
                "gap_problems": found_n - reported,
                "gap_amount": found_amount - refunded,
                "contradicted": by_verification.astype(np.float64),
            }
        ),
    )
    s_rep, s_ver = queries.sums(report_index, WINDOW), queries.sums(verification_index, WINDOW)
    out = {
        "si_reports_36m": s_rep["n"],
        "si_problems_reported_36m": s_rep["problems"],
        "si_refunded_36m": s_rep["refunded"],
        "si_no_problem_reports_36m": s_rep["no_problem"],
        "si_verified_36m": s_ver["n"],
        "si_problems_found_36m": s_ver["problems_found"],
        "si_gap_problems_36m": s_ver["gap_problems"],
        "si_gap_amount_36m": s_ver["gap_amount"],
        "si_contradicted_by_verification_36m": s_ver["contradicted"],
    }
    if violations is None:
        missing = np.full(len(queries), np.nan)
        out |= {"si_contradicted_by_findings_36m": missing, "si_contradicted_36m": missing}
    else:
        finding_day = np.where(no_problem > 0, _first_contradicting_finding(reports, violations, followup_days), NO_DAY)
        either = _earliest(np.where(by_verification & verified, verified_day, NO_DAY), finding_day)
        findings = queries.sums(event_index(inst, finding_day, pd.DataFrame({"n": np.ones(len(reports))})), WINDOW)
        combined = queries.sums(event_index(inst, either, pd.DataFrame({"n": np.ones(len(reports))})), WINDOW)
        out |= {"si_contradicted_by_findings_36m": findings["n"], "si_contradicted_36m": combined["n"]}
    out["si_contradicted_share_36m"] = safe_ratio(out["si_contradicted_36m"], s_rep["no_problem"])
    out["si_days_since_last_report"] = queries.days_since_last(report_index)
    return out


def self_inspection_catalogue() -> list[FeatureSpec]:
    reports = window_text(WINDOW, "submitted_date")
    checks = window_text(WINDOW, "verified_date")
    src, src_v = "self_inspections (submitted_date)", "self_inspections (verified_date)"
    rows = [
        ("si_reports_36m", "近36个月自查报告数", "self-inspection reports submitted", src, reports, _MISSING),
        (
            "si_problems_reported_36m",
            "近36个月自查问题数",
            "problems the institution reported itself",
            src,
            reports,
            _MISSING,
        ),
        ("si_refunded_36m", "近36个月主动退回金额", "money refunded of its own accord (yuan)", src, reports, _MISSING),
        ("si_no_problem_reports_36m", "近36个月“无问题”报告数", "reports stating no problem", src, reports, _MISSING),
        ("si_verified_36m", "近36个月复核次数", "reports verified by the bureau", src_v, checks, _MISSING),
        ("si_problems_found_36m", "近36个月复核发现问题数", "problems the verification found", src_v, checks, _MISSING),
        (
            "si_gap_problems_36m",
            "近36个月复核与自报问题差",
            "problems found by verification minus problems reported, over verified reports (positive: under-reporting)",
            src_v,
            checks,
            _MISSING,
        ),
        (
            "si_gap_amount_36m",
            "近36个月复核金额与退回金额差",
            "amount found by verification minus amount refunded, over verified reports (yuan)",
            src_v,
            checks,
            _MISSING,
        ),
        (
            "si_contradicted_by_verification_36m",
            "近36个月“无问题”报告被复核推翻数",
            "'no problem' reports whose verification found problems",
            src_v,
            checks,
            _MISSING,
        ),
        (
            "si_contradicted_by_findings_36m",
            "近36个月“无问题”报告被后续查处推翻数",
            "'no problem' reports followed "
            f"within {FOLLOWUP_DAYS} days by a violation found otherwise (dated by that finding)",
            "self_inspections + violations (found_date)",
            window_text(WINDOW, "the finding's found_date"),
            "0 when none; missing when the self_inspections or violations table is absent",
        ),
        (
            "si_contradicted_36m",
            "近36个月“无问题”报告被推翻数",
            "'no problem' reports contradicted by verification "
            "or later findings (each counted once, at the first contradiction)",
            "self_inspections + violations",
            window_text(WINDOW, "the first contradiction"),
            "0 when none; missing when the self_inspections or violations table is absent",
        ),
        (
            "si_contradicted_share_36m",
            "近36个月“无问题”报告被推翻比例",
            "contradicted 'no problem' reports / 'no problem' reports in the window",
            "self_inspections + violations",
            window_text(WINDOW, "their dates"),
            "missing when no 'no problem' report in the window or a table is absent",
        ),
        (
            "si_days_since_last_report",
            "距上次自查报告天数",
            "days from the last report submitted to as_of",
            src,
            window_text(None, "submitted_date"),
            "missing when no report before as_of or the table is absent",
        ),
    ]
    return [
        FeatureSpec(name, zh, meaning, FAMILY, source, window, missing, en=_SHORT_EN.get(name, ""))
        for name, zh, meaning, source, window, missing in rows
    ]


# Short English labels where the meaning is a definition rather than a name.
_SHORT_EN = {
    "si_gap_problems_36m": "problems found by verification beyond those self-reported",
    "si_gap_amount_36m": "amount found by verification beyond the amount refunded (yuan)",
    "si_contradicted_by_findings_36m": "'no problem' reports contradicted by a later finding",
    "si_contradicted_36m": "'no problem' reports contradicted",
    "si_contradicted_share_36m": "share of 'no problem' reports contradicted",
    "si_days_since_last_report": "days since the last self-inspection report",
}
