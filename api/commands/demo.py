"""``medcredit demo``: the whole chain on the embedded default, stage by stage.

1. simulate a city (contract files + ground truth) under ``demo-output/city``;
2. import it into a fresh embedded store under ``demo-output/store`` (SQLite + claims Parquet);
3. print what was stored.
Later stages (credit, model, draws, plan, serving) follow in the same command.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import click

from ..terminal import progress_bar


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
        summary = simulate_city(city_dir, n_institutions=n_institutions, years=years, seed=seed, progress=progress)
    click.echo(f"  {sum(summary.rows.values()):,} rows written to {summary.data_dir} in {summary.seconds:.1f} s")

    _stage(2, f"导入 importing into {url}")
    engine = open_store(url)
    with progress_bar("导入 import") as progress:
        report = import_paths([summary.data_dir], engine=engine, actor="demo", progress=progress)
    click.echo(f"  import #{report.import_id}: {report.rows_written:,} rows written")

    _stage(3, "数据概况 what is stored")
    print_summary(engine)


COMMANDS = [demo_command]
