"""Risk-model commands: train, backtest, card, score and list versions."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click
import pandas as pd
import yaml

from features import open_store
from models.card import model_card
from models.dataset import TrainingData, snapshot_from_store, training_data_from_store
from models.evaluation import BUDGETS, rolling_backtest
from models.registry import (
    ModelRecord,
    UnknownModelVersion,
    get_model_record,
    list_model_versions,
    load_model,
    save_model,
)
from models.report import write_backtest_report
from models.training import RiskModel, RiskModelConfig
from scoring.risk_store import RISK_LEVEL_ZH, score_and_store

from ..terminal import progress_bar

_DATABASE = click.option(
    "--database-url", envvar="MEDCREDIT_DATABASE_URL", help="SQLAlchemy URL (default: SQLite in the data dir)."
)
_CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML file of risk-model settings (trees, calibration, risk bands ...).",
)


def _config(path: Path | None) -> RiskModelConfig:
    if path is None:
        return RiskModelConfig()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise click.BadParameter(f"must hold a mapping of settings; got {type(data).__name__}", param_hint="--config")
    try:
        return RiskModelConfig.from_mapping(data)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--config") from error


def _grades_callable(engine, policy: str):
    """Credit grades by institution as known the day before each test year (scoring owns the policy)."""
    from scoring.credit import evaluate_credit

    def grades(as_of: pd.Timestamp) -> pd.Series:
        evaluation = evaluate_credit((as_of - pd.Timedelta(days=1)).date(), policy, engine=engine)
        return evaluation.institutions.set_index("institution_code")["grade"]

    return grades


def train_and_register(
    engine, config: RiskModelConfig | None = None, *, start=None, end=None, activate: bool = True
) -> tuple[ModelRecord, TrainingData]:
    """Build the training panel from the store, fit the risk model and register the bundle.

    Raises ``ValueError`` when there is nothing to train on or fitting fails."""
    with progress_bar("训练 train") as progress:
        data = training_data_from_store(engine, start=start, end=end, progress=progress)
    if data.panel.empty:
        raise ValueError("没有可训练的检查记录 / no inspections to train on")
    model = RiskModel(config or RiskModelConfig()).fit(data.panel, data.spec, catalogue=data.catalogue)
    return save_model(engine, model, activate=activate), data


def score_with_reasons(engine, model: RiskModel, when: pd.Timestamp, *, n_reasons: int = 3, lang: str = "zh"):
    """Every institution's probability, expected amount, priority and risk level as of ``when``, with its
    top reasons joined into one sentence column ``reasons``; highest priority first."""
    features = snapshot_from_store(engine, when)
    scored = model.score(features).sort_values("priority", ascending=False, kind="stable")
    reasons = model.reasons(features, top=n_reasons) if n_reasons else pd.DataFrame(columns=["institution_code"])
    text = f"reason_{lang}"
    joined = reasons.groupby("institution_code")[text].agg(" ".join) if len(reasons) else pd.Series(dtype="str")
    scored["reasons"] = scored["institution_code"].map(joined).fillna("")
    return scored


@click.group("model")
def model_group() -> None:
    """风险模型 Risk model: train, backtest, model card, score."""


@model_group.command("train")
@click.option(
    "--as-of", type=click.DateTime(["%Y-%m-%d"]), help="Train on inspections before this date (default: all)."
)
@click.option("--years", type=click.IntRange(1, 20), help="Only the last N years before --as-of.")
@click.option("--no-activate", is_flag=True, help="Register the new version without making it the active one.")
@_CONFIG
@_DATABASE
def train_command(as_of, years: int | None, no_activate: bool, config_path: Path | None, database_url: str | None):
    """Train the risk model on the stored inspections and register it (file under <data dir>/models/)."""
    engine = open_store(database_url)
    end = pd.Timestamp(as_of) if as_of else None
    start = end - pd.DateOffset(years=years) if (end is not None and years) else None
    try:
        record, data = train_and_register(engine, _config(config_path), start=start, end=end, activate=not no_activate)
    except ValueError as error:
        click.echo(f"训练失败 / training failed: {error}", err=True)
        sys.exit(2)
    overall = record.metadata["metrics"]["overall"]
    click.echo(f"模型版本 model version: {record.version} ({'已启用 active' if record.active else '未启用 inactive'})")
    click.echo(
        f"  训练窗口 training window: {record.trained_from} … {record.trained_to}, "
        f"{data.panel.shape[0]} inspections, {len(data.spec.features)} features"
    )
    click.echo(
        f"  校准切片 calibration slice: ROC AUC {overall['roc_auc']:.3f}, Brier {overall['brier']:.3f}, "
        f"baseline ROC AUC {overall['baseline_roc_auc']:.3f}"
    )
    click.echo(f"  文件 file: {record.path}  SHA-256 {record.sha256}")


@model_group.command("backtest")
@click.option("--test-years", help="Comma-separated test years (default: every year after the first).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder for the report (default: <data dir>/runs/backtest-<timestamp>).",
)
@click.option(
    "--policy",
    default="national-100",
    show_default=True,
    help="Credit policy for the grade-order baseline (built-in name or YAML path).",
)
@click.option("--no-grades", is_flag=True, help="Skip the credit-grade baseline.")
@click.option(
    "--truth",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A simulation's ground_truth folder (evaluation only, never training).",
)
@click.option("--window-years", type=click.IntRange(1, 20), help="Train on at most N years before each test year.")
@_CONFIG
@_DATABASE
def backtest_command(
    test_years: str | None,
    out_dir: Path | None,
    policy: str,
    no_grades: bool,
    truth: Path | None,
    window_years: int | None,
    config_path: Path | None,
    database_url: str | None,
):
    """Rolling temporal backtest: train on years up to t, test on t+1; writes a Markdown report with plots."""
    from features.storage import data_dir

    engine = open_store(database_url)
    config = _config(config_path)
    with progress_bar("回测 backtest") as progress:
        data = training_data_from_store(engine, progress=progress)
    if data.panel.empty:
        click.echo("没有检查记录 / no inspections to evaluate", err=True)
        sys.exit(2)
    years = sorted(pd.to_datetime(data.outcomes["start_date"]).dt.year.unique().tolist())
    chosen = [int(y) for y in test_years.split(",")] if test_years else years[1:]
    unknown = [y for y in chosen if y not in years or y == years[0]]
    if unknown or not chosen:
        raise click.BadParameter(f"test years must be among {years[1:]}; got {chosen}", param_hint="--test-years")
    truth_frame = pd.read_parquet(truth / "institution_years.parquet") if truth else None
    inspection_truth = (
        pd.read_parquet(truth / "inspections.parquet") if truth and (truth / "inspections.parquet").exists() else None
    )
    grades = None if no_grades else _grades_callable(engine, policy)
    with progress_bar("回测 backtest") as progress:
        result = rolling_backtest(
            data.panel,
            data.spec,
            data.outcomes,
            lambda as_of: snapshot_from_store(engine, as_of),
            test_years=chosen,
            config=config,
            grades=grades,
            truth=truth_frame,
            inspection_truth=inspection_truth,
            budgets=BUDGETS,
            catalogue=data.catalogue,
            window_years=window_years,
            progress=progress,
        )
    out_dir = out_dir or data_dir() / "runs" / f"backtest-{pd.Timestamp.now():%Y%m%d-%H%M%S}"
    context = {
        "数据库 database": engine.url.render_as_string(hide_password=True),
        "信用政策 credit policy": "–" if no_grades else policy,
    }
    report = write_backtest_report(result, out_dir, context=context)
    summary = result.summary()
    with pd.option_context("display.width", 160, "display.max_columns", 30):
        click.echo(summary.round(3).to_string(index=False))
    click.echo(f"报告 report: {report}")


@model_group.command("card")
@click.option("--version", help="Model version (default: the active one).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file.")
@_DATABASE
def card_command(version: str | None, out_path: Path | None, database_url: str | None):
    """Print (or write) the model card of a registered version."""
    engine = open_store(database_url)
    try:
        record = get_model_record(engine, version)
    except UnknownModelVersion as error:
        click.echo(str(error), err=True)
        sys.exit(2)
    card = model_card(record)
    if out_path:
        out_path.write_text(card, encoding="utf-8")
        click.echo(f"模型卡 model card: {out_path}")
    else:
        click.echo(card)


@model_group.command("score")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), help="Features as of this date (default: today).")
@click.option("--version", help="Model version (default: the active one).")
@click.option("--top", type=click.IntRange(1), default=20, show_default=True, help="Institutions to print.")
@click.option(
    "--reasons", "n_reasons", type=click.IntRange(0, 10), default=3, show_default=True, help="Reasons per institution."
)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every institution's score and reasons to this CSV.",
)
@click.option(
    "--store",
    "store_scores",
    is_flag=True,
    help="Also store the scores and reasons as one batch (shown by the API and dashboard).",
)
@click.option("--actor", default="medcredit-cli", show_default=True, help="Who stores the scores (with --store).")
@_DATABASE
def score_command(
    as_of,
    version: str | None,
    top: int,
    n_reasons: int,
    lang: str,
    csv_path: Path | None,
    store_scores: bool,
    actor: str,
    database_url: str | None,
):
    """Rate every institution: probability, expected amount, priority, risk level and reasons."""
    engine = open_store(database_url)
    try:
        model, record = load_model(engine, version)
    except UnknownModelVersion as error:
        click.echo(str(error), err=True)
        sys.exit(2)
    when = pd.Timestamp(as_of or date.today())
    if store_scores:
        try:
            batch = score_and_store(engine, as_of=when, version=record.version, n_reasons=n_reasons, actor=actor)
        except ValueError as error:
            click.echo(f"评分未保存 / scores not stored: {error}", err=True)
            sys.exit(2)
        levels = ", ".join(f"{RISK_LEVEL_ZH[k]} {v}" for k, v in batch.levels.items())
        click.echo(
            f"已保存评分批次 stored batch #{batch.batch_id}: {batch.institutions} 家机构 institutions ({levels})"
        )
    scored = score_with_reasons(engine, model, when, n_reasons=n_reasons, lang=lang)
    if csv_path:
        scored.to_csv(csv_path, index=False, encoding="utf-8-sig")
    click.echo(f"模型 model {record.version}, 评分日 as of {when.date()}, {len(scored)} 家机构 institutions")
    level = "risk_level" if lang == "zh" else "risk_level_en"
    for row in scored.head(top).itertuples(index=False):
        click.echo(
            f"{row.institution_code}  p={row.probability:.3f}  ¥{row.expected_amount:,.0f}  "
            f"priority={row.priority:,.0f}  {getattr(row, level)}"
        )
        if row.reasons:
            click.echo(f"    {row.reasons}")
    if csv_path:
        click.echo(f"已写入 written: {csv_path}")


@model_group.command("list")
@_DATABASE
def list_command(database_url: str | None):
    """List registered model versions, newest first."""
    engine = open_store(database_url)
    for record in list_model_versions(engine):
        auc = record.metadata.get("metrics", {}).get("overall", {}).get("roc_auc")
        auc_text = f"{auc:.3f}" if isinstance(auc, float) else "–"
        click.echo(
            f"{'*' if record.active else ' '} {record.version}  {record.created_at:%Y-%m-%d %H:%M}  "
            f"{record.trained_from} … {record.trained_to}  AUC {auc_text}"
        )


COMMANDS = [model_group]
