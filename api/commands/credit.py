"""Credit commands: evaluate and store a run, explain a grade, compare runs, objections and repairs."""

from __future__ import annotations

import functools
import getpass
import os
from collections.abc import Callable
from pathlib import Path

import click
import pandas as pd

from features import open_store
from scoring import credit_store
from scoring.policy import BUILTIN_POLICIES, PolicyError, load_policy

from ..terminal import progress_bar


def _actor() -> str:
    return os.environ.get("MEDCREDIT_ACTOR") or getpass.getuser() or "cli"


def _domain_errors(command: Callable) -> Callable:
    """Turn refused requests and unknown ids into a one-line message and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (PolicyError, credit_store.CreditDecisionError, credit_store.CreditRecordNotFound, ValueError) as error:
            raise click.ClickException(str(error)) from error

    return wrapper


_database = click.option(
    "--database-url", envvar="MEDCREDIT_DATABASE_URL", help="SQLAlchemy URL (default: SQLite in the data dir)."
)
_actor_option = click.option(
    "--actor", default=_actor, show_default="current user", help="Who does this (recorded with the run or decision)."
)


@click.group("credit")
def credit_group() -> None:
    """信用评价 credit evaluation: grades, lines, objections (异议) and credit repair (信用修复)."""


@credit_group.command("evaluate")
@click.option("--as-of", "as_of", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Evaluation date.")
@click.option(
    "--policy",
    default="national-100",
    show_default=True,
    help=f"Built-in policy {list(BUILTIN_POLICIES)} or a YAML file.",
)
@_actor_option
@_database
@_domain_errors
def evaluate_command(as_of, policy: str, actor: str, database_url: str | None) -> None:
    """Evaluate every institution, store the run and print the grade distribution."""
    engine = open_store(database_url)
    with progress_bar("信用评价 credit") as progress:
        run = credit_store.run_evaluation(engine, as_of.date(), policy, actor, progress=progress)
    distribution = run.distribution()
    total = int(distribution.sum())
    click.echo(
        f"评价批次 run #{run.run_id}: {run.policy_name} ({run.policy_hash[:12]}), 评价日 as of {run.as_of}, "
        f"{total:,} 家机构 institutions"
    )
    click.echo(f"  {'等级 grade':<12}{'机构数 count':>14}{'占比 share':>12}")
    for grade, count in distribution.items():
        share = count / total if total else 0.0
        click.echo(f"  {grade:<12}{count:>14,}{share:>12.1%}")
    vetoed = int(run.evaluation.institutions["veto"].sum())
    click.echo(f"  一票否决 vetoed: {vetoed:,}; 明细行 lines: {len(run.evaluation.lines):,}")
    if run.evaluation.tables_without_data:
        click.echo(
            "  无数据的表（相关规则未产生明细） tables without records: "
            + ", ".join(run.evaluation.tables_without_data)
        )


@credit_group.command("explain")
@click.argument("institution_code")
@click.option("--run", "run_id", type=int, help="Run id (default: the newest run that evaluated the institution).")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@_database
@_domain_errors
def explain_command(institution_code: str, run_id: int | None, lang: str, database_url: str | None) -> None:
    """Print an institution's score, grade and every line behind it."""
    click.echo(credit_store.explain(open_store(database_url), institution_code, run_id=run_id, lang=lang))


@credit_group.command("runs")
@_database
def runs_command(database_url: str | None) -> None:
    """List stored evaluation runs, newest first."""
    runs = credit_store.list_runs(open_store(database_url))
    if runs.empty:
        click.echo("尚无评价批次 no credit runs yet")
        return
    shown = runs[["run_id", "as_of", "policy_name", "policy_hash", "institutions", "scope", "created_at", "created_by"]]
    shown = shown.assign(policy_hash=shown["policy_hash"].str[:12], scope=shown["scope"].fillna("all"))
    click.echo(shown.to_string(index=False))


@credit_group.command("changes")
@click.argument("run_a", type=int)
@click.argument("run_b", type=int)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@_database
@_domain_errors
def changes_command(run_a: int, run_b: int, lang: str, database_url: str | None) -> None:
    """List institutions whose grade changed between two runs, with the reasons."""
    changes = credit_store.grade_changes(open_store(database_url), run_a, run_b)
    if changes.empty:
        click.echo("等级无变化 no grade changed")
        return
    for row in changes.itertuples(index=False):
        reason = row.reason_zh if lang == "zh" else row.reason_en
        click.echo(
            f"{row.institution_code}  {row.grade_a} → {row.grade_b}  ({row.score_a:.2f} → {row.score_b:.2f})  {reason}"
        )


@credit_group.command("matrix")
@click.argument("run_a", type=int)
@click.argument("run_b", type=int)
@_database
@_domain_errors
def matrix_command(run_a: int, run_b: int, database_url: str | None) -> None:
    """Print the grade migration matrix between two runs (rows: run A, columns: run B)."""
    click.echo(credit_store.migration_matrix(open_store(database_url), run_a, run_b).to_string())


@credit_group.command("object")
@click.argument("line_id")
@click.option("--reason", required=True, help="Why the line is wrong.")
@click.option("--attachment", "attachments", multiple=True, help="Attachment file name (repeatable).")
@_actor_option
@_database
@_domain_errors
def object_command(
    line_id: str, reason: str, attachments: tuple[str, ...], actor: str, database_url: str | None
) -> None:
    """File an objection (异议) against one line."""
    objection_id = credit_store.file_objection(
        open_store(database_url), line_id, reason=reason, actor=actor, attachments=attachments
    )
    click.echo(f"异议已登记 objection #{objection_id} filed against {line_id}; the line is pending until decided")


@credit_group.command("decide")
@click.argument("objection_id", type=int)
@click.option("--uphold/--reject", "upheld", required=True, help="Uphold (remove the line) or reject the objection.")
@click.option("--note", default="", help="Reasons for the decision.")
@_actor_option
@_database
@_domain_errors
def decide_command(objection_id: int, upheld: bool, note: str, actor: str, database_url: str | None) -> None:
    """Decide an objection; an upheld one removes the line and re-grades the institution."""
    decision = credit_store.decide_objection(
        open_store(database_url), objection_id, upheld=upheld, actor=actor, note=note
    )
    message = f"异议 objection #{decision.objection_id}: {decision.status}"
    if decision.regrade_run_id is not None:
        message += f"; 重新评价 re-graded in run #{decision.regrade_run_id}"
    click.echo(message)


@credit_group.command("repair")
@click.argument("line_id")
@click.option("--reason", required=True, help="The rectification done (整改情况).")
@click.option("--applied-on", type=click.DateTime(["%Y-%m-%d"]), help="Application date (default: today).")
@_actor_option
@_database
@_domain_errors
def repair_command(line_id: str, reason: str, applied_on, actor: str, database_url: str | None) -> None:
    """Apply for credit repair (信用修复) of one deduction line."""
    repair_id = credit_store.apply_repair(
        open_store(database_url),
        line_id,
        reason=reason,
        actor=actor,
        applied_on=applied_on.date() if applied_on else None,
    )
    click.echo(f"信用修复申请已登记 repair #{repair_id} for {line_id}")


@credit_group.command("approve-repair")
@click.argument("repair_id", type=int)
@click.option("--reject", is_flag=True, help="Reject instead of approve.")
@click.option("--note", default="")
@_actor_option
@_database
@_domain_errors
def approve_repair_command(repair_id: int, reject: bool, note: str, actor: str, database_url: str | None) -> None:
    """Approve (or reject) a credit-repair application."""
    decision = credit_store.approve_repair(
        open_store(database_url), repair_id, actor=actor, approved=not reject, note=note
    )
    message = f"信用修复 repair #{decision.repair_id}: {decision.status}"
    if decision.effective_date is not None:
        message += f"; 生效日 effective from {decision.effective_date}"
    click.echo(message)


@credit_group.command("policy")
@click.argument("policy")
@_domain_errors
def policy_command(policy: str) -> None:
    """Check a policy (built-in name or YAML file) and print its summary and hash."""
    loaded = load_policy(policy if policy in BUILTIN_POLICIES else Path(policy))
    click.echo(f"{loaded.name} — {loaded.title_zh} / {loaded.title_en}")
    click.echo(f"  sha256 {loaded.sha256}")
    bands = ", ".join(f"{g.grade} ≥ {g.min:g}" if g.min is not None else g.grade for g in loaded.grades)
    click.echo(f"  scale {loaded.scale:g}, base {loaded.base:g}; grades {bands}")
    click.echo(
        f"  {len(loaded.indicators)} indicators, {len(loaded.vetoes)} vetoes, {len(loaded.repair)} repair rules; "
        f"objection window {loaded.objection_window_days} days"
    )
    frame = pd.DataFrame(
        [(i.id, i.kind, i.selector.table, i.points, i.cap, i.window_months) for i in loaded.indicators],
        columns=["id", "kind", "table", "points", "cap", "window_months"],
    )
    click.echo(frame.to_string(index=False))


COMMANDS = [credit_group]
