"""Feature commands: build point-in-time features, list the claims behind them, show the catalogue."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from features import open_store
from features.build import build_features, catalogue_as_markdown, claim_leads, feature_catalogue, label_leads
from features.claim_features import RULE_NAMES, ClaimRules
from features.storage import load_table
from scoring.selection_store import UnknownSelectionError, get_targeted_selection, selection_leads

from ..terminal import console, progress_bar

_OUTPUT_FORMATS = (".parquet", ".csv")


def _write(frame, out: Path) -> None:
    if out.suffix == ".parquet":
        frame.to_parquet(out)
    elif out.suffix == ".csv":
        frame.to_csv(out, encoding="utf-8-sig")
    else:
        raise click.BadParameter(
            f"--out must end in one of {list(_OUTPUT_FORMATS)}; got {out.name!r}", param_hint="--out"
        )


def _claim_options(command):
    """The options every command running the claim rules takes: engine, rule settings, memory, store."""
    options = [
        click.option(
            "--engine",
            "engine_kind",
            type=click.Choice(["duckdb", "spark"]),
            default="duckdb",
            show_default=True,
            help="Engine for the claim rules.",
        ),
        click.option(
            "--readmit-days", type=int, default=15, show_default=True, help="Split admission: readmission window."
        ),
        click.option("--memory-limit", help="DuckDB memory limit for the claims, e.g. 4GB (spills to disk beyond it)."),
        click.option(
            "--database-url", envvar="MEDCREDIT_DATABASE_URL", help="SQLAlchemy URL (default: SQLite in the data dir)."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _claim_settings(out: Path | None, readmit_days: int, memory_limit: str | None):
    """The checked --out, the claim rules and the DuckDB settings of a command, or a usage error naming the option."""
    if out is not None and out.suffix not in _OUTPUT_FORMATS:
        raise click.BadParameter(f"must end in one of {list(_OUTPUT_FORMATS)}; got {out.name!r}", param_hint="--out")
    try:
        rules = ClaimRules(readmit_days=readmit_days)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--readmit-days") from error
    return rules, ({"memory_limit": memory_limit} if memory_limit else None)


@click.group("features")
def features_group() -> None:
    """Point-in-time features of the designated institutions (时点特征)."""


@features_group.command("build")
@click.option(
    "--as-of", "as_of", required=True, help="Date the features are as of (YYYY-MM-DD); uses events before it."
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the features (.parquet or .csv).")
@_claim_options
def build_command(
    as_of: str,
    out: Path | None,
    engine_kind: str,
    readmit_days: int,
    memory_limit: str | None,
    database_url: str | None,
) -> None:
    """Build one feature row per institution active at --as-of."""
    rules, config = _claim_settings(out, readmit_days, memory_limit)
    engine = open_store(database_url)
    try:
        with progress_bar("特征 features") as progress:
            result = build_features(
                as_of, engine=engine, rules=rules, engine_kind=engine_kind, duckdb_config=config, progress=progress
            )
    except ValueError as error:
        click.echo(f"无法计算特征 / cannot build features: {error}", err=True)
        sys.exit(2)
    frame = result.frame
    click.echo(
        f"时点 as of {result.as_of:%Y-%m-%d}: {len(frame):,} 家机构 institutions × {frame.shape[1]:,} 项特征 features"
    )
    click.echo(f"已计算 built: {', '.join(result.families_built)}")
    for missing in result.missing_families:
        click.echo(f"  未计算 missing — {missing.family}: {missing.reason}")
    if out is not None:
        _write(frame, out)
        click.echo(f"已写入 written: {out}")


@features_group.command("leads")
@click.option("--as-of", "as_of", help="Date of the list (YYYY-MM-DD): the 12 closed months before it.")
@click.option(
    "--selection",
    "selection_id",
    type=int,
    help="A stored targeted selection: its date and its picked institutions (instead of --as-of).",
)
@click.option("--institution", "institutions", multiple=True, help="Only this institution code (repeat for several).")
@click.option("--rule", "rule_names", multiple=True, type=click.Choice(RULE_NAMES), help="Only this rule (repeatable).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write every lead (.parquet or .csv).")
@click.option("--show", type=click.IntRange(0), default=20, show_default=True, help="Leads to print.")
@_claim_options
def leads_command(
    as_of: str | None,
    selection_id: int | None,
    institutions: tuple[str, ...],
    rule_names: tuple[str, ...],
    out: Path | None,
    show: int,
    engine_kind: str,
    readmit_days: int,
    memory_limit: str | None,
    database_url: str | None,
) -> None:
    """List the claims each smart-audit rule flags (智能审核线索): the claims behind the claim features.

    Leads, not verdicts: an inspection checks them (domain.md §5).
    """
    rules, config = _claim_settings(out, readmit_days, memory_limit)
    if (as_of is None) == (selection_id is None):
        raise click.UsageError("give --as-of or --selection (one of them)")
    engine = open_store(database_url)
    selection = None
    if selection_id is not None:
        try:
            selection = get_targeted_selection(engine, selection_id)
        except UnknownSelectionError as error:
            raise click.BadParameter(str(error), param_hint="--selection") from error
        as_of = f"{selection.as_of:%Y-%m-%d}"
        click.echo(
            f"重点检查选取 targeted selection #{selection_id}: {len(selection.selected)} 家 institutions, {as_of}"
        )
    if institutions:
        known = set(load_table(engine, "institutions", columns=["institution_code"])["institution_code"].astype(str))
        unknown = sorted(set(institutions) - known)
        if unknown:
            raise click.BadParameter(
                f"未登记的机构代码 not in the institutions table: {', '.join(unknown)}", param_hint="--institution"
            )
    options = {"rules": rules, "engine_kind": engine_kind, "duckdb_config": config}
    try:
        with console.status("智能审核规则计算中 running the claim rules…"):
            if selection is None:
                leads = claim_leads(as_of, engine=engine, **options)
            else:
                leads = selection_leads(engine, selection, **options)
    except ValueError as error:
        click.echo(f"无法列出线索 / cannot list the leads: {error}", err=True)
        sys.exit(2)
    if institutions:
        leads = leads[leads["institution_code"].isin(institutions)]
    if rule_names:
        leads = leads[leads["rule"].isin(rule_names)]
    table = label_leads(leads)
    click.echo(
        f"线索 leads: {len(table):,} 条 claims, {table['institution_code'].nunique():,} 家机构 institutions"
        f"（{as_of} 前12个完整月 the 12 closed months before {as_of}）"
    )
    for (rule, zh, en), group in table.groupby(["rule", "rule_zh", "rule_en"], sort=True):
        click.echo(f"  {zh} {en} ({rule}): {len(group):,}")
    if out is not None:
        _write(table.set_index("claim_id"), out)
        click.echo(f"已写入 written: {out}")
    elif len(table):
        click.echo(table.head(show).to_string(index=False))
        if len(table) > show:
            click.echo(f"… 另有 {len(table) - show:,} 条 more: --out FILE 写出全部 writes them all")


@features_group.command("catalogue")
@click.option("--format", "fmt", type=click.Choice(["markdown", "csv"]), default="markdown", show_default=True)
def catalogue_command(fmt: str) -> None:
    """Print the feature catalogue (name, 中文名, meaning, source, window, missing data)."""
    if fmt == "csv":
        click.echo(feature_catalogue().to_csv(index=False), nl=False)
    else:
        click.echo(catalogue_as_markdown(), nl=False)


COMMANDS = [features_group]
