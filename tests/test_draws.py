"""Eligible pool, commitment and random draw (双随机抽查)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from scoring import verify_draw
from scoring.assignment import TeamAssignmentError, TeamRules, build_inspector_pool
from scoring.draws import (
    DrawDesign,
    FrozenPool,
    PoolRules,
    Seed,
    build_eligible_pool,
    draw_random_inspections,
    freeze_pool,
)

AS_OF = "2025-06-30"
REGION = "441502"
DICE = Seed("dice", "31415926535897932384")


# --------------------------------------------------------------------------- factories


def make_institutions(n: int = 40, *, seed: int = 7, region: str = REGION, grades: str = "ABCD") -> pd.DataFrame:
    """n active institutions of one region with grades drawn from ``grades``."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "institution_code": [f"H{region}{i:05d}" for i in range(1, n + 1)],
            "name": [f"机构{i}" for i in range(1, n + 1)],
            "region_code": region,
            "status": "active",
            "designated_since": pd.Timestamp("2020-01-01"),
            "grade": rng.choice(list(grades), n),
        }
    )


def institution(
    code: str, *, grade: str = "B", status: str = "active", region: str = REGION, since: str = "2020-01-01"
) -> dict:
    return {
        "institution_code": code,
        "name": code,
        "region_code": region,
        "status": status,
        "designated_since": pd.Timestamp(since),
        "grade": grade,
    }


def inspection(
    code: str,
    start: str,
    *,
    kind: str = "routine",
    level: str = "city",
    items: str | None = "inpatient",
    found: bool = False,
    inspection_id: str | None = None,
    inspectors: str = "I001;I002",
) -> dict:
    return {
        "inspection_id": inspection_id or f"X-{code}-{start}-{kind}-{level}",
        "institution_code": code,
        "start_date": pd.Timestamp(start),
        "kind": kind,
        "level": level,
        "items": items,
        "inspector_codes": inspectors,
        "found_violation": found,
    }


def inspections_frame(rows: list[dict]) -> pd.DataFrame:
    columns = [
        "inspection_id",
        "institution_code",
        "start_date",
        "kind",
        "level",
        "items",
        "inspector_codes",
        "found_violation",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame["start_date"] = pd.to_datetime(frame["start_date"])
    frame["found_violation"] = frame["found_violation"].astype("boolean")
    return frame


def pool_of(institutions: list[dict], inspections: list[dict], *, item: str | None = "inpatient", **rules) -> object:
    return build_eligible_pool(
        pd.DataFrame(institutions),
        inspections_frame(inspections),
        as_of=AS_OF,
        regions=[REGION],
        item=item,
        rules=PoolRules(**rules),
    )


def reasons(pool) -> dict[str, list[str]]:
    return pool.excluded.groupby("institution_code")["reason_code"].agg(list).to_dict()


# --------------------------------------------------------------------------- eligible pool


def test_inactive_institutions_are_excluded_with_their_status():
    pool = pool_of([institution("H1"), institution("H2", status="suspended")], [])
    assert pool.eligible["institution_code"].tolist() == ["H1"]
    row = pool.excluded.iloc[0]
    assert (row["institution_code"], row["reason_code"]) == ("H2", "not_active")
    assert "中止" in row["reason_zh"] and "suspended" in row["reason_en"]


def test_institutions_outside_the_jurisdiction_are_neither_eligible_nor_listed():
    pool = pool_of([institution("H1"), institution("H2", region="441521")], [])
    assert pool.eligible["institution_code"].tolist() == ["H1"]
    assert pool.excluded.empty


def test_institution_designated_after_the_draw_date_is_excluded():
    pool = pool_of([institution("H1", since="2025-07-01")], [])
    assert reasons(pool) == {"H1": ["not_yet_designated"]}


def test_routine_visit_this_year_reaches_the_default_cap():
    pool = pool_of([institution("H1"), institution("H2")], [inspection("H1", "2025-02-10", items="pharmacy")])
    assert reasons(pool) == {"H1": ["routine_cap_reached"]}
    assert "2025 年已接受日常类现场检查 1 次，达到年度上限 1 次" == pool.excluded.iloc[0]["reason_zh"]


@pytest.mark.parametrize("kind", ["targeted", "complaint", "flying"])
def test_lead_driven_visits_do_not_count_toward_the_cap(kind):
    pool = pool_of([institution("H1")], [inspection("H1", "2025-02-10", kind=kind, items="pharmacy")])
    assert pool.eligible["institution_code"].tolist() == ["H1"]


def test_cap_counts_the_calendar_year_of_the_draw_only():
    pool = pool_of([institution("H1")], [inspection("H1", "2024-12-31", items="pharmacy")])
    assert pool.eligible["institution_code"].tolist() == ["H1"]


def test_a_higher_cap_allows_a_second_routine_visit():
    pool = pool_of([institution("H1")], [inspection("H1", "2025-02-10", items="pharmacy")], routine_cap_per_year=2)
    assert pool.eligible["institution_code"].tolist() == ["H1"]


def test_inspections_after_the_draw_date_are_ignored():
    pool = pool_of([institution("H1")], [inspection("H1", "2025-07-01")])
    assert pool.eligible["institution_code"].tolist() == ["H1"]


@pytest.mark.parametrize(("start", "excluded"), [("2024-06-30", False), ("2024-07-01", True), ("2025-06-30", True)])
def test_same_item_window_is_the_twelve_months_up_to_the_draw_date(start, excluded):
    kind = "targeted"  # does not count toward the cap, so only the item rule applies
    pool = pool_of([institution("H1")], [inspection("H1", start, kind=kind)])
    assert (reasons(pool).get("H1") == ["same_item_recent"]) is excluded


def test_a_different_item_does_not_exclude():
    pool = pool_of([institution("H1")], [inspection("H1", "2025-01-05", kind="targeted", items="pharmacy;coding")])
    assert pool.eligible["institution_code"].tolist() == ["H1"]


def test_item_lists_are_split_on_either_semicolon():
    pool = pool_of([institution("H1")], [inspection("H1", "2025-01-05", kind="targeted", items="pharmacy；inpatient")])
    assert reasons(pool) == {"H1": ["same_item_recent"]}


def test_lower_level_inspection_of_the_same_item_excludes():
    pool = pool_of([institution("H1")], [inspection("H1", "2025-01-05", kind="targeted", level="county", found=True)])
    assert reasons(pool) == {"H1": ["same_item_recent"]}


def test_higher_level_inspection_without_findings_excludes():
    pool = pool_of([institution("H1")], [inspection("H1", "2025-01-05", kind="flying", level="province", found=False)])
    assert reasons(pool) == {"H1": ["higher_level_no_findings"]}
    assert "省级" in pool.excluded.iloc[0]["reason_zh"] and "未发现问题" in pool.excluded.iloc[0]["reason_zh"]


def test_higher_level_inspection_with_findings_leaves_the_institution_eligible():
    pool = pool_of([institution("H1")], [inspection("H1", "2025-01-05", kind="flying", level="province", found=True)])
    assert pool.eligible["institution_code"].tolist() == ["H1"]


def test_same_item_rule_can_count_every_level():
    rows = [inspection("H1", "2025-01-05", kind="flying", level="province", found=True)]
    pool = pool_of([institution("H1")], rows, same_item_all_levels=True)
    assert reasons(pool) == {"H1": ["same_item_recent"]}


def test_county_bureau_treats_city_inspections_as_higher_level():
    rows = [inspection("H1", "2025-01-05", kind="targeted", level="city", found=False)]
    pool = pool_of([institution("H1")], rows, bureau_level="county")
    assert reasons(pool) == {"H1": ["higher_level_no_findings"]}


def test_every_reason_of_an_excluded_institution_is_listed():
    rows = [
        inspection("H1", "2025-03-01", kind="routine", level="city"),
        inspection("H1", "2025-04-01", kind="flying", level="province", found=False),
    ]
    pool = pool_of([institution("H1")], rows)
    assert reasons(pool) == {"H1": ["routine_cap_reached", "same_item_recent", "higher_level_no_findings"]}
    assert pool.excluded["inspection_id"].notna().all()


def test_without_an_item_the_item_rules_do_not_apply():
    rows = [inspection("H1", "2025-01-05", kind="targeted")]
    pool = pool_of([institution("H1")], rows, item=None)
    assert pool.eligible["institution_code"].tolist() == ["H1"]


def test_missing_grade_is_an_error_unless_an_ungraded_stratum_is_configured():
    rows = [institution("H1"), institution("H2", grade=None)]
    with pytest.raises(ValueError, match=r"grade is missing for 1 eligible institution\(s\).*ungraded_stratum"):
        pool_of(rows, [])
    pool = pool_of(rows, [], ungraded_stratum="B")
    assert pool.eligible.set_index("institution_code")["stratum"].to_dict() == {"H1": "B", "H2": "B"}


def test_eligible_pool_is_sorted_with_strata_from_grades():
    frame = make_institutions(5)
    pool = build_eligible_pool(frame, inspections_frame([]), as_of=AS_OF, regions=[REGION], item=None)
    assert pool.eligible["institution_code"].tolist() == sorted(frame["institution_code"])
    assert pool.eligible["stratum"].tolist() == frame.sort_values("institution_code")["grade"].tolist()


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"routine_cap_per_year": 0}, "routine_cap_per_year must be an integer >= 1; got 0"),
        ({"bureau_level": "nation"}, r"bureau_level must be one of \['county', 'city', 'province'\]; got 'nation'"),
        ({"cap_counted_kinds": ("routine", "audit")}, "cap_counted_kinds must be a non-empty list of"),
    ],
)
def test_pool_rules_name_the_bad_parameter(rules, message):
    with pytest.raises(ValueError, match=message):
        PoolRules(**rules)


def test_pool_rules_round_trip_through_a_dict():
    rules = PoolRules(routine_cap_per_year=2, bureau_level="county")
    assert PoolRules.from_dict(json.loads(json.dumps(rules.to_dict()))) == rules
    with pytest.raises(ValueError, match="unknown key"):
        PoolRules.from_dict({"cap": 1})


def test_regions_must_be_six_digit_codes():
    with pytest.raises(ValueError, match="6-digit region codes; got \\['4415'\\]"):
        build_eligible_pool(make_institutions(2), inspections_frame([]), as_of=AS_OF, regions=["4415"], item=None)


# --------------------------------------------------------------------------- design


@pytest.mark.parametrize("value", [0, -0.05, "0", 1.5])
def test_zero_negative_or_excessive_ratios_are_refused(value):
    with pytest.raises(ValueError, match=r"ratios\['C'\] must be a ratio in \(0, 1\]"):
        DrawDesign.stratified({"A": 0.02, "C": value})


def test_default_ratios_follow_the_domain_brief():
    assert DrawDesign().ratios == {"A": "0.02", "B": "0.05", "C": "0.15", "D": "0.3", "E": "0.5"}


def test_float_ratios_are_kept_as_exact_decimal_strings():
    assert DrawDesign.stratified({"A": 0.15}).ratios == {"A": "0.15"}


def test_a_stratum_without_a_ratio_is_refused_at_freezing():
    pool = pool_of([institution("H1", grade="X")], [], item=None)
    with pytest.raises(ValueError, match="no entry for stratum 'X'"):
        freeze_pool(pool, DrawDesign())


def test_risk_weighted_design_validates_its_numbers():
    with pytest.raises(ValueError, match="sample_size must be an integer >= 1; got 0"):
        DrawDesign.risk_weighted(0)
    with pytest.raises(ValueError, match="min_inclusion_probability"):
        DrawDesign.risk_weighted(5, "0")


# --------------------------------------------------------------------------- freezing and drawing


def stratified_pool(n: int = 60, seed: int = 3):
    frame = make_institutions(n, seed=seed)
    return build_eligible_pool(frame, inspections_frame([]), as_of=AS_OF, regions=[REGION], item="inpatient")


def test_pool_document_is_canonical_and_hash_is_reproducible():
    pool = stratified_pool()
    first, second = freeze_pool(pool), freeze_pool(pool)
    assert first.pool_hash == second.pool_hash == verify_draw.compute_pool_hash(first.document)
    assert [u["institution_code"] for u in first.document["units"]] == sorted(pool.eligible["institution_code"])
    assert first.document["design"] == {
        "method": "stratified",
        "ratios": {"A": "0.02", "B": "0.05", "C": "0.15", "D": "0.3", "E": "0.5"},
        "rounding": "ceil",
    }
    assert first.document["as_of"] == "2025-06-30" and first.document["jurisdiction"]["regions"] == [REGION]


def test_stored_pool_document_reloads_with_the_same_hash():
    frozen = freeze_pool(stratified_pool())
    reloaded = FrozenPool.from_document(json.loads(frozen.to_json()))
    assert reloaded.pool_hash == frozen.pool_hash


def test_draw_takes_the_ceiling_of_ratio_times_stratum_size():
    pool = stratified_pool(80)
    sizes = pool.eligible["stratum"].value_counts().to_dict()
    result = draw_random_inspections(freeze_pool(pool), DICE)
    ratios = {"A": 0.02, "B": 0.05, "C": 0.15, "D": 0.3}
    drawn = result.selected["stratum"].value_counts().to_dict()
    assert drawn == {stratum: math.ceil(round(ratios[stratum] * size, 9)) for stratum, size in sizes.items()}


def test_a_stratum_of_one_is_always_drawn_and_an_empty_stratum_draws_nobody():
    rows = [institution("H1", grade="A")] + [institution(f"H{i}", grade="B") for i in range(2, 12)]
    result = draw_random_inspections(freeze_pool(pool_of(rows, [], item=None)), DICE)
    strata = {row["stratum"]: row for row in result.document["strata"]}
    assert strata["A"]["drawn"] == 1 and strata["A"]["inclusion_probability"] == 1.0
    assert strata["C"]["population"] == strata["C"]["drawn"] == 0 and strata["C"]["inclusion_probability"] is None
    assert "H1" in set(result.selected["institution_code"])


def test_every_pool_institution_has_its_inclusion_probability():
    pool = stratified_pool()
    result = draw_random_inspections(freeze_pool(pool), DICE)
    units = result.units.set_index("institution_code")
    assert len(units) == len(pool.eligible)
    for row in result.document["strata"]:
        in_stratum = units[units["stratum"] == row["stratum"]]
        assert int(in_stratum["selected"].sum()) == row["drawn"]
        if row["population"]:
            assert (in_stratum["inclusion_probability"] == row["drawn"] / row["population"]).all()


def test_draw_uses_the_verifier_tickets_and_ranks_by_them():
    frozen = freeze_pool(stratified_pool())
    result = draw_random_inspections(frozen, DICE)
    for code, ticket in zip(result.units["institution_code"], result.units["ticket"], strict=True):
        assert int(ticket, 16) == verify_draw.institution_ticket(DICE.value, frozen.pool_hash, code)
    assert result.selected["ticket"].tolist() == sorted(result.selected["ticket"])
    assert result.selected["draw_rank"].tolist() == list(range(1, len(result.selected) + 1))


def test_same_seed_gives_the_same_draw_and_another_seed_another():
    frozen = freeze_pool(stratified_pool(200))
    first = draw_random_inspections(frozen, DICE)
    again = draw_random_inspections(frozen, Seed("dice", "3141592653 5897932384"))
    other = draw_random_inspections(frozen, Seed("dice", "27182818284590452353"))
    assert first.document == again.document
    assert first.selected["institution_code"].tolist() != other.selected["institution_code"].tolist()


def test_draw_document_is_json_and_verifies():
    pool = stratified_pool()
    inspectors = pd.DataFrame(
        {
            "inspector_code": [f"I{i:03d}" for i in range(6)],
            "name": "x",
            "region_code": REGION,
            "certified": pd.array([True, True, False, True, False, True], dtype="boolean"),
            "active": pd.array([True] * 6, dtype="boolean"),
        }
    )
    inspector_pool = build_inspector_pool(inspectors, inspections_frame([]), as_of=AS_OF, regions=[REGION])
    result = draw_random_inspections(freeze_pool(pool, inspectors=inspector_pool), DICE, draw_id="2025-SJ-001")
    document = json.loads(result.to_json())
    assert document["draw_id"] == "2025-SJ-001"
    assert document["seed"] == {"source": "dice", "value": DICE.value, "reference": None}
    assert len(document["assignments"]) == len(result.selected) == len(result.assignments)
    verification = verify_draw.verify(document)
    assert verification.ok, verification.discrepancy


def test_default_draw_id_combines_the_date_and_the_seed_commitment():
    frozen = freeze_pool(stratified_pool())
    result = draw_random_inspections(frozen, DICE)
    assert result.draw_id == "20250630-" + verify_draw.seed_pool_digest(DICE.value, frozen.pool_hash)[:12]


def test_a_pool_changed_after_freezing_is_refused():
    frozen = freeze_pool(stratified_pool())
    frozen.document["units"].pop()
    with pytest.raises(ValueError, match="changed after freezing"):
        draw_random_inspections(frozen, DICE)


def test_empty_pool_draws_nobody():
    pool = pool_of([institution("H1", status="terminated")], [], item=None)
    result = draw_random_inspections(freeze_pool(pool), DICE)
    assert result.selected.empty and result.units.empty
    assert verify_draw.verify(json.loads(result.to_json())).ok


def test_seed_is_validated_when_entered():
    with pytest.raises(ValueError, match="dice seed must have 20 to 200 digits; got 6"):
        Seed("dice", "123456")


def test_pool_with_an_institution_no_team_can_cover_is_refused_before_the_seed():
    pool = stratified_pool(5)
    inspectors = pd.DataFrame(
        {"inspector_code": ["I1"], "name": "x", "region_code": REGION, "certified": [True], "active": [True]}
    )
    inspector_pool = build_inspector_pool(
        inspectors, inspections_frame([]), as_of=AS_OF, regions=[REGION], rules=TeamRules()
    )
    with pytest.raises(TeamAssignmentError, match="可用执法人员 1 名，需要 2 名"):
        freeze_pool(pool, inspectors=inspector_pool)


# --------------------------------------------------------------------------- risk-weighted design


def test_risk_weighted_draw_needs_weights_for_every_institution():
    pool = stratified_pool(10)
    with pytest.raises(ValueError, match="needs weights"):
        freeze_pool(pool, DrawDesign.risk_weighted(3))
    partial = dict.fromkeys(pool.eligible["institution_code"][:5], 0.1)
    with pytest.raises(ValueError, match="weights is missing 5 pool institution"):
        freeze_pool(pool, DrawDesign.risk_weighted(3), weights=partial)


def test_risk_weighted_draw_keeps_the_floor_and_draws_the_sample_size():
    pool = stratified_pool(50)
    rng = np.random.default_rng(11)
    weights = pd.Series(rng.beta(1, 6, 50), index=pool.eligible["institution_code"])
    weights.iloc[0] = 0.0
    frozen = freeze_pool(pool, DrawDesign.risk_weighted(8, "0.05"), weights=weights)
    result = draw_random_inspections(
        frozen, Seed("beacon", "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08")
    )
    probabilities = result.units["inclusion_probability"]
    assert len(result.selected) == 8
    assert probabilities.sum() == pytest.approx(8)
    assert probabilities.min() >= 0.05
    assert result.units.set_index("institution_code")["inclusion_probability"].iloc[0] == pytest.approx(0.05, abs=1e-9)
    assert verify_draw.verify(json.loads(result.to_json())).ok


def test_risk_weights_are_committed_as_six_decimal_strings():
    pool = stratified_pool(3)
    weights = dict(zip(pool.eligible["institution_code"], [0.1234567, 1 / 3, 2.0], strict=True))
    frozen = freeze_pool(pool, DrawDesign.risk_weighted(1, "0.01"), weights=weights)
    assert [unit["weight"] for unit in frozen.document["units"]] == ["0.123457", "0.333333", "2"]
