"""Feature families on small hand-built tables with known answers; missing tables never crash."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.build import build_features

AS_OF = "2024-07-01"
H1, H2, H3 = "H44150200001", "H44150200002", "H44150200003"


def institutions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "institution_code": [H1, H2, H3],
            "name": ["一院", "二院", "三院"],
            "kind": ["hospital", "hospital", "clinic"],
            "level": pd.array([3, 3, 0], dtype="Int64"),
            "ownership": ["public", "private", "private"],
            "region_code": ["441502"] * 3,
            "beds": pd.array([800, 300, 0], dtype="Int64"),
            "staff_count": pd.array([1200, 400, None], dtype="Int64"),
            "designated_since": pd.to_datetime(["2014-07-01", "2020-01-01", "2023-07-01"]),
            "status": ["active", "active", "active"],
        }
    )


def violations(rows: list[tuple]) -> pd.DataFrame:
    columns = [
        "violation_id",
        "institution_code",
        "found_date",
        "source",
        "category",
        "amount",
        "disposition",
        "fraud",
        "lenient",
        "status",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame["found_date"] = pd.to_datetime(frame["found_date"])
    frame["fraud"] = frame["fraud"].astype("boolean")
    frame["lenient"] = frame["lenient"].astype("boolean")
    return frame


VIOLATIONS = violations(
    [
        ("V1", H1, "2024-06-30", "smart_audit", "split_admission", 1000.0, "recovery", False, True, "confirmed"),
        (
            "V2",
            H1,
            "2023-07-01",
            "random_inspection",
            "split_admission",
            2000.0,
            "interview",
            False,
            False,
            "confirmed",
        ),  # exactly 12 months before as_of: inside the window
        ("V3", H1, "2023-06-30", "complaint", "fake_visit", 5000.0, "penalty_art40", True, False, "confirmed"),
        (
            "V4",
            H1,
            "2021-07-01",
            "flying_inspection",
            "split_admission",
            100.0,
            "agreement_suspension",
            False,
            False,
            "confirmed",
        ),  # exactly 36 months: inside
        (
            "V5",
            H1,
            "2024-07-01",
            "smart_audit",
            "overcharging",
            9.0,
            "police_referral",
            True,
            False,
            "confirmed",
        ),  # on as_of: not yet known
        (
            "V6",
            H1,
            "2024-05-01",
            "smart_audit",
            "overcharging",
            7.0,
            "police_referral",
            True,
            False,
            "overturned",
        ),  # annulled
        ("V7", H2, "2024-01-10", "audit", "management", 300.0, "rectification", pd.NA, pd.NA, "under_appeal"),
    ]
)


def build(**tables) -> pd.DataFrame:
    given = {"institutions": institutions(), "violations": VIOLATIONS} | tables
    return build_features(AS_OF, tables=given).frame


def test_violation_counts_windows_and_amounts():
    row = build().loc[H1]
    assert (row["viol_n_12m"], row["viol_amount_12m"]) == (2, 3000.0)
    assert (row["viol_n_24m"], row["viol_amount_24m"]) == (3, 8000.0)
    assert (row["viol_n_36m"], row["viol_n_ever"]) == (4, 4)
    assert row["viol_n_cat_split_admission_36m"] == 3 and row["viol_amount_cat_split_admission_36m"] == 3100.0
    assert row["viol_n_src_smart_audit_12m"] == 1 and row["viol_n_disp_recovery_12m"] == 1
    assert row["viol_n_disp_police_referral_36m"] == 0  # found on as_of, and an overturned one


def test_heaviest_disposition_repeats_fraud_and_leniency():
    row = build().loc[H1]
    assert row["viol_max_severity_12m"] == 3  # recovery
    assert row["viol_max_severity_36m"] == 11  # penalty_art40
    assert row["viol_repeat_max_36m"] == 3 and row["viol_repeat_categories_36m"] == 1
    assert row["viol_fraud_n_36m"] == 1 and row["viol_fraud_amount_36m"] == 5000.0
    assert row["viol_lenient_n_36m"] == 1 and row["viol_lenient_share_36m"] == 0.25
    assert row["viol_days_since_last"] == 1


def test_institution_without_violations_has_zeros_and_missing_ratios():
    row = build().loc[H3]
    assert row["viol_n_36m"] == 0 and row["viol_max_severity_ever"] == 0
    assert np.isnan(row["viol_days_since_last"]) and np.isnan(row["viol_lenient_share_36m"])


def test_violation_amount_relative_to_fund_income():
    claims = pd.DataFrame(
        {
            "claim_id": ["C1", "C2"],
            "institution_code": [H1, H1],
            "patient_id": ["p1", "p2"],
            "visit_type": ["outpatient", "outpatient"],
            "admit_date": pd.to_datetime(["2024-01-10", "2024-06-30"]),
            "settle_date": pd.to_datetime(["2024-01-10", "2024-06-30"]),
            "total_amount": [20000.0, 10000.0],
            "fund_amount": [12000.0, 3000.0],
        }
    )
    frame = build(claims=claims)
    assert frame.loc[H1, "clm_fund_12m"] == 15000.0
    assert frame.loc[H1, "viol_amount_to_fund_12m"] == pytest.approx(3000.0 / 15000.0)
    assert np.isnan(frame.loc[H2, "viol_amount_to_fund_12m"])  # no fund income
    without_claims = build()
    assert without_claims["viol_amount_to_fund_12m"].isna().all()


def self_inspections(rows: list[tuple]) -> pd.DataFrame:
    columns = [
        "report_id",
        "institution_code",
        "period_start",
        "period_end",
        "submitted_date",
        "problems_reported",
        "amount_refunded",
        "verified",
        "verified_date",
        "problems_found",
        "amount_found",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("period_start", "period_end", "submitted_date", "verified_date"):
        frame[column] = pd.to_datetime(frame[column])
    frame["verified"] = frame["verified"].astype("boolean")
    return frame


def test_self_inspection_honesty():
    reports = self_inspections(
        [
            ("R1", H1, "2023-01-01", "2023-06-30", "2023-07-10", 0, 0.0, True, "2023-09-01", 4, 900.0),
            ("R2", H1, "2023-07-01", "2023-12-31", "2024-01-10", 2, 500.0, True, "2024-03-01", 2, 500.0),
            ("R3", H2, "2023-01-01", "2023-06-30", "2023-07-05", 0, 0.0, None, None, None, None),
            ("R4", H2, "2024-01-01", "2024-03-31", "2024-04-10", 0, 0.0, True, "2024-07-15", 3, 200.0),
        ]
    )
    frame = build(self_inspections=reports)
    h1, h2 = frame.loc[H1], frame.loc[H2]
    assert (h1["si_reports_36m"], h1["si_problems_reported_36m"], h1["si_refunded_36m"]) == (2, 2, 500.0)
    assert h1["si_no_problem_reports_36m"] == 1 and h1["si_verified_36m"] == 2
    assert h1["si_gap_problems_36m"] == 4 and h1["si_gap_amount_36m"] == 900.0
    assert h1["si_contradicted_by_verification_36m"] == 1
    # H1's "no problem" report R1 of 2023-07-10 is also followed by violations within a year (V1, V2),
    # but each report counts once.
    assert h1["si_contradicted_by_findings_36m"] == 1 and h1["si_contradicted_36m"] == 1
    assert h1["si_contradicted_share_36m"] == 1.0
    # H2: R3 is contradicted by V7 (found 2024-01-10, within a year); R4's verification is after as_of.
    assert h2["si_contradicted_by_findings_36m"] == 1 and h2["si_contradicted_by_verification_36m"] == 0
    assert h2["si_contradicted_share_36m"] == 0.5
    assert h2["si_days_since_last_report"] == (pd.Timestamp(AS_OF) - pd.Timestamp("2024-04-10")).days


def test_complaints_substantiated_unfounded_and_pending():
    complaints = pd.DataFrame(
        {
            "complaint_id": ["Q1", "Q2", "Q3", "Q4", "Q5"],
            "institution_code": [H1, H1, H1, H1, H1],
            "received_date": pd.to_datetime(["2024-01-05", "2024-02-01", "2024-06-20", "2024-03-01", "2024-05-01"]),
            "substantiated": pd.array([True, False, None, True, True], dtype="boolean"),
            "closed_date": pd.to_datetime(["2024-02-01", "2024-03-01", None, "2024-07-05", None]),
        }
    )
    row = build(complaints=complaints).loc[H1]
    assert row["cmp_received_12m"] == 5
    # Q1 closed; Q4 closes after as_of; Q5 has an outcome without a date: known 90 days after receipt (July 30)
    assert row["cmp_substantiated_12m"] == 1 and row["cmp_unfounded_36m"] == 1
    assert row["cmp_pending"] == 3 and row["cmp_substantiated_share_36m"] == 0.5


def test_referrals_by_department():
    referrals = pd.DataFrame(
        {
            "referral_id": ["F1", "F2", "F3"],
            "institution_code": [H2, H2, H2],
            "date": pd.to_datetime(["2024-06-01", "2022-01-01", "2021-06-30"]),
            "department": ["police", "tax", "tax"],
        }
    )
    row = build(referrals=referrals).loc[H2]
    assert (row["ref_n_12m"], row["ref_n_36m"], row["ref_police_36m"], row["ref_tax_36m"]) == (1, 2, 1, 1)


def test_staff_points_and_suspension_by_points():
    points = pd.DataFrame(
        {
            "event_id": ["E1", "E2", "E3", "E4", "E5"],
            "staff_code": ["S1", "S1", "S2", "S1", "S3"],
            "institution_code": [H1, H1, H1, H1, H1],
            "date": pd.to_datetime(["2024-01-10", "2024-03-01", "2024-02-01", "2024-05-01", "2023-12-30"]),
            "points": pd.array([5, 5, 3, 3, 8], dtype="Int64"),
        }
    )
    row = build(staff_points=points).loc[H1]
    assert row["stf_points_12m"] == 24 and row["stf_events_12m"] == 5 and row["stf_staff_scored_12m"] == 3
    # S1 reaches 10 on 2024-03-01 (suspended) and 13 on 2024-05-01 (terminated); S3's 8 stay in 2023
    assert row["stf_suspended_12m"] == 1 and row["stf_terminated_36m"] == 1


def test_static_features():
    frame = build()
    assert frame.loc[H1, "kind"] == "hospital" and frame.loc[H1, "level"] == 3
    assert frame.loc[H1, "years_designated"] == pytest.approx(10.0, abs=0.01)
    assert pd.isna(frame.loc[H3, "staff_count"]) and frame.loc[H3, "status"] == "active"


def test_only_the_required_tables_builds_and_names_what_is_missing():
    result = build_features(AS_OF, tables={"institutions": institutions(), "violations": VIOLATIONS})
    missing = {m.family: m for m in result.missing_families}
    assert set(missing) == {
        "self_inspection",
        "claims",
        "claim_deaths",
        "claim_items",
        "complaints",
        "referrals",
        "staff_points",
    }
    assert missing["claims"].tables == ("claims",) and "claims" in missing["claims"].reason
    assert "缺少数据表" in missing["complaints"].reason
    assert result.families_built == ["static", "violations"]
    claim_columns = [c for c in result.frame.columns if c.startswith(("clm_", "si_", "cmp_", "ref_", "stf_"))]
    assert result.frame[claim_columns].isna().all().all()
    assert result.frame["viol_n_12m"].notna().all()


def test_claims_without_items_or_deaths_report_only_those_families():
    claims = pd.DataFrame(
        {
            "claim_id": ["C1"],
            "institution_code": [H1],
            "patient_id": ["p1"],
            "visit_type": ["outpatient"],
            "admit_date": pd.to_datetime(["2024-03-10"]),
            "settle_date": pd.to_datetime(["2024-03-10"]),
            "total_amount": [100.0],
            "fund_amount": [60.0],
        }
    )
    result = build_features(AS_OF, tables={"institutions": institutions(), "violations": VIOLATIONS, "claims": claims})
    families = {m.family for m in result.missing_families}
    assert {"claim_items", "claim_deaths"} <= families and "claims" not in families
    frame = result.frame
    assert frame.loc[H1, "clm_claims_12m"] == 1 and frame.loc[H1, "clm_long_supply_n_12m"] == 0
    assert (
        frame[["clm_duplicate_item_n_12m", "clm_deceased_settlement_rate_12m", "clm_idle_stay_rate_trend"]]
        .isna()
        .all()
        .all()
    )
    assert frame.loc[H1, "clm_fund_per_visit_12m"] == 60.0 and np.isnan(frame.loc[H2, "clm_fund_per_visit_12m"])


def test_without_violations_the_family_is_missing_and_nothing_crashes():
    result = build_features(AS_OF, tables={"institutions": institutions()})
    assert "violations" in {m.family for m in result.missing_families}
    assert result.frame["viol_n_12m"].isna().all() and len(result.frame) == 3


def test_institutions_are_required():
    with pytest.raises(ValueError, match="features need the institutions table"):
        build_features(AS_OF, tables={"violations": VIOLATIONS})


def test_a_frame_lacking_a_required_column_is_named():
    with pytest.raises(ValueError, match=r"tables\['violations'\] lacks required column\(s\) \['amount'\]"):
        build_features(AS_OF, tables={"institutions": institutions(), "violations": VIOLATIONS.drop(columns="amount")})
