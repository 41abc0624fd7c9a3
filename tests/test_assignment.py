"""Random assignment of inspectors (随机选派执法人员)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from scoring import verify_draw
from scoring.assignment import (
    TeamAssignmentError,
    TeamRules,
    assign_inspectors,
    build_inspector_pool,
    check_team_feasibility,
)
from scoring.draws import PoolRules, Seed, build_eligible_pool, draw_random_inspections, freeze_pool

AS_OF = "2025-06-30"
REGION = "441502"
OTHER = "441521"
SEED = Seed("dice", "16180339887498948482").value
COMMITMENT = "0" * 64


# --------------------------------------------------------------------------- factories


def roster(rows: list[tuple]) -> pd.DataFrame:
    """Inspectors from (code, region, certified, active, conflicts) tuples."""
    frame = pd.DataFrame(rows, columns=["inspector_code", "region_code", "certified", "active", "conflicts"])
    frame["name"] = frame["inspector_code"]
    frame["certified"] = frame["certified"].astype("boolean")
    frame["active"] = frame["active"].astype("boolean")
    return frame


def full_roster(n: int = 6, region: str = REGION, prefix: str = "I") -> pd.DataFrame:
    return roster([(f"{prefix}{i:03d}", region, i % 2 == 0, True, None) for i in range(n)])


def history(rows: list[tuple] = ()) -> pd.DataFrame:
    """Inspections from (institution_code, start_date, inspector_codes) tuples."""
    frame = pd.DataFrame(
        [
            {
                "inspection_id": f"X{i}",
                "institution_code": code,
                "start_date": pd.Timestamp(start),
                "inspector_codes": codes,
            }
            for i, (code, start, codes) in enumerate(rows)
        ],
        columns=["inspection_id", "institution_code", "start_date", "inspector_codes"],
    )
    frame["start_date"] = pd.to_datetime(frame["start_date"])
    return frame


def visits(codes: list[str], region: str = REGION) -> pd.DataFrame:
    return pd.DataFrame({"institution_code": codes, "region_code": region})


def pool(inspectors: pd.DataFrame, inspections: pd.DataFrame | None = None, **rules):
    return build_inspector_pool(
        inspectors,
        history() if inspections is None else inspections,
        as_of=AS_OF,
        regions=[REGION, OTHER],
        rules=TeamRules(**rules),
    )


def teams(frame: pd.DataFrame) -> dict[str, list[str]]:
    return {
        code: codes.split(";") for code, codes in zip(frame["institution_code"], frame["inspector_codes"], strict=True)
    }


# --------------------------------------------------------------------------- teams


def test_each_team_has_two_inspectors_of_the_region_led_by_a_certified_one():
    inspectors = pd.concat([full_roster(6), full_roster(4, OTHER, "J")])
    result = assign_inspectors(
        visits([f"H{REGION}{i:05d}" for i in range(10)]),
        pool(inspectors, max_assignments_per_inspector=None),
        seed=SEED,
        pool_hash=COMMITMENT,
    )
    certified = set(inspectors.loc[inspectors["certified"], "inspector_code"])
    for members in teams(result).values():
        assert len(members) == len(set(members)) == 2
        assert all(member.startswith("I") for member in members)
        assert members[0] in certified
    assert (result["lead_inspector_code"] == result["inspector_codes"].str.split(";").str[0]).all()


def test_team_size_and_certified_count_are_configurable():
    result = assign_inspectors(
        visits(["H1", "H2"]),
        pool(full_roster(8), team_size=3, min_certified=2, max_assignments_per_inspector=None),
        seed=SEED,
        pool_hash=COMMITMENT,
    )
    for members in teams(result).values():
        assert len(members) == 3
        assert sum(int(member[1:]) % 2 == 0 for member in members) >= 2


def test_conflicted_inspector_is_never_drawn():
    inspectors = full_roster(4)
    inspectors.loc[0, "conflicts"] = "H1；H2"
    inspectors.loc[1, "conflicts"] = "H1"
    result = assign_inspectors(
        visits(["H1", "H2", "H3"]),
        pool(inspectors, max_assignments_per_inspector=None),
        seed=SEED,
        pool_hash=COMMITMENT,
    )
    drawn = teams(result)
    assert sorted(drawn["H1"]) == ["I002", "I003"]
    assert "I000" not in drawn["H2"]


def test_all_inspectors_conflicted_is_a_named_error():
    inspectors = full_roster(3)
    inspectors["conflicts"] = "H44150200012"
    with pytest.raises(TeamAssignmentError) as caught:
        assign_inspectors(visits(["H44150200012"]), pool(inspectors), seed=SEED, pool_hash=COMMITMENT)
    assert caught.value.message_zh.startswith(
        "机构 H44150200012 无法组成检查组：辖区 441502 可用执法人员 0 名，需要 2 名（其中持证 ≥1）"
    )
    assert "回避 3 名" in caught.value.message_zh
    assert caught.value.recused == 3 and caught.value.institution_code == "H44150200012"


def test_inspector_who_inspected_the_institution_within_twelve_months_is_recused():
    inspections = history([("H1", "2024-07-01", "I000;I001"), ("H2", "2024-06-30", "I000;I001")])
    inspector_pool = pool(full_roster(4), inspections, max_assignments_per_inspector=None)
    recused = inspector_pool.recusals
    assert set(zip(recused["inspector_code"], recused["institution_code"], strict=True)) == {
        ("I000", "H1"),
        ("I001", "H1"),
    }
    result = teams(assign_inspectors(visits(["H1"]), inspector_pool, seed=SEED, pool_hash=COMMITMENT))
    assert sorted(result["H1"]) == ["I002", "I003"]


def test_recent_inspection_recusal_can_be_turned_off():
    inspections = history([("H1", "2025-01-01", "I000;I001")])
    inspector_pool = pool(full_roster(4), inspections, recent_inspection_months=None)
    assert inspector_pool.recusals.empty


def test_inactive_inspectors_are_excluded_and_listed():
    inspectors = roster(
        [("I1", REGION, True, True, None), ("I2", REGION, True, False, None), ("I3", REGION, False, True, None)]
    )
    inspector_pool = pool(inspectors)
    assert inspector_pool.available["inspector_code"].tolist() == ["I1", "I3"]
    assert inspector_pool.excluded[["inspector_code", "reason_code"]].values.tolist() == [["I2", "inactive"]]


def test_inspectors_of_another_region_are_never_drawn():
    inspectors = pd.concat([full_roster(1), full_roster(6, OTHER, "J")])
    with pytest.raises(TeamAssignmentError, match="可用执法人员 1 名"):
        assign_inspectors(visits(["H1"]), pool(inspectors), seed=SEED, pool_hash=COMMITMENT)


def test_city_level_inspectors_join_only_when_configured():
    inspectors = pd.concat(
        [full_roster(1), roster([("C1", "441500", True, True, None), ("C2", "441500", False, True, None)])]
    )
    with pytest.raises(TeamAssignmentError):
        assign_inspectors(visits(["H1"]), pool(inspectors), seed=SEED, pool_hash=COMMITMENT)
    wide = pool(inspectors, include_higher_level_inspectors=True)
    result = teams(assign_inspectors(visits(["H1"]), wide, seed=SEED, pool_hash=COMMITMENT))
    assert set(result["H1"]) <= {"I000", "C1", "C2"}


def test_only_uncertified_inspectors_cannot_form_a_team():
    inspectors = roster([("I1", REGION, False, True, None), ("I2", REGION, False, True, None)])
    with pytest.raises(TeamAssignmentError, match="持证 0 名"):
        assign_inspectors(visits(["H1"]), pool(inspectors), seed=SEED, pool_hash=COMMITMENT)


def test_workload_cap_is_respected_and_its_exhaustion_is_named():
    inspector_pool = pool(full_roster(4), max_assignments_per_inspector=1)
    result = assign_inspectors(visits(["H1", "H2"]), inspector_pool, seed=SEED, pool_hash=COMMITMENT)
    members = [m for team in teams(result).values() for m in team]
    assert sorted(members) == ["I000", "I001", "I002", "I003"]
    with pytest.raises(TeamAssignmentError, match="已达本批次工作量上限 4 名"):
        assign_inspectors(visits(["H1", "H2", "H3"]), inspector_pool, seed=SEED, pool_hash=COMMITMENT)


def test_assignment_is_reproducible_and_depends_on_the_seed():
    inspector_pool = pool(full_roster(12), max_assignments_per_inspector=None)
    codes = [f"H{i}" for i in range(20)]
    first = assign_inspectors(visits(codes), inspector_pool, seed=SEED, pool_hash=COMMITMENT)
    again = assign_inspectors(visits(codes), inspector_pool, seed=SEED, pool_hash=COMMITMENT)
    other = assign_inspectors(visits(codes), inspector_pool, seed="27182818284590452353", pool_hash=COMMITMENT)
    assert first.equals(again)
    assert not first["inspector_codes"].equals(other["inspector_codes"])


def test_inspector_tickets_are_the_documented_hashes():
    result = assign_inspectors(visits(["H1"]), pool(full_roster(4)), seed=SEED, pool_hash=COMMITMENT)
    for code, ticket in zip(
        result.loc[0, "inspector_codes"].split(";"), result.loc[0, "inspector_tickets"].split(";"), strict=True
    ):
        assert int(ticket, 16) == verify_draw.inspector_ticket(SEED, COMMITMENT, "H1", code)


def test_feasibility_check_lists_every_institution_without_a_possible_team():
    inspectors = full_roster(3)
    inspectors.loc[0, "conflicts"] = "H1"
    inspectors.loc[1, "conflicts"] = "H1;H2"
    inspector_pool = pool(inspectors)
    failing = check_team_feasibility(
        visits(["H1", "H2", "H3"]).pipe(lambda f: pd.concat([f, visits(["H4"], OTHER)])), inspector_pool
    )
    assert failing["institution_code"].tolist() == ["H1", "H4"]
    assert failing.set_index("institution_code").loc["H1", "available"] == 1


def test_assignments_are_part_of_the_verified_draw():
    institutions = pd.DataFrame(
        {
            "institution_code": [f"H{REGION}{i:05d}" for i in range(30)],
            "region_code": REGION,
            "status": "active",
            "grade": ["D"] * 30,
        }
    )
    empty = pd.DataFrame(
        columns=["inspection_id", "institution_code", "start_date", "kind", "level", "items", "found_violation"]
    )
    empty["start_date"] = pd.to_datetime(empty["start_date"])
    eligible = build_eligible_pool(institutions, empty, as_of=AS_OF, regions=[REGION], item=None, rules=PoolRules())
    certified = roster([(f"I{i:03d}", REGION, True, True, None) for i in range(6)])
    inspector_pool = pool(certified, max_assignments_per_inspector=4)
    result = draw_random_inspections(freeze_pool(eligible, inspectors=inspector_pool), Seed("dice", SEED))
    assert len(result.assignments) == 9  # ceil(0.3 x 30)
    load = pd.Series(";".join(result.assignments["inspector_codes"]).split(";")).value_counts()
    assert load.max() <= 4
    document = json.loads(result.to_json())
    assert verify_draw.verify(document).ok
    document["assignments"][0]["lead_inspector_code"] = "I999"
    assert verify_draw.verify(document).discrepancy.startswith("assignments[0]['lead_inspector_code']")


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"team_size": 1}, r"team_size must be an integer >= 2 \(条例第二十九条\); got 1"),
        ({"min_certified": 0}, "min_certified must be an integer between 1 and team_size"),
        ({"max_assignments_per_inspector": 0}, "max_assignments_per_inspector must be None or an integer >= 1; got 0"),
    ],
)
def test_team_rules_name_the_bad_parameter(rules, message):
    with pytest.raises(ValueError, match=message):
        TeamRules(**rules)
