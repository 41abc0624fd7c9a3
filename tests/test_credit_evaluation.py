"""Credit evaluation rules, each with a hand-computed case and its edges (national-100 unless named).

Hand computations are in the comments: points × amount band × case source × lenient, caps, windows.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
import yaml

from scoring.credit import ApprovedRepair, CreditAdjustments, evaluate_credit
from scoring.policy import POLICY_DIR, CreditPolicy

AS_OF = date(2025, 6, 30)
H1, H2, H3, H4, P5 = "H44150200001", "H44150200002", "H44150200003", "H44150200004", "P44150200005"


def institutions(*codes: str, **columns) -> pd.DataFrame:
    codes = codes or (H1,)
    frame = pd.DataFrame(
        {
            "institution_code": list(codes),
            "name": [f"机构{i}" for i in range(len(codes))],
            "kind": ["pharmacy" if c.startswith("P") else "hospital" for c in codes],
            "level": [0 if c.startswith("P") else 2 for c in codes],
            "ownership": "public",
            "region_code": "441502",
            "designated_since": "2015-01-01",
            "status": "active",
        }
    )
    for name, values in columns.items():
        frame[name] = values
    return frame


def violation(
    vid: str,
    code: str = H1,
    *,
    decided: str | None = "2025-03-01",
    found: str | None = None,
    disposition: str = "recovery",
    amount: float = 1000.0,
    source: str = "routine_inspection",
    fraud: bool | None = False,
    lenient: bool | None = False,
    status: str = "confirmed",
) -> dict:
    return {
        "violation_id": vid,
        "institution_code": code,
        "found_date": found or decided,
        "decision_date": decided,
        "source": source,
        "category": "other",
        "amount": amount,
        "disposition": disposition,
        "fraud": fraud,
        "lenient": lenient,
        "status": status,
    }


def evaluate(
    violations=(),
    *,
    insts: pd.DataFrame | None = None,
    as_of=AS_OF,
    policy="national-100",
    adjustments: CreditAdjustments | None = None,
    **tables,
):
    data = {"institutions": insts if insts is not None else institutions()}
    if len(violations):
        data["violations"] = pd.DataFrame(list(violations))
    for name, rows in tables.items():
        data[name] = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    return evaluate_credit(as_of, policy, tables=data, adjustments=adjustments)


def result(evaluation, code: str = H1) -> pd.Series:
    return evaluation.institutions.set_index("institution_code").loc[code]


def lines(evaluation, code: str = H1) -> pd.DataFrame:
    return evaluation.lines_of(code)


def score(evaluation, code: str = H1) -> float:
    return float(result(evaluation, code)["score"])


# --- the disposition ladder -------------------------------------------------------------------

LADDER = [
    ("interview", 1),
    ("rectification", 2),
    ("recovery", 3),
    ("refusal", 3),
    ("payment_suspension", 5),
    ("liquidated_damages", 5),
    ("staff_suspension", 8),
    ("agreement_suspension", 10),
    ("penalty_art39", 10),
    ("penalty_art38", 15),
    ("penalty_art40", 20),
    ("agreement_termination", 25),
    ("police_referral", 30),
]


@pytest.mark.parametrize(("disposition", "points"), LADDER)
def test_each_disposition_deducts_its_ladder_points(disposition, points):
    evaluation = evaluate([violation("V1", disposition=disposition)])
    assert score(evaluation) == 100 - points
    deduction = lines(evaluation).query("kind == 'deduction'").iloc[0]
    assert deduction["rule_id"] == f"v_{disposition}"
    assert deduction["points"] == -points and deduction["record_ids"] == "V1"
    assert deduction["line_id"] == f"v_{disposition}:V1"


@pytest.mark.parametrize("disposition", ["agreement_termination", "police_referral"])
def test_termination_and_police_referral_are_vetoes(disposition):
    row = result(evaluate([violation("V1", disposition=disposition)]))
    assert row["grade"] == "D" and row["veto"]
    assert row["veto_rules"] == f"veto_{disposition}"


# --- amount bands, case source, lenient handling -----------------------------------------------


@pytest.mark.parametrize(
    ("amount", "points"),
    [(0.0, 3.0), (9999.99, 3.0), (10000.0, 3.6), (99999.99, 3.6), (100000.0, 4.5), (500000.0, 6.0)],
)
def test_amount_band_lower_bounds_are_inclusive(amount, points):
    # recovery 3 points × band multiplier 1.0 / 1.2 / 1.5 / 2.0
    assert score(evaluate([violation("V1", amount=amount)])) == pytest.approx(100 - points)


@pytest.mark.parametrize(
    ("source", "points"),
    [("flying_inspection", 3.6), ("self_inspection", 1.5), ("smart_audit", 3.0), ("complaint", 3.0)],
)
def test_case_source_multiplies_the_deduction(source, points):
    assert score(evaluate([violation("V1", source=source)])) == pytest.approx(100 - points)


def test_lenient_handling_halves_the_deduction_and_empty_means_not_lenient():
    assert score(evaluate([violation("V1", lenient=True)])) == 98.5  # 3 × 0.5
    assert score(evaluate([violation("V1", lenient=None)])) == 97.0


def test_all_factors_multiply_and_the_line_says_how():
    # recovery 3 × amount band 1.2 (¥20,000) × flying inspection 1.2 × lenient 0.5 = 2.16
    evaluation = evaluate([violation("V1", amount=20000, source="flying_inspection", lenient=True)])
    line = lines(evaluation).iloc[0]
    assert line["points"] == -2.16 and score(evaluation) == 97.84
    assert (line["amount_multiplier"], line["source_multiplier"], line["lenient_multiplier"]) == (1.2, 1.2, 0.5)
    assert (
        line["text_zh"]
        == "追回：违规记录 V1（2025-03-01）扣 2.16 分［3.00 分 × 金额档 1.2 × 来源（飞行检查）1.2 × 从轻 0.5］"
    )
    assert line["text_en"] == (
        "recovery: violation V1 (2025-03-01) −2.16 points "
        "[3.00 points × amount band 1.2 × source flying_inspection 1.2 × lenient 0.5]"
    )


# --- caps ---------------------------------------------------------------------------------------


def test_indicator_cap_is_filled_by_the_earliest_events_first():
    # six interviews of ¥10,000 (1 × 1.2 = 1.2 each) against a cap of 5: 1.2 × 4 = 4.8, then 0.2, then 0
    rows = [violation(f"V{i}", decided=f"2025-0{i}-01", disposition="interview", amount=10000) for i in range(1, 7)]
    evaluation = evaluate(rows)
    found = lines(evaluation).set_index("record_key")
    assert list(found["points"]) == [-1.2, -1.2, -1.2, -1.2, -0.2, 0.0]
    assert list(found["capped"]) == [False, False, False, False, True, True]
    assert score(evaluation) == 95.0
    assert "（已达封顶，原 1.20 分）" in found.loc["V5", "text_zh"]


def test_cap_applies_per_institution():
    rows = [
        violation(f"V{i}", code=H1 if i % 2 else H2, decided=f"2025-0{i}-01", disposition="interview")
        for i in range(1, 7)
    ]
    evaluation = evaluate(rows, insts=institutions(H1, H2))
    assert score(evaluation, H1) == 97.0 and score(evaluation, H2) == 97.0


# --- point in time and validity windows ----------------------------------------------------------


def test_event_on_the_last_day_of_its_window_still_counts():
    # decided 2024-06-30, 12-month window: counts while as_of - 12 months < 2024-06-30, last day 2025-06-29
    rows = [violation("V1", decided="2024-06-30")]
    assert score(evaluate(rows, as_of=date(2025, 6, 29))) == 97.0
    assert score(evaluate(rows, as_of=date(2025, 6, 30))) == 100.0


def test_window_at_month_end_follows_calendar_months():
    rows = [violation("V1", decided="2024-02-29")]
    assert score(evaluate(rows, as_of=date(2025, 2, 28))) == 97.0
    assert score(evaluate(rows, as_of=date(2025, 3, 1))) == 100.0


def test_heavier_rules_keep_events_longer():
    # Art. 38 penalty: 24-month window
    rows = [violation("V1", decided="2023-07-01", disposition="penalty_art38")]
    assert score(evaluate(rows, as_of=date(2025, 6, 30))) == 85.0
    assert score(evaluate(rows, as_of=date(2025, 7, 1))) == 100.0


def test_records_after_the_evaluation_date_never_count():
    evaluation = evaluate([violation("V1", decided="2025-07-01")])
    assert score(evaluation) == 100.0 and lines(evaluation).empty


def test_deduction_applies_from_the_decision_date_not_the_found_date():
    rows = [violation("V1", found="2025-06-01", decided="2025-07-15")]
    assert score(evaluate(rows)) == 100.0
    assert score(evaluate(rows, as_of=date(2025, 7, 15))) == 97.0


def test_without_a_decision_date_the_found_date_is_the_event_date():
    evaluation = evaluate([violation("V1", found="2025-05-01", decided=None)])
    assert lines(evaluation).iloc[0]["event_date"] == pd.Timestamp("2025-05-01")
    assert score(evaluation) == 97.0


def test_overturned_violation_never_counts():
    evaluation = evaluate([violation("V1", disposition="penalty_art40", fraud=True, status="overturned")])
    row = result(evaluation)
    assert row["score"] == 100.0 and row["grade"] == "A" and not row["veto"]
    assert lines(evaluation).empty


def test_violation_under_appeal_counts_and_is_flagged():
    line = lines(evaluate([violation("V1", status="under_appeal")])).iloc[0]
    assert line["points"] == -3.0 and line["under_appeal"]
    assert line["text_zh"].endswith("（复议诉讼中）") and line["text_en"].endswith(" (under appeal)")


def test_institution_designated_after_the_date_is_not_evaluated():
    insts = institutions(H1, H2, designated_since=["2015-01-01", "2025-07-01"])
    assert list(evaluate(insts=insts).institutions["institution_code"]) == [H1]


# --- grades -------------------------------------------------------------------------------------


def test_exactly_90_points_is_grade_a():
    # agreement suspension: 10 points → 90.00, the lower bound of A (inclusive)
    row = result(evaluate([violation("V1", disposition="agreement_suspension")]))
    assert row["score"] == 90.0 and row["grade"] == "A"


def test_just_below_90_is_grade_b():
    # agreement suspension 10 + lenient interview 0.5 → 89.50
    rows = [violation("V1", disposition="agreement_suspension"), violation("V2", disposition="interview", lenient=True)]
    row = result(evaluate(rows))
    assert row["score"] == 89.5 and row["grade"] == "B"


@pytest.mark.parametrize(("points", "grade"), [(20, "B"), (35, "C"), (36, "D")])
def test_band_edges_of_b_c_and_d(points, grade):
    # 20 → 80 (B, inclusive); 35 → 65 (C, inclusive); 36 → 64 (D)
    rows = []
    if points >= 20:
        rows.append(violation("V1", disposition="penalty_art40"))  # 20
    if points >= 35:
        rows.append(violation("V2", disposition="penalty_art38"))  # 15
    if points == 36:
        rows.append(violation("V3", disposition="interview"))  # 1
    assert result(evaluate(rows))["grade"] == grade


def test_score_never_goes_below_the_minimum():
    rows = [violation(f"V{i}", disposition="penalty_art38") for i in range(8)]  # 120 points
    assert score(evaluate(rows)) == 0.0


# --- vetoes -------------------------------------------------------------------------------------


def test_veto_puts_a_high_scoring_institution_in_the_lowest_grade():
    insts = institutions(H1, status="terminated", status_since="2025-05-01")
    evaluation = evaluate(insts=insts)
    row = result(evaluation)
    assert row["score"] == 100.0 and row["score_grade"] == "A"
    assert row["grade"] == "D" and row["veto"] and row["veto_rules"] == "veto_institution_terminated"
    line = lines(evaluation).iloc[0]
    assert line["kind"] == "veto" and line["points"] == 0.0 and line["veto_grade"] == "D"
    assert "一票否决，等级不高于 D" in line["text_zh"]


def test_confirmed_fraud_vetoes_and_deducts_for_36_months():
    evaluation = evaluate([violation("V1", disposition="recovery", fraud=True, amount=200000)])
    row = result(evaluation)
    # fraud: 30 × 1.5 (¥200,000) = 45 → 55; the recovery ladder rule skips fraud records
    assert row["score"] == 55.0 and row["grade"] == "D" and row["veto_rules"] == "veto_fraud"
    assert set(lines(evaluation)["rule_id"]) == {"v_fraud", "veto_fraud"}
    later = evaluate([violation("V1", disposition="recovery", fraud=True)], as_of=date(2027, 2, 28))
    assert score(later, H1) == 70.0 and not result(later)["veto"]  # veto window 12 months, deduction 36


def test_fraud_under_appeal_deducts_but_does_not_veto():
    row = result(evaluate([violation("V1", fraud=True, status="under_appeal")]))
    assert row["score"] == 70.0 and not row["veto"] and row["grade"] == "C"


def test_guangdong_vetoes_and_serious_dishonesty_list_give_e():
    rows = [violation("V1", code=H1, fraud=True, amount=150000), violation("V2", code=H2, disposition="interview")]
    evaluation = evaluate(rows, insts=institutions(H1, H2), policy="guangdong-1000")
    assert result(evaluation, H1)["grade"] == "E"
    assert result(evaluation, H1)["veto_rules"] == "sdl_fraud_large;veto_fraud"
    assert result(evaluation, H2)["score"] == 840.0 and result(evaluation, H2)["grade"] == "B"


# --- other indicators ---------------------------------------------------------------------------


def test_substantiated_complaints_deduct_with_a_cap():
    rows = [
        {
            "complaint_id": f"C{i}",
            "institution_code": H1,
            "received_date": f"2025-0{i}-01",
            "substantiated": i != 5,
            "closed_date": f"2025-0{i}-20",
        }
        for i in range(1, 6)
    ]
    rows.append({"complaint_id": "C9", "institution_code": H1, "received_date": "2025-05-01", "substantiated": None})
    evaluation = evaluate(complaints=rows)
    # four substantiated × 2 = 8, capped at 6; unsubstantiated and open complaints do not count
    assert score(evaluation) == 94.0
    assert set(lines(evaluation)["record_key"]) == {"C1", "C2", "C3", "C4"}


def test_referrals_deduct_by_department():
    rows = [
        {"referral_id": "R1", "institution_code": H1, "date": "2025-04-01", "department": "market"},
        {"referral_id": "R2", "institution_code": H1, "date": "2025-04-02", "department": "police"},
    ]
    assert score(evaluate(referrals=rows)) == 92.0  # 3 + 5


def self_inspection(
    rid: str,
    *,
    reported: int,
    refunded: float,
    verified=None,
    found=None,
    submitted: str = "2025-03-01",
    verified_date=None,
) -> dict:
    return {
        "report_id": rid,
        "institution_code": H1,
        "period_start": "2025-01-01",
        "period_end": "2025-02-01",
        "submitted_date": submitted,
        "problems_reported": reported,
        "amount_refunded": refunded,
        "verified": verified,
        "verified_date": verified_date,
        "problems_found": found,
    }


def test_proactive_refund_earns_a_bonus_up_to_the_score_scale():
    rows = [violation("V1", disposition="recovery")]  # -3
    reports = [self_inspection("S1", reported=2, refunded=60000)]  # +1 × 2.0 (¥50,000 and more)
    evaluation = evaluate(rows, self_inspections=reports)
    assert score(evaluation) == 99.0
    bonus = lines(evaluation).query("kind == 'bonus'").iloc[0]
    assert bonus["points"] == 2.0 and bonus["text_zh"].startswith(
        "自查自纠主动退回：自查自纠报告 S1（2025-03-01）加 2.00 分"
    )
    assert score(evaluate(self_inspections=reports)) == 100.0  # never above the scale


def test_bonuses_stop_at_the_indicator_cap():
    reports = [self_inspection(f"S{i}", reported=1, refunded=80000, submitted=f"2025-0{i}-01") for i in range(1, 4)]
    evaluation = evaluate([violation("V1", disposition="payment_suspension")], self_inspections=reports)
    # 2 + 2 + 2 = 6, capped at 4: 100 - 5 + 4 = 99
    assert score(evaluation) == 99.0
    assert list(lines(evaluation).query("kind == 'bonus'")["points"]) == [2.0, 2.0, 0.0]


def test_overall_bonus_cap_across_bonus_indicators():
    data = yaml.safe_load((POLICY_DIR / "national-100.yaml").read_text(encoding="utf-8"))
    data["bonus_cap"] = 3
    policy = CreditPolicy.from_mapping(data)
    reports = [self_inspection(f"S{i}", reported=1, refunded=80000, submitted=f"2025-0{i}-01") for i in range(1, 4)]
    evaluation = evaluate(
        [violation("V1", disposition="agreement_suspension")], self_inspections=reports, policy=policy
    )
    assert score(evaluation) == 93.0  # 100 - 10 + min(4, 3)


def test_no_problem_report_contradicted_on_verification_deducts():
    reports = [
        self_inspection("S1", reported=0, refunded=0, verified=True, found=3, verified_date="2025-04-10"),
        self_inspection("S2", reported=0, refunded=0, verified=True, found=0, verified_date="2025-04-10"),
    ]
    evaluation = evaluate(self_inspections=reports)
    assert score(evaluation) == 97.0
    line = lines(evaluation).iloc[0]
    assert line["record_key"] == "S1" and line["event_date"] == pd.Timestamp("2025-04-10")


def test_staff_suspension_and_termination_deduct_from_their_institution():
    events = pd.DataFrame(
        {
            "event_id": ["E1", "E2", "E3", "E4"],
            "staff_code": ["S1", "S1", "S2", "S3"],
            "institution_code": [H1, H1, H1, H1],
            "date": ["2025-01-10", "2025-02-10", "2025-03-01", "2025-03-01"],
            "points": [5, 4, 12, 8],
        }
    )
    evaluation = evaluate(staff_points=events)
    found = lines(evaluation).set_index("record_key")
    assert found.loc["S1/2025", "points"] == -2.0 and found.loc["S1/2025", "record_ids"] == "E1;E2"
    assert found.loc["S2/2025", "points"] == -4.0
    assert "S3/2025" not in found.index  # 8 points: no outcome
    assert score(evaluation) == 94.0


# --- peer groups and credit subjects ------------------------------------------------------------


def peer_policy() -> CreditPolicy:
    data = yaml.safe_load((POLICY_DIR / "national-100.yaml").read_text(encoding="utf-8"))
    data["peer_groups"] = {"by": ["kind"], "min_group_size": 4}
    data["grades"] = [
        {"grade": "A+", "min": 95, "top_share": 0.5},
        {"grade": "A", "min": 90},
        {"grade": "B", "min": 80},
        {"grade": "C", "min": 65},
        {"grade": "D"},
    ]
    return CreditPolicy.from_mapping(data)


def test_a_plus_goes_to_the_best_share_of_each_peer_group():
    insts = institutions(H1, H2, H3, H4, P5)
    rows = [
        violation("V2", code=H2, disposition="interview"),  # 99
        violation("V3", code=H3, disposition="payment_suspension"),  # 95
        violation("V4", code=H4, disposition="penalty_art38"),
    ]  # 85
    evaluation = evaluate(rows, insts=insts, policy=peer_policy())
    grades = evaluation.institutions.set_index("institution_code")["grade"].to_dict()
    # hospitals: 100 (rank 1/4), 99 (2/4) are in the best half → A+; 95 is not → A; 85 → B
    assert grades == {H1: "A+", H2: "A+", H3: "A", H4: "B", P5: "A+"}  # P5: group of 1 < 4, absolute bands
    assert result(evaluation, H1)["peer_group"] == "hospital"


def test_sites_sharing_a_credit_code_are_one_subject():
    data = yaml.safe_load((POLICY_DIR / "national-100.yaml").read_text(encoding="utf-8"))
    data["subject"] = "credit_code"
    policy = CreditPolicy.from_mapping(data)
    insts = institutions(H1, H2, H3, credit_code=["91441500MA4W12345Y", "91441500MA4W12345Y", None])
    rows = [
        violation(f"V{i}", code=H1 if i < 4 else H2, decided=f"2025-0{i}-01", disposition="interview")
        for i in range(1, 7)
    ]
    evaluation = evaluate(rows, insts=insts, policy=policy)
    # six interviews over two sites of one subject: capped at 5 together
    assert score(evaluation, H1) == 95.0 and score(evaluation, H2) == 95.0 and score(evaluation, H3) == 100.0
    assert result(evaluation, H2)["subject"] == "91441500MA4W12345Y"
    assert len(evaluation.lines_of(H1)) == 6


# --- objections and repairs (decisions passed in) -----------------------------------------------


def test_upheld_objection_removes_the_line_and_pending_one_flags_it():
    rows = [violation("V1"), violation("V2", disposition="interview")]
    adjustments = CreditAdjustments(upheld=frozenset({"v_recovery:V1"}), pending=frozenset({"v_interview:V2"}))
    evaluation = evaluate(rows, adjustments=adjustments)
    assert score(evaluation) == 99.0
    (line,) = lines(evaluation).itertuples()
    assert line.line_id == "v_interview:V2" and line.objection_pending and line.text_en.endswith("(objection pending)")


def test_approved_repair_lifts_the_deduction_after_the_waiting_period():
    rows = [violation("V1", decided="2025-01-10")]  # recovery: 6-month wait → effective 2025-07-10
    repair = CreditAdjustments(repairs=(ApprovedRepair(7, "v_recovery:V1", date(2025, 2, 1)),))
    before = lines(evaluate(rows, adjustments=repair, as_of=date(2025, 7, 9))).iloc[0]
    assert before["points"] == -3.0 and before["repair_state"] == "waiting"
    assert "信用修复 #7 已批准，2025-07-10 起生效" in before["text_zh"]
    after = evaluate(rows, adjustments=repair, as_of=date(2025, 7, 10))
    line = lines(after).iloc[0]
    assert line["points"] == 0.0 and line["points_rule"] == -3.0 and line["repair_state"] == "lifted"
    assert score(after) == 100.0


def test_repair_restores_only_the_configured_share():
    rows = [violation("V1", decided="2024-01-10", disposition="penalty_art38")]  # 15, 24-month window, restore 0.5
    repair = CreditAdjustments(repairs=(ApprovedRepair(1, "v_penalty_art38:V1", date(2025, 2, 1)),))
    assert score(evaluate(rows, adjustments=repair, as_of=date(2025, 3, 1))) == 92.5


def test_new_event_in_the_waiting_period_interrupts_the_repair():
    rows = [violation("V1", decided="2025-01-10"), violation("V2", decided="2025-03-01", disposition="interview")]
    repair = CreditAdjustments(repairs=(ApprovedRepair(1, "v_recovery:V1", date(2025, 2, 1)),))
    evaluation = evaluate(rows, adjustments=repair, as_of=date(2025, 8, 1))
    line = lines(evaluation).set_index("record_key").loc["V1"]
    assert line["repair_state"] == "interrupted" and line["points"] == -3.0
    assert score(evaluation) == 96.0


def test_vetoes_and_unlisted_rules_are_never_lifted():
    rows = [violation("V1", decided="2025-01-10", fraud=True)]
    repair = CreditAdjustments(
        repairs=(
            ApprovedRepair(1, "veto_fraud:V1", date(2025, 2, 1)),
            ApprovedRepair(2, "v_fraud:V1", date(2025, 2, 1)),
        )
    )
    evaluation = evaluate(rows, adjustments=repair, as_of=date(2025, 12, 1))
    assert set(lines(evaluation)["repair_state"]) == {"not_repairable"}
    assert result(evaluation)["grade"] == "D" and score(evaluation) == 70.0


# --- determinism and input checks ---------------------------------------------------------------


def test_same_data_policy_and_date_give_identical_output_whatever_the_row_order():
    rows = [
        violation(
            f"V{i}",
            code=[H1, H2, H3][i % 3],
            decided=f"2025-0{1 + i % 5}-0{1 + i % 7}",
            disposition=LADDER[i % 9][0],
            amount=1000.0 * i,
            source="flying_inspection" if i % 4 else "smart_audit",
            lenient=bool(i % 2),
        )
        for i in range(30)
    ]
    insts = institutions(H1, H2, H3)
    first = evaluate(rows, insts=insts)
    shuffled = evaluate(
        pd.DataFrame(rows).sample(frac=1, random_state=3).to_dict("records"),
        insts=insts.iloc[::-1].reset_index(drop=True),
    )
    pd.testing.assert_frame_equal(first.institutions, shuffled.institutions)
    pd.testing.assert_frame_equal(first.lines, shuffled.lines)
    assert first.lines["line_id"].is_unique


def test_result_carries_policy_name_hash_and_distribution():
    evaluation = evaluate([violation("V1", disposition="penalty_art38")], insts=institutions(H1, H2))
    assert evaluation.policy_name == "national-100" and len(evaluation.policy_hash) == 64
    assert evaluation.distribution().to_dict() == {"A": 1, "B": 1, "C": 0, "D": 0}


def test_tables_without_records_are_reported():
    evaluation = evaluate([violation("V1")])
    assert "complaints" in evaluation.tables_without_data and "violations" not in evaluation.tables_without_data


def test_missing_required_column_is_named():
    bad = pd.DataFrame([violation("V1")]).drop(columns=["disposition"])
    with pytest.raises(ValueError, match=r"table 'violations' lacks required column\(s\) \['disposition'\]"):
        evaluate_credit(AS_OF, "national-100", tables={"institutions": institutions(), "violations": bad})


def test_bad_date_and_missing_data_are_refused():
    with pytest.raises(ValueError, match="as_of must be a date"):
        evaluate_credit("not a date", "national-100", tables={"institutions": institutions()})
    with pytest.raises(ValueError, match="pass engine"):
        evaluate_credit(AS_OF, "national-100")


def test_explain_lists_every_line_in_both_languages():
    evaluation = evaluate([violation("V1", disposition="interview")])
    zh = evaluation.explain(H1)
    assert "得分 99.00 / 100，等级 A" in zh and "v_interview:V1 · -1.00 · 约谈" in zh
    assert "Score 99.00 / 100, grade A" in evaluation.explain(H1, "en")
    with pytest.raises(LookupError, match="H44150299999"):
        evaluation.explain("H44150299999")


def test_institution_without_records_gets_the_base_score_with_float_totals():
    evaluation = evaluate(insts=institutions(H1, P5), policy="guangdong-1000")
    row = result(evaluation, P5)
    assert (row["score"], row["grade"], row["deductions"], row["bonuses"], row["line_count"]) == (
        850.0,
        "B",
        0.0,
        0.0,
        0,
    )
    assert evaluation.institutions["deductions"].dtype == "float64"
    assert evaluation.lines.empty and list(evaluation.lines.columns)[:3] == ["institution_code", "subject", "line_id"]
