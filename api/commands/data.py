"""Data commands: import, simulate, status and the end-to-end demo."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pandas as pd

from features import ImportRejected, import_paths, load_table, open_store, table_counts
from features.claims_store import MissingClaimFiles
from features.contract import CODE_LISTS, IMPORT_ORDER, TABLES

from ..terminal import progress_bar


def _print_problems(error: ImportRejected, limit: int = 50) -> None:
    click.echo(
        f"导入被拒绝，未写入任何数据 / import rejected, nothing written: {len(error.problems)} problem(s)", err=True
    )
    for problem in error.problems[:limit]:
        click.echo("  " + problem.describe("zh") + f"  [{problem.reason}]", err=True)
    if len(error.problems) > limit:
        click.echo(f"  ... {len(error.problems) - limit} more (use --problems-csv to save them all)", err=True)


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--table", type=click.Choice(sorted(TABLES)), help="Table of every file (default: from file names).")
@click.option("--skip-bad-rows", is_flag=True, help="Write the good rows and list every skipped row.")
@click.option("--problems-csv", type=click.Path(path_type=Path), help="Save every problem found to this CSV.")
@click.option(
    "--database-url", envvar="MEDCREDIT_DATABASE_URL", help="SQLAlchemy URL (default: SQLite in the data dir)."
)
def import_command(
    paths: tuple[Path, ...], table: str | None, skip_bad_rows: bool, problems_csv: Path | None, database_url: str | None
) -> None:
    """Import bureau files or folders (CSV, XLSX, Parquet) following the data contract."""
    engine = open_store(database_url)
    try:
        with progress_bar("导入 import") as progress:
            report = import_paths(paths, engine=engine, table=table, skip_bad_rows=skip_bad_rows, progress=progress)
    except ImportRejected as error:
        if problems_csv:
            pd.DataFrame([p.as_dict() for p in error.problems]).to_csv(problems_csv, index=False, encoding="utf-8-sig")
        _print_problems(error)
        sys.exit(2)
    except MissingClaimFiles as error:
        click.echo(f"导入未进行，未写入任何数据 import refused, nothing written: {error}", err=True)
        sys.exit(2)
    if problems_csv and report.skipped:
        pd.DataFrame([p.as_dict() for p in report.skipped]).to_csv(problems_csv, index=False, encoding="utf-8-sig")
    click.echo(
        f"导入批次 import #{report.import_id}: {report.rows_written} 行写入 written, "
        f"{report.rows_unchanged} 行未变 unchanged, {len(report.skipped)} 行跳过 skipped"
    )
    for name, rows in sorted(report.rows_by_table().items()):
        click.echo(f"  {name:<18}{rows:>12,}")
    for problem in report.skipped:
        click.echo("  跳过 skipped: " + problem.describe("zh"), err=True)


def print_summary(engine) -> None:
    """Rows per table and institutions per county and kind."""
    from rich.console import Console
    from rich.table import Table as RichTable

    counts = table_counts(engine)
    rows = RichTable(title="数据表行数 rows per table")
    rows.add_column("表 table")
    rows.add_column("中文")
    rows.add_column("行数 rows", justify="right")
    for name in IMPORT_ORDER:
        rows.add_row(name, TABLES[name].zh, f"{counts[name]:,}")
    Console(soft_wrap=True).print(rows)
    institutions = load_table(engine, "institutions", columns=["region_code", "kind"])
    if institutions.empty:
        return
    pivot = pd.crosstab(institutions["region_code"], institutions["kind"], margins=True, margins_name="合计")
    pivot = pivot.rename(columns=lambda k: f"{CODE_LISTS['institution_kind'].get(k, k)}" if k != "合计" else k)
    click.echo("\n机构数（按区县和类型） institutions per county and kind")
    click.echo(pivot.to_string())


@click.command("status")
@click.option("--database-url", envvar="MEDCREDIT_DATABASE_URL")
def status_command(database_url: str | None) -> None:
    """Show what is stored: rows per table, institutions per county and kind."""
    print_summary(open_store(database_url))


@click.command("simulate")
@click.option("--institutions", "n_institutions", default=500, show_default=True, type=click.IntRange(10, 200_000))
@click.option("--years", default=4, show_default=True, type=click.IntRange(1, 15))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--start-year", default=2022, show_default=True, type=click.IntRange(2000, 2100))
@click.option(
    "--claims-per-year",
    default=500.0,
    show_default=True,
    type=click.FloatRange(0, 100_000),
    help="Mean settled claims per institution per year.",
)
@click.option("--no-claim-items", is_flag=True, help="Do not write claim item lines (faster, smaller).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
def simulate_command(
    n_institutions: int,
    years: int,
    seed: int,
    start_year: int,
    claims_per_year: float,
    no_claim_items: bool,
    out_dir: Path,
) -> None:
    """Write a simulated city as contract files (OUT/data) and its ground truth (OUT/ground_truth)."""
    from features.simulate import simulate_city

    with progress_bar("模拟 simulate") as progress:
        summary = simulate_city(
            out_dir,
            n_institutions=n_institutions,
            years=years,
            seed=seed,
            start_year=start_year,
            claims_per_institution_year=claims_per_year,
            claim_items=not no_claim_items,
            progress=progress,
        )
    click.echo(f"模拟城市已写入 simulated city written to {summary.data_dir} ({summary.seconds:.1f} s)")
    for name, rows in summary.rows.items():
        click.echo(f"  {name:<18}{rows:>12,}")
    click.echo(f"真实标签（不可导入） ground truth, never imported: {summary.truth_dir}")


COMMANDS = [import_command, status_command, simulate_command]
