"""``medcredit demo``: the whole chain on the embedded default, stage by stage.

1. simulate a city (contract files + ground truth) under ``demo-output/city``;
2. import it into a fresh embedded store under ``demo-output/store`` (SQLite + claims Parquet);
3. print what was stored;
4. evaluate credit under the national-100 policy as of the end of the simulated period and explain one grade;
5. train the risk model on the inspections, register it, and rate every institution with its reasons;
6. freeze a random draw, enter a (labelled) demo seed, draw, publish and verify it; select targeted
   inspections and plan the year;
7. serve the API and dashboard on 127.0.0.1 and print the demo users' tokens.
"""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import click

from ..terminal import progress_bar

SIMULATION_START_YEAR = 2022


def _stage(number: int, title: str) -> None:
    click.secho(f"\n[{number}] {title}", bold=True)


@click.command("demo")
@click.option("--institutions", "n_institutions", default=500, show_default=True, type=click.IntRange(20, 20_000))
@click.option("--years", default=4, show_default=True, type=click.IntRange(2, 10))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--out", "out_dir", default="demo-output", show_default=True, type=click.Path(path_type=Path))
@click.option("--serve/--no-serve", default=True, show_default=True, help="End by serving the API and dashboard.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1024, 65535))
def demo_command(n_institutions: int, years: int, seed: int, out_dir: Path, serve: bool, port: int) -> None:
    """Simulate a city, import it into the embedded store, grade, score, draw, plan and serve."""
    from features import import_paths, open_store
    from features.simulate import simulate_city

    from .data import print_summary

    out_dir = out_dir.resolve()
    city_dir, store_dir = out_dir / "city", out_dir / "store"
    for path in (city_dir, store_dir):
        shutil.rmtree(path, ignore_errors=True)
    store_dir.mkdir(parents=True)
    os.environ["MEDCREDIT_DATA_DIR"] = str(store_dir)
    url = os.environ.get("MEDCREDIT_DATABASE_URL") or f"sqlite:///{store_dir / 'medcredit.db'}"

    _stage(1, f"模拟城市 simulating {n_institutions} institutions × {years} years (seed {seed})")
    with progress_bar("模拟 simulate") as progress:
        summary = simulate_city(
            city_dir,
            n_institutions=n_institutions,
            years=years,
            seed=seed,
            start_year=SIMULATION_START_YEAR,
            progress=progress,
        )
    click.echo(f"  {sum(summary.rows.values()):,} rows written to {summary.data_dir} in {summary.seconds:.1f} s")

    _stage(2, f"导入 importing into {url}")
    engine = open_store(url)
    with progress_bar("导入 import") as progress:
        report = import_paths([summary.data_dir], engine=engine, actor="demo", progress=progress)
    click.echo(f"  import #{report.import_id}: {report.rows_written:,} rows written")

    _stage(3, "数据概况 what is stored")
    print_summary(engine)

    as_of = date(SIMULATION_START_YEAR + years, 1, 1)
    _stage(4, f"信用评价 credit evaluation, national-100, as of {as_of}")
    _credit_stage(engine, as_of)

    _stage(5, "风险模型 risk model: training, calibration, scoring with reasons")
    _model_stage(engine, as_of)

    _stage(6, "双随机抽查与年度计划 random draw, targeted selection and the yearly plan")
    from .selection import demo_draw, demo_plan

    draw = demo_draw(engine, out_dir / "publication")
    demo_plan(engine, out_dir, draw_id=draw.draw_id)
    click.echo(
        f"\n  命令行使用本演示数据 the command line on this store: export MEDCREDIT_DATA_DIR={store_dir}\n"
        "  例如 e.g. medcredit features leads --selection 1   medcredit credit explain CODE"
    )

    if serve:
        _stage(7, f"服务 serving the API and dashboard on http://127.0.0.1:{port}/")
        _serve(engine, url, port)


def _credit_stage(engine, as_of: date):
    from scoring import credit_store

    with progress_bar("信用评价 credit") as progress:
        run = credit_store.run_evaluation(engine, as_of, "national-100", actor="demo", progress=progress)
    results = credit_store.run_results(engine, run.run_id)
    counts = results["grade"].value_counts().sort_index()
    click.echo("  " + "  ".join(f"{grade}: {n}" for grade, n in counts.items()) + f"  (run #{run.run_id})")
    worst = results.sort_values(["score", "institution_code"]).iloc[0]
    click.echo(f"\n  最低分机构 lowest score: {worst['institution_code']}")
    click.echo(credit_store.explain(engine, worst["institution_code"], lang="zh"))
    return run


def _model_stage(engine, as_of: date) -> None:
    import pandas as pd

    from .model import train_and_register

    record, data = train_and_register(engine, end=pd.Timestamp(as_of))
    overall = record.metadata["metrics"]["overall"]
    click.echo(
        f"  模型版本 model {record.version}: {data.panel.shape[0]:,} inspections, {len(data.spec.features)} features, "
        f"calibration-slice ROC AUC {overall['roc_auc']:.3f}"
    )
    from scoring.risk_store import RISK_LEVEL_ZH, latest_scores, score_and_store

    batch = score_and_store(engine, as_of=pd.Timestamp(as_of), version=record.version, n_reasons=2, actor="demo")
    click.echo(
        f"  风险评分批次 risk scores #{batch.batch_id}: "
        + "  ".join(f"{RISK_LEVEL_ZH[level]} {n}" for level, n in batch.levels.items())
    )
    scored = latest_scores(engine).sort_values("priority", ascending=False, kind="stable")
    click.echo("  优先级最高的机构 highest priority (probability × expected amount):")
    for row in scored.head(5).itertuples(index=False):
        reasons = "；".join(reason["zh"] for reason in row.reasons)
        click.echo(
            f"    {row.institution_code}  p={row.probability:.2f}  ¥{row.expected_amount:,.0f}  "
            f"{RISK_LEVEL_ZH[row.risk_level]}  — {reasons}"
        )


def _serve(engine, url: str, port: int) -> None:
    from .serve import demo_tokens, run_gunicorn

    click.echo("  演示用户令牌 demo users' tokens (shown once):")
    for token in demo_tokens(engine):
        click.echo(f"    {token.role:<13} {token.name:<22} {token.secret}")
    click.echo(f"  仪表盘 dashboard: http://127.0.0.1:{port}/   API docs: http://127.0.0.1:{port}/api/v1/docs")
    click.echo("  按 Ctrl+C 停止 / press Ctrl+C to stop")
    run_gunicorn(host="127.0.0.1", port=port, config={"DATABASE_URL": url})


COMMANDS = [demo_command]
