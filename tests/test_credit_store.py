"""Stored credit runs, grade changes, objections and repairs, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, datetime

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from features import import_paths
from features.storage import metadata
from scoring import credit_store
from scoring.credit_store import CreditDecisionError, CreditRecordNotFound
from tests.factories import INSPECTIONS, INSTITUTIONS, write_tables

H1, H2, P3, P4 = "H44150200001", "H44150200002", "P44150200003", "P44152100004"
AS_OF = date(2025, 6, 30)
RUN_AT = datetime(2025, 7, 1, 9, 0)


def violation(vid: str, code: str, decided: str, disposition: str, *, fraud: str = "false") -> dict:
    return {
        "violation_id": vid,
        "institution_code": code,
        "found_date": decided,
        "decision_date": decided,
        "source": "routine_inspection",
        "category": "other",
        "amount": "1000",
        "disposition": disposition,
        "fraud": fraud,
        "lenient": "false",
        "status": "confirmed",
    }


VIOLATIONS = [
    violation("V1", H1, "2025-01-10", "recovery"),  # -3 → 97 A; repairable after 6 months
    violation("V3", H2, "2025-02-01", "penalty_art38"),  # -15 → 85 B; repairable after 12 months, half restored
    violation("V2", P3, "2025-02-01", "agreement_suspension"),  # -10 → 90 A
    violation("V4", P4, "2025-02-15", "penalty_art40"),  # -20, not repairable; P4 is also terminated (veto)
]


def institutions() -> pd.DataFrame:
    frame = INSTITUTIONS.copy()
    frame["status"] = ["active", "active", "active", "terminated"]
    frame["status_since"] = ["", "", "", "2025-03-01"]
    return frame


def load(engine, tmp_path):
    tables = {"institutions": institutions(), "inspections": INSPECTIONS.copy(), "violations": pd.DataFrame(VIOLATIONS)}
    import_paths([write_tables(tmp_path / "in", tables)], engine=engine)
    return engine


@pytest.fixture
def loaded(store, tmp_path):
    """The test data in a store, on SQLite and PostgreSQL: for behaviour that touches the database."""
    return load(store, tmp_path)


@pytest.fixture
def loaded_sqlite(sqlite_store, tmp_path):
    """The test data on SQLite only: for rules that do not depend on the database."""
    return load(sqlite_store, tmp_path)


def add_violations(engine, tmp_path, *rows: dict) -> None:
    import_paths([write_tables(tmp_path / "more", {"violations": pd.DataFrame(list(rows))})], engine=engine)


def run(engine, as_of=AS_OF, at=RUN_AT, policy="national-100"):
    return credit_store.run_evaluation(engine, as_of, policy, "信用科", at=at)


def result(engine, run_id: int, code: str) -> pd.Series:
    return credit_store.run_results(engine, run_id).set_index("institution_code").loc[code]


def line_ids(engine, run_id: int, code: str) -> list[str]:
    return list(credit_store.run_lines(engine, run_id, code)["line_id"])


def test_run_is_stored_with_policy_snapshot_results_and_lines(loaded):
    first = run(loaded)
    runs = credit_store.list_runs(loaded)
    assert list(runs["run_id"]) == [first.run_id]
    assert runs.loc[0, "policy_name"] == "national-100" and runs.loc[0, "policy_hash"] == first.policy_hash
    assert runs.loc[0, "created_by"] == "信用科" and runs.loc[0, "institutions"] == 4
    assert first.distribution().to_dict() == {"A": 2, "B": 1, "C": 0, "D": 1}
    stored = credit_store.run_results(loaded, first.run_id).set_index("institution_code")
    expected = first.evaluation.institutions.set_index("institution_code")
    assert stored["score"].to_dict() == expected["score"].to_dict() == {H1: 97.0, H2: 85.0, P3: 90.0, P4: 80.0}
    assert stored["grade"].to_dict() == {H1: "A", H2: "B", P3: "A", P4: "D"}
    assert bool(stored.loc[P4, "veto"]) and stored.loc[P4, "veto_rules"] == "veto_institution_terminated"
    lines = credit_store.run_lines(loaded, first.run_id)
    assert sorted(lines["line_id"]) == sorted(first.evaluation.lines["line_id"])
    assert credit_store.run_policy(loaded, first.run_id).sha256 == first.policy_hash
    with loaded.connect() as connection:
        snapshot = json.loads(connection.execute(sa.text("SELECT data_snapshot FROM credit_runs")).scalar())
    assert snapshot["max_import_id"] == 1
    assert snapshot["tables"]["violations"]["rows"] == 4 and len(snapshot["tables"]["violations"]["sha256"]) == 64
    assert snapshot["tables"]["institutions"]["rows"] == 4


def test_same_data_policy_and_date_store_identical_results(loaded_sqlite):
    first, second = run(loaded_sqlite), run(loaded_sqlite, at=datetime(2025, 7, 2))
    a = credit_store.run_results(loaded_sqlite, first.run_id).drop(columns="run_id")
    b = credit_store.run_results(loaded_sqlite, second.run_id).drop(columns="run_id")
    pd.testing.assert_frame_equal(a, b)
    lines_a = credit_store.run_lines(loaded_sqlite, first.run_id).drop(columns="run_id")
    pd.testing.assert_frame_equal(lines_a, credit_store.run_lines(loaded_sqlite, second.run_id).drop(columns="run_id"))
    with loaded_sqlite.connect() as connection:
        snapshots = connection.execute(sa.text("SELECT data_snapshot FROM credit_runs ORDER BY run_id")).scalars()
        assert len(set(snapshots)) == 1


def test_grade_changes_between_runs_are_listed_with_reasons(loaded, tmp_path):
    first = run(loaded)
    add_violations(loaded, tmp_path, violation("V9", H1, "2025-05-01", "penalty_art38"))
    second = run(loaded, at=datetime(2025, 7, 2))
    changes = credit_store.grade_changes(loaded, first.run_id, second.run_id)
    assert list(changes["institution_code"]) == [H1]
    change = changes.iloc[0]
    assert (change["grade_a"], change["grade_b"], change["direction"]) == ("A", "B", "down")
    assert (change["score_a"], change["score_b"]) == (97.0, 82.0)
    assert change["reason_zh"] == "新增：v_penalty_art38:V9 -15.00"
    assert change["reason_en"] == "added: v_penalty_art38:V9 -15.00"
    matrix = credit_store.migration_matrix(loaded, first.run_id, second.run_id)
    assert matrix.loc["A", "A"] == 1 and matrix.loc["A", "B"] == 1 and matrix.loc["B", "B"] == 1
    assert matrix.loc["D", "D"] == 1 and int(matrix.to_numpy().sum()) == 4
    assert list(matrix.index) == ["A", "B", "C", "D"]


def test_changes_between_policies_say_so(loaded_sqlite):
    national, guangdong = run(loaded_sqlite), run(loaded_sqlite, policy="guangdong-1000")
    changes = credit_store.grade_changes(loaded_sqlite, national.run_id, guangdong.run_id).set_index("institution_code")
    assert changes.loc[H1, "reason_en"].startswith("different policy national-100 → guangdong-1000")
    assert changes["direction"].isna().all()
    assert credit_store.migration_matrix(loaded_sqlite, national.run_id, guangdong.run_id).shape == (4, 5)


def test_upheld_objection_removes_the_line_and_regrades_at_once(loaded):
    first = run(loaded)
    objection = credit_store.file_objection(
        loaded,
        "v_penalty_art38:V3",
        reason="处罚决定已被撤销",
        attachments=["撤销决定书.pdf", "说明.docx"],
        actor="H2 院办",
        at=datetime(2025, 7, 5, 10),
    )
    pending = run(loaded, at=datetime(2025, 7, 6))
    line = credit_store.run_lines(loaded, pending.run_id, H2).iloc[0]
    assert bool(line["objection_pending"]) and line["text_zh"].endswith("（异议处理中）")
    decision = credit_store.decide_objection(
        loaded, objection, upheld=True, actor="科长", note="核实属实", at=datetime(2025, 7, 10, 15)
    )
    assert decision.status == "upheld" and decision.regrade_run_id is not None
    regrade = credit_store.list_runs(loaded).set_index("run_id").loc[decision.regrade_run_id]
    assert regrade["scope"] == H2 and regrade["parent_run_id"] == pending.run_id
    assert regrade["as_of"] == AS_OF and "objection #" in regrade["reason"]
    assert line_ids(loaded, decision.regrade_run_id, H2) == []
    assert result(loaded, decision.regrade_run_id, H2)["grade"] == "A"
    latest = credit_store.latest_results(loaded).set_index("institution_code")
    assert latest.loc[H2, "score"] == 100.0 and latest.loc[H1, "run_id"] == pending.run_id
    changes = credit_store.grade_changes(loaded, first.run_id, decision.regrade_run_id)
    assert changes.iloc[0]["reason_zh"] == "异议成立撤销：v_penalty_art38:V3 -15.00"
    recorded = credit_store.list_objections(loaded).iloc[0]
    assert recorded["status"] == "upheld" and recorded["decided_by"] == "科长"
    assert json.loads(recorded["attachments"]) == ["撤销决定书.pdf", "说明.docx"]
    assert "V3" not in " ".join(line_ids(loaded, run(loaded, at=datetime(2025, 7, 11)).run_id, H2))


def test_rejected_objection_keeps_the_line(loaded_sqlite):
    first = run(loaded_sqlite)
    objection = credit_store.file_objection(
        loaded_sqlite, "v_recovery:V1", reason="不服", actor="H1", at=datetime(2025, 7, 2)
    )
    decision = credit_store.decide_objection(
        loaded_sqlite, objection, upheld=False, actor="科长", at=datetime(2025, 7, 3)
    )
    assert decision.status == "rejected" and decision.regrade_run_id is None
    again = run(loaded_sqlite, at=datetime(2025, 7, 4))
    line = credit_store.run_lines(loaded_sqlite, again.run_id, H1).iloc[0]
    assert line["line_id"] == "v_recovery:V1" and not bool(line["objection_pending"])
    assert len(credit_store.list_runs(loaded_sqlite)) == 2 and first.run_id < again.run_id


def test_deciding_twice_is_refused_and_changes_nothing(loaded):
    run(loaded)
    objection = credit_store.file_objection(loaded, "v_recovery:V1", reason="r", actor="H1", at=datetime(2025, 7, 2))
    credit_store.decide_objection(loaded, objection, upheld=False, actor="科长", at=datetime(2025, 7, 3))
    with pytest.raises(CreditDecisionError, match=r"objection #\d+ was already decided: rejected by 科长"):
        credit_store.decide_objection(loaded, objection, upheld=True, actor="处长")
    assert credit_store.list_objections(loaded).iloc[0]["status"] == "rejected"
    assert len(credit_store.list_runs(loaded)) == 1


def test_objection_must_be_filed_within_the_window(loaded_sqlite):
    run(loaded_sqlite)  # published 2025-07-01; 15-day window closes 2025-07-16
    with pytest.raises(CreditDecisionError, match=r"closed on 2025-07-16 .* filed on 2025-07-17"):
        credit_store.file_objection(loaded_sqlite, "v_recovery:V1", reason="r", actor="H1", at=datetime(2025, 7, 17))
    assert credit_store.list_objections(loaded_sqlite).empty
    credit_store.file_objection(loaded_sqlite, "v_recovery:V1", reason="r", actor="H1", at=datetime(2025, 7, 16, 23))


def test_window_runs_from_the_first_publication_of_the_line(loaded_sqlite):
    run(loaded_sqlite)
    run(loaded_sqlite, at=datetime(2025, 9, 1))  # the same line published again later does not reopen the window
    with pytest.raises(CreditDecisionError, match="first published in run #"):
        credit_store.file_objection(loaded_sqlite, "v_recovery:V1", reason="r", actor="H1", at=datetime(2025, 9, 2))


def test_a_second_pending_objection_on_a_line_is_refused(loaded_sqlite):
    run(loaded_sqlite)
    first = credit_store.file_objection(loaded_sqlite, "v_recovery:V1", reason="r", actor="H1", at=datetime(2025, 7, 2))
    with pytest.raises(CreditDecisionError, match=f"already has objection #{first} with status 'pending'"):
        credit_store.file_objection(loaded_sqlite, "v_recovery:V1", reason="again", actor="H1", at=datetime(2025, 7, 3))


def test_unknown_ids_raise_lookup_errors_naming_them(loaded_sqlite):
    run(loaded_sqlite)
    with pytest.raises(CreditRecordNotFound, match="line_id 'v_recovery:V404' is not in any stored credit run"):
        credit_store.file_objection(loaded_sqlite, "v_recovery:V404", reason="r", actor="a")
    with pytest.raises(LookupError, match="objection_id 99"):
        credit_store.decide_objection(loaded_sqlite, 99, upheld=True, actor="a")
    with pytest.raises(LookupError, match="repair_id 99"):
        credit_store.approve_repair(loaded_sqlite, 99, actor="a")
    with pytest.raises(LookupError, match="run_id 42"):
        credit_store.run_results(loaded_sqlite, 42)
    with pytest.raises(LookupError, match="H44150299999"):
        credit_store.explain(loaded_sqlite, "H44150299999")


def test_bad_arguments_are_refused(loaded_sqlite):
    run(loaded_sqlite)
    with pytest.raises(ValueError, match="reason must be a non-empty string; got ''"):
        credit_store.file_objection(loaded_sqlite, "v_recovery:V1", reason="", actor="a")
    with pytest.raises(ValueError, match="actor must be a non-empty string"):
        credit_store.run_evaluation(loaded_sqlite, AS_OF, "national-100", " ")


def test_repair_of_a_veto_is_refused(loaded_sqlite):
    run(loaded_sqlite)
    with pytest.raises(CreditDecisionError, match="vetoes are not repairable within the cycle"):
        credit_store.apply_repair(loaded_sqlite, f"veto_institution_terminated:{P4}", reason="整改", actor="P4")
    assert credit_store.list_repairs(loaded_sqlite).empty


def test_repair_of_a_rule_the_policy_does_not_list_is_refused(loaded_sqlite):
    run(loaded_sqlite)
    with pytest.raises(CreditDecisionError, match="'v_penalty_art40' of line 'v_penalty_art40:V4' is not repairable"):
        credit_store.apply_repair(loaded_sqlite, "v_penalty_art40:V4", reason="整改", actor="P4")


def test_approved_repair_lifts_the_deduction_after_the_waiting_period(loaded):
    run(loaded)
    repair = credit_store.apply_repair(
        loaded, "v_recovery:V1", reason="已退回并整改", actor="H1", applied_on=date(2025, 7, 2), at=datetime(2025, 7, 2)
    )
    with pytest.raises(CreditDecisionError, match="already has repair"):
        credit_store.apply_repair(loaded, "v_recovery:V1", reason="again", actor="H1")
    decision = credit_store.approve_repair(loaded, repair, actor="科长", at=datetime(2025, 7, 3))
    # recovery decided 2025-01-10, waiting 6 months: effective 2025-07-10
    assert decision.status == "approved" and decision.effective_date == date(2025, 7, 10)
    waiting = run(loaded, as_of=date(2025, 7, 9), at=datetime(2025, 7, 9))
    assert result(loaded, waiting.run_id, H1)["score"] == 97.0
    lifted = run(loaded, as_of=date(2025, 7, 10), at=datetime(2025, 7, 10))
    assert result(loaded, lifted.run_id, H1)["score"] == 100.0
    line = credit_store.run_lines(loaded, lifted.run_id, H1).iloc[0]
    assert line["repair_state"] == "lifted" and line["points"] == 0.0 and line["points_rule"] == -3.0
    with pytest.raises(CreditDecisionError, match="already decided: approved by 科长"):
        credit_store.approve_repair(loaded, repair, actor="处长", approved=False)


def test_objection_upheld_after_a_repair_removes_the_line_entirely(loaded_sqlite):
    run(loaded_sqlite)
    objection = credit_store.file_objection(
        loaded_sqlite, "v_penalty_art38:V3", reason="处罚依据错误", actor="H2", at=datetime(2025, 7, 5)
    )
    # Art. 38 decided 2025-02-01: waiting 12 months, half restored
    repair = credit_store.apply_repair(
        loaded_sqlite,
        "v_penalty_art38:V3",
        reason="整改完成",
        actor="H2",
        applied_on=date(2026, 2, 2),
        at=datetime(2026, 2, 2),
    )
    credit_store.approve_repair(loaded_sqlite, repair, actor="科长", at=datetime(2026, 2, 3))
    repaired = run(loaded_sqlite, as_of=date(2026, 2, 28), at=datetime(2026, 3, 1))
    line = credit_store.run_lines(loaded_sqlite, repaired.run_id, H2).iloc[0]
    assert line["points"] == -7.5 and line["repair_state"] == "lifted" and bool(line["objection_pending"])
    assert result(loaded_sqlite, repaired.run_id, H2)["score"] == 92.5
    decision = credit_store.decide_objection(
        loaded_sqlite, objection, upheld=True, actor="科长", at=datetime(2026, 3, 5)
    )
    assert line_ids(loaded_sqlite, decision.regrade_run_id, H2) == []
    assert result(loaded_sqlite, decision.regrade_run_id, H2)["score"] == 100.0
    text = credit_store.explain(loaded_sqlite, H2, lang="en")
    assert "status: upheld" in text and "credit repair #" in text


def test_failed_regrade_writes_nothing(loaded, monkeypatch):
    run(loaded)
    objection = credit_store.file_objection(loaded, "v_recovery:V1", reason="r", actor="H1", at=datetime(2025, 7, 2))

    def broken(*args, **kwargs):
        raise RuntimeError("evaluation failed")

    monkeypatch.setattr(credit_store, "evaluate_credit", broken)
    with pytest.raises(RuntimeError, match="evaluation failed"):
        credit_store.decide_objection(loaded, objection, upheld=True, actor="科长")
    assert credit_store.list_objections(loaded).iloc[0]["status"] == "pending"
    assert len(credit_store.list_runs(loaded)) == 1


def test_explain_shows_grade_lines_and_history_in_both_languages(loaded_sqlite):
    first = run(loaded_sqlite)
    credit_store.file_objection(
        loaded_sqlite, "v_recovery:V1", reason="金额有误", actor="H1", attachments=["a.pdf"], at=datetime(2025, 7, 2)
    )
    zh = credit_store.explain(loaded_sqlite, H1)
    assert f"评价批次 #{first.run_id}" in zh and "得分 97.00 / 100，等级 A" in zh
    assert "v_recovery:V1 · -3.00 · 追回：违规记录 V1（2025-01-10）扣 3.00 分" in zh
    assert "异议 #1（行 v_recovery:V1）：2025-07-02 由 H1 提出，理由：金额有误；附件：a.pdf；状态：待处理" in zh
    en = credit_store.explain(loaded_sqlite, P4, run_id=first.run_id, lang="en")
    assert "grade D (by score B)" in en and "veto: grade no better than D" in en
    with pytest.raises(ValueError, match="lang must be one of"):
        credit_store.explain(loaded_sqlite, H1, lang="fr")


def test_score_history_is_a_time_series(loaded_sqlite):
    run(loaded_sqlite, as_of=date(2024, 12, 31), at=datetime(2025, 1, 2))
    run(loaded_sqlite)
    history = credit_store.score_history(loaded_sqlite, H1)
    assert list(history["score"]) == [100.0, 97.0]
    assert [str(d) for d in history["as_of"]] == ["2024-12-31", "2025-06-30"]


def test_migration_matches_the_table_definitions(store):
    with store.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), metadata)

    def names(diff) -> str:
        return repr(diff)

    assert [d for d in diffs if "credit_" in names(d)] == []
