"""Stored credit evaluations: runs, results, lines, objections (异议) and credit repair (信用修复).

A run records what was evaluated (date, policy name, hash and canonical text, a snapshot of the
data: the newest import and every source table's row count and content hash) and every
institution's result and lines; runs are never changed afterwards. Objections and repairs are
recorded with who and when; an upheld objection re-grades the institution at once (a new run
scoped to its credit subject, with the same date and policy as its latest run), an approved repair
lifts the deduction from its effective date in every later evaluation.

Every function that writes does so in one transaction: on any error nothing is written. Unknown
ids raise :class:`CreditRecordNotFound` (a ``LookupError``); a request the rules refuse raises
:class:`CreditDecisionError` (a ``ValueError``) naming what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from features.storage import CONTRACT_TABLES, imports, metadata

from ._credit_data import contract_tables_needed, subject_members
from .credit import ApprovedRepair, CreditAdjustments, CreditEvaluation, evaluate_credit
from .policy import CreditPolicy, load_policy

__all__ = [
    "CreditDecisionError",
    "CreditRecordNotFound",
    "CreditRun",
    "ObjectionDecision",
    "RepairDecision",
    "apply_repair",
    "approve_repair",
    "data_snapshot",
    "decide_objection",
    "explain",
    "file_objection",
    "grade_changes",
    "latest_results",
    "list_objections",
    "list_repairs",
    "list_runs",
    "load_adjustments",
    "migration_matrix",
    "run_evaluation",
    "run_lines",
    "run_policy",
    "run_results",
    "score_history",
]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

credit_runs = sa.Table(
    "credit_runs",
    metadata,
    sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("policy_name", sa.String(100), nullable=False),
    sa.Column("policy_hash", sa.String(64), nullable=False),
    sa.Column("policy_json", sa.Text, nullable=False),
    sa.Column("data_snapshot", sa.Text, nullable=False),
    sa.Column("scope", sa.Text),
    sa.Column("parent_run_id", sa.Integer, sa.ForeignKey("credit_runs.run_id")),
    sa.Column("reason", sa.Text),
    sa.Column("institutions", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    comment="信用评价批次",
)

credit_results = sa.Table(
    "credit_results",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("credit_runs.run_id"), primary_key=True),
    sa.Column("institution_code", sa.String(40), primary_key=True),
    sa.Column("subject", sa.String(40), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("grade", sa.String(8), nullable=False),
    sa.Column("score_grade", sa.String(8), nullable=False),
    sa.Column("veto", sa.Boolean, nullable=False),
    sa.Column("veto_rules", sa.Text, nullable=False),
    sa.Column("deductions", sa.Float, nullable=False),
    sa.Column("bonuses", sa.Float, nullable=False),
    sa.Column("peer_group", sa.String(100)),
    sa.Column("line_count", sa.Integer, nullable=False),
    sa.Index("ix_credit_results_institution_code", "institution_code"),
    comment="信用评价结果",
)

credit_lines = sa.Table(
    "credit_lines",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("credit_runs.run_id"), primary_key=True),
    sa.Column("line_id", sa.String(300), primary_key=True),
    sa.Column("institution_code", sa.String(40), nullable=False),
    sa.Column("subject", sa.String(40), nullable=False),
    sa.Column("rule_id", sa.String(80), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("points", sa.Float, nullable=False),
    sa.Column("points_rule", sa.Float, nullable=False),
    sa.Column("record_table", sa.String(40), nullable=False),
    sa.Column("record_key", sa.Text, nullable=False),
    sa.Column("record_ids", sa.Text, nullable=False),
    sa.Column("event_date", sa.Date),
    sa.Column("base_points", sa.Float, nullable=False),
    sa.Column("amount_multiplier", sa.Float, nullable=False),
    sa.Column("source_multiplier", sa.Float, nullable=False),
    sa.Column("lenient_multiplier", sa.Float, nullable=False),
    sa.Column("case_source", sa.String(40)),
    sa.Column("veto_grade", sa.String(8)),
    sa.Column("capped", sa.Boolean, nullable=False),
    sa.Column("under_appeal", sa.Boolean, nullable=False),
    sa.Column("objection_pending", sa.Boolean, nullable=False),
    sa.Column("repair_id", sa.Integer),
    sa.Column("repair_state", sa.String(20)),
    sa.Column("repair_effective", sa.Date),
    sa.Column("text_zh", sa.Text, nullable=False),
    sa.Column("text_en", sa.Text, nullable=False),
    sa.Index("ix_credit_lines_institution_code", "institution_code"),
    sa.Index("ix_credit_lines_line_id", "line_id"),
    comment="信用评价明细",
)

credit_objections = sa.Table(
    "credit_objections",
    metadata,
    sa.Column("objection_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("credit_runs.run_id"), nullable=False),
    sa.Column("line_id", sa.String(300), nullable=False, index=True),
    sa.Column("institution_code", sa.String(40), nullable=False),
    sa.Column("rule_id", sa.String(80), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("attachments", sa.Text, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("filed_by", sa.String(100), nullable=False),
    sa.Column("filed_at", sa.DateTime, nullable=False),
    sa.Column("decided_by", sa.String(100)),
    sa.Column("decided_at", sa.DateTime),
    sa.Column("decision_note", sa.Text),
    sa.Column("regrade_run_id", sa.Integer, sa.ForeignKey("credit_runs.run_id")),
    comment="信用评价异议",
)

credit_repairs = sa.Table(
    "credit_repairs",
    metadata,
    sa.Column("repair_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("credit_runs.run_id"), nullable=False),
    sa.Column("line_id", sa.String(300), nullable=False, index=True),
    sa.Column("institution_code", sa.String(40), nullable=False),
    sa.Column("rule_id", sa.String(80), nullable=False),
    sa.Column("event_date", sa.Date),
    sa.Column("applied_on", sa.Date, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("waiting_months", sa.Integer, nullable=False),
    sa.Column("restore", sa.Float, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("applied_by", sa.String(100), nullable=False),
    sa.Column("applied_at", sa.DateTime, nullable=False),
    sa.Column("decided_by", sa.String(100)),
    sa.Column("decided_at", sa.DateTime),
    sa.Column("decision_note", sa.Text),
    sa.Column("effective_date", sa.Date),
    comment="信用修复申请",
)

_CHUNK = 20_000
_STATUS_ZH = {"pending": "待处理", "upheld": "异议成立", "rejected": "异议不成立", "approved": "已批准"}
_REPAIR_STATUS_ZH = {"pending": "待审核", "approved": "已批准", "rejected": "未批准"}


class CreditRecordNotFound(LookupError):
    """An unknown run, line, institution, objection or repair id."""


class CreditDecisionError(ValueError):
    """A request the credit rules refuse (deciding twice, out of the window, repairing a veto...)."""


@dataclass(frozen=True)
class CreditRun:
    run_id: int
    as_of: date
    policy_name: str
    policy_hash: str
    created_at: datetime
    created_by: str
    evaluation: CreditEvaluation

    def distribution(self) -> pd.Series:
        return self.evaluation.distribution()


@dataclass(frozen=True)
class ObjectionDecision:
    objection_id: int
    status: str
    regrade_run_id: int | None


@dataclass(frozen=True)
class RepairDecision:
    repair_id: int
    status: str
    effective_date: date | None


# --------------------------------------------------------------------------------------------
# runs


def _now(at: datetime | None) -> datetime:
    return (at or datetime.now()).replace(microsecond=0)


def _require_text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string; got {value!r}")
    return value.strip()


def data_snapshot(engine: Engine | Connection, policy: CreditPolicy) -> dict:
    """What the evaluation read: newest import id, and rows and a content hash per source table.

    The hash is SHA-256 over the sorted row hashes the importer keeps, so the same data always
    gives the same snapshot, however and whenever it was imported.
    """
    connect = engine.connect() if isinstance(engine, Engine) else _borrowed(engine)
    with connect as connection:
        max_import = connection.execute(sa.select(sa.func.max(imports.c.import_id))).scalar()
        tables = {}
        for name in contract_tables_needed(policy):
            hashes = connection.execute(sa.select(CONTRACT_TABLES[name].c._row_hash)).scalars().all()
            digest = hashlib.sha256("\n".join(sorted(hashes)).encode("ascii")).hexdigest()
            tables[name] = {"rows": len(hashes), "sha256": digest}
    return {"max_import_id": max_import, "tables": tables}


class _borrowed:
    """A context manager lending an open connection without closing it."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def __enter__(self) -> Connection:
        return self.connection

    def __exit__(self, *exc) -> None:
        return None


def _column_values(values: pd.Series, is_date: bool) -> list:
    """One column as plain Python values (None for missing), converted column-wise."""
    if is_date:
        return values.to_numpy(dtype="datetime64[D]").astype(object).tolist()  # NaT → None
    if values.dtype.kind in "fb" and values.dtype != "boolean":
        plain = values.to_numpy().tolist()
        if values.dtype.kind == "f" and values.isna().any():
            plain = [None if v != v else v for v in plain]  # NaN → None
        return plain
    return values.astype(object).where(values.notna(), None).tolist()


def _insert_frame(connection: Connection, table: sa.Table, frame: pd.DataFrame, date_columns: Sequence[str] = ()):
    """Bulk insert through the driver's executemany: per-row statement processing would dominate."""
    names = [c.name for c in table.columns if c.name in frame.columns]
    marks = {"qmark": "?", "numeric": ":{i}", "named": ":{name}", "format": "%s", "pyformat": "%({name})s"}
    style = marks[connection.dialect.paramstyle]
    placeholders = ", ".join(style.format(i=i + 1, name=name) for i, name in enumerate(names))
    quote = connection.dialect.identifier_preparer.quote
    sql = f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) VALUES ({placeholders})"
    for start in range(0, len(frame), _CHUNK):
        chunk = frame.iloc[start : start + _CHUNK]
        columns = [_column_values(chunk[name], name in date_columns) for name in names]
        if connection.dialect.paramstyle in ("named", "pyformat"):
            rows = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
        else:
            rows = list(zip(*columns, strict=True))
        if rows:
            connection.exec_driver_sql(sql, rows)


def _store_run(
    connection: Connection,
    evaluation: CreditEvaluation,
    snapshot: dict,
    actor: str,
    at: datetime,
    *,
    scope: Sequence[str] | None = None,
    parent_run_id: int | None = None,
    reason: str | None = None,
) -> int:
    run_id = connection.execute(
        credit_runs.insert().values(
            as_of=evaluation.as_of,
            policy_name=evaluation.policy.name,
            policy_hash=evaluation.policy.sha256,
            policy_json=evaluation.policy.canonical_json(),
            data_snapshot=json.dumps(snapshot, sort_keys=True),
            scope=None if scope is None else ";".join(sorted(scope)),
            parent_run_id=parent_run_id,
            reason=reason,
            institutions=len(evaluation.institutions),
            created_at=at,
            created_by=actor,
        )
    ).inserted_primary_key[0]
    _insert_frame(connection, credit_results, evaluation.institutions.assign(run_id=run_id))
    _insert_frame(connection, credit_lines, evaluation.lines.assign(run_id=run_id), ("event_date", "repair_effective"))
    return int(run_id)


def run_evaluation(
    engine: Engine,
    as_of: date | str,
    policy: CreditPolicy | str | Path,
    actor: str,
    *,
    at: datetime | None = None,
    progress: Progress | None = None,
) -> CreditRun:
    """Evaluate every institution in the store and record the run; returns the run and its results."""
    actor = _require_text(actor, "actor")
    policy = load_policy(policy)
    at = _now(at)
    snapshot = data_snapshot(engine, policy)
    evaluation = evaluate_credit(as_of, policy, engine=engine, progress=progress)
    with engine.begin() as connection:
        run_id = _store_run(connection, evaluation, snapshot, actor, at)
    log.info(
        "credit run #%d: %s as of %s, %d institutions",
        run_id,
        policy.name,
        evaluation.as_of,
        len(evaluation.institutions),
    )
    return CreditRun(run_id, evaluation.as_of, policy.name, policy.sha256, at, actor, evaluation)


def _run_row(connection: Connection, run_id: int) -> sa.Row:
    row = connection.execute(sa.select(credit_runs).where(credit_runs.c.run_id == int(run_id))).first()
    if row is None:
        raise CreditRecordNotFound(f"run_id {run_id!r} is not a stored credit run")
    return row


def run_policy(engine: Engine, run_id: int) -> CreditPolicy:
    """The policy a run used, exactly as it was (from the canonical text stored with the run)."""
    with engine.connect() as connection:
        row = _run_row(connection, run_id)
    return CreditPolicy.from_json(row.policy_json, source=f"run #{run_id}")


def list_runs(engine: Engine) -> pd.DataFrame:
    """Every stored run, newest first (without the policy text and the data snapshot)."""
    columns = [c for c in credit_runs.c if c.name not in ("policy_json", "data_snapshot")]
    with engine.connect() as connection:
        frame = pd.read_sql(sa.select(*columns).order_by(credit_runs.c.run_id.desc()), connection)
    return frame


def run_results(engine: Engine, run_id: int) -> pd.DataFrame:
    with engine.connect() as connection:
        _run_row(connection, run_id)
        query = sa.select(credit_results).where(credit_results.c.run_id == int(run_id))
        return pd.read_sql(query.order_by(credit_results.c.institution_code), connection)


def run_lines(engine: Engine, run_id: int, institution_code: str | None = None) -> pd.DataFrame:
    """The lines of a run (of one institution's credit subject when ``institution_code`` is given)."""
    with engine.connect() as connection:
        _run_row(connection, run_id)
        query = sa.select(credit_lines).where(credit_lines.c.run_id == int(run_id))
        if institution_code is not None:
            subject = connection.execute(
                sa.select(credit_results.c.subject).where(
                    credit_results.c.run_id == int(run_id), credit_results.c.institution_code == institution_code
                )
            ).scalar()
            if subject is None:
                raise CreditRecordNotFound(f"institution {institution_code!r} is not in credit run #{run_id}")
            query = query.where(credit_lines.c.subject == subject)
        frame = pd.read_sql(query, connection)
    return _ordered_lines(frame)


def _ordered_lines(frame: pd.DataFrame) -> pd.DataFrame:
    order = {"veto": 0, "deduction": 1, "bonus": 2}
    frame = frame.assign(_kind=frame["kind"].map(order))
    frame = frame.sort_values(["subject", "_kind", "event_date", "line_id"], kind="mergesort")
    return frame.drop(columns="_kind").reset_index(drop=True)


def latest_results(engine: Engine, policy_name: str | None = None) -> pd.DataFrame:
    """Each institution's result from the newest run that evaluated it (optionally of one policy)."""
    latest = sa.select(credit_results.c.institution_code, sa.func.max(credit_results.c.run_id).label("run_id"))
    latest = latest.join_from(credit_results, credit_runs, credit_results.c.run_id == credit_runs.c.run_id)
    if policy_name is not None:
        latest = latest.where(credit_runs.c.policy_name == policy_name)
    latest = latest.group_by(credit_results.c.institution_code).subquery()
    query = (
        sa.select(credit_runs.c.as_of, credit_runs.c.policy_name, credit_results)
        .join(
            latest,
            sa.and_(
                credit_results.c.run_id == latest.c.run_id,
                credit_results.c.institution_code == latest.c.institution_code,
            ),
        )
        .join(credit_runs, credit_runs.c.run_id == credit_results.c.run_id)
        .order_by(credit_results.c.institution_code)
    )
    with engine.connect() as connection:
        return pd.read_sql(query, connection)


def score_history(engine: Engine, institution_code: str) -> pd.DataFrame:
    """An institution's score and grade in every run, oldest first (the credit time series)."""
    query = (
        sa.select(
            credit_runs.c.run_id,
            credit_runs.c.as_of,
            credit_runs.c.policy_name,
            credit_runs.c.created_at,
            credit_results.c.score,
            credit_results.c.grade,
            credit_results.c.veto,
        )
        .join(credit_runs, credit_runs.c.run_id == credit_results.c.run_id)
        .where(credit_results.c.institution_code == institution_code)
        .order_by(credit_runs.c.run_id)
    )
    with engine.connect() as connection:
        return pd.read_sql(query, connection)


# --------------------------------------------------------------------------------------------
# comparing runs


def _results_pair(engine: Engine, run_a: int, run_b: int) -> tuple[pd.DataFrame, CreditPolicy, CreditPolicy]:
    with engine.connect() as connection:
        row_a, row_b = _run_row(connection, run_a), _run_row(connection, run_b)
        columns = [credit_results.c[c] for c in ("run_id", "institution_code", "score", "grade", "veto")]
        frame = pd.read_sql(
            sa.select(*columns).where(credit_results.c.run_id.in_([int(run_a), int(run_b)])), connection
        )
    a = frame.loc[frame["run_id"] == int(run_a)].drop(columns="run_id")
    b = frame.loc[frame["run_id"] == int(run_b)].drop(columns="run_id")
    pair = a.merge(b, on="institution_code", suffixes=("_a", "_b"))
    policy_a = CreditPolicy.from_json(row_a.policy_json, source=f"run #{run_a}")
    policy_b = CreditPolicy.from_json(row_b.policy_json, source=f"run #{run_b}")
    return pair.sort_values("institution_code").reset_index(drop=True), policy_a, policy_b


def migration_matrix(engine: Engine, run_a: int, run_b: int) -> pd.DataFrame:
    """Institutions by grade in ``run_a`` (rows) and in ``run_b`` (columns), those in both runs."""
    pair, policy_a, policy_b = _results_pair(engine, run_a, run_b)
    matrix = pd.crosstab(pair["grade_a"], pair["grade_b"])
    matrix = matrix.reindex(index=list(policy_a.grade_names), columns=list(policy_b.grade_names), fill_value=0)
    matrix.index.name = f"run {run_a}"
    matrix.columns.name = f"run {run_b}"
    return matrix.astype("int64")


def _line_summary(lines: pd.DataFrame, lang: str) -> pd.Series:
    sign = lines["points"].map(lambda p: f"{p:+.2f}")
    label = lines["line_id"] + " " + np.where(lines["kind"] == "veto", "veto" if lang == "en" else "否决", sign)
    return label.groupby(lines["institution_code"]).agg("; ".join)


def grade_changes(engine: Engine, run_a: int, run_b: int) -> pd.DataFrame:
    """Institutions whose grade differs between two runs, with the lines that appeared, went or changed.

    Columns: institution_code, grade_a, grade_b, score_a, score_b, direction (up/down, or None when
    the runs' policies grade differently), reason_zh, reason_en.
    """
    pair, policy_a, policy_b = _results_pair(engine, run_a, run_b)
    changed = pair.loc[pair["grade_a"] != pair["grade_b"]].copy()
    if policy_a.grade_names == policy_b.grade_names:
        rank = {g: i for i, g in enumerate(policy_b.grade_names)}
        better = changed["grade_b"].map(rank) < changed["grade_a"].map(rank)
        changed["direction"] = np.where(better, "up", "down")
    else:
        changed["direction"] = None
    columns = ["run_id", "institution_code", "line_id", "kind", "points"]
    codes = changed["institution_code"].tolist()
    with engine.connect() as connection:
        frames = []
        for start in range(0, len(codes), 500):
            chunk = codes[start : start + 500]
            query = sa.select(*(credit_lines.c[c] for c in columns)).where(
                credit_lines.c.run_id.in_([int(run_a), int(run_b)]), credit_lines.c.institution_code.in_(chunk)
            )
            frames.append(pd.read_sql(query, connection))
        upheld = set(
            connection.execute(
                sa.select(credit_objections.c.line_id).where(credit_objections.c.status == "upheld")
            ).scalars()
        )
    lines = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    a = lines.loc[lines["run_id"] == int(run_a)].drop(columns="run_id")
    b = lines.loc[lines["run_id"] == int(run_b)].drop(columns="run_id")
    both = a.merge(b, on=["institution_code", "line_id", "kind"], how="outer", suffixes=("_a", "_b"), indicator=True)
    added = both.loc[both["_merge"] == "right_only"].assign(points=lambda f: f["points_b"])
    gone = both.loc[both["_merge"] == "left_only"].assign(points=lambda f: f["points_a"])
    moved = both.loc[(both["_merge"] == "both") & (both["points_a"] != both["points_b"])].copy()
    moved["points"] = moved["points_b"]
    gone_upheld = gone["line_id"].isin(upheld)
    groups = [
        (("新增", "added"), added),
        (("异议成立撤销", "removed by upheld objection"), gone.loc[gone_upheld]),
        (("到期或记录变更移除", "expired or record changed"), gone.loc[~gone_upheld]),
        (("分值变化（修复或封顶）", "points changed (repair or cap)"), moved),
    ]
    reasons: dict[str, dict[str, list[str]]] = {"zh": {c: [] for c in codes}, "en": {c: [] for c in codes}}
    for titles, frame in groups:
        if frame.empty:
            continue
        for lang, title, sep in (("zh", titles[0], "："), ("en", titles[1], ": ")):
            for code, text in _line_summary(frame, lang).items():
                reasons[lang][code].append(f"{title}{sep}{text}")
    if policy_a.sha256 != policy_b.sha256:
        for lang, text in (("zh", "评价办法不同"), ("en", "different policy")):
            for code in codes:
                reasons[lang][code].insert(0, f"{text} {policy_a.name} → {policy_b.name}")
    elif policy_b.peer_groups is not None:
        for lang, text in (("zh", "同类组内排名变化"), ("en", "rank within the peer group changed")):
            for code in codes:
                reasons[lang][code] = reasons[lang][code] or [text]
    for lang in ("zh", "en"):
        changed[f"reason_{lang}"] = [" | ".join(reasons[lang][c]) for c in codes]
    columns = ["institution_code", "grade_a", "grade_b", "score_a", "score_b", "direction", "reason_zh", "reason_en"]
    return changed[columns].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# objections and repairs


def load_adjustments(engine: Engine | Connection) -> CreditAdjustments:
    """The decisions evaluations apply: upheld and pending objections, approved repairs."""
    connect = engine.connect() if isinstance(engine, Engine) else _borrowed(engine)
    with connect as connection:
        objections = connection.execute(
            sa.select(credit_objections.c.line_id, credit_objections.c.status).where(
                credit_objections.c.status.in_(["upheld", "pending"])
            )
        ).all()
        repairs = connection.execute(
            sa.select(credit_repairs.c.repair_id, credit_repairs.c.line_id, credit_repairs.c.decided_at).where(
                credit_repairs.c.status == "approved"
            )
        ).all()
    return CreditAdjustments(
        upheld=frozenset(line for line, status in objections if status == "upheld"),
        pending=frozenset(line for line, status in objections if status == "pending"),
        repairs=tuple(ApprovedRepair(int(r.repair_id), r.line_id, r.decided_at.date()) for r in repairs),
    )


def _line_row(connection: Connection, line_id: str, run_id: int | None) -> sa.Row:
    query = sa.select(credit_lines).where(credit_lines.c.line_id == line_id)
    if run_id is not None:
        _run_row(connection, run_id)
        query = query.where(credit_lines.c.run_id == int(run_id))
    row = connection.execute(query.order_by(credit_lines.c.run_id.desc()).limit(1)).first()
    if row is None:
        where = f"credit run #{run_id}" if run_id is not None else "any stored credit run"
        raise CreditRecordNotFound(f"line_id {line_id!r} is not in {where}")
    return row


def _first_notified(connection: Connection, line_id: str) -> sa.Row:
    """The earliest run that published ``line_id``: the objection window runs from its date."""
    return connection.execute(
        sa.select(credit_runs)
        .join(credit_lines, credit_lines.c.run_id == credit_runs.c.run_id)
        .where(credit_lines.c.line_id == line_id)
        .order_by(credit_runs.c.run_id)
        .limit(1)
    ).first()


def _objection_on(connection: Connection, line_id: str, status: str) -> sa.Row | None:
    return connection.execute(
        sa.select(credit_objections).where(credit_objections.c.line_id == line_id, credit_objections.c.status == status)
    ).first()


def file_objection(
    engine: Engine,
    line_id: str,
    *,
    reason: str,
    actor: str,
    attachments: Sequence[str] = (),
    run_id: int | None = None,
    at: datetime | None = None,
) -> int:
    """Record an objection (异议) against one line; the line is flagged pending until decided.

    It must be filed within the policy's ``objection_window_days`` of the day the line was first
    published (the creation date of the first run holding it). Returns the objection id.
    """
    reason, actor = _require_text(reason, "reason"), _require_text(actor, "actor")
    names = [_require_text(a, "attachments[]") for a in attachments]
    at = _now(at)
    with engine.begin() as connection:
        line = _line_row(connection, line_id, run_id)
        first = _first_notified(connection, line_id)
        policy = CreditPolicy.from_json(first.policy_json, source=f"run #{first.run_id}")
        closes = first.created_at.date() + timedelta(days=policy.objection_window_days)
        if at.date() > closes:
            raise CreditDecisionError(
                f"objection window for line {line_id!r} closed on {closes:%Y-%m-%d} "
                f"({policy.objection_window_days} days after it was first published in run #{first.run_id} "
                f"on {first.created_at:%Y-%m-%d}); filed on {at:%Y-%m-%d}"
            )
        for status in ("pending", "upheld"):
            existing = _objection_on(connection, line_id, status)
            if existing is not None:
                raise CreditDecisionError(
                    f"line {line_id!r} already has objection #{existing.objection_id} with status {status!r}"
                )
        return int(
            connection.execute(
                credit_objections.insert().values(
                    run_id=line.run_id,
                    line_id=line_id,
                    institution_code=line.institution_code,
                    rule_id=line.rule_id,
                    reason=reason,
                    attachments=json.dumps(names, ensure_ascii=False),
                    status="pending",
                    filed_by=actor,
                    filed_at=at,
                )
            ).inserted_primary_key[0]
        )


def _regrade(
    connection: Connection, engine: Engine, institution_code: str, actor: str, at: datetime, reason: str
) -> int | None:
    """Re-evaluate one institution's credit subject with its latest run's date and policy; the new run's id."""
    latest = connection.execute(
        sa.select(sa.func.max(credit_results.c.run_id)).where(credit_results.c.institution_code == institution_code)
    ).scalar()
    if latest is None:
        return None
    run = _run_row(connection, latest)
    policy = CreditPolicy.from_json(run.policy_json, source=f"run #{latest}")
    members = subject_members(engine, policy, [institution_code])
    evaluation = evaluate_credit(
        run.as_of, policy, engine=engine, adjustments=load_adjustments(connection), institutions=members
    )
    snapshot = data_snapshot(connection, policy)
    return _store_run(
        connection, evaluation, snapshot, actor, at, scope=members, parent_run_id=int(latest), reason=reason
    )


def decide_objection(
    engine: Engine,
    objection_id: int,
    *,
    upheld: bool,
    actor: str,
    note: str = "",
    at: datetime | None = None,
) -> ObjectionDecision:
    """Uphold (the line is removed and the institution re-graded at once) or reject (the line stays)."""
    actor = _require_text(actor, "actor")
    if not isinstance(upheld, bool):
        raise ValueError(f"upheld must be True or False; got {upheld!r}")
    at = _now(at)
    status = "upheld" if upheld else "rejected"
    with engine.begin() as connection:
        row = connection.execute(
            sa.select(credit_objections).where(credit_objections.c.objection_id == int(objection_id))
        ).first()
        if row is None:
            raise CreditRecordNotFound(f"objection_id {objection_id!r} is not a recorded objection")
        changed = connection.execute(
            credit_objections.update()
            .where(credit_objections.c.objection_id == row.objection_id, credit_objections.c.status == "pending")
            .values(status=status, decided_by=actor, decided_at=at, decision_note=note or None)
        ).rowcount
        if changed != 1:
            raise CreditDecisionError(
                f"objection #{row.objection_id} was already decided: {row.status} by {row.decided_by} "
                f"on {row.decided_at:%Y-%m-%d %H:%M}"
            )
        regrade = None
        if upheld:
            regrade = _regrade(
                connection,
                engine,
                row.institution_code,
                actor,
                at,
                f"objection #{row.objection_id} upheld: line {row.line_id} removed",
            )
            connection.execute(
                credit_objections.update()
                .where(credit_objections.c.objection_id == row.objection_id)
                .values(regrade_run_id=regrade)
            )
    return ObjectionDecision(int(row.objection_id), status, regrade)


def apply_repair(
    engine: Engine,
    line_id: str,
    *,
    reason: str,
    actor: str,
    applied_on: date | None = None,
    run_id: int | None = None,
    at: datetime | None = None,
) -> int:
    """Record a credit-repair application (信用修复申请) for one deduction line; returns its id.

    Refused for vetoes (not repairable within the cycle), for rules the policy does not list for
    repair, for lines removed by an upheld objection and for lines with an open or approved repair.
    """
    reason, actor = _require_text(reason, "reason"), _require_text(actor, "actor")
    at = _now(at)
    applied_on = applied_on or at.date()
    with engine.begin() as connection:
        line = _line_row(connection, line_id, run_id)
        if line.kind == "veto":
            raise CreditDecisionError(
                f"line {line_id!r} is a veto ({line.rule_id}): vetoes are not repairable within the cycle"
            )
        run = _run_row(connection, line.run_id)
        policy = CreditPolicy.from_json(run.policy_json, source=f"run #{run.run_id}")
        rule = policy.repair_rule(line.rule_id)
        if rule is None:
            repairable = sorted(i for r in policy.repair for i in r.indicators)
            raise CreditDecisionError(
                f"rule {line.rule_id!r} of line {line_id!r} is not repairable under policy {policy.name!r}; "
                f"repairable rules: {repairable}"
            )
        upheld = _objection_on(connection, line_id, "upheld")
        if upheld is not None:
            raise CreditDecisionError(f"line {line_id!r} was removed by upheld objection #{upheld.objection_id}")
        open_repair = connection.execute(
            sa.select(credit_repairs).where(
                credit_repairs.c.line_id == line_id, credit_repairs.c.status.in_(["pending", "approved"])
            )
        ).first()
        if open_repair is not None:
            raise CreditDecisionError(
                f"line {line_id!r} already has repair #{open_repair.repair_id} with status {open_repair.status!r}"
            )
        if line.event_date is not None and applied_on < line.event_date:
            raise CreditDecisionError(
                f"applied_on {applied_on} is before the event of line {line_id!r} ({line.event_date})"
            )
        return int(
            connection.execute(
                credit_repairs.insert().values(
                    run_id=line.run_id,
                    line_id=line_id,
                    institution_code=line.institution_code,
                    rule_id=line.rule_id,
                    event_date=line.event_date,
                    applied_on=applied_on,
                    reason=reason,
                    waiting_months=rule.waiting_months,
                    restore=rule.restore,
                    status="pending",
                    applied_by=actor,
                    applied_at=at,
                )
            ).inserted_primary_key[0]
        )


def approve_repair(
    engine: Engine,
    repair_id: int,
    *,
    actor: str,
    approved: bool = True,
    note: str = "",
    at: datetime | None = None,
) -> RepairDecision:
    """Approve (or reject) a repair application.

    An approved repair lifts the deduction (by the policy's ``restore`` share) in evaluations dated
    on or after max(approval day, event day + waiting months), unless the institution has a new
    deduction or veto event in between.
    """
    actor = _require_text(actor, "actor")
    at = _now(at)
    status = "approved" if approved else "rejected"
    with engine.begin() as connection:
        row = connection.execute(sa.select(credit_repairs).where(credit_repairs.c.repair_id == int(repair_id))).first()
        if row is None:
            raise CreditRecordNotFound(f"repair_id {repair_id!r} is not a recorded repair application")
        effective = None
        if approved:
            waited = (
                None
                if row.event_date is None
                else (pd.Timestamp(row.event_date) + pd.DateOffset(months=row.waiting_months)).date()
            )
            effective = max(at.date(), waited) if waited else at.date()
        changed = connection.execute(
            credit_repairs.update()
            .where(credit_repairs.c.repair_id == row.repair_id, credit_repairs.c.status == "pending")
            .values(
                status=status, decided_by=actor, decided_at=at, decision_note=note or None, effective_date=effective
            )
        ).rowcount
        if changed != 1:
            raise CreditDecisionError(
                f"repair #{row.repair_id} was already decided: {row.status} by {row.decided_by} "
                f"on {row.decided_at:%Y-%m-%d %H:%M}"
            )
    return RepairDecision(int(row.repair_id), status, effective)


def list_objections(engine: Engine, institution_code: str | None = None) -> pd.DataFrame:
    query = sa.select(credit_objections).order_by(credit_objections.c.objection_id)
    if institution_code is not None:
        query = query.where(credit_objections.c.institution_code == institution_code)
    with engine.connect() as connection:
        return pd.read_sql(query, connection)


def list_repairs(engine: Engine, institution_code: str | None = None) -> pd.DataFrame:
    query = sa.select(credit_repairs).order_by(credit_repairs.c.repair_id)
    if institution_code is not None:
        query = query.where(credit_repairs.c.institution_code == institution_code)
    with engine.connect() as connection:
        return pd.read_sql(query, connection)


# --------------------------------------------------------------------------------------------
# explanation


def _history_lines(engine: Engine, institution_code: str, lang: str) -> list[str]:
    out = []
    for row in list_objections(engine, institution_code).itertuples(index=False):
        names = "、".join(json.loads(row.attachments)) or "—"
        if lang == "zh":
            text = (
                f"异议 #{row.objection_id}（行 {row.line_id}）：{row.filed_at:%Y-%m-%d} 由 {row.filed_by} 提出，"
                f"理由：{row.reason}；附件：{names}；状态：{_STATUS_ZH[row.status]}"
            )
        else:
            text = (
                f"objection #{row.objection_id} on line {row.line_id}: filed {row.filed_at:%Y-%m-%d} by "
                f"{row.filed_by}, reason: {row.reason}; attachments: {names}; status: {row.status}"
            )
        if row.decided_by is not None and not pd.isna(row.decided_at):
            text += (
                f"（{row.decided_by}，{row.decided_at:%Y-%m-%d}）"
                if lang == "zh"
                else f" ({row.decided_by}, {row.decided_at:%Y-%m-%d})"
            )
        out.append(text)
    for row in list_repairs(engine, institution_code).itertuples(index=False):
        if lang == "zh":
            text = (
                f"信用修复 #{row.repair_id}（行 {row.line_id}）：{row.applied_on} 由 {row.applied_by} 申请，"
                f"理由：{row.reason}；等待期 {row.waiting_months} 个月；状态：{_REPAIR_STATUS_ZH[row.status]}"
            )
        else:
            text = (
                f"credit repair #{row.repair_id} on line {row.line_id}: applied {row.applied_on} by "
                f"{row.applied_by}, reason: {row.reason}; waiting {row.waiting_months} months; status: {row.status}"
            )
        if row.status == "approved" and row.effective_date is not None:
            text += f"，{row.effective_date} 起生效" if lang == "zh" else f", effective from {row.effective_date}"
        out.append(text)
    return out


def explain(engine: Engine, institution_code: str, run_id: int | None = None, lang: str = "zh") -> str:
    """An institution's grade in a run (default: the newest run that evaluated it) with every line,
    and its objections and repairs, as text in ``lang`` ("zh" or "en")."""
    from ._credit_text import render_explanation

    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be one of ['zh', 'en']; got {lang!r}")
    with engine.connect() as connection:
        if run_id is None:
            run_id = connection.execute(
                sa.select(sa.func.max(credit_results.c.run_id)).where(
                    credit_results.c.institution_code == institution_code
                )
            ).scalar()
            if run_id is None:
                raise CreditRecordNotFound(f"institution {institution_code!r} is in no stored credit run")
        run = _run_row(connection, run_id)
        result = (
            connection.execute(
                sa.select(credit_results).where(
                    credit_results.c.run_id == int(run_id), credit_results.c.institution_code == institution_code
                )
            )
            .mappings()
            .first()
        )
    if result is None:
        raise CreditRecordNotFound(f"institution {institution_code!r} is not in credit run #{run_id}")
    policy = CreditPolicy.from_json(run.policy_json, source=f"run #{run_id}")
    lines = run_lines(engine, run_id, institution_code)
    return render_explanation(
        dict(result),
        lines,
        policy,
        as_of=run.as_of.isoformat(),
        lang=lang,
        run_id=run_id,
        history=_history_lines(engine, institution_code, lang),
    )
