"""Yearly plan (全覆盖 within capacity)."""

from __future__ import annotations

import pandas as pd
import pytest

from scoring.plan import PlanCapacityError, PlannedRound, PlanRules, build_yearly_plan, monthly_capacity


def institutions(n: int, *, grades: str = "ABCD", inactive: int = 0) -> pd.DataFrame:
    """n active institutions cycling through ``grades``, plus ``inactive`` suspended ones."""
    rows = [
        {
            "institution_code": f"H44150200{i:03d}",
            "region_code": "441502",
            "status": "active",
            "grade": grades[i % len(grades)],
        }
        for i in range(n)
    ]
    rows += [
        {"institution_code": f"H44150299{i:03d}", "region_code": "441502", "status": "suspended", "grade": "B"}
        for i in range(inactive)
    ]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- yearly plan


def test_monthly_capacity_is_inspectors_times_visits_over_team_size_rounded_down():
    assert monthly_capacity(7, 3, 2) == 10
    assert monthly_capacity(0, 4, 2) == 0


def test_every_active_institution_is_visited_once_and_inactive_ones_are_not():
    plan = build_yearly_plan(
        institutions(10, inactive=2), inspectors=2, rules=PlanRules(year=2025, visits_per_inspector_per_month=2)
    )
    assert sorted(plan.visits["institution_code"]) == sorted(institutions(10)["institution_code"])
    assert (plan.visits["origins"] == "routine").all()


def test_months_are_never_planned_beyond_capacity():
    plan = build_yearly_plan(
        institutions(45), inspectors=3, rules=PlanRules(year=2025, visits_per_inspector_per_month=3)
    )
    summary = plan.months.set_index("month")
    assert (summary["capacity"] == 4).all()  # 3 x 3 / 2 = 4.5 -> 4
    assert (summary["planned"] <= summary["capacity"]).all()
    assert summary["routine"].sum() == 45
    assert (summary["spare"] == summary["capacity"] - summary["planned"]).all()


def test_routine_visits_are_spread_over_the_working_months():
    rules = PlanRules(year=2025, visits_per_inspector_per_month=10, working_months=range(3, 12))
    plan = build_yearly_plan(institutions(18), inspectors=2, rules=rules)
    per_month = plan.months.set_index("month")["routine"]
    assert per_month.loc[[1, 2, 12]].sum() == 0
    assert per_month.loc[3:11].tolist() == [2] * 9


def test_riskier_grades_are_visited_earlier():
    plan = build_yearly_plan(
        institutions(24, grades="AD"), inspectors=2, rules=PlanRules(year=2025, visits_per_inspector_per_month=2)
    )
    month_by_grade = plan.visits.merge(institutions(24, grades="AD"), on="institution_code").groupby("grade")["month"]
    assert month_by_grade.max()["D"] <= month_by_grade.min()["A"]


def test_reserved_random_round_takes_capacity_in_its_month():
    rules = PlanRules(year=2025, visits_per_inspector_per_month=3)
    plan = build_yearly_plan(institutions(40), inspectors=4, rules=rules, rounds=[PlannedRound("random", 4, 5)])
    april = plan.months.set_index("month").loc[4]
    assert (april["capacity"], april["random"], april["routine"], april["planned"]) == (
        6,
        5,
        april["planned"] - 5,
        april["planned"],
    )
    assert april["planned"] <= 6


def test_known_round_lists_cover_their_institutions_without_a_routine_visit():
    frame = institutions(10)
    targeted = pd.DataFrame({"institution_code": frame["institution_code"][:2], "items": "split_admission"})
    plan = build_yearly_plan(
        frame, inspectors=2, rules=PlanRules(year=2025), rounds=[PlannedRound("targeted", 3, targeted)]
    )
    visits = plan.visits.set_index("institution_code")
    assert visits.loc[frame["institution_code"][0], "origins"] == "targeted"
    assert visits.loc[frame["institution_code"][0], "month"] == 3
    assert visits.index.is_unique and len(visits) == 10


def test_random_and_targeted_checks_in_one_month_are_one_visit():
    frame = institutions(6)
    code = frame["institution_code"][0]
    rounds = [
        PlannedRound("random", 5, pd.DataFrame({"institution_code": [code]}), items=("inpatient",)),
        PlannedRound("targeted", 5, pd.DataFrame({"institution_code": [code], "items": ["general"]})),
    ]
    plan = build_yearly_plan(frame, inspectors=2, rules=PlanRules(year=2025), rounds=rounds)
    visit = plan.visits[plan.visits["institution_code"] == code]
    assert visit[["month", "origins", "items"]].values.tolist() == [[5, "random;targeted", "general;inpatient"]]
    may = plan.months.set_index("month").loc[5]
    assert (may["random"], may["targeted"]) == (1, 1)


def test_insufficient_capacity_is_an_error_with_the_numbers():
    rules = PlanRules(year=2025, visits_per_inspector_per_month=2)
    with pytest.raises(PlanCapacityError) as caught:
        build_yearly_plan(institutions(30), inspectors=1, rules=rules)
    error = caught.value
    assert error.numbers["needed"] == 30 and error.numbers["available"] == 12 and error.numbers["shortfall"] == 18
    assert "尚需安排日常检查 30 家" in error.message_zh and "缺口 18 组次" in error.message_zh
    assert "short by 18" in error.message_en


def test_a_round_larger_than_its_month_is_an_error():
    rules = PlanRules(year=2025, visits_per_inspector_per_month=2)
    with pytest.raises(PlanCapacityError, match="9 月安排的双随机/重点检查 5 组次超过当月检查能力 2 组次"):
        build_yearly_plan(institutions(3), inspectors=2, rules=rules, rounds=[PlannedRound("random", 9, 5)])


def test_inspector_roster_counts_active_inspectors_only():
    roster = pd.DataFrame(
        {"inspector_code": ["I1", "I2", "I3"], "active": pd.array([True, True, False], dtype="boolean")}
    )
    plan = build_yearly_plan(
        institutions(2), inspectors=roster, rules=PlanRules(year=2025, visits_per_inspector_per_month=1)
    )
    assert (plan.months["capacity"] == 1).all()


def test_plan_rules_name_the_bad_parameter():
    with pytest.raises(ValueError, match="team_size must be an integer >= 2; got 1"):
        PlanRules(year=2025, team_size=1)
    with pytest.raises(ValueError, match="working_months must be a non-empty list of months 1-12"):
        PlanRules(year=2025, working_months=[0, 13])
    with pytest.raises(ValueError, match="origin must be one of"):
        PlannedRound("routine", 1, 3)
