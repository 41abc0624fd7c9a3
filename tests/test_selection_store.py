"""Stored draws through their lifecycle (frozen → drawn), targeted selections and yearly plans, on both databases."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from features.storage import metadata
from scoring import selection_store as ss
from scoring import verify_draw
from scoring.assignment import TeamAssignmentError, TeamRules
from scoring.draws import DrawDesign, Seed
from scoring.plan import PlannedRound, PlanRules
from tests import selection_data as city

city_templates, loaded, loaded_sqlite = city.city_templates, city.loaded, city.loaded_sqlite  # fixtures

DICE = Seed("dice", "31415 92653 58979 32384 62", "rolled at the bureau hall")
OTHER_DICE = Seed("dice", "27182818284590452353")
SELECTION_TABLES = {
    "draws",
    "draw_units",
    "draw_exclusions",
    "draw_assignments",
    "targeted_selections",
    "targeted_picks",
    "plans",
    "plan_visits",
}


def freeze(engine, **overrides):
    arguments = {
        "as_of": city.AS_OF,
        "regions": [city.CITY, city.COUNTY],
        "item": "inpatient",
        "grades": city.grades(),
        "actor": "张三",
    }
    return ss.freeze_draw(engine, **{**arguments, **overrides})


def count(engine, table: str) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(metadata.tables[table])).scalar_one()


# --------------------------------------------------------------------------- schema


def test_migration_matches_the_table_definitions(store):
    with store.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), metadata)
    mine = [diff for diff in diffs if any(f"'{name}'" in repr(diff) for name in SELECTION_TABLES)]
    assert mine == []
    assert SELECTION_TABLES <= set(sa.inspect(store).get_table_names())


# --------------------------------------------------------------------------- freeze


def test_freezing_stores_the_pool_document_under_its_published_hash(loaded):
    frozen = freeze(loaded)
    draw = ss.get_draw(loaded, frozen.draw_id)
    assert frozen.draw_id == f"20250630-{frozen.pool_hash[:12]}"
    assert draw.status == "frozen" and draw.seed is None and draw.draw_document is None
    assert verify_draw.compute_pool_hash(draw.pool_document) == draw.pool_hash == frozen.pool_hash
    assert draw.frozen_by == "张三" and draw.regions == (city.CITY, city.COUNTY) and draw.item == "inpatient"
    assert draw.pool_size == len(draw.units) == 48 == sum(frozen.strata.values())
    assert draw.units["ticket"].isna().all() and draw.units["selected"].isna().all()
    assert draw.pool_document["inspectors"]["available"], "the inspector pool is committed too"


def test_every_exclusion_is_stored_with_its_reason(loaded_sqlite):
    draw = ss.get_draw(loaded_sqlite, freeze(loaded_sqlite).draw_id)
    reasons = dict(zip(draw.exclusions["institution_code"], draw.exclusions["reason_code"], strict=True))
    assert reasons == {
        city.SUSPENDED: "not_active",
        city.NOT_YET: "not_yet_designated",
        city.AT_CAP: "routine_cap_reached",
        city.SAME_ITEM: "same_item_recent",
    }
    row = draw.exclusions.set_index("institution_code").loc[city.SAME_ITEM]
    assert "X2024-09" in row["reason_zh"] and row["inspection_id"] == "X2024-09"


def test_freezing_without_grades_tells_the_user_to_run_the_credit_evaluation(loaded):
    with pytest.raises(ss.MissingGradesError, match="medcredit credit evaluate"):
        freeze(loaded, grades=None)
    with pytest.raises(ss.MissingGradesError, match="medcredit credit evaluate"):
        ss.latest_credit_grades(loaded)
    assert count(loaded, "draws") == 0


def test_grades_may_be_a_mapping_but_an_ungraded_eligible_institution_is_named(loaded_sqlite):
    grades = dict(zip(city.grades()["institution_code"], city.grades()["grade"], strict=True))
    del grades[f"H{city.COUNTY}00012"]
    with pytest.raises(ValueError, match="grade is missing for 1 eligible institution"):
        freeze(loaded_sqlite, grades=grades)
    assert count(loaded_sqlite, "draws") == count(loaded_sqlite, "draw_units") == 0


def test_an_identical_pool_cannot_be_frozen_twice(loaded_sqlite):
    first = freeze(loaded_sqlite)
    with pytest.raises(ss.DrawStateError, match=f"already frozen as draw {first.draw_id}"):
        freeze(loaded_sqlite, actor="李四")
    second = freeze(loaded_sqlite, design=DrawDesign.stratified({"A": "0.1", "B": "0.1", "C": "0.2", "D": "0.4"}))
    assert second.pool_hash != first.pool_hash
    assert count(loaded_sqlite, "draws") == 2


def test_a_draw_needs_an_inspector_roster(store, tmp_path):
    folder = city.write_city(tmp_path / "city")
    (folder / "inspectors.csv").unlink()
    from features import import_paths

    import_paths([folder], engine=store)
    with pytest.raises(ValueError, match="no inspectors are stored"):
        freeze(store)


def test_the_actor_is_required(loaded_sqlite):
    with pytest.raises(ValueError, match="actor must name who does this"):
        freeze(loaded_sqlite, actor=" ")


# --------------------------------------------------------------------------- seed and draw


def test_entering_the_seed_draws_institutions_and_teams_and_stores_them(loaded):
    frozen = freeze(loaded)
    draw = ss.enter_seed_and_draw(loaded, frozen.draw_id, DICE, "李四")
    assert draw.status == "drawn" and draw.drawn_by == "李四"
    assert draw.seed == Seed("dice", "3141592653589793238462", "rolled at the bureau hall")
    assert draw.draw_document["draw_id"] == frozen.draw_id
    assert draw.draw_document["pool_hash"] == frozen.pool_hash
    assert draw.selected_count == len(draw.selected) == len(draw.draw_document["selected"]) > 0
    assert draw.selected["institution_code"].tolist() == [r["institution_code"] for r in draw.draw_document["selected"]]
    assert draw.units["ticket"].str.len().eq(64).all()
    assert draw.units["inclusion_probability"].between(0, 1, inclusive="right").all()
    assert draw.assignments["institution_code"].tolist() == draw.selected["institution_code"].tolist()
    regions = dict(zip(draw.units["institution_code"], draw.units["region_code"], strict=True))
    roster = city.inspectors().set_index("inspector_code")["region_code"]
    for code, team in zip(draw.assignments["institution_code"], draw.assignments["inspector_codes"], strict=True):
        assert {roster[member] for member in team.split(";")} == {regions[code]}
    assert ss.verify_stored_draw(loaded, frozen.draw_id).ok


def test_the_stored_draw_is_the_draw_the_core_computes(loaded_sqlite):
    frozen = freeze(loaded_sqlite)
    draw = ss.enter_seed_and_draw(loaded_sqlite, frozen.draw_id, DICE, "李四")
    replay = verify_draw.replay_draw(draw.pool_document, draw.pool_hash, DICE.value)
    assert [row["institution_code"] for row in replay["selected"]] == draw.selected["institution_code"].tolist()


def test_a_second_seed_is_refused_naming_the_first(loaded):
    frozen = freeze(loaded)
    ss.enter_seed_and_draw(loaded, frozen.draw_id, DICE, "李四")
    document = ss.get_draw(loaded, frozen.draw_id).draw_document
    with pytest.raises(ss.DrawStateError, match=r"3141592653589793238462.*exactly one seed"):
        ss.enter_seed_and_draw(loaded, frozen.draw_id, OTHER_DICE, "王五")
    assert ss.get_draw(loaded, frozen.draw_id).draw_document == document


def test_unknown_draws_are_lookup_errors(loaded_sqlite):
    for call in (
        lambda: ss.get_draw(loaded_sqlite, "20250630-000000000000"),
        lambda: ss.enter_seed_and_draw(loaded_sqlite, "nope", DICE, "李四"),
        lambda: ss.verify_stored_draw(loaded_sqlite, "nope"),
    ):
        with pytest.raises(ss.UnknownDrawError, match=r"no draw .* is stored"):
            call()
    assert issubclass(ss.UnknownDrawError, LookupError)


def test_a_seed_that_cannot_staff_the_teams_fails_the_draw_for_good(loaded):
    everyone = DrawDesign.stratified({"A": "1", "B": "1", "C": "1", "D": "1"})
    frozen = freeze(loaded, design=everyone, team_rules=TeamRules(max_assignments_per_inspector=4))
    with pytest.raises(TeamAssignmentError, match="已达本批次工作量上限"):
        ss.enter_seed_and_draw(loaded, frozen.draw_id, DICE, "李四")
    draw = ss.get_draw(loaded, frozen.draw_id)
    assert draw.status == "failed" and draw.seed.value == DICE.value and "workload cap" in draw.failure
    assert draw.units["ticket"].isna().all() and draw.assignments.empty and draw.draw_document is None
    with pytest.raises(ss.DrawStateError, match="freeze a new pool"):
        ss.enter_seed_and_draw(loaded, frozen.draw_id, OTHER_DICE, "李四")


def test_a_pool_altered_in_the_database_is_never_drawn(loaded):
    frozen = freeze(loaded)
    document = json.loads(json.dumps(frozen.frozen.document))
    document["units"] = document["units"][1:]
    with loaded.begin() as connection:
        connection.execute(
            ss.draws.update().where(ss.draws.c.draw_id == frozen.draw_id).values(pool_document=json.dumps(document))
        )
    with pytest.raises(ss.DrawStateError, match="it was altered; nothing was drawn"):
        ss.enter_seed_and_draw(loaded, frozen.draw_id, DICE, "李四")
    assert ss.get_draw(loaded, frozen.draw_id).status == "frozen"


def test_verification_catches_stored_rows_that_differ_from_the_document(loaded):
    frozen = freeze(loaded)
    draw = ss.enter_seed_and_draw(loaded, frozen.draw_id, DICE, "李四")
    first = draw.selected["institution_code"].iloc[0]
    with loaded.begin() as connection:
        connection.execute(
            ss.draw_units.update()
            .where(ss.draw_units.c.draw_id == frozen.draw_id, ss.draw_units.c.institution_code == first)
            .values(selected=False)
        )
    result = ss.verify_stored_draw(loaded, frozen.draw_id)
    assert not result.ok and "stored selection" in result.discrepancy


def test_verification_catches_an_edited_draw_document(loaded_sqlite):
    frozen = freeze(loaded_sqlite)
    draw = ss.enter_seed_and_draw(loaded_sqlite, frozen.draw_id, DICE, "李四")
    document = dict(draw.draw_document, seed={**draw.draw_document["seed"], "value": OTHER_DICE.value})
    with loaded_sqlite.begin() as connection:
        connection.execute(
            ss.draws.update().where(ss.draws.c.draw_id == frozen.draw_id).values(draw_document=json.dumps(document))
        )
    result = ss.verify_stored_draw(loaded_sqlite, frozen.draw_id)
    assert not result.ok and result.discrepancy.startswith("selected[0]")


def test_a_frozen_draw_has_nothing_to_verify(loaded_sqlite):
    frozen = freeze(loaded_sqlite)
    with pytest.raises(ss.DrawStateError, match="is frozen, not drawn"):
        ss.verify_stored_draw(loaded_sqlite, frozen.draw_id)


def test_draws_are_listed_newest_first(loaded):
    first = freeze(loaded)
    second = freeze(loaded, item="pharmacy")
    ss.enter_seed_and_draw(loaded, second.draw_id, DICE, "李四")
    listed = ss.list_draws(loaded)
    assert listed["draw_id"].tolist() == [second.draw_id, first.draw_id]
    assert listed["status"].tolist() == ["drawn", "frozen"]
    assert listed["selected_count"].isna().tolist() == [False, True]


def test_risk_weighted_draw_takes_its_weights_from_model_scores(loaded_sqlite):
    codes = city.grades()["institution_code"]
    scores = pd.DataFrame(
        {"institution_code": codes, "probability": [0.9 if i < 5 else 0.05 for i in range(len(codes))]}
    ).assign(expected_amount=10_000.0)
    weights = ss.risk_weights(scores)
    assert weights[codes[0]] == pytest.approx(9_000.0)
    frozen = freeze(loaded_sqlite, design=DrawDesign.risk_weighted(10), weights=weights)
    draw = ss.enter_seed_and_draw(loaded_sqlite, frozen.draw_id, DICE, "李四")
    assert draw.method == "risk_weighted" and draw.selected_count == 10
    assert draw.units["weight"].notna().all()
    assert ss.verify_stored_draw(loaded_sqlite, frozen.draw_id).ok


def test_risk_weights_refuse_missing_probabilities():
    scores = pd.DataFrame({"institution_code": ["H1", "H2"], "probability": [0.2, None]})
    with pytest.raises(ValueError, match=r"missing or negative risk weights for \['H2'\]"):
        ss.risk_weights(scores)


# --------------------------------------------------------------------------- targeted selections


def test_targeting_counts_recent_leads_of_active_designated_institutions(loaded_sqlite):
    frame = ss.targeting_frame(loaded_sqlite, as_of=city.AS_OF, grades=city.grades()).set_index("institution_code")
    assert frame.loc[city.COMPLAINED, "substantiated_complaints"] == 1  # the 2023 complaint is out of the window
    assert frame.loc[f"H{city.CITY}00009", "substantiated_complaints"] == 0  # not substantiated
    assert frame.loc[city.REFERRED, "referrals"] == 1
    assert city.SUSPENDED not in frame.index and city.NOT_YET not in frame.index
    assert frame["credit_score"].notna().all()


def test_targeted_selection_is_stored_with_every_reason(loaded):
    stored = ss.select_and_save_targeted(loaded, as_of=city.AS_OF, budget=12, grades=city.grades(), actor="李四")
    picks = stored.selected.set_index("institution_code")
    assert picks.loc[city.COMPLAINED, "reason_codes"] == "substantiated_complaint"
    assert picks.loc[city.REFERRED, "trigger"]
    assert len(stored.selected) == 12 and stored.selected["priority_rank"].notna().sum() == 12 - picks["trigger"].sum()
    reasons = stored.reasons.set_index("institution_code")
    assert "属实投诉举报 1 件" in reasons.loc[city.COMPLAINED, "zh"]
    low = stored.selected.loc[~stored.selected["trigger"], "reason_codes"]
    assert set(low) == {"low_credit_score"}
    again = ss.get_targeted_selection(loaded, stored.selection_id)
    pd.testing.assert_frame_equal(again.selected, stored.selected)
    assert again.rules["trigger_grades"] == ["D", "E"]


def test_unknown_selection_and_plan_are_lookup_errors(loaded_sqlite):
    with pytest.raises(ss.UnknownSelectionError):
        ss.get_targeted_selection(loaded_sqlite, 99)
    with pytest.raises(ss.UnknownPlanError):
        ss.get_plan(loaded_sqlite, 99)


# --------------------------------------------------------------------------- yearly plans


def test_plan_puts_rounds_in_their_month_and_everyone_else_once(loaded):
    draw = ss.enter_seed_and_draw(loaded, freeze(loaded).draw_id, DICE, "李四")
    targeted = ss.select_and_save_targeted(loaded, as_of=city.AS_OF, budget=8, grades=city.grades(), actor="李四")
    plan = ss.plan_year(
        loaded,
        rules=PlanRules(year=2025),
        actor="李四",
        grades=city.grades(),
        draw_ids=[draw.draw_id],
        selection_ids=[targeted.selection_id],
        reserved=[PlannedRound("random", 10, 3)],
    )
    active = set(city.institutions().query("status == 'active'")["institution_code"]) - {city.NOT_YET}
    assert set(plan.visits["institution_code"]) == active
    june = plan.visits[plan.visits["month"] == 6].set_index("institution_code")
    assert set(draw.selected["institution_code"]) <= set(june.index)
    assert (june.loc[list(draw.selected["institution_code"]), "origins"].str.startswith("random")).all()
    assert june.loc[draw.selected["institution_code"].iloc[0], "items"].startswith("inpatient")
    assert plan.months.loc[plan.months["month"] == 10, "random"].item() == 3
    assert (plan.months["planned"] <= plan.months["capacity"]).all()
    stored = ss.get_plan(loaded, plan.plan_id)
    pd.testing.assert_frame_equal(stored.visits, plan.visits)
    assert stored.sources["draw_ids"] == [draw.draw_id] and stored.rules["year"] == 2025


def test_a_frozen_draw_or_one_of_another_year_cannot_enter_a_plan(loaded_sqlite):
    frozen = freeze(loaded_sqlite)
    with pytest.raises(ss.DrawStateError, match="only drawn draws enter a plan"):
        ss.plan_year(loaded_sqlite, rules=PlanRules(year=2025), actor="李四", draw_ids=[frozen.draw_id])
    ss.enter_seed_and_draw(loaded_sqlite, frozen.draw_id, DICE, "李四")
    with pytest.raises(ValueError, match="not in the plan year 2026"):
        ss.plan_year(loaded_sqlite, rules=PlanRules(year=2026), actor="李四", draw_ids=[frozen.draw_id])
    assert count(loaded_sqlite, "plans") == 0


# --------------------------------------------------------------------------- lists


def test_targeted_selections_and_plans_are_listed_newest_first(loaded):
    assert ss.list_targeted_selections(loaded).empty and ss.list_plans(loaded).empty
    first = ss.select_and_save_targeted(loaded, as_of=city.AS_OF, budget=12, grades=city.grades(), actor="李四")
    second = ss.select_and_save_targeted(loaded, as_of=city.AS_OF, budget=14, grades=city.grades(), actor="王五")
    selections = ss.list_targeted_selections(loaded)
    assert selections["selection_id"].tolist() == [second.selection_id, first.selection_id]
    assert selections["budget"].tolist() == [14, 12]
    assert selections["selected_count"].tolist() == [len(second.selected), len(first.selected)] == [14, 12]
    assert selections["created_by"].tolist() == ["王五", "李四"]
    assert selections["as_of"].dtype == "datetime64[ns]" and (selections["as_of"] == pd.Timestamp(city.AS_OF)).all()

    whole = ss.plan_year(loaded, rules=PlanRules(year=2025), actor="李四", selection_ids=[first.selection_id])
    county = ss.plan_year(loaded, rules=PlanRules(year=2025), actor="李四", regions=[city.CITY])
    plans = ss.list_plans(loaded).set_index("plan_id")
    assert plans.index.tolist() == [county.plan_id, whole.plan_id]
    assert plans.loc[whole.plan_id, "regions"] == "" and plans.loc[county.plan_id, "regions"] == city.CITY
    assert plans.loc[whole.plan_id, "selection_ids"] == str(first.selection_id)
    assert plans.loc[whole.plan_id, "visits"] == len(whole.visits)
    assert plans.loc[county.plan_id, "visits"] == len(county.visits) < len(whole.visits)
