"""The risk model end to end on a small simulated city: store → features → train → backtest → commands."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from api.cli import cli
from features import import_paths
from features.simulate import simulate_city
from features.storage import create_engine, upgrade
from models.dataset import snapshot_from_store, training_data_from_store
from models.evaluation import rolling_backtest
from models.report import write_backtest_report
from models.training import RiskModel, RiskModelConfig

pytestmark = pytest.mark.slow

SMALL = RiskModelConfig(n_estimators=40, amount_estimators=20, num_leaves=5, min_child_samples=15)
START_YEAR = 2022


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """A 200-institution, 3-year city imported into a SQLite store; yields (engine, truth dir, env)."""
    root = tmp_path_factory.mktemp("city")
    summary = simulate_city(
        root / "sim",
        n_institutions=200,
        years=3,
        seed=11,
        start_year=START_YEAR,
        claims_per_institution_year=60,
        claim_items=False,
    )
    env = {"MEDCREDIT_DATA_DIR": str(root / "data"), "MEDCREDIT_DATABASE_URL": f"sqlite:///{root / 'city.db'}"}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        engine = create_engine(env["MEDCREDIT_DATABASE_URL"])
        upgrade(engine)
        import_paths([summary.data_dir], engine=engine)
        yield engine, summary.truth_dir, env
        engine.dispose()


@pytest.fixture(scope="module")
def data(city):
    engine, _, _ = city
    return training_data_from_store(engine)


def test_training_rows_are_inspections_with_point_in_time_features(city, data):
    assert len(data.panel) == len(data.outcomes)
    assert data.panel["as_of"].equals(data.panel["start_date"])
    assert {"viol_per_year_12m", "inspector__detection", "inspection_kind__random"} <= set(data.panel.columns)
    assert "viol_per_year_12m" in data.spec.features
    assert {"kind", "ownership"} & set(data.spec.features) == set()
    # Conduct, not size: raw volumes and identity are not inputs; one size control is.
    volumes = {"clm_claims_12m", "clm_fund_12m", "beds", "staff_count", "level", "viol_n_12m", "viol_amount_12m"}
    assert volumes & set(data.spec.features) == set()
    assert [c for c in data.spec.features if c.startswith("size__")] == ["size__log_claims_12m"]
    # An institution's first inspection in the data knows no earlier violation found by an inspection of it.
    first = data.panel.sort_values("as_of").groupby("institution_code").head(1)
    assert (first.loc[first["as_of"] == first["as_of"].min(), "viol_per_year_ever"].fillna(0) == 0).all()


def test_future_inspection_outcome_does_not_change_earlier_rows(city, data):
    _engine, _, _ = city
    later = data.outcomes["start_date"] >= pd.Timestamp(f"{START_YEAR + 2}-01-01")
    flipped = data.outcomes.assign(found_violation=data.outcomes["found_violation"].where(~later, True))
    from models.dataset import nuisance_columns

    before = nuisance_columns(data.outcomes)[~later]
    after = nuisance_columns(flipped)[~later]
    pd.testing.assert_frame_equal(before, after)


def test_backtest_writes_a_report_with_plots(city, data, tmp_path):
    engine, truth_dir, _ = city
    truth = pd.read_parquet(truth_dir / "institution_years.parquet")
    result = rolling_backtest(
        data.panel,
        data.spec,
        data.outcomes,
        lambda as_of: snapshot_from_store(engine, as_of),
        test_years=[START_YEAR + 2],
        config=SMALL,
        truth=truth,
        inspection_truth=pd.read_parquet(truth_dir / "inspections.parquet"),
        catalogue=data.catalogue,
        grades=lambda as_of: pd.Series("B", index=data.outcomes["institution_code"].unique()),
    )
    fold = result.folds[0]
    # The simulation's own detection probability ranks the held-out inspections: the ceiling for any model.
    assert 0.5 < fold.inspection_metrics["truth_roc_auc"] <= 1.0
    assert result.summary()["truth_inspection_roc_auc"].notna().all()
    assert fold.institution_metrics["institutions"] >= 190
    assert 0.5 < fold.institution_metrics["roc_auc"] <= 1.0
    strategies = set(fold.budgets["strategy"])
    assert {"random", "grade", "probability", "priority"} <= strategies
    random_rows = fold.budgets[fold.budgets["strategy"] == "random"]
    assert (random_rows["lift_violating"].round(6) == 1.0).all()
    # A single grade for everyone ranks like random choice.
    grade_rows = fold.budgets[fold.budgets["strategy"] == "grade"]
    assert grade_rows["lift_violating"].round(6).tolist() == [1.0, 1.0, 1.0]
    assert "share_true_amount" in fold.budgets.columns
    # Violation records: random finds the budget share of them too; no ranking beats the arithmetic bound.
    assert (random_rows["lift_records"].round(6) == 1.0).all()
    assert (fold.budgets["share_violating"] <= fold.budgets["best_possible_share"] + 1e-9).all()
    assert (fold.scores["violation_records"] >= fold.scores["violating"].astype(float)).all()
    # Pooled over the test years: one row per grade, counts that add up, the rate inside its interval.
    pooled = result.pooled("grade")
    assert pooled["grade"].tolist() == ["B"]
    row = pooled.iloc[0]
    assert row["inspected"] == fold.scores["inspected"].sum()
    assert row["violating"] == (fold.scores["violating"] & fold.scores["inspected"]).sum()
    assert row["rate_low"] < row["violation_rate"] < row["rate_high"]
    assert result.pooled_grade_rates_increasing() is False  # one grade orders nothing
    assert result.pooled("risk_level")["inspected"].sum() == row["inspected"]
    report = write_backtest_report(result, tmp_path / "run")
    text = report.read_text(encoding="utf-8")
    assert "## 总览 Summary" in text and "![ROC](roc.png)" in text
    assert "## 各测试年合并 All test years pooled" in text
    for name in ("roc.png", "calibration.png", "capture.png", "rates.png", "summary.csv", "budgets.csv"):
        assert (tmp_path / "run" / name).stat().st_size > 0


def test_model_scores_every_active_institution_with_reasons(city, data):
    engine, _, _ = city
    model = RiskModel(SMALL).fit(data.panel, data.spec, catalogue=data.catalogue)
    snapshot = snapshot_from_store(engine, f"{START_YEAR + 3}-01-01")
    scored = model.score(snapshot)
    assert len(scored) == len(snapshot)
    assert scored["probability"].between(0, 1).all()
    assert set(scored["risk_level"]) <= {"低", "中", "高", "极高"}
    reasons = model.reasons(snapshot.head(20), top=2)
    assert reasons["reason_zh"].str.contains("推高了违规风险").all()
    # Reasons are conduct: never the size control, never a raw volume.
    assert not reasons["feature"].str.startswith("size__").any()
    assert not reasons["feature"].isin(["clm_claims_12m", "clm_fund_12m", "beds", "staff_count"]).any()


def test_commands_train_score_card_and_backtest(city, tmp_path):
    _, truth_dir, env = city
    runner = CliRunner()
    config = tmp_path / "model.yaml"
    config.write_text(
        "n_estimators: 30\namount_estimators: 20\nnum_leaves: 5\nmin_child_samples: 15\n", encoding="utf-8"
    )
    trained = runner.invoke(cli, ["model", "train", "--config", str(config)], env=env)
    assert trained.exit_code == 0, trained.output
    assert "模型版本 model version: rm-" in trained.output
    listed = runner.invoke(cli, ["model", "list"], env=env)
    assert listed.output.startswith("* rm-")
    out_csv = tmp_path / "scores.csv"
    scored = runner.invoke(
        cli, ["model", "score", "--as-of", f"{START_YEAR + 3}-01-01", "--top", "3", "--csv", str(out_csv)], env=env
    )
    assert scored.exit_code == 0, scored.output
    assert len(pd.read_csv(out_csv)) >= 190
    card = runner.invoke(cli, ["model", "card", "--out", str(tmp_path / "card.md")], env=env)
    assert card.exit_code == 0, card.output
    text = (tmp_path / "card.md").read_text(encoding="utf-8")
    assert "## 用途 Intended use" in text and "### 按所有制 ownership" in text and "## 已知局限 Known limits" in text
    run = tmp_path / "run"
    backtest = runner.invoke(
        cli,
        [
            "model",
            "backtest",
            "--config",
            str(config),
            "--no-grades",
            "--test-years",
            str(START_YEAR + 2),
            "--truth",
            str(truth_dir),
            "--out",
            str(run),
        ],
        env=env,
    )
    assert backtest.exit_code == 0, backtest.output
    assert (run / "report.md").is_file()


def test_bad_config_file_is_reported_with_the_setting(city, tmp_path):
    _, _, env = city
    config = tmp_path / "bad.yaml"
    config.write_text("calibration: sigmoid\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["model", "train", "--config", str(config)], env=env)
    assert result.exit_code == 2
    assert "calibration must be one of" in result.output


def test_score_without_a_trained_model_says_how_to_train(tmp_path):
    env = {"MEDCREDIT_DATA_DIR": str(tmp_path / "d"), "MEDCREDIT_DATABASE_URL": f"sqlite:///{tmp_path / 'e.db'}"}
    result = CliRunner().invoke(cli, ["model", "score"], env=env)
    assert result.exit_code == 2
    assert "medcredit model train" in result.output


def test_backtest_refuses_an_unknown_test_year(city):
    _, _, env = city
    result = CliRunner().invoke(cli, ["model", "backtest", "--no-grades", "--test-years", "1999"], env=env)
    assert result.exit_code == 2
    assert "test years must be among" in result.output


def test_rate_table_counts_only_inspected_institutions_and_gives_wilson_intervals():
    from models.evaluation import GRADE_ORDER, _rate_table

    scored = pd.DataFrame(
        {
            "grade": ["A"] * 10 + ["D"] * 12,
            "inspected": [True] * 10 + [True] * 10 + [False] * 2,
            "violating": [True] * 2 + [False] * 8 + [True] * 8 + [False] * 2 + [True] * 2,
            "probability": 0.5,
        }
    )
    table = _rate_table(scored, "grade", GRADE_ORDER).set_index("grade")
    assert table.loc["D", "violating"] == 8 and table.loc["D", "inspected"] == 10  # the uninspected do not count
    assert table.loc["D", "violation_rate"] == pytest.approx(0.8)
    # Wilson 95 % interval of 8 / 10 is 0.490 … 0.943; of 2 / 10, 0.057 … 0.510.
    assert table.loc["D", ["rate_low", "rate_high"]].tolist() == pytest.approx([0.490, 0.943], abs=1e-3)
    assert table.loc["A", ["rate_low", "rate_high"]].tolist() == pytest.approx([0.057, 0.510], abs=1e-3)
