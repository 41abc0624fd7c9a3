"""Targeted selection (重点检查) and one visit per institution (综合查一次)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from scoring.targeting import TargetingRules, merge_visits, select_targeted


def candidates(rows: list[dict]) -> pd.DataFrame:
    """One row per institution; unspecified columns get harmless defaults."""
    defaults = {
        "grade": "B",
        "credit_score": 85.0,
        "risk_probability": 0.1,
        "expected_amount": 10_000.0,
        "substantiated_complaints": 0,
        "referrals": 0,
        "readmission_15d_rate": 0.01,
    }
    return pd.DataFrame([{**defaults, **row} for row in rows])


RULES = TargetingRules(
    signal_thresholds={"readmission_15d_rate": 0.08},
    signal_labels={"readmission_15d_rate": {"zh": "15日内再入院率", "en": "15-day readmission rate"}},
    signal_items={"readmission_15d_rate": "split_admission"},
    default_items=("general",),
)


def reasons_of(selection, code: str) -> list[str]:
    return selection.reasons.loc[selection.reasons["institution_code"] == code, "code"].tolist()


@pytest.mark.parametrize(
    ("row", "code"),
    [
        ({"substantiated_complaints": 1}, "substantiated_complaint"),
        ({"referrals": 2}, "referral"),
        ({"readmission_15d_rate": 0.12}, "smart_audit:readmission_15d_rate"),
        ({"grade": "D"}, "low_grade"),
        ({"grade": "E"}, "low_grade"),
        ({"risk_probability": 0.9}, "high_risk"),
    ],
)
def test_each_lead_triggers_a_visit_even_with_no_budget(row, code):
    selection = select_targeted(
        candidates([{"institution_code": "H1", **row}, {"institution_code": "H2"}]), budget=0, rules=RULES
    )
    assert selection.selected["institution_code"].tolist() == ["H1"]
    assert selection.selected["trigger"].tolist() == [True]
    assert reasons_of(selection, "H1") == [code]


def test_a_peer_z_score_signal_is_told_as_a_distance_from_the_peers():
    from scoring.selection_store import default_targeting_rules

    rules = default_targeting_rules()
    column = "clm_split_admission_rate_12m_pz"
    assert rules.signal_labels[column]["kind"] == "peer_z"
    frame = candidates([{"institution_code": "H1", column: 5.446}, {"institution_code": "H2", column: 4.9}])
    for other in rules.signal_thresholds:
        frame[other] = frame.get(other, 0.0)
    selection = select_targeted(frame.drop(columns=["readmission_15d_rate"]), budget=0, rules=rules)
    reason = selection.reasons.set_index("code").loc[f"smart_audit:{column}"]
    assert reason["zh"] == "智能审核指标「近12个月分解住院占比」高于同类机构 5.4 个标准差，超过阈值 5"
    assert (
        reason["en"]
        == "smart-audit signal split admissions, share of stays is 5.4 SD above its peers, above the threshold 5"
    )
    assert selection.selected["institution_code"].tolist() == ["H1"]


def test_signal_at_its_threshold_does_not_trigger():
    selection = select_targeted(
        candidates([{"institution_code": "H1", "readmission_15d_rate": 0.08}]), budget=0, rules=RULES
    )
    assert selection.selected.empty


def test_leads_beyond_the_budget_are_all_kept():
    frame = candidates([{"institution_code": f"H{i}", "grade": "D"} for i in range(5)])
    selection = select_targeted(frame, budget=2, rules=RULES)
    assert len(selection.selected) == 5 and selection.selected["trigger"].all()


def test_remaining_budget_goes_by_expected_loss_not_probability():
    frame = candidates(
        [
            {"institution_code": "H1", "grade": "D"},
            {"institution_code": "H2", "risk_probability": 0.40, "expected_amount": 10_000},  # 4,000
            {"institution_code": "H3", "risk_probability": 0.10, "expected_amount": 200_000},  # 20,000
            {"institution_code": "H4", "risk_probability": 0.20, "expected_amount": 50_000},  # 10,000
        ]
    )
    selection = select_targeted(frame, budget=3, rules=RULES)
    assert selection.selected["institution_code"].tolist() == ["H1", "H3", "H4"]
    assert selection.selected["priority_rank"].tolist()[1:] == [1, 2]
    assert pd.isna(selection.selected["priority_rank"].iloc[0])
    reason = selection.reasons[selection.reasons["institution_code"] == "H3"].iloc[0]
    assert reason["code"] == "expected_loss" and reason["value"] == pytest.approx(20_000)
    assert "预计基金损失 20,000 元" in reason["zh"] and "expected fund loss" in reason["en"]


def test_without_risk_scores_the_lowest_credit_score_goes_first():
    frame = pd.DataFrame(
        {
            "institution_code": ["H1", "H2", "H3"],
            "grade": ["B", "C", "B"],
            "credit_score": [88.0, 70.5, 79.0],
        }
    )
    selection = select_targeted(frame, budget=2, rules=TargetingRules())
    assert selection.selected["institution_code"].tolist() == ["H2", "H3"]
    assert reasons_of(selection, "H2") == ["low_credit_score"]
    assert "信用分 70.5" in selection.reasons.iloc[0]["zh"]


def test_institutions_with_expected_loss_rank_before_those_without():
    frame = pd.DataFrame(
        {
            "institution_code": ["H1", "H2"],
            "grade": ["B", "B"],
            "credit_score": [60.0, 95.0],
            "risk_probability": [None, 0.05],
            "expected_amount": [None, 1_000.0],
        }
    )
    selection = select_targeted(frame, budget=1, rules=TargetingRules())
    assert selection.selected["institution_code"].tolist() == ["H2"]


def test_every_pick_carries_all_its_reasons_with_values():
    frame = candidates(
        [{"institution_code": "H1", "grade": "D", "substantiated_complaints": 3, "readmission_15d_rate": 0.2}]
    )
    selection = select_targeted(frame, budget=0, rules=RULES)
    table = selection.reasons.set_index("code")
    assert sorted(table.index) == ["low_grade", "smart_audit:readmission_15d_rate", "substantiated_complaint"]
    assert table.loc["substantiated_complaint", "value"] == 3
    assert table.loc["substantiated_complaint", "zh"] == "属实投诉举报 3 件"
    assert "15日内再入院率" in table.loc["smart_audit:readmission_15d_rate", "zh"]
    assert selection.selected.loc[0, "items"] == "general;split_admission"


def test_records_are_json_with_reason_lists():
    frame = candidates([{"institution_code": "H1", "referrals": 1}, {"institution_code": "H2"}])
    records = select_targeted(frame, budget=2, rules=RULES).to_records()
    text = json.dumps(records, ensure_ascii=False)
    assert json.loads(text)[0]["reasons"][0] == {
        "code": "referral",
        "zh": "其他部门移送/通报 1 件",
        "en": "1 referral(s) from other departments",
        "value": 1,
    }
    assert records[1]["trigger"] is False and records[1]["priority_rank"] == 1


def test_missing_signal_column_is_named():
    with pytest.raises(ValueError, match=r"missing column\(s\) \['readmission_15d_rate'\]"):
        select_targeted(pd.DataFrame({"institution_code": ["H1"], "grade": ["B"]}), budget=1, rules=RULES)


def test_negative_budget_is_refused():
    with pytest.raises(ValueError, match="budget must be an integer >= 0; got -1"):
        select_targeted(candidates([{"institution_code": "H1"}]), budget=-1, rules=RULES)


def test_duplicate_institutions_are_refused():
    with pytest.raises(ValueError, match="one row per institution"):
        select_targeted(candidates([{"institution_code": "H1"}, {"institution_code": "H1"}]), budget=1, rules=RULES)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"high_risk_probability": 1.5}, "high_risk_probability must be None or a probability in"),
        ({"min_referrals": 0}, "min_referrals must be None or an integer >= 1; got 0"),
        ({"signal_items": {"x": "y"}}, "without a threshold"),
    ],
)
def test_targeting_rules_name_the_bad_parameter(rules, message):
    with pytest.raises(ValueError, match=message):
        TargetingRules(**rules)


# --------------------------------------------------------------------------- merging


def test_all_checks_of_one_institution_become_one_visit():
    random = pd.DataFrame({"institution_code": ["H1", "H2"], "items": ["inpatient", "inpatient"]})
    targeted = pd.DataFrame({"institution_code": ["H2", "H3"], "items": ["split_admission;general", "general"]})
    routine = pd.DataFrame({"institution_code": ["H2", "H4"]})
    merged = merge_visits(random, targeted, routine)
    assert merged.to_dict("records") == [
        {"institution_code": "H1", "origins": "random", "items": "inpatient"},
        {"institution_code": "H2", "origins": "random;targeted;routine", "items": "general;inpatient;split_admission"},
        {"institution_code": "H3", "origins": "targeted", "items": "general"},
        {"institution_code": "H4", "origins": "routine", "items": ""},
    ]


def test_merging_nothing_gives_an_empty_table():
    merged = merge_visits(None, None, None)
    assert merged.empty and list(merged.columns) == ["institution_code", "origins", "items"]


def test_targeted_selection_merges_with_a_random_draw():
    selection = select_targeted(candidates([{"institution_code": "H1", "grade": "D"}]), budget=0, rules=RULES)
    merged = merge_visits(pd.DataFrame({"institution_code": ["H1"], "items": ["inpatient"]}), selection.selected)
    assert merged.loc[0, "origins"] == "random;targeted"
    assert merged.loc[0, "items"] == "general;inpatient"
