"""Inspection selection commands: random draws, targeted selection, the yearly plan and inspection results.

    medcredit draw freeze --region 441502 --item YD01 --as-of 2025-06-30   # publish the pool hash printed
    medcredit draw seed DRAW_ID --dice "31415 92653 58979 32384 62"         # after the public dice roll
    medcredit draw show DRAW_ID | list | export DRAW_ID --out DIR | verify draw.json
    medcredit target --budget 30 --as-of 2025-06-30
    medcredit plan --year 2026
    medcredit inspection record ... | overdue | published ID --date DATE

Bad input ends with a message in Chinese and English on stderr and exit status 2. ``demo_draw`` and
``demo_plan`` are the steps ``medcredit demo`` runs.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import click
import pandas as pd
from rich.console import Console
from rich.table import Table as RichTable
from sqlalchemy.engine import Engine

from features import ImportRejected, load_table, open_store
from scoring import outcomes, publication, selection_store, verify_draw
from scoring.assignment import TeamAssignmentError, TeamRules
from scoring.draws import DEFAULT_RATIOS, DrawDesign, PoolRules, Seed
from scoring.plan import PlanCapacityError, PlannedRound, PlanRules
from scoring.targeting import merge_visits
from scoring.workdays import CalendarNotPublishedError

DEMO_DICE = "2718281828 4590452353 6028747135"
DEMO_DICE_REFERENCE = "演示用固定数字，非公开掷骰 / fixed demonstration digits, not a public dice roll"

_console = Console(soft_wrap=True)


# --------------------------------------------------------------------------- shared options and errors


def _actor() -> str:
    return os.environ.get("MEDCREDIT_ACTOR") or getpass.getuser() or "cli"


_database = click.option(
    "--database-url", envvar="MEDCREDIT_DATABASE_URL", help="SQLAlchemy URL (default: SQLite in the data dir)."
)
_actor_option = click.option(
    "--actor", default=_actor, show_default="current user", help="Who does this (recorded with the draw or record)."
)
_date = click.DateTime(["%Y-%m-%d"])


def _fail(message: str) -> NoReturn:
    click.echo(f"错误 error: {message}", err=True)
    sys.exit(2)


def _domain_errors(command: Callable) -> Callable:
    """Refused requests, unknown ids and bad values: a message on stderr and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ImportRejected as error:
            click.echo(
                f"记录被拒绝，未写入任何数据 / rejected, nothing written: {len(error.problems)} problem(s)", err=True
            )
            for problem in error.problems:
                click.echo(f"  {problem.describe('zh')}  [{problem.reason}]", err=True)
            sys.exit(2)
        except (LookupError, ValueError, CalendarNotPublishedError) as error:
            _fail(str(error).strip("'\""))

    return wrapper


def _print_table(title: str, frame: pd.DataFrame) -> None:
    """A bordered table on a terminal; plain aligned text otherwise, so that nothing is cut off in pipes."""
    if not sys.stdout.isatty():
        click.echo(title)
        plain = frame.astype(object).where(frame.notna(), "")
        click.echo(plain.to_string(index=False) if not frame.empty else "  (无 none)")
        return
    table = RichTable(title=title)
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(str(column), justify="right" if numeric else "left", overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*("" if pd.isna(value) else str(value) for value in row))
    _console.print(table)


def _read_frame(path: Path, what: str) -> pd.DataFrame:
    """A CSV (UTF-8, BOM allowed), XLSX or Parquet file with institution_code read as text."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix in (".xlsx", ".xls"):
            return pd.read_excel(path, dtype={"institution_code": str})
        return pd.read_csv(path, dtype={"institution_code": str}, encoding="utf-8-sig")
    except (OSError, ValueError) as error:
        _fail(f"无法读取{what}文件 / cannot read the {what} file {path}: {error}")


def _grades(engine: Engine, path: Path | None) -> pd.DataFrame:
    """Grades from a file, else from the newest credit run (MissingGradesError when there is none)."""
    if path is not None:
        return _read_frame(path, "信用等级 grades")
    return selection_store.latest_credit_grades(engine)


def _scores(engine: Engine, path: Path | None, use_model: bool, as_of: pd.Timestamp) -> pd.DataFrame | None:
    """Risk scores from a file (``medcredit model score --csv``) or from the active model, or none."""
    if path is not None:
        return _read_frame(path, "风险评分 scores")
    if not use_model:
        return None
    from models.dataset import snapshot_from_store
    from models.registry import load_model

    model, record = load_model(engine)
    click.echo(f"风险模型 risk model {record.version}, 评分日 as of {as_of.date()}")
    return model.score(snapshot_from_store(engine, as_of))


def _ratios(text: str | None) -> dict[str, str]:
    if not text:
        return dict(DEFAULT_RATIOS)
    ratios = {}
    for part in text.split(","):
        stratum, sep, value = part.partition("=")
        if not sep or not stratum.strip() or not value.strip():
            raise click.BadParameter(
                f"expected GRADE=RATIO pairs such as A=0.02,B=0.05; got {part!r}", param_hint="--ratios"
            )
        ratios[stratum.strip()] = value.strip()
    return ratios


def _month_counts(values: Iterable[str], option: str) -> list[tuple[int, int]]:
    pairs = []
    for value in values:
        month, sep, count = value.partition("=")
        if not (sep and month.strip().isdigit() and count.strip().isdigit()):
            raise click.BadParameter(f"expected MONTH=COUNT such as 3=40; got {value!r}", param_hint=option)
        pairs.append((int(month), int(count)))
    return pairs


# --------------------------------------------------------------------------- medcredit draw ...


@click.group("draw")
def draw_group() -> None:
    """双随机抽查 random inspection draws: freeze the pool, enter the seed, publish, verify."""


@draw_group.command("freeze")
@click.option("--region", "regions", multiple=True, required=True, help="Region code of the jurisdiction (repeatable).")
@click.option("--item", required=True, help="Check item (检查事项) of this draw.")
@click.option("--as-of", "as_of", required=True, type=_date, help="Draw date: who is eligible on this day.")
@click.option("--ratios", help="Sampling ratio per grade, e.g. A=0.02,B=0.05,C=0.15,D=0.3 (default: those, E=0.5).")
@click.option("--sample-size", type=click.IntRange(1), help="Risk-weighted design: institutions to draw.")
@click.option("--min-probability", default="0.01", show_default=True, help="Risk-weighted design: probability floor.")
@click.option(
    "--scores",
    "scores_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Risk scores (institution_code, probability) for the risk-weighted design.",
)
@click.option(
    "--grades",
    "grades_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Grades file (institution_code, grade) instead of the newest credit run.",
)
@click.option("--bureau-level", type=click.Choice(["province", "city", "county"]), default="city", show_default=True)
@click.option("--team-size", type=click.IntRange(2), default=2, show_default=True, help="Inspectors per inspection.")
@click.option(
    "--max-assignments",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="Most teams one inspector joins in this draw.",
)
@click.option(
    "--higher-level-inspectors",
    is_flag=True,
    help="Also draw inspectors of the city and province containing each county (codes ending in 00, 0000).",
)
@click.option(
    "--recusal-months",
    type=click.IntRange(0),
    default=12,
    show_default=True,
    help="Recuse inspectors who inspected the institution within this many months (0: off).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write the pool announcement (pool document, lists, verifier) to this folder.",
)
@_actor_option
@_database
@_domain_errors
def freeze_command(
    regions,
    item,
    as_of,
    ratios,
    sample_size,
    min_probability,
    scores_path,
    grades_path,
    bureau_level,
    team_size,
    max_assignments,
    higher_level_inspectors,
    recusal_months,
    out_dir,
    actor,
    database_url,
) -> None:
    """Fix the eligible pool of a new draw and print its SHA-256 (publish it before the seed)."""
    engine = open_store(database_url)
    grades = _grades(engine, grades_path)
    weights = None
    if sample_size is not None:
        if ratios:
            raise click.BadParameter("--ratios is for the stratified design, --sample-size for the risk-weighted one")
        design = DrawDesign.risk_weighted(sample_size, min_probability)
        scores = _scores(engine, scores_path, scores_path is None, pd.Timestamp(as_of))
        weights = selection_store.risk_weights(scores)
    else:
        design = DrawDesign.stratified(_ratios(ratios))
    team_rules = TeamRules(
        team_size=team_size,
        max_assignments_per_inspector=max_assignments,
        recent_inspection_months=recusal_months or None,
        include_higher_level_inspectors=higher_level_inspectors,
    )
    try:
        frozen = selection_store.freeze_draw(
            engine,
            as_of=as_of,
            regions=regions,
            item=item,
            design=design,
            grades=grades,
            actor=actor,
            pool_rules=PoolRules(bureau_level=bureau_level),
            team_rules=team_rules,
            weights=weights,
        )
    except TeamAssignmentError as error:
        _fail(
            f"{error}\n提示 hint: 可加 --higher-level-inspectors（市、省级执法人员参与）或调整 --recusal-months / "
            "add --higher-level-inspectors (city and province inspectors join) or change --recusal-months"
        )
    _echo_frozen(frozen)
    if out_dir is not None:
        files = publication.export_pool(engine, frozen.draw_id, out_dir)
        click.echo(f"对象库公示文件 pool announcement written to {files.folder}")


def _echo_frozen(frozen: selection_store.FrozenDraw) -> None:
    click.echo(f"抽查批次 draw {frozen.draw_id}: 对象库已封存 pool frozen")
    click.echo(f"  对象库哈希 pool hash (SHA-256): {frozen.pool_hash}")
    strata = "，".join(f"{stratum} {count}" for stratum, count in frozen.strata.items())
    click.echo(f"  入库机构 institutions in the pool: {frozen.pool_size}（{strata}）")
    if not frozen.excluded.empty:
        reasons = frozen.excluded.groupby("reason_code")["institution_code"].nunique()
        listed = "，".join(f"{code} {count}" for code, count in reasons.items())
        click.echo(f"  未入库 left out: {frozen.excluded['institution_code'].nunique()}（{listed}）")
    click.echo("下一步 next steps:")
    click.echo(f"  1. 公布上述对象库哈希（及对象库文件：medcredit draw export {frozen.draw_id} --out DIR）")
    click.echo("     publish the pool hash above (and the pool files) before any seed exists;")
    click.echo("  2. 公开掷骰或读取公共随机信标，然后录入种子 / roll dice in public or read a beacon, then enter it:")
    click.echo(f"     medcredit draw seed {frozen.draw_id} --dice <20+ 位数字 digits>")


@draw_group.command("seed")
@click.argument("draw_id")
@click.option("--dice", help="Digits rolled in public (ten-sided dice), 20 to 200 digits; spaces allowed.")
@click.option("--beacon", help="A public randomness beacon's output value, as printed.")
@click.option("--reference", help="Where the seed came from: beacon pulse URL, or who rolled the dice where and when.")
@_actor_option
@_database
@_domain_errors
def seed_command(draw_id, dice, beacon, reference, actor, database_url) -> None:
    """Enter the external seed of a frozen draw and draw the institutions and inspection teams."""
    if (dice is None) == (beacon is None):
        raise click.UsageError("give exactly one of --dice and --beacon")
    if beacon is not None and not reference:
        raise click.UsageError("a beacon seed needs --reference (the pulse URL or index) so anyone can look it up")
    seed = Seed("dice", dice, reference) if dice is not None else Seed("beacon", beacon, reference)
    engine = open_store(database_url)
    draw = selection_store.enter_seed_and_draw(engine, draw_id, seed, actor)
    click.echo(f"抽查批次 draw {draw.draw_id}: 已抽取 drawn with the {seed.source} seed {seed.value}")
    _echo_selected(engine, draw)
    click.echo(
        f"公示 publish: medcredit draw export {draw.draw_id} --out DIR"
        "（名单、种子、哈希与验证程序 / list, seed, hash, verifier）"
    )


@draw_group.command("show")
@click.argument("draw_id")
@click.option("--exclusions", is_flag=True, help="Also list every institution left out of the pool, with reasons.")
@_database
@_domain_errors
def show_command(draw_id, exclusions, database_url) -> None:
    """Show a draw: state, pool hash, seed, strata, drawn institutions and teams."""
    engine = open_store(database_url)
    draw = selection_store.get_draw(engine, draw_id)
    click.echo(f"抽查批次 draw {draw.draw_id}  状态 status: {draw.status_zh} {draw.status}")
    click.echo(
        f"  基准日 as of {draw.as_of}  辖区 regions {'、'.join(draw.regions)}  事项 item {draw.item or '-'}  "
        f"方法 method {draw.method}"
    )
    click.echo(f"  对象库哈希 pool hash: {draw.pool_hash}")
    click.echo(
        f"  封存 frozen {draw.frozen_at:%Y-%m-%d %H:%M} UTC by {draw.frozen_by}; 入库 in pool {draw.pool_size}; "
        f"未入库 left out {draw.exclusions['institution_code'].nunique()}"
    )
    if draw.seed is not None:
        click.echo(f"  种子 seed ({draw.seed.source}): {draw.seed.value}  {draw.seed.reference or ''}")
        click.echo(f"  抽取 drawn {draw.drawn_at:%Y-%m-%d %H:%M} UTC by {draw.drawn_by}")
    if draw.failure:
        click.echo(f"  失败原因 failure: {draw.failure}")
    if draw.status == "drawn":
        _print_table("分层 strata", pd.DataFrame(draw.draw_document["strata"]))
        _echo_selected(engine, draw)
    if exclusions and not draw.exclusions.empty:
        shown = draw.exclusions[["institution_code", "reason_code", "reason_zh", "reason_en"]]
        _print_table("未入库机构及原因 left out, with reasons", shown)


def _echo_selected(engine: Engine, draw: selection_store.StoredDraw) -> None:
    names = load_table(engine, "institutions", columns=["institution_code", "name"])
    selected = draw.selected.merge(names, on="institution_code", how="left")
    selected = selected.merge(draw.assignments, on="institution_code", how="left")
    shown = pd.DataFrame(
        {
            "序号 no.": selected["draw_rank"],
            "机构 institution": selected["institution_code"],
            "名称 name": selected["name"],
            "区县 county": selected["region_code"],
            "分层 stratum": selected["stratum"],
            "概率 probability": selected["inclusion_probability"].round(4),
            "检查人员 inspectors": selected["inspector_codes"].str.replace(";", "、"),
            "抽签号 ticket": selected["ticket"].str[:16] + "…",
        }
    )
    _print_table(f"抽中机构 drawn: {len(shown)} / {draw.pool_size}", shown)


@draw_group.command("list")
@_database
def list_command(database_url) -> None:
    """List stored draws, newest first."""
    draws = selection_store.list_draws(open_store(database_url))
    if draws.empty:
        click.echo("尚无抽查批次 no draws yet")
        return
    shown = draws[["draw_id", "status", "as_of", "regions", "item", "method", "pool_size", "selected_count"]]
    _print_table("抽查批次 draws", shown.assign(as_of=shown["as_of"].dt.strftime("%Y-%m-%d")))


@draw_group.command("verify")
@click.argument("target")
@click.option("--pool-hash", help="The pool hash published before the seed; checked against the document.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_database
@_domain_errors
def verify_command(target, pool_hash, as_json, database_url) -> None:
    """Replay a published draw (FILE: draw JSON) or a stored one (DRAW_ID) and confirm it exactly.

    Exit status 0 when verified, 1 on a discrepancy, 2 when the input cannot be read.
    """
    path = Path(target)
    if path.is_file():
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            _fail(f"无法读取 / cannot read {path}: {error}")
        result = verify_draw.verify(document)
    else:
        engine = open_store(database_url)
        result = selection_store.verify_stored_draw(engine, target)
        document = selection_store.get_draw(engine, target).draw_document or {}
    if result.ok and pool_hash is not None and document.get("pool_hash") != pool_hash.strip().lower():
        result.ok = False
        result.discrepancy = (
            f"pool_hash: document has {document.get('pool_hash')!r}, the hash published before the seed is "
            f"{pool_hash.strip().lower()!r}: the pool is not the one announced"
        )
    elif result.ok and pool_hash is not None:
        result.checks.append("pool hash equals the one published before the seed")
    click.echo(json.dumps(result.__dict__, ensure_ascii=False, indent=2) if as_json else result.summary())
    sys.exit(0 if result.ok else 1)


@draw_group.command("export")
@click.argument("draw_id")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--results", is_flag=True, help="Export the inspection results of the draw instead of the draw list.")
@_database
@_domain_errors
def export_command(draw_id, out_dir, results, database_url) -> None:
    """Write the publication files (CSV, XLSX, JSON, verify_draw.py): pool before the seed, then list, then results."""
    engine = open_store(database_url)
    draw = selection_store.get_draw(engine, draw_id)
    if results:
        files = publication.export_results(engine, draw_id, out_dir)
    elif draw.status == "drawn":
        files = publication.export_draw(engine, draw_id, out_dir)
    else:
        files = publication.export_pool(engine, draw_id, out_dir)
    click.echo(f"已写入 written to {files.folder}:")
    for role, path in files.files.items():
        click.echo(f"  {role:<9}{path.name}")


# --------------------------------------------------------------------------- medcredit target


@click.command("target")
@click.option("--budget", required=True, type=click.IntRange(0), help="Targeted inspections beyond the leads.")
@click.option("--as-of", "as_of", required=True, type=_date, help="Selection date: leads of the 12 months before.")
@click.option("--region", "regions", multiple=True, help="Only these regions (repeatable; default: all).")
@click.option(
    "--scores",
    "scores_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Risk scores from `medcredit model score --csv` (institution_code, probability, expected_amount).",
)
@click.option("--model", "use_model", is_flag=True, help="Score with the active risk model instead of a file.")
@click.option(
    "--grades",
    "grades_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Grades file (institution_code, grade, score) instead of the newest credit run.",
)
@click.option("--draw", "draw_id", help="Merge with this draw's institutions into one visit each (综合查一次).")
@_actor_option
@_database
@_domain_errors
def target_command(budget, as_of, regions, scores_path, use_model, grades_path, draw_id, actor, database_url) -> None:
    """重点检查 targeted inspections: every lead, then the budget by expected loss; each pick with reasons."""
    engine = open_store(database_url)
    stamp = pd.Timestamp(as_of)
    selection = selection_store.select_and_save_targeted(
        engine,
        as_of=stamp,
        budget=budget,
        grades=_grades(engine, grades_path),
        scores=_scores(engine, scores_path, use_model, stamp),
        regions=regions or None,
        actor=actor,
    )
    _echo_targeted(selection)
    if draw_id:
        _echo_merged(engine, draw_id, selection)


def _echo_targeted(selection: selection_store.StoredTargetedSelection) -> None:
    picks = selection.selected
    triggered = int(picks["trigger"].sum())
    click.echo(
        f"重点检查选取 targeted selection #{selection.selection_id}: {len(picks)} 家 institutions "
        f"（线索必查 leads {triggered}，按优先级 by priority {len(picks) - triggered}）"
    )
    by_institution = selection.reasons.groupby("institution_code", sort=False)
    text_zh, text_en = by_institution["zh"].agg("；".join), by_institution["en"].agg("; ".join)
    shown = pd.DataFrame(
        {
            "机构 institution": picks["institution_code"],
            "线索 lead": picks["trigger"].map({True: "是 yes", False: "否 no"}),
            "优先级 rank": picks["priority_rank"],
            "理由": picks["institution_code"].map(text_zh),
            "reasons": picks["institution_code"].map(text_en),
        }
    )
    _print_table("重点检查对象及理由 targeted picks and reasons", shown)
    click.echo(
        "被选机构的智能审核线索 the picks' flagged claims: "
        f"medcredit features leads --selection {selection.selection_id}"
    )


def _echo_merged(engine: Engine, draw_id: str, selection: selection_store.StoredTargetedSelection) -> None:
    draw = selection_store.get_draw(engine, draw_id)
    random = draw.selected[["institution_code"]].assign(items=draw.item or "")
    visits = merge_visits(random=random, targeted=selection.selected[["institution_code", "items"]])
    both = int((visits["origins"] == "random;targeted").sum())
    click.echo(
        f"综合查一次 one visit per institution: {len(visits)} 次现场检查 visits "
        f"（其中双随机与重点检查合并 {both} 次 / {both} combine the random and the targeted check）"
    )


# --------------------------------------------------------------------------- medcredit plan


@click.command("plan")
@click.option("--year", required=True, type=click.IntRange(2000, 2100))
@click.option("--region", "regions", multiple=True, help="Only these regions (repeatable; default: all).")
@click.option("--draw", "draw_ids", multiple=True, help="A drawn draw of that year (placed in its month).")
@click.option("--targeted", "selection_ids", multiple=True, type=int, help="A stored targeted selection of that year.")
@click.option("--reserve-random", multiple=True, help="Reserve capacity for a later draw: MONTH=COUNT (repeatable).")
@click.option("--reserve-targeted", multiple=True, help="Reserve capacity for targeted visits: MONTH=COUNT.")
@click.option(
    "--visits-per-inspector",
    type=click.IntRange(1),
    default=4,
    show_default=True,
    help="Visits one inspector can join per month.",
)
@click.option("--team-size", type=click.IntRange(2), default=2, show_default=True)
@click.option("--routine-item", "routine_items", multiple=True, help="Check item of every routine visit (repeatable).")
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every planned visit to this file (.csv or .xlsx).",
)
@_actor_option
@_database
@_domain_errors
def plan_command(
    year,
    regions,
    draw_ids,
    selection_ids,
    reserve_random,
    reserve_targeted,
    visits_per_inspector,
    team_size,
    routine_items,
    out_path,
    actor,
    database_url,
) -> None:
    """年度检查计划 yearly plan: every active institution visited once within the monthly capacity."""
    engine = open_store(database_url)
    reserved = [PlannedRound("random", m, n) for m, n in _month_counts(reserve_random, "--reserve-random")]
    reserved += [PlannedRound("targeted", m, n) for m, n in _month_counts(reserve_targeted, "--reserve-targeted")]
    try:
        grades = selection_store.latest_credit_grades(engine)
    except selection_store.MissingGradesError:
        grades = None
        click.echo(
            "提示 note: 尚无信用评价，常规检查不按等级排序 / no credit run: routine visits are not ordered by grade"
        )
    try:
        plan = selection_store.plan_year(
            engine,
            rules=PlanRules(
                year=year,
                visits_per_inspector_per_month=visits_per_inspector,
                team_size=team_size,
                routine_items=routine_items,
            ),
            actor=actor,
            grades=grades,
            draw_ids=draw_ids,
            selection_ids=selection_ids,
            reserved=reserved,
            regions=regions or None,
        )
    except PlanCapacityError as error:
        _fail(str(error))
    _echo_plan(plan)
    if out_path is not None:
        _write_plan(plan, out_path)
        click.echo(f"计划明细已写入 visits written to {out_path}")


_MONTH_HEADERS = {
    "month": "月份 month",
    "capacity": "检查能力 capacity",
    "random": "双随机 random",
    "targeted": "重点 targeted",
    "routine": "日常 routine",
    "planned": "合计 planned",
    "spare": "余量 spare",
}


def _echo_plan(plan: selection_store.StoredPlan) -> None:
    totals = pd.DataFrame([{"month": "合计 total", **plan.months.drop(columns="month").sum().to_dict()}])
    months = pd.concat([plan.months.astype({"month": "object"}), totals], ignore_index=True)
    months = months.rename(columns=_MONTH_HEADERS)
    _print_table(f"{plan.year} 年度检查计划 yearly plan #{plan.plan_id}: {len(plan.visits)} 次检查 visits", months)


def _write_plan(plan: selection_store.StoredPlan, path: Path) -> None:
    visits = plan.visits.rename(
        columns={
            "institution_code": "机构编码 institution_code",
            "month": "月份 month",
            "origins": "检查类别 origins",
            "items": "检查事项 items",
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".xlsx":
        with pd.ExcelWriter(path, engine="openpyxl") as writer:
            plan.months.rename(columns=_MONTH_HEADERS).to_excel(writer, sheet_name="月度 Months", index=False)
            visits.to_excel(writer, sheet_name="明细 Visits", index=False)
    else:
        visits.to_csv(path, index=False, encoding="utf-8-sig")


# --------------------------------------------------------------------------- medcredit inspection ...


@click.group("inspection")
def inspection_group() -> None:
    """检查结果 inspection results: record them, list overdue publications, record publication."""


def _violation(text: str) -> dict[str, str]:
    fields = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(
                f"expected key=value pairs such as category=split_admission,amount=1200,disposition=recovery; "
                f"got {text!r}",
                param_hint="--violation",
            )
        fields[key.strip()] = value.strip()
    return fields


@inspection_group.command("record")
@click.option("--institution", "institution_code", required=True, help="Institution code.")
@click.option("--date", "start_date", required=True, type=_date, help="Date the inspection started.")
@click.option("--level", type=click.Choice(["province", "city", "county"]), default="city", show_default=True)
@click.option("--kind", help="Inspection kind (routine, random, targeted, ...; a draw's inspections are random).")
@click.option("--draw", "draw_id", help="The draw this inspection belongs to (defaults kind, team and item from it).")
@click.option("--inspectors", help="Inspector codes, ';'-separated (default with --draw: the drawn team).")
@click.option("--items", help="Check items, ';'-separated (default with --draw: the draw's item).")
@click.option("--found/--not-found", "found", required=True, help="Whether a violation was found.")
@click.option("--amount", type=float, help="Amount found in yuan (default: the sum of the violations).")
@click.option(
    "--violation",
    "violations",
    multiple=True,
    help="One violation as key=value pairs: category=...,amount=...,disposition=...[,status=...] (repeatable).",
)
@click.option("--id", "inspection_id", help="Inspection id (default: INS-<yyyymmdd>-<institution>).")
@click.option("--published", type=_date, help="Date the results were published, if already.")
@_actor_option
@_database
@_domain_errors
def record_command(
    institution_code,
    start_date,
    level,
    kind,
    draw_id,
    inspectors,
    items,
    found,
    amount,
    violations,
    inspection_id,
    published,
    actor,
    database_url,
) -> None:
    """Record an inspection's result and its violations (validated exactly like an import)."""
    engine = open_store(database_url)
    recorded = outcomes.record_outcome(
        engine,
        institution_code=institution_code,
        start_date=start_date,
        kind=kind,
        level=level,
        inspector_codes=inspectors,
        found_violation=found,
        amount_found=amount,
        violations=[_violation(text) for text in violations],
        draw_id=draw_id,
        items=items,
        inspection_id=inspection_id,
        result_published=published.date() if published else None,
        actor=actor,
    )
    state = "已写入 written" if recorded.written else "已存在且相同，未改动 already stored, unchanged"
    click.echo(f"检查记录 inspection {recorded.inspection_id}: {state}")
    if recorded.violation_ids:
        click.echo(f"  违规记录 violations: {', '.join(recorded.violation_ids)}")
    click.echo(f"  结果公开截止 results due for publication by {recorded.publication_due}（20 个工作日 working days）")


@inspection_group.command("overdue")
@click.option("--today", type=_date, help="Reference date (default: today).")
@click.option("--region", "regions", multiple=True, help="Only these regions (repeatable).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write the list here.")
@_database
@_domain_errors
def overdue_command(today, regions, csv_path, database_url) -> None:
    """List inspections whose results were not published within 20 working days."""
    when = pd.Timestamp(today or date.today())
    late = outcomes.overdue_results(open_store(database_url), when, regions=regions or None)
    if csv_path is not None:
        late.to_csv(csv_path, index=False, encoding="utf-8-sig")
    if late.empty:
        click.echo(f"截至 {when.date()} 无逾期未公开的检查结果 / no overdue results as of {when.date()}")
        return
    missing = int((late["status"] == "unpublished").sum())
    click.echo(
        f"截至 {when.date()}：逾期未公开 {missing} 项，逾期公开 {len(late) - missing} 项 / as of {when.date()}: "
        f"{missing} unpublished past the deadline, {len(late) - missing} published late"
    )
    shown = pd.DataFrame(
        {
            "检查编号 inspection": late["inspection_id"],
            "机构 institution": late["institution_code"],
            "名称 name": late["name"],
            "检查日期 started": late["start_date"].dt.strftime("%Y-%m-%d"),
            "截止 due": late["due_date"].dt.strftime("%Y-%m-%d"),
            "公开 published": late["result_published"].dt.strftime("%Y-%m-%d"),
            "状态 status": late["status"].map({"unpublished": "未公开 unpublished", "published_late": "逾期公开 late"}),
            "逾期工作日 working days late": late["working_days_late"],
        }
    )
    _print_table("逾期检查结果 overdue results", shown)


@inspection_group.command("published")
@click.argument("inspection_id")
@click.option("--date", "published_on", required=True, type=_date, help="Date the results were published.")
@_actor_option
@_database
@_domain_errors
def published_command(inspection_id, published_on, actor, database_url) -> None:
    """Record the date an inspection's results were published."""
    result = outcomes.mark_published(open_store(database_url), inspection_id, published_on, actor=actor)
    timing = "按时 on time" if result.on_time else "逾期 late"
    click.echo(
        f"检查 {result.inspection_id}: 结果公开于 published on {result.result_published}（截止 due "
        f"{result.due_date}，{timing}）"
    )


# --------------------------------------------------------------------------- the demo's steps


def demo_draw(engine: Engine, out_dir: Path, *, as_of: Any = None, actor: str = "demo") -> selection_store.StoredDraw:
    """``medcredit demo``: freeze a draw over every region, enter a fixed demo seed, publish and verify it.

    ``as_of`` defaults to the day after the newest credit run's date (the first draw its grades
    stratify), inspectors of the city and province join the county teams, and the publication folder
    is ``out_dir``; the exported JSON is verified with the copied verifier.
    """
    grades = selection_store.latest_credit_grades(engine)
    as_of = pd.Timestamp(as_of) if as_of is not None else grades["as_of"].max() + pd.Timedelta(days=1)
    regions = sorted(load_table(engine, "institutions", columns=["region_code"])["region_code"].dropna().unique())
    frozen = selection_store.freeze_draw(
        engine,
        as_of=as_of,
        regions=regions,
        item=None,
        grades=grades,
        actor=actor,
        team_rules=TeamRules(include_higher_level_inspectors=True),
    )
    _echo_frozen(frozen)
    draw = selection_store.enter_seed_and_draw(
        engine, frozen.draw_id, Seed("dice", DEMO_DICE, DEMO_DICE_REFERENCE), actor
    )
    click.echo(
        f"抽查批次 draw {draw.draw_id}: {draw.selected_count} / {draw.pool_size} 家机构抽中 drawn "
        f"（种子 seed {draw.seed.value}，{DEMO_DICE_REFERENCE}）"
    )
    files = publication.export_draw(engine, draw.draw_id, out_dir)
    document = json.loads(files.files["json"].read_text(encoding="utf-8"))
    click.echo(f"  {verify_draw.verify(document).summary()}")
    click.echo(f"  公示文件 publication files: {files.folder}（python verify_draw.py {files.files['json'].name}）")
    return draw


def demo_plan(
    engine: Engine, out_dir: Path, *, draw_id: str, budget: int | None = None, actor: str = "demo"
) -> selection_store.StoredPlan:
    """``medcredit demo``: a targeted selection on the draw's date, merged visits, and the year's plan.

    The plan covers the draw's year with the draw and the targeted selection in their month and a
    routine visit for every other active institution; the visits are written to ``out_dir/plan-<year>.csv``.
    ``budget`` defaults to 2 % of the draw's pool.
    """
    draw = selection_store.get_draw(engine, draw_id)
    grades = selection_store.latest_credit_grades(engine)
    budget = budget if budget is not None else max(1, draw.pool_size // 50)
    selection = selection_store.select_and_save_targeted(
        engine, as_of=pd.Timestamp(draw.as_of), budget=budget, grades=grades, actor=actor
    )
    _echo_targeted(selection)
    _echo_merged(engine, draw_id, selection)
    plan = selection_store.plan_year(
        engine,
        rules=PlanRules(year=draw.as_of.year),
        actor=actor,
        grades=grades,
        draw_ids=[draw_id],
        selection_ids=[selection.selection_id],
    )
    _echo_plan(plan)
    path = Path(out_dir) / f"plan-{plan.year}.csv"
    _write_plan(plan, path)
    click.echo(f"  计划明细 visits: {path}")
    return plan


COMMANDS = [draw_group, target_command, plan_command, inspection_group]
