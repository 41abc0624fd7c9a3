"""Stored risk scores: one batch per scoring, newest score per institution, the command's --store."""

# ruff: noqa: F811 (test functions take the imported fixtures by name)
from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner

from api.cli import cli
from features.storage import metadata
from models import UnknownModelVersion, snapshot_from_store
from scoring import risk_store
from tests.api_fixtures import _copy_rows, _factory_rows  # noqa: F401 (pytest fixture used by name)
from tests.risk_fixtures import train_small_model

RISK_TABLES = {"risk_score_batches", "risk_scores"}
AS_OF = "2025-01-01"
EARLIER = "2024-06-30"


@pytest.fixture
def city(store, _factory_rows):
    """The factories' four institutions (both databases) with a small registered model."""
    _copy_rows(store, _factory_rows)
    model, record = train_small_model(store)
    return store, model, record


def count(engine, table: str) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one()


def test_migration_matches_the_table_definitions(store):
    with store.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), metadata)
    mine = [diff for diff in diffs if any(f"'{name}'" in repr(diff) for name in RISK_TABLES)]
    assert mine == []
    assert RISK_TABLES <= set(sa.inspect(store).get_table_names())


def test_a_batch_stores_every_active_institution_as_the_model_scores_it(city):
    engine, model, record = city
    batch = risk_store.score_and_store(engine, as_of=AS_OF, n_reasons=2, actor="张三")
    features = snapshot_from_store(engine, pd.Timestamp(AS_OF))
    expected = model.score(features).set_index("institution_code")
    stored = risk_store.latest_scores(engine).set_index("institution_code")
    assert batch.model_version == record.version and batch.institutions == len(expected) == len(stored) == 4
    assert sum(batch.levels.values()) == 4 and count(engine, "risk_score_batches") == 1
    assert stored.index.tolist() == sorted(expected.index)
    for code, row in stored.iterrows():
        assert row["probability"] == pytest.approx(expected.loc[code, "probability"])
        assert row["priority"] == pytest.approx(expected.loc[code, "priority"])
        assert row["risk_level_zh"] == expected.loc[code, "risk_level"]
        assert risk_store.RISK_LEVEL_ZH[row["risk_level"]] == row["risk_level_zh"]
        assert row["model_version"] == record.version and row["scored_by"] == "张三"
        assert row["as_of"] == pd.Timestamp(AS_OF)
    reasons = model.reasons(features, top=2)
    for code, group in reasons.groupby("institution_code"):
        stored_reasons = stored.loc[code, "reasons"]
        assert [r["feature"] for r in stored_reasons] == group.sort_values("rank")["feature"].tolist()
        assert [r["zh"] for r in stored_reasons] == group.sort_values("rank")["reason_zh"].tolist()
        assert all(set(r) == {"feature", "zh", "en", "contribution"} and r["contribution"] > 0 for r in stored_reasons)


def test_the_newest_as_of_wins_and_history_is_kept_newest_first(city):
    engine, _, _ = city
    newer = risk_store.score_and_store(engine, as_of=AS_OF, actor="张三")
    older = risk_store.score_and_store(engine, as_of=EARLIER, n_reasons=0, actor="李四")  # stored later
    latest = risk_store.latest_scores(engine)
    assert set(latest["batch_id"]) == {newer.batch_id}
    history = risk_store.institution_scores(engine, "H44150200001")
    assert history["batch_id"].tolist() == [newer.batch_id, older.batch_id]
    assert history["reasons"].iloc[1] == []  # scored without reasons
    assert risk_store.institution_scores(engine, "H00000000000").empty
    batches = risk_store.list_batches(engine)
    assert batches["batch_id"].tolist() == [older.batch_id, newer.batch_id]
    assert batches["n_reasons"].tolist() == [0, 3]


def test_nothing_is_written_when_storing_fails(city, monkeypatch):
    engine, _, _ = city
    original = risk_store._score_rows

    def duplicated(scored, reasons):
        rows = original(scored, reasons)
        return [*rows, dict(rows[0])]  # the second insert of an institution breaks the batch

    monkeypatch.setattr(risk_store, "_score_rows", duplicated)
    with pytest.raises(sa.exc.IntegrityError):
        risk_store.score_and_store(engine, as_of=AS_OF, actor="张三")
    assert count(engine, "risk_score_batches") == 0 and count(engine, "risk_scores") == 0


def test_without_a_model_or_with_bad_arguments_nothing_is_scored(store, _factory_rows):
    _copy_rows(store, _factory_rows)
    with pytest.raises(UnknownModelVersion, match="model train"):
        risk_store.score_and_store(store, as_of=AS_OF, actor="张三")
    with pytest.raises(ValueError, match="actor"):
        risk_store.score_and_store(store, as_of=AS_OF, actor=" ")
    with pytest.raises(ValueError, match="n_reasons must be an integer from 0 to 10; got 11"):
        risk_store.score_and_store(store, as_of=AS_OF, n_reasons=11, actor="张三")
    with pytest.raises(ValueError, match="as_of must be a date"):
        risk_store.score_and_store(store, as_of="not a date", actor="张三")
    assert risk_store.latest_scores(store).empty and count(store, "risk_score_batches") == 0


def test_an_unknown_model_version_is_refused(city):
    engine, _, _ = city
    with pytest.raises(UnknownModelVersion, match="rm-nope"):
        risk_store.score_and_store(engine, as_of=AS_OF, version="rm-nope", actor="张三")


def test_risk_level_codes_from_model_labels():
    assert [risk_store.risk_level_code(x) for x in ("低", "中", "高", "极高")] == list(risk_store.RISK_LEVELS)
    assert risk_store.risk_level_code("very high") == "very_high"
    with pytest.raises(ValueError, match="risk_level must be one of"):
        risk_store.risk_level_code("severe")


def test_score_command_stores_a_batch_with_store(city):
    engine, _, record = city
    if engine.dialect.name != "sqlite":
        pytest.skip("the command is exercised once, on SQLite")
    url = engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    plain = runner.invoke(cli, ["model", "score", "--as-of", AS_OF, "--database-url", url])
    assert plain.exit_code == 0, plain.output
    assert count(engine, "risk_scores") == 0  # printing only, nothing stored
    stored = runner.invoke(
        cli, ["model", "score", "--as-of", AS_OF, "--store", "--actor", "夜间任务", "--database-url", url]
    )
    assert stored.exit_code == 0, stored.output
    assert "stored batch #1: 4 家机构" in stored.output and record.version in stored.output
    latest = risk_store.latest_scores(engine)
    assert len(latest) == 4 and set(latest["scored_by"]) == {"夜间任务"}


def test_targeting_uses_stored_scores_only_when_dated_before_the_selection(city):
    from scoring.selection_store import stored_scores_as_of

    engine, _, _ = city
    assert stored_scores_as_of(engine, AS_OF) is None  # nothing scored yet
    risk_store.score_and_store(engine, as_of=AS_OF, actor="张三")
    assert stored_scores_as_of(engine, EARLIER) is None  # scored after the selection date: not used
    scores = stored_scores_as_of(engine, "2025-03-01")
    stored = risk_store.latest_scores(engine)
    assert scores is not None and list(scores.columns) == ["institution_code", "probability", "expected_amount"]
    assert sorted(scores["institution_code"]) == sorted(stored["institution_code"])
