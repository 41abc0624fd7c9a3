"""Recording inspection results through the importer's validation, publication deadlines, draw prevalence."""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
import pytest

from features import ImportRejected, import_paths, load_table
from scoring import outcomes
from scoring import selection_store as ss
from scoring.draws import Seed
from scoring.metrics import draw_prevalence
from tests import selection_data as city

city_templates, loaded, loaded_sqlite = city.city_templates, city.loaded, city.loaded_sqlite  # fixtures

DICE = Seed("dice", "31415926535897932384")
H1 = f"H{city.CITY}00010"
VIOLATIONS = [
    {"category": "split_admission", "amount": 1200.5, "disposition": "recovery"},
    {"category": "overcharging", "amount": "300", "disposition": "refusal", "fraud": True, "status": "under_appeal"},
]


def record(engine, **overrides):
    arguments = {
        "institution_code": H1,
        "start_date": "2025-07-10",
        "kind": "routine",
        "level": "city",
        "inspector_codes": ["E002", "E003"],
        "found_violation": True,
        "violations": VIOLATIONS,
        "items": "inpatient;pharmacy",
        "actor": "李四",
    }
    return outcomes.record_outcome(engine, **{**arguments, **overrides})


@pytest.fixture
def drawn(loaded_sqlite):
    """The sqlite city with a drawn draw; returns (engine, stored draw)."""
    frozen = ss.freeze_draw(
        loaded_sqlite,
        as_of=city.AS_OF,
        regions=[city.CITY, city.COUNTY],
        item="inpatient",
        grades=city.grades(),
        actor="张三",
    )
    return loaded_sqlite, ss.enter_seed_and_draw(loaded_sqlite, frozen.draw_id, DICE, "张三")


# --------------------------------------------------------------------------- recording


def test_recording_an_outcome_creates_the_inspection_and_its_violations(loaded):
    recorded = record(loaded)
    assert recorded.inspection_id == f"INS-20250710-{H1}" and recorded.written
    assert recorded.violation_ids == (f"INS-20250710-{H1}-V1", f"INS-20250710-{H1}-V2")
    assert recorded.publication_due == date(2025, 8, 7)
    inspection = load_table(loaded, "inspections").set_index("inspection_id").loc[recorded.inspection_id]
    assert inspection["kind"] == "routine" and inspection["inspector_codes"] == "E002;E003"
    assert bool(inspection["found_violation"]) and inspection["amount_found"] == pytest.approx(1500.5)
    assert inspection["items"] == "inpatient;pharmacy" and pd.isna(inspection["result_published"])
    violations = load_table(loaded, "violations").set_index("violation_id")
    first, second = violations.loc[recorded.violation_ids[0]], violations.loc[recorded.violation_ids[1]]
    assert first["source"] == "routine_inspection" and first["found_date"] == pd.Timestamp("2025-07-10")
    assert first["inspection_id"] == recorded.inspection_id and first["status"] == "confirmed"
    assert bool(second["fraud"]) and second["status"] == "under_appeal" and second["amount"] == pytest.approx(300.0)


def test_bad_values_get_the_importers_problems_and_nothing_is_written(loaded_sqlite):
    before = len(load_table(loaded_sqlite, "inspections"))
    bad = [{"category": "no_such_category", "amount": "1.234", "disposition": "recovery"}]
    with pytest.raises(ImportRejected) as error:
        record(loaded_sqlite, level="town", violations=bad)
    reasons = {(p.table, p.column, p.reason) for p in error.value.problems}
    assert {
        ("inspections", "level", "bad_code"),
        ("violations", "category", "bad_code"),
        ("violations", "amount", "too_many_decimals"),
    } <= reasons
    with pytest.raises(ImportRejected) as error:
        record(loaded_sqlite, institution_code="H44150299999")
    assert ("inspections", "institution_code", "unknown_institution") in {
        (p.table, p.column, p.reason) for p in error.value.problems
    }
    assert len(load_table(loaded_sqlite, "inspections")) == before
    assert load_table(loaded_sqlite, "violations").empty


def test_a_single_inspector_is_refused_like_in_an_import(loaded_sqlite):
    with pytest.raises(ImportRejected) as error:
        record(loaded_sqlite, inspector_codes=["E002"])
    problems = {(p.table, p.column, p.reason) for p in error.value.problems}
    assert ("inspections", "inspector_codes", "too_few_items") in problems


def test_recording_the_same_outcome_twice_changes_nothing_but_a_different_one_conflicts(loaded_sqlite):
    record(loaded_sqlite)
    again = record(loaded_sqlite)
    assert not again.written
    with pytest.raises(ImportRejected) as error:
        record(loaded_sqlite, found_violation=False, violations=[], amount_found=0)
    assert {p.reason for p in error.value.problems} == {"conflict"}
    other = record(loaded_sqlite, inspection_id="INS-SECOND", found_violation=False, violations=[])
    assert other.written and other.inspection_id == "INS-SECOND"


def test_violations_without_a_finding_and_unknown_fields_are_refused(loaded_sqlite):
    with pytest.raises(ValueError, match="a result with violations is a finding"):
        record(loaded_sqlite, found_violation=False)
    with pytest.raises(ValueError, match=r"violation 1 has unknown field\(s\) \['amout'\]"):
        record(loaded_sqlite, violations=[{"category": "other", "amout": 5, "disposition": "interview"}])
    with pytest.raises(ValueError, match=r"not in the inspector roster \(执法人员库\): \['Z9'\]"):
        record(loaded_sqlite, inspector_codes=["E002", "Z9"])


def test_an_inspection_of_a_draw_takes_its_team_and_item(drawn):
    engine, draw = drawn
    code = draw.selected["institution_code"].iloc[0]
    recorded = outcomes.record_outcome(
        engine,
        institution_code=code,
        start_date="2025-07-15",
        level="city",
        found_violation=False,
        draw_id=draw.draw_id,
        actor="李四",
    )
    row = load_table(engine, "inspections").set_index("inspection_id").loc[recorded.inspection_id]
    team = draw.assignments.set_index("institution_code").loc[code, "inspector_codes"]
    assert (row["kind"], row["draw_id"], row["inspector_codes"], row["items"]) == (
        "random",
        draw.draw_id,
        team,
        "inpatient",
    )


def test_an_inspection_of_a_draw_must_be_of_a_drawn_institution_after_the_draw(drawn):
    engine, draw = drawn
    code = draw.selected["institution_code"].iloc[0]
    outsider = sorted(set(draw.units["institution_code"]) - set(draw.selected["institution_code"]))[0]
    common = {"level": "city", "found_violation": False, "draw_id": draw.draw_id, "actor": "李四"}
    with pytest.raises(ValueError, match=f"institution {outsider} was not drawn in draw {draw.draw_id}"):
        outcomes.record_outcome(engine, institution_code=outsider, start_date="2025-07-15", **common)
    with pytest.raises(ValueError, match="before the draw date"):
        outcomes.record_outcome(engine, institution_code=code, start_date="2025-06-01", **common)
    with pytest.raises(ValueError, match="kind must be 'random'"):
        outcomes.record_outcome(engine, institution_code=code, start_date="2025-07-15", kind="targeted", **common)
    with pytest.raises(ss.UnknownDrawError):
        outcomes.record_outcome(engine, institution_code=code, start_date="2025-07-15", **{**common, "draw_id": "x"})


# --------------------------------------------------------------------------- publication deadline


def test_overdue_lists_unpublished_and_late_results_with_names(loaded):
    on_time = record(loaded, start_date="2025-09-15", result_published="2025-10-17", inspection_id="ON-TIME")
    late = record(loaded, start_date="2025-09-15", result_published="2025-10-21", inspection_id="LATE")
    missing = record(loaded, start_date="2025-09-15", inspection_id="MISSING")
    listed = outcomes.overdue_results(loaded, "2025-11-03").set_index("inspection_id")
    assert on_time.inspection_id not in listed.index
    assert listed.loc[late.inspection_id, "status"] == "published_late"
    assert listed.loc[late.inspection_id, "working_days_late"] == 2
    assert listed.loc[missing.inspection_id, "status"] == "unpublished"
    assert listed.loc[missing.inspection_id, "name"] == "测试医院02-10"
    assert listed.loc[missing.inspection_id, "due_date"] == pd.Timestamp("2025-10-17")
    assert "X2024-09" in listed.index  # the city's 2024 inspection was never published
    only_county = outcomes.overdue_results(loaded, "2025-11-03", regions=[city.COUNTY])
    assert only_county.empty


def test_inspections_after_today_are_not_listed(loaded_sqlite):
    record(loaded_sqlite, start_date="2025-12-01", inspection_id="FUTURE")
    assert "FUTURE" not in set(outcomes.overdue_results(loaded_sqlite, "2025-11-03")["inspection_id"])


def test_marking_results_published_keeps_the_bureaus_re_import_unchanged(loaded, tmp_path):
    recorded = record(loaded, start_date="2025-09-15")
    result = outcomes.mark_published(loaded, recorded.inspection_id, "2025-10-20", actor="李四")
    assert (result.due_date, result.on_time) == (date(2025, 10, 17), False)
    assert recorded.inspection_id in set(outcomes.overdue_results(loaded, "2025-11-03")["inspection_id"])
    stored = load_table(loaded, "inspections")
    bureau_file = tmp_path / "bureau" / "inspections.csv"
    bureau_file.parent.mkdir()
    stored.to_csv(bureau_file, index=False)
    report = import_paths([bureau_file], engine=loaded)
    assert report.rows_written == 0 and report.rows_unchanged == len(stored)
    stored.loc[stored["inspection_id"] == recorded.inspection_id, "result_published"] = pd.Timestamp("2025-10-22")
    stored.to_csv(bureau_file, index=False)
    with pytest.raises(ImportRejected) as error:
        import_paths([bureau_file], engine=loaded)
    assert [p.reason for p in error.value.problems] == ["conflict"]


def test_a_publication_date_is_recorded_once_and_not_before_the_inspection(loaded_sqlite):
    recorded = record(loaded_sqlite, start_date="2025-09-15")
    with pytest.raises(ValueError, match="before the inspection started"):
        outcomes.mark_published(loaded_sqlite, recorded.inspection_id, "2025-09-01", actor="李四")
    outcomes.mark_published(loaded_sqlite, recorded.inspection_id, "2025-10-09", actor="李四")
    assert outcomes.mark_published(loaded_sqlite, recorded.inspection_id, "2025-10-09", actor="李四").on_time
    with pytest.raises(ValueError, match="already published on 2025-10-09"):
        outcomes.mark_published(loaded_sqlite, recorded.inspection_id, "2025-10-10", actor="李四")
    with pytest.raises(outcomes.UnknownInspectionError, match="no inspection 'NOPE'"):
        outcomes.mark_published(loaded_sqlite, "NOPE", "2025-10-10", actor="李四")


# --------------------------------------------------------------------------- results of a draw


def test_draw_results_and_prevalence_follow_the_recorded_outcomes(drawn):
    engine, draw = drawn
    codes = draw.selected["institution_code"].tolist()
    common = {"level": "city", "draw_id": draw.draw_id, "start_date": "2025-07-15", "actor": "李四"}
    outcomes.record_outcome(engine, institution_code=codes[0], found_violation=True, violations=VIOLATIONS, **common)
    outcomes.record_outcome(engine, institution_code=codes[1], found_violation=False, **common)
    results = outcomes.draw_results(engine, draw.draw_id).set_index("institution_code")
    assert results.loc[codes[0], "violations"] == 2
    assert results.loc[codes[0], "categories"] == "overcharging;split_admission"
    assert results.loc[codes[1], "violations"] == 0 and not results.loc[codes[1], "found_violation"]
    assert results.loc[codes[2:], "inspection_id"].isna().all()
    estimate = draw_prevalence(draw.draw_document, results["found_violation"])
    p0, p1 = draw.selected.set_index("institution_code").loc[codes[:2], "inclusion_probability"]
    assert (estimate.inspected, estimate.found, estimate.pending) == (2, 1, len(codes) - 2)
    assert estimate.hajek == pytest.approx((1 / p0) / (1 / p0 + 1 / p1))
    assert estimate.horvitz_thompson == pytest.approx((1 / p0) / draw.pool_size)


def test_prevalence_refuses_results_of_institutions_not_drawn(drawn):
    _, draw = drawn
    outsider = sorted(set(draw.units["institution_code"]) - set(draw.selected["institution_code"]))[0]
    with pytest.raises(ValueError, match="not drawn in"):
        draw_prevalence(draw.draw_document, {outsider: True})
    nothing = draw_prevalence(draw.draw_document, {})
    assert nothing.inspected == 0 and math.isnan(nothing.hajek) and nothing.population == draw.pool_size
