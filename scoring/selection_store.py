"""Inspection selection against the store: draws through their lifecycle, targeted selections, plans.

A random draw (双随机抽查) passes through two stored states, each change one transaction:

1. ``freeze_draw`` — the eligible pool, the inspector pool and the design are read from the store
   and fixed as the pool document; the draw is stored as ``frozen`` with its ``pool_hash``, which
   the bureau publishes before any seed exists.
2. ``enter_seed_and_draw`` — the seed from outside (dice rolled in public or a beacon value) is
   entered once; the draw document, every unit's ticket and probability and the teams are stored
   and the draw is ``drawn``. If the teams cannot be formed with that seed (the workload cap runs
   out), the draw is stored as ``failed`` with the seed: a revealed seed is never replaced, a new
   pool (with a higher cap) must be frozen and published instead.

``verify_stored_draw`` replays a stored draw with the published verifier and checks the stored
rows against it. Targeted selections and yearly plans are stored with their inputs so that what
was decided can be shown later exactly as it was.

Tables (migration ``0003_selection``): ``draws``, ``draw_units`` (written when drawn; until then
the pool document lists the units), ``draw_exclusions``, ``draw_assignments``,
``targeted_selections``, ``targeted_picks``, ``plans``, ``plan_visits``. Times are stored in UTC
without a zone.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from features.storage import load_table, metadata
from scoring import credit_store, verify_draw
from scoring._frames import as_timestamp, isin
from scoring.assignment import TeamAssignmentError, TeamRules, build_inspector_pool
from scoring.draws import (
    DrawDesign,
    DrawResult,
    FrozenPool,
    PoolResult,
    PoolRules,
    Seed,
    build_eligible_pool,
    draw_random_inspections,
    freeze_pool,
)
from scoring.plan import PlannedRound, PlanRules, YearlyPlan, build_yearly_plan
from scoring.targeting import TargetedSelection, TargetingRules, select_targeted

__all__ = [
    "DRAW_STATUSES",
    "DrawStateError",
    "FrozenDraw",
    "MissingGradesError",
    "StoredDraw",
    "StoredPlan",
    "StoredTargetedSelection",
    "UnknownDrawError",
    "UnknownPlanError",
    "UnknownSelectionError",
    "enter_seed_and_draw",
    "freeze_draw",
    "get_draw",
    "get_plan",
    "get_targeted_selection",
    "latest_credit_grades",
    "list_draws",
    "list_plans",
    "list_targeted_selections",
    "plan_year",
    "risk_weights",
    "save_plan",
    "save_targeted_selection",
    "select_and_save_targeted",
    "targeting_frame",
    "verify_stored_draw",
]

logger = logging.getLogger(__name__)

DRAW_STATUSES = ("frozen", "drawn", "failed")
# The contract columns the eligible pool and the inspector pool read.
_POOL_COLUMNS = {
    "institutions": ["institution_code", "region_code", "status", "designated_since"],
    "inspections": [
        "inspection_id", "institution_code", "start_date", "kind", "level", "items", "inspector_codes",
        "found_violation",
    ],
    "inspectors": ["inspector_code", "region_code", "certified", "active", "conflicts"],
}  # fmt: skip
STATUS_ZH = {"frozen": "已封存待抽取", "drawn": "已抽取", "failed": "抽取失败"}
_INSERT_CHUNK = 5000

# --------------------------------------------------------------------------- tables

draws = sa.Table(
    "draws",
    metadata,
    sa.Column("draw_id", sa.String(40), primary_key=True),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("regions", sa.Text, nullable=False, comment="';'-joined region codes"),
    sa.Column("bureau_level", sa.String(10), nullable=False),
    sa.Column("item", sa.String(100)),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("method", sa.String(20), nullable=False),
    sa.Column("pool_document", sa.Text, nullable=False),
    sa.Column("pool_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("pool_size", sa.Integer, nullable=False),
    sa.Column("frozen_at", sa.DateTime, nullable=False),
    sa.Column("frozen_by", sa.String(100), nullable=False),
    sa.Column("seed_source", sa.String(10)),
    sa.Column("seed_value", sa.Text),
    sa.Column("seed_reference", sa.Text),
    sa.Column("drawn_at", sa.DateTime),
    sa.Column("drawn_by", sa.String(100)),
    sa.Column("selected_count", sa.Integer),
    sa.Column("draw_document", sa.Text),
    sa.Column("failure", sa.Text),
    sa.CheckConstraint("status in ('frozen', 'drawn', 'failed')", name="ck_draws_status"),
    comment="双随机抽查批次",
)

draw_units = sa.Table(
    "draw_units",
    metadata,
    sa.Column("draw_id", sa.String(40), sa.ForeignKey("draws.draw_id"), primary_key=True),
    sa.Column("institution_code", sa.String(40), primary_key=True),
    sa.Column("region_code", sa.String(6), nullable=False),
    sa.Column("stratum", sa.String(20), nullable=False),
    sa.Column("weight", sa.String(30)),
    sa.Column("ticket", sa.String(64)),
    sa.Column("inclusion_probability", sa.Float),
    sa.Column("selected", sa.Boolean),
    sa.Column("draw_rank", sa.Integer),
    comment="抽查对象库（入库机构）",
)

draw_exclusions = sa.Table(
    "draw_exclusions",
    metadata,
    sa.Column("draw_id", sa.String(40), sa.ForeignKey("draws.draw_id"), primary_key=True),
    sa.Column("institution_code", sa.String(40), primary_key=True),
    sa.Column("reason_code", sa.String(40), primary_key=True),
    sa.Column("reason_zh", sa.Text, nullable=False),
    sa.Column("reason_en", sa.Text, nullable=False),
    sa.Column("inspection_id", sa.Text),
    comment="未入库机构及原因",
)

draw_assignments = sa.Table(
    "draw_assignments",
    metadata,
    sa.Column("draw_id", sa.String(40), sa.ForeignKey("draws.draw_id"), primary_key=True),
    sa.Column("institution_code", sa.String(40), primary_key=True),
    sa.Column("lead_inspector_code", sa.String(40), nullable=False),
    sa.Column("inspector_codes", sa.Text, nullable=False),
    sa.Column("inspector_tickets", sa.Text, nullable=False),
    comment="随机选派执法人员",
)

targeted_selections = sa.Table(
    "targeted_selections",
    metadata,
    sa.Column("selection_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("budget", sa.Integer, nullable=False),
    sa.Column("rules_json", sa.Text, nullable=False),
    sa.Column("triggered", sa.Integer, nullable=False),
    sa.Column("selected_count", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    comment="重点检查对象选取",
)

targeted_picks = sa.Table(
    "targeted_picks",
    metadata,
    sa.Column("selection_id", sa.Integer, sa.ForeignKey("targeted_selections.selection_id"), primary_key=True),
    sa.Column("institution_code", sa.String(40), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("trigger", sa.Boolean, nullable=False),
    sa.Column("priority_rank", sa.Integer),
    sa.Column("expected_loss", sa.Float),
    sa.Column("items", sa.Text),
    sa.Column("reason_codes", sa.Text, nullable=False),
    sa.Column("reasons_json", sa.Text, nullable=False),
    comment="重点检查对象及理由",
)

plans = sa.Table(
    "plans",
    metadata,
    sa.Column("plan_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("rules_json", sa.Text, nullable=False),
    sa.Column("sources_json", sa.Text, nullable=False),
    sa.Column("months_json", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    comment="年度检查计划",
)

plan_visits = sa.Table(
    "plan_visits",
    metadata,
    sa.Column("plan_id", sa.Integer, sa.ForeignKey("plans.plan_id"), primary_key=True),
    sa.Column("institution_code", sa.String(40), primary_key=True),
    sa.Column("month", sa.Integer, primary_key=True),
    sa.Column("origins", sa.Text, nullable=False),
    sa.Column("items", sa.Text),
    comment="年度检查计划明细",
)


# --------------------------------------------------------------------------- errors


class UnknownDrawError(LookupError):
    """No stored draw has this id."""


class UnknownSelectionError(LookupError):
    """No stored targeted selection has this id."""


class UnknownPlanError(LookupError):
    """No stored plan has this id."""


class DrawStateError(ValueError):
    """The draw is not in the state the operation needs (e.g. a second seed for a drawn draw)."""


class MissingGradesError(LookupError):
    """Pools are stratified by credit grade, and no grades were given or stored."""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class FrozenDraw:
    """What ``freeze_draw`` fixed: publish ``pool_hash`` (and the pool document) before the seed."""

    draw_id: str
    pool_hash: str
    as_of: date
    regions: tuple[str, ...]
    item: str | None
    method: str
    pool_size: int
    strata: dict[str, int]
    excluded: pd.DataFrame
    frozen: FrozenPool


@dataclass(frozen=True)
class StoredDraw:
    """A stored draw in any state. ``units`` has every pool institution (tickets, probabilities and
    ``selected`` once drawn); ``selected`` the drawn ones in ticket order; ``assignments`` the teams;
    ``exclusions`` every institution left out of the pool with its reasons. The pool and draw
    documents (megabytes for a large pool) are parsed when first used."""

    draw_id: str
    status: str
    as_of: date
    regions: tuple[str, ...]
    bureau_level: str
    item: str | None
    method: str
    pool_hash: str
    pool_size: int
    frozen_at: datetime
    frozen_by: str
    seed: Seed | None
    drawn_at: datetime | None
    drawn_by: str | None
    selected_count: int | None
    failure: str | None
    pool_json: str = field(repr=False)
    draw_json: str | None = field(repr=False)
    units: pd.DataFrame = field(repr=False)
    assignments: pd.DataFrame = field(repr=False)
    exclusions: pd.DataFrame = field(repr=False)

    @functools.cached_property
    def pool_document(self) -> dict[str, Any]:
        """The pool document as frozen and published (``medcredit.pool/1``)."""
        return json.loads(self.pool_json)

    @functools.cached_property
    def draw_document(self) -> dict[str, Any] | None:
        """The draw document (``medcredit.draw/1``) once drawn, else None."""
        return json.loads(self.draw_json) if self.draw_json else None

    @property
    def selected(self) -> pd.DataFrame:
        chosen = self.units[self.units["selected"].fillna(False).astype(bool)]
        return chosen.sort_values("draw_rank", ignore_index=True)

    @property
    def status_zh(self) -> str:
        return STATUS_ZH[self.status]


@dataclass(frozen=True)
class StoredTargetedSelection:
    selection_id: int
    as_of: date
    budget: int
    rules: dict[str, Any]
    created_at: datetime
    created_by: str
    selected: pd.DataFrame
    reasons: pd.DataFrame


@dataclass(frozen=True)
class StoredPlan:
    plan_id: int
    year: int
    rules: dict[str, Any]
    sources: dict[str, Any]
    created_at: datetime
    created_by: str
    months: pd.DataFrame
    visits: pd.DataFrame


# --------------------------------------------------------------------------- inputs from other modules


def latest_credit_grades(engine: Engine, policy_name: str | None = None) -> pd.DataFrame:
    """Each institution's grade from the newest credit run that graded it (``scoring.credit_store``).

    Columns institution_code, grade, score, as_of, run_id. Raises MissingGradesError when no credit
    run is stored: draws are stratified by grade, so the evaluation has to come first.
    """
    results = credit_store.latest_results(engine, policy_name)
    if results.empty:
        raise MissingGradesError(
            "尚无信用评价结果：请先运行 medcredit credit evaluate --as-of DATE / no credit run is stored: "
            "draws are stratified by credit grade, so run `medcredit credit evaluate --as-of DATE` first"
        )
    grades = results[["institution_code", "grade", "score", "as_of", "run_id"]].reset_index(drop=True)
    grades["as_of"] = pd.to_datetime(grades["as_of"]).astype("datetime64[ns]")
    return grades


def risk_weights(scores: pd.DataFrame) -> pd.Series:
    """Risk weights for the risk-weighted design from model scores: expected loss when known.

    ``scores`` has institution_code and probability (or risk_probability), optionally
    expected_amount; the weight is probability × expected_amount (the expected fund loss, as the
    targeting ranks) or, without amounts, the probability.
    """
    frame = _score_columns(scores)
    weight = frame["risk_probability"]
    if "expected_amount" in frame.columns:
        weight = weight * frame["expected_amount"]
    if weight.isna().any() or (weight < 0).any():
        bad = frame.loc[weight.isna() | (weight < 0), "institution_code"].head(5).tolist()
        raise ValueError(f"scores give missing or negative risk weights for {bad}")
    return pd.Series(weight.to_numpy(), index=frame["institution_code"].to_numpy(), name="weight")


# --------------------------------------------------------------------------- 1. freeze


def freeze_draw(
    engine: Engine,
    *,
    as_of: Any,
    regions: Iterable[str],
    item: str | None,
    design: DrawDesign | None = None,
    grades: pd.DataFrame | pd.Series | Mapping[str, str] | None,
    actor: str,
    pool_rules: PoolRules | None = None,
    team_rules: TeamRules | None = None,
    weights: Mapping[str, Any] | pd.Series | None = None,
) -> FrozenDraw:
    """Fix the pool of a new random draw from the stored institutions, inspections and inspectors.

    ``grades`` gives each institution's stratum (institution_code → credit grade: a frame with
    those two columns, a Series or a mapping), normally the latest credit evaluation's grades.
    ``weights`` (institution_code → risk weight) is needed by the risk-weighted design.
    The pool document is stored with its hash in one transaction; an identical pool (same data,
    date, item, design and rules) cannot be frozen twice, so a draw cannot be repeated with another
    seed until a better result comes out.
    """
    _check_actor(actor)
    pool_rules = pool_rules or PoolRules()
    as_of = as_timestamp(as_of)
    institutions = load_table(engine, "institutions", columns=_POOL_COLUMNS["institutions"])
    institutions = _with_grades(institutions, grades, pool_rules.stratum_column)
    inspections = load_table(engine, "inspections", columns=_POOL_COLUMNS["inspections"])
    inspectors = load_table(engine, "inspectors", columns=_POOL_COLUMNS["inspectors"])
    if inspectors.empty:
        raise ValueError(
            "执法人员库为空，无法随机选派检查人员：请先导入 inspectors 表 / no inspectors are stored: "
            "import the inspectors table (执法人员库) before freezing a draw"
        )
    pool = build_eligible_pool(institutions, inspections, as_of=as_of, regions=regions, item=item, rules=pool_rules)
    if pool.eligible.empty:
        raise ValueError(
            f"辖区 {list(pool.regions)} 在 {as_of:%Y-%m-%d} 没有可抽取的机构"
            f"（排除 {pool.excluded['institution_code'].nunique()} 家）/ no institution of regions "
            f"{list(pool.regions)} is eligible on {as_of:%Y-%m-%d} for item {item!r}"
        )
    inspector_pool = build_inspector_pool(inspectors, inspections, as_of=as_of, regions=pool.regions, rules=team_rules)
    frozen = freeze_pool(pool, design, weights=weights, inspectors=inspector_pool)
    draw_id = f"{as_of:%Y%m%d}-{frozen.pool_hash[:12]}"
    _store_frozen(engine, draw_id, frozen, pool, actor)
    strata = pool.eligible["stratum"].value_counts().sort_index()
    logger.info(
        "draw %s frozen by %s: %d institutions, pool_hash %s", draw_id, actor, len(pool.eligible), frozen.pool_hash
    )
    return FrozenDraw(
        draw_id=draw_id,
        pool_hash=frozen.pool_hash,
        as_of=as_of.date(),
        regions=pool.regions,
        item=item,
        method=frozen.document["design"]["method"],
        pool_size=len(pool.eligible),
        strata={str(k): int(v) for k, v in strata.items()},
        excluded=pool.excluded,
        frozen=frozen,
    )


def _store_frozen(engine: Engine, draw_id: str, frozen: FrozenPool, pool: PoolResult, actor: str) -> None:
    """The draw row, its units and its exclusions, in one transaction."""
    try:
        with engine.begin() as connection:
            _refuse_duplicate_pool(connection, frozen.pool_hash)
            connection.execute(
                draws.insert().values(
                    draw_id=draw_id,
                    status="frozen",
                    regions=";".join(pool.regions),
                    bureau_level=pool.rules.bureau_level,
                    item=pool.item,
                    as_of=pool.as_of.date(),
                    method=frozen.document["design"]["method"],
                    pool_document=json.dumps(frozen.document, ensure_ascii=False, sort_keys=True),
                    pool_hash=frozen.pool_hash,
                    pool_size=len(frozen.document["units"]),
                    frozen_at=_utcnow(),
                    frozen_by=actor,
                )
            )
            _insert(connection, draw_exclusions, _exclusion_rows(draw_id, pool.excluded))
    except sa.exc.IntegrityError:
        # Someone froze the identical pool between our check and our insert: say so, as the check would.
        with engine.connect() as connection:
            _refuse_duplicate_pool(connection, frozen.pool_hash)
        raise


def _with_grades(institutions: pd.DataFrame, grades: Any, column: str) -> pd.DataFrame:
    """Institutions with the stratum column taken from ``grades`` (institution_code → grade)."""
    if grades is None:
        raise MissingGradesError(
            "没有信用等级，无法按等级分层抽取：请先运行 medcredit credit evaluate / no credit grades: pools are "
            "stratified by credit grade; run `medcredit credit evaluate` first (or pass the grades)"
        )
    if isinstance(grades, pd.DataFrame):
        if not {"institution_code", "grade"} <= set(grades.columns):
            raise ValueError(f"grades needs the columns institution_code and grade; it has {list(grades.columns)}")
        grades = pd.Series(grades["grade"].to_numpy(), index=grades["institution_code"].astype(str).to_numpy())
    elif not isinstance(grades, pd.Series):
        grades = pd.Series(dict(grades), dtype="object")
    if grades.empty:
        raise MissingGradesError(
            "信用等级为空：请先运行 medcredit credit evaluate / the grades are empty: "
            "run `medcredit credit evaluate` first"
        )
    if grades.index.duplicated().any():
        duplicated = sorted(set(grades.index[grades.index.duplicated()]))[:5]
        raise ValueError(f"grades must have one grade per institution; repeated: {duplicated}")
    frame = institutions.drop(columns=[column], errors="ignore")
    frame[column] = frame["institution_code"].astype(str).map(grades).astype("string")
    return frame


def _refuse_duplicate_pool(connection: Connection, pool_hash: str) -> None:
    existing = connection.execute(
        sa.select(draws.c.draw_id, draws.c.status).where(draws.c.pool_hash == pool_hash)
    ).first()
    if existing is not None:
        raise DrawStateError(
            f"同一对象库已封存为抽查批次 {existing.draw_id}（{STATUS_ZH[existing.status]}），不能重复封存 / this "
            f"pool (hash {pool_hash}) is already frozen as draw {existing.draw_id} ({existing.status}); an identical "
            "pool is never drawn twice"
        )


def _exclusion_rows(draw_id: str, excluded: pd.DataFrame) -> list[dict[str, Any]]:
    names = list(excluded.columns)
    rows = zip(*(_objects(excluded[name]) for name in names), strict=True)
    return [{"draw_id": draw_id, **dict(zip(names, values, strict=True))} for values in rows]


# --------------------------------------------------------------------------- 2. seed and draw


def enter_seed_and_draw(engine: Engine, draw_id: str, seed: Seed, actor: str) -> StoredDraw:
    """Enter the external seed of a frozen draw, draw institutions and teams, and store the result.

    Refuses a draw that is not ``frozen`` (already drawn, or failed with an earlier seed). The
    stored pool document is re-hashed first: if it no longer matches the published hash, nothing
    is drawn. When no team can be formed with this seed the draw becomes ``failed`` (the seed is
    recorded) and TeamAssignmentError is raised.
    """
    _check_actor(actor)
    if not isinstance(seed, Seed):
        raise TypeError(f"seed must be a scoring.draws.Seed; got {type(seed).__name__}")
    with engine.connect() as connection:
        row = _draw_row(connection, draw_id)
    _require_frozen(row)
    document = json.loads(row.pool_document)
    frozen = FrozenPool(document, verify_draw.compute_pool_hash(document))
    if frozen.pool_hash != row.pool_hash:
        raise DrawStateError(
            f"抽查批次 {draw_id} 的对象库与已公布的哈希不符，可能被改动 / the stored pool of draw {draw_id} hashes to "
            f"{frozen.pool_hash}, not the published {row.pool_hash}: it was altered; nothing was drawn"
        )
    try:
        result = draw_random_inspections(frozen, seed, draw_id=draw_id)
    except TeamAssignmentError as error:
        _store_failure(engine, draw_id, seed, actor, error)
        raise
    _store_result(engine, draw_id, seed, actor, result)
    logger.info("draw %s drawn by %s with a %s seed: %d selected", draw_id, actor, seed.source, len(result.selected))
    return get_draw(engine, draw_id)


def _store_result(engine: Engine, draw_id: str, seed: Seed, actor: str, result: DrawResult) -> None:
    units = result.units.merge(result.selected[["institution_code", "draw_rank"]], on="institution_code", how="left")
    weights = {u["institution_code"]: u.get("weight") for u in result.document["pool"]["units"]}
    unit_rows = [
        {
            "draw_id": draw_id,
            "institution_code": code,
            "region_code": region,
            "stratum": stratum,
            "weight": weights[code],
            "ticket": ticket,
            "inclusion_probability": float(probability),
            "selected": bool(selected),
            "draw_rank": None if pd.isna(rank) else int(rank),
        }
        for code, region, stratum, ticket, probability, selected, rank in zip(
            units["institution_code"].tolist(),
            units["region_code"].tolist(),
            units["stratum"].tolist(),
            units["ticket"].tolist(),
            units["inclusion_probability"].tolist(),
            units["selected"].tolist(),
            units["draw_rank"].tolist(),
            strict=True,
        )
    ]
    team_rows = [{"draw_id": draw_id, **row} for row in result.assignments.astype(object).to_dict("records")]
    with engine.begin() as connection:
        _mark_seeded(connection, draw_id, seed, actor, status="drawn")
        connection.execute(
            draws.update()
            .where(draws.c.draw_id == draw_id)
            .values(selected_count=len(result.selected), draw_document=json.dumps(result.document, ensure_ascii=False))
        )
        _insert(connection, draw_units, unit_rows)
        _insert(connection, draw_assignments, team_rows)


def _store_failure(engine: Engine, draw_id: str, seed: Seed, actor: str, error: Exception) -> None:
    with engine.begin() as connection:
        _mark_seeded(connection, draw_id, seed, actor, status="failed")
        connection.execute(draws.update().where(draws.c.draw_id == draw_id).values(failure=str(error)))
    logger.warning("draw %s failed with the entered seed: %s", draw_id, error)


def _mark_seeded(connection: Connection, draw_id: str, seed: Seed, actor: str, *, status: str) -> None:
    """Move a frozen draw to ``status`` with its seed; refuses if another seed got there first."""
    updated = connection.execute(
        draws.update()
        .where(draws.c.draw_id == draw_id, draws.c.status == "frozen")
        .values(
            status=status,
            seed_source=seed.source,
            seed_value=seed.value,
            seed_reference=seed.reference,
            drawn_at=_utcnow(),
            drawn_by=actor,
        )
    ).rowcount
    if updated != 1:
        raise DrawStateError(
            f"抽查批次 {draw_id} 已由他人录入种子 / draw {draw_id} received another seed meanwhile; "
            "this one was not used"
        )


# --------------------------------------------------------------------------- 3. read and verify


def get_draw(engine: Engine, draw_id: str) -> StoredDraw:
    """A stored draw with its units, teams and exclusions; UnknownDrawError if there is none."""
    with engine.connect() as connection:
        row = _draw_row(connection, draw_id)
        units = _frame(connection, sa.select(draw_units).where(draw_units.c.draw_id == draw_id), draw_units)
        teams = _frame(
            connection, sa.select(draw_assignments).where(draw_assignments.c.draw_id == draw_id), draw_assignments
        )
        exclusions = _frame(
            connection, sa.select(draw_exclusions).where(draw_exclusions.c.draw_id == draw_id), draw_exclusions
        )
    pool_json = row.pool_document
    if row.status != "drawn":  # units are stored when drawn; until then they are the pool document's
        units = pd.DataFrame(json.loads(pool_json)["units"]).reindex(columns=[c.name for c in draw_units.columns])
    units = units.drop(columns="draw_id").sort_values("institution_code", ignore_index=True)
    units = units.astype(
        {"ticket": "object", "inclusion_probability": "float64", "selected": "boolean", "draw_rank": "Int64"}
    )
    seed = Seed(row.seed_source, row.seed_value, row.seed_reference) if row.seed_value is not None else None
    teams = teams.drop(columns="draw_id")
    if not teams.empty:
        rank = units.set_index("institution_code")["draw_rank"]
        teams = teams.assign(_rank=teams["institution_code"].map(rank)).sort_values("_rank").drop(columns="_rank")
    return StoredDraw(
        draw_id=row.draw_id,
        status=row.status,
        as_of=row.as_of,
        regions=tuple(row.regions.split(";")),
        bureau_level=row.bureau_level,
        item=row.item,
        method=row.method,
        pool_hash=row.pool_hash,
        pool_size=row.pool_size,
        frozen_at=row.frozen_at,
        frozen_by=row.frozen_by,
        seed=seed,
        drawn_at=row.drawn_at,
        drawn_by=row.drawn_by,
        selected_count=row.selected_count,
        failure=row.failure,
        pool_json=pool_json,
        draw_json=row.draw_document,
        units=units,
        assignments=teams.reset_index(drop=True),
        exclusions=exclusions.drop(columns="draw_id").sort_values(
            ["institution_code", "reason_code"], ignore_index=True
        ),
    )


def list_draws(engine: Engine) -> pd.DataFrame:
    """Every stored draw, newest first: draw_id, status, as_of, regions, item, method, pool_size,
    selected_count, pool_hash, frozen_at, frozen_by, drawn_at, drawn_by."""
    columns = [
        "draw_id",
        "status",
        "as_of",
        "regions",
        "item",
        "method",
        "pool_size",
        "selected_count",
        "pool_hash",
        "frozen_at",
        "frozen_by",
        "drawn_at",
        "drawn_by",
    ]
    query = sa.select(*(draws.c[c] for c in columns)).order_by(draws.c.frozen_at.desc(), draws.c.draw_id)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    frame = pd.DataFrame([tuple(row) for row in rows], columns=columns)
    frame["as_of"] = pd.to_datetime(frame["as_of"]).astype("datetime64[ns]")
    return frame.astype({"pool_size": "Int64", "selected_count": "Int64"})


def verify_stored_draw(engine: Engine, draw_id: str) -> verify_draw.VerificationResult:
    """Replay a stored draw with the published verifier and check the stored rows against it.

    Beyond ``verify_draw.verify`` (pool hash, seed, tickets, selection, probabilities, teams), this
    checks that the document carries the stored seed and the pool hash recorded at freezing, and
    that the stored units and teams are the ones the document states.
    """
    draw = get_draw(engine, draw_id)
    if draw.status != "drawn" or draw.draw_document is None:
        raise DrawStateError(
            f"抽查批次 {draw_id} 尚未抽取（{draw.status_zh}），无可验证结果 / draw {draw_id} is {draw.status}, "
            "not drawn: there is nothing to verify"
        )
    document = draw.draw_document
    result = verify_draw.verify(document)
    if not result.ok:
        return result
    problem = _stored_rows_problem(draw, document)
    if problem is not None:
        result.ok, result.discrepancy = False, problem
        return result
    result.checks.append("stored pool hash, seed, units and teams match the document")
    return result


def _stored_rows_problem(draw: StoredDraw, document: Mapping[str, Any]) -> str | None:
    if document.get("pool_hash") != draw.pool_hash:
        return (
            f"pool_hash: document has {document.get('pool_hash')!r}, "
            f"the hash published at freezing is {draw.pool_hash!r}"
        )
    if draw.seed is None or document.get("seed") != draw.seed.to_dict():
        return (
            f"seed: document has {document.get('seed')!r}, the store has {draw.seed.to_dict() if draw.seed else None!r}"
        )
    stored = draw.selected["institution_code"].tolist()
    claimed = [row["institution_code"] for row in document["selected"]]
    if stored != claimed:
        return f"stored selection {stored[:5]}... differs from the document's {claimed[:5]}..."
    teams = dict(zip(draw.assignments["institution_code"], draw.assignments["inspector_codes"], strict=True))
    for team in document.get("assignments") or []:
        if teams.get(team["institution_code"]) != ";".join(team["inspector_codes"]):
            stored_team = teams.get(team["institution_code"])
            code = team["institution_code"]
            return f"stored team of {code} is {stored_team!r}, the document has {team['inspector_codes']!r}"
    if len(teams) != len(document.get("assignments") or []):
        return f"{len(teams)} teams are stored, the document has {len(document.get('assignments') or [])}"
    return None


def _draw_row(connection: Connection, draw_id: str) -> sa.Row:
    row = connection.execute(sa.select(draws).where(draws.c.draw_id == draw_id)).first()
    if row is None:
        raise UnknownDrawError(f"没有抽查批次 {draw_id!r} / no draw {draw_id!r} is stored (see `medcredit draw list`)")
    return row


def _require_frozen(row: sa.Row) -> None:
    """A seed is entered once, into a frozen draw; name what happened otherwise."""
    if row.status == "frozen":
        return
    if row.status == "drawn":
        detail_zh = f"已于 {row.drawn_at:%Y-%m-%d %H:%M} UTC 以种子 {row.seed_value}（{row.seed_source}）抽取"
        detail_en = (
            f"it was drawn at {row.drawn_at:%Y-%m-%d %H:%M} UTC with the {row.seed_source} seed {row.seed_value}"
        )
    else:
        detail_zh = f"已以种子 {row.seed_value} 抽取失败，请重新封存对象库（如提高工作量上限）"
        detail_en = f"it failed with the seed {row.seed_value}; freeze a new pool (e.g. with a higher workload cap)"
    raise DrawStateError(
        f"抽查批次 {row.draw_id} 不能再录入种子：{detail_zh} / cannot enter a seed for draw {row.draw_id}: "
        f"{detail_en}; a draw takes exactly one seed"
    )


# --------------------------------------------------------------------------- targeted selections


# Smart-audit signals (domain §5) that make an institution a mandatory target: feature -> (threshold, check
# item). Each is a rate compared with the peer group (kind × level) as a robust z-score; above 5 is far outside
# what comparable institutions do. Raw counts are not used: honest institutions also show a few settlements
# after a recorded death or a reused trace code (data errors), and a count favours large institutions. The
# "same patients on the same days" signal is left to the risk model: it is too common among honest
# institutions to be a mandatory trigger. Smart-audit hits are leads, not verdicts: the visit checks them.
SMART_AUDIT_SIGNALS: dict[str, tuple[float, str]] = {
    "clm_deceased_settlement_rate_12m_pz": (5.0, "deceased_settlement"),
    "clm_trace_reuse_rate_12m_pz": (5.0, "drug_trace"),
    "clm_split_admission_rate_12m_pz": (5.0, "inpatient"),
    "clm_phantom_bed_signal_rate_12m_pz": (5.0, "inpatient"),
    "clm_overlap_stay_rate_12m_pz": (5.0, "inpatient"),
    "clm_duplicate_item_rate_12m_pz": (5.0, "billing"),
    "clm_long_supply_rate_12m_pz": (5.0, "prescription"),
    "clm_frequent_low_value_rate_12m_pz": (5.0, "fake_visit"),
}


def default_targeting_rules() -> TargetingRules:
    """The default rules: leads (complaints, referrals, D/E grades, high risk) plus the smart-audit signals,
    named in the reasons by the feature catalogue's Chinese and English names."""
    from features._features_catalogue import PEER_EN_SUFFIX, PEER_ZH_SUFFIX
    from features.build import feature_catalogue

    catalogue = feature_catalogue().set_index("name")
    labels = {}
    for name in SMART_AUDIT_SIGNALS:
        if name not in catalogue.index:
            continue
        zh, en = str(catalogue.at[name, "zh"]), str(catalogue.at[name, "en"])
        if name.endswith("_pz"):  # named by the rate it scores: "… is 5.4 SD above its peers"
            labels[name] = {
                "zh": zh.replace(PEER_ZH_SUFFIX, ""),
                "en": en.replace(PEER_EN_SUFFIX, ""),
                "kind": "peer_z",
            }
        else:
            labels[name] = {"zh": zh, "en": en}
    return TargetingRules(
        signal_thresholds={name: threshold for name, (threshold, _) in SMART_AUDIT_SIGNALS.items()},
        signal_items={name: item for name, (_, item) in SMART_AUDIT_SIGNALS.items()},
        signal_labels=labels,
    )


def smart_audit_signals(engine: Engine, as_of: Any, columns: Iterable[str]) -> pd.DataFrame:
    """The named claim features of every active institution as of ``as_of`` (point in time); a signal
    whose family could not be built (no claims, no claim items, no deaths) is missing, never a trigger."""
    from features.build import build_features

    wanted = list(columns)
    features = build_features(as_timestamp(as_of), engine=engine).frame
    present = [name for name in wanted if name in features.columns]
    signals = features[present].reset_index()
    for name in wanted:
        if name not in signals.columns:
            signals[name] = np.nan
    return signals[["institution_code", *wanted]]


def targeting_frame(
    engine: Engine,
    *,
    as_of: Any,
    grades: pd.DataFrame | None,
    scores: pd.DataFrame | None = None,
    regions: Iterable[str] | None = None,
    window_months: int = 12,
    signals: Iterable[str] = (),
) -> pd.DataFrame:
    """One row per active institution for ``select_targeted``, from the store and the caller's scores.

    Leads are counted in the ``window_months`` up to ``as_of``: substantiated complaints received
    and referrals dated in (as_of − window, as_of]. ``grades`` (institution_code, grade, optional
    score) comes from the credit evaluation; ``scores`` (institution_code, risk_probability or
    probability, optional expected_amount) from the risk model.
    """
    as_of = as_timestamp(as_of)
    start = as_of - pd.DateOffset(months=window_months)
    institutions = load_table(
        engine, "institutions", columns=["institution_code", "region_code", "status", "designated_since"]
    )
    active = institutions[
        institutions["status"].eq("active").fillna(False).astype(bool) & (institutions["designated_since"] <= as_of)
    ]
    if regions is not None:
        active = active[isin(active["region_code"], list(regions))]
    frame = pd.DataFrame({"institution_code": active["institution_code"].astype(str).to_numpy()})
    graded = _grade_columns(grades)
    frame = frame.merge(graded, on="institution_code", how="left")
    frame = frame.merge(_score_columns(scores), on="institution_code", how="left")
    complaints = load_table(engine, "complaints", columns=["institution_code", "received_date", "substantiated"])
    recent = complaints[(complaints["received_date"] > start) & (complaints["received_date"] <= as_of)]
    recent = recent[recent["substantiated"].fillna(False).astype(bool)]
    referrals = load_table(engine, "referrals", columns=["institution_code", "date"])
    referrals = referrals[(referrals["date"] > start) & (referrals["date"] <= as_of)]
    frame["substantiated_complaints"] = _counts(frame, recent)
    frame["referrals"] = _counts(frame, referrals)
    signals = list(signals)
    if signals:
        frame = frame.merge(smart_audit_signals(engine, as_of, signals), on="institution_code", how="left")
    return frame


def _grade_columns(grades: pd.DataFrame | None) -> pd.DataFrame:
    if grades is None or grades.empty:
        raise MissingGradesError(
            "没有信用等级：请先运行 medcredit credit evaluate / no credit grades: run `medcredit credit evaluate` first"
        )
    if not {"institution_code", "grade"} <= set(grades.columns):
        raise ValueError(f"grades needs the columns institution_code and grade; it has {list(grades.columns)}")
    columns = {"institution_code": grades["institution_code"].astype(str), "grade": grades["grade"].astype("string")}
    for name in ("credit_score", "score"):
        if name in grades.columns:
            columns["credit_score"] = pd.to_numeric(grades[name], errors="coerce").astype("float64")
            break
    return pd.DataFrame(columns).drop_duplicates("institution_code")


def _score_columns(scores: pd.DataFrame | None) -> pd.DataFrame:
    if scores is None:
        return pd.DataFrame({"institution_code": pd.Series(dtype=object)})
    probability = "risk_probability" if "risk_probability" in scores.columns else "probability"
    if "institution_code" not in scores.columns or probability not in scores.columns:
        raise ValueError(
            f"scores needs institution_code and risk_probability (or probability); it has {list(scores.columns)}"
        )
    columns = {
        "institution_code": scores["institution_code"].astype(str),
        "risk_probability": pd.to_numeric(scores[probability], errors="coerce").astype("float64"),
    }
    if "expected_amount" in scores.columns:
        columns["expected_amount"] = pd.to_numeric(scores["expected_amount"], errors="coerce").astype("float64")
    frame = pd.DataFrame(columns)
    if frame["institution_code"].duplicated().any():
        raise ValueError("scores must have one row per institution_code (the latest score of each)")
    return frame


def _counts(frame: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    counts = events["institution_code"].astype(str).value_counts()
    return frame["institution_code"].map(counts).fillna(0).astype("int64")


def stored_scores_as_of(engine: Engine, as_of: Any) -> pd.DataFrame | None:
    """Each institution's newest stored risk score dated on or before ``as_of`` (point in time), as
    institution_code, probability, expected_amount; None when there is none."""
    from scoring.risk_store import latest_scores

    scores = latest_scores(engine)
    if scores.empty:
        return None
    scores = scores[pd.to_datetime(scores["as_of"]) <= as_timestamp(as_of)]
    return scores[["institution_code", "probability", "expected_amount"]] if len(scores) else None


def select_and_save_targeted(
    engine: Engine,
    *,
    as_of: Any,
    budget: int,
    grades: pd.DataFrame | None,
    actor: str,
    scores: pd.DataFrame | None = None,
    regions: Iterable[str] | None = None,
    rules: TargetingRules | None = None,
) -> StoredTargetedSelection:
    """Build the targeting frame from the store, pick targeted inspections and store the picks.

    ``rules`` default to :func:`default_targeting_rules` (leads plus the smart-audit signals); ``scores``
    default to the stored risk scores dated on or before ``as_of`` (none stored: priority by credit score)."""
    rules = rules or default_targeting_rules()
    if scores is None:
        scores = stored_scores_as_of(engine, as_of)
    frame = targeting_frame(
        engine, as_of=as_of, grades=grades, scores=scores, regions=regions, signals=list(rules.signal_thresholds)
    )
    selection = select_targeted(frame, budget=budget, rules=rules)
    selection_id = save_targeted_selection(engine, selection, as_of=as_of, budget=budget, rules=rules, actor=actor)
    return get_targeted_selection(engine, selection_id)


def save_targeted_selection(
    engine: Engine, selection: TargetedSelection, *, as_of: Any, budget: int, rules: TargetingRules, actor: str
) -> int:
    """Store a targeted selection with every pick's reasons; returns its selection_id."""
    _check_actor(actor)
    as_of = as_timestamp(as_of)
    records = selection.to_records()
    with engine.begin() as connection:
        selection_id = connection.execute(
            targeted_selections.insert().values(
                as_of=as_of.date(),
                budget=budget,
                rules_json=json.dumps(_rules_dict(rules), ensure_ascii=False, sort_keys=True),
                triggered=int(selection.selected["trigger"].sum()),
                selected_count=len(records),
                created_at=_utcnow(),
                created_by=actor,
            )
        ).inserted_primary_key[0]
        _insert(
            connection,
            targeted_picks,
            [
                {
                    "selection_id": selection_id,
                    "institution_code": record["institution_code"],
                    "position": position,
                    "trigger": bool(record["trigger"]),
                    "priority_rank": record["priority_rank"],
                    "expected_loss": record["expected_loss"],
                    "items": ";".join(record["items"]) or None,
                    "reason_codes": record["reason_codes"] or "",
                    "reasons_json": json.dumps(record["reasons"], ensure_ascii=False),
                }
                for position, record in enumerate(records, start=1)
            ],
        )
    logger.info("targeted selection %s stored by %s: %d picks", selection_id, actor, len(records))
    return int(selection_id)


def get_targeted_selection(engine: Engine, selection_id: int) -> StoredTargetedSelection:
    """A stored targeted selection: ``selected`` in pick order and ``reasons`` one row per reason."""
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(targeted_selections).where(targeted_selections.c.selection_id == selection_id)
        ).first()
        if row is None:
            raise UnknownSelectionError(f"没有重点检查选取 {selection_id!r} / no targeted selection {selection_id!r}")
        picks = _frame(
            connection,
            sa.select(targeted_picks)
            .where(targeted_picks.c.selection_id == selection_id)
            .order_by(targeted_picks.c.position),
            targeted_picks,
        )
    reasons = [
        {"institution_code": code, **reason}
        for code, text in zip(picks["institution_code"], picks["reasons_json"], strict=True)
        for reason in json.loads(text)
    ]
    selected = picks.drop(columns=["selection_id", "position", "reasons_json"]).astype(
        {"trigger": "boolean", "priority_rank": "Int64", "expected_loss": "float64"}
    )
    return StoredTargetedSelection(
        selection_id=row.selection_id,
        as_of=row.as_of,
        budget=row.budget,
        rules=json.loads(row.rules_json),
        created_at=row.created_at,
        created_by=row.created_by,
        selected=selected.reset_index(drop=True),
        reasons=pd.DataFrame(reasons, columns=["institution_code", "code", "zh", "en", "value"]),
    )


def selection_leads(engine: Engine, selection: StoredTargetedSelection, **options: Any) -> pd.DataFrame:
    """The claims the smart-audit rules flagged at a stored selection's picks, as of its date
    (``features.build.claim_leads``, computed from the stored claims when asked; ``options`` pass on
    to it: rules, engine_kind, duckdb_config)."""
    from features.build import claim_leads

    leads = claim_leads(selection.as_of, engine=engine, **options)
    picked = set(selection.selected["institution_code"].astype(str))
    return leads[leads["institution_code"].isin(picked)].reset_index(drop=True)


def list_targeted_selections(engine: Engine) -> pd.DataFrame:
    """Every stored targeted selection, newest first: selection_id, as_of, budget, triggered,
    selected_count, created_at, created_by (the picks and reasons: :func:`get_targeted_selection`)."""
    columns = ["selection_id", "as_of", "budget", "triggered", "selected_count", "created_at", "created_by"]
    query = sa.select(*(targeted_selections.c[c] for c in columns)).order_by(targeted_selections.c.selection_id.desc())
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    frame = pd.DataFrame([tuple(row) for row in rows], columns=columns)
    frame["as_of"] = pd.to_datetime(frame["as_of"]).astype("datetime64[ns]")
    frame["created_at"] = pd.to_datetime(frame["created_at"]).astype("datetime64[ns]")
    return frame.astype({c: "Int64" for c in ("selection_id", "budget", "triggered", "selected_count")})


def _rules_dict(rules: TargetingRules) -> dict[str, Any]:
    data = asdict(rules)
    return json.loads(json.dumps(data, default=list))


# --------------------------------------------------------------------------- yearly plans


def plan_year(
    engine: Engine,
    *,
    rules: PlanRules,
    actor: str,
    grades: pd.DataFrame | None = None,
    draw_ids: Sequence[str] = (),
    selection_ids: Sequence[int] = (),
    reserved: Sequence[PlannedRound] = (),
    regions: Iterable[str] | None = None,
) -> StoredPlan:
    """Plan ``rules.year`` from the store and save it.

    Drawn draws (``draw_ids``) and stored targeted selections (``selection_ids``) whose date falls
    in the year become known rounds in the month of their date; ``reserved`` rounds hold capacity
    for draws not made yet. Every other active institution gets one routine visit, riskier grades
    (from ``grades``) first. The roster's active inspectors set the monthly capacity.
    """
    institutions = load_table(
        engine, "institutions", columns=["institution_code", "region_code", "status", "designated_since"]
    )
    # Institutions designated after the year are not planned for it.
    institutions = institutions[institutions["designated_since"] <= pd.Timestamp(year=rules.year, month=12, day=31)]
    inspectors = load_table(engine, "inspectors", columns=["inspector_code", "region_code", "active"])
    if regions is not None:
        regions = list(regions)
        institutions = institutions[isin(institutions["region_code"], regions)]
        inspectors = inspectors[isin(inspectors["region_code"], regions)]
    if grades is not None:
        graded = _grade_columns(grades)[["institution_code", "grade"]]
        institutions = institutions.merge(graded, on="institution_code", how="left")
    rounds = [*_draw_rounds(engine, draw_ids, rules.year), *_selection_rounds(engine, selection_ids, rules.year)]
    plan = build_yearly_plan(institutions, inspectors=inspectors, rules=rules, rounds=[*rounds, *reserved])
    sources = {
        "draw_ids": list(draw_ids),
        "selection_ids": [int(i) for i in selection_ids],
        "reserved": [{"origin": r.origin, "month": r.month, "visits": r.reserved} for r in reserved],
        "regions": regions,
        "graded": grades is not None,
    }
    plan_id = save_plan(engine, plan, rules, actor=actor, sources=sources)
    return get_plan(engine, plan_id)


def _draw_rounds(engine: Engine, draw_ids: Sequence[str], year: int) -> list[PlannedRound]:
    rounds = []
    for draw_id in draw_ids:
        draw = get_draw(engine, draw_id)
        if draw.status != "drawn":
            raise DrawStateError(f"draw {draw_id} is {draw.status}: only drawn draws enter a plan")
        if draw.as_of.year != year:
            raise ValueError(f"draw {draw_id} is dated {draw.as_of}, not in the plan year {year}")
        items = (draw.item,) if draw.item else ()
        rounds.append(PlannedRound("random", draw.as_of.month, draw.selected[["institution_code"]], items=items))
    return rounds


def _selection_rounds(engine: Engine, selection_ids: Sequence[int], year: int) -> list[PlannedRound]:
    rounds = []
    for selection_id in selection_ids:
        selection = get_targeted_selection(engine, selection_id)
        if selection.as_of.year != year:
            raise ValueError(f"targeted selection {selection_id} is dated {selection.as_of}, not in {year}")
        visits = selection.selected[["institution_code", "items"]]
        rounds.append(PlannedRound("targeted", selection.as_of.month, visits))
    return rounds


def save_plan(
    engine: Engine, plan: YearlyPlan, rules: PlanRules, *, actor: str, sources: Mapping[str, Any] | None = None
) -> int:
    """Store a yearly plan (rules, monthly table and visits); returns its plan_id."""
    _check_actor(actor)
    months = plan.months.astype("int64").to_dict("records")
    with engine.begin() as connection:
        plan_id = connection.execute(
            plans.insert().values(
                year=rules.year,
                rules_json=json.dumps(asdict(rules), sort_keys=True, default=list),
                sources_json=json.dumps(dict(sources or {}), ensure_ascii=False, sort_keys=True),
                months_json=json.dumps(months),
                created_at=_utcnow(),
                created_by=actor,
            )
        ).inserted_primary_key[0]
        visits = plan.visits.astype(object).where(plan.visits.notna(), None)
        _insert(
            connection,
            plan_visits,
            [
                {
                    "plan_id": plan_id,
                    "institution_code": row["institution_code"],
                    "month": int(row["month"]),
                    "origins": row["origins"],
                    "items": row["items"] or None,
                }
                for row in visits.to_dict("records")
            ],
        )
    logger.info("plan %s for %d stored by %s: %d visits", plan_id, rules.year, actor, len(plan.visits))
    return int(plan_id)


def get_plan(engine: Engine, plan_id: int) -> StoredPlan:
    """A stored yearly plan with its monthly table and visits (by month, then institution)."""
    with engine.connect() as connection:
        row = connection.execute(sa.select(plans).where(plans.c.plan_id == plan_id)).first()
        if row is None:
            raise UnknownPlanError(f"没有检查计划 {plan_id!r} / no plan {plan_id!r}")
        visits = _frame(
            connection,
            sa.select(plan_visits)
            .where(plan_visits.c.plan_id == plan_id)
            .order_by(plan_visits.c.month, plan_visits.c.institution_code),
            plan_visits,
        )
    return StoredPlan(
        plan_id=row.plan_id,
        year=row.year,
        rules=json.loads(row.rules_json),
        sources=json.loads(row.sources_json),
        created_at=row.created_at,
        created_by=row.created_by,
        months=pd.DataFrame(json.loads(row.months_json)).astype("int64"),
        visits=visits.drop(columns="plan_id")
        .astype({"institution_code": "string", "month": "int64", "origins": "string", "items": "string"})
        .reset_index(drop=True),
    )


def list_plans(engine: Engine) -> pd.DataFrame:
    """Every stored yearly plan, newest first: plan_id, year, regions (``;``-joined, empty for the
    whole city), draw_ids (``;``-joined), selection_ids (``;``-joined), visits, created_at,
    created_by (months and visits themselves: :func:`get_plan`)."""
    visits = (
        sa.select(plan_visits.c.plan_id, sa.func.count().label("visits")).group_by(plan_visits.c.plan_id).subquery()
    )
    query = (
        sa.select(
            plans.c.plan_id, plans.c.year, plans.c.sources_json, plans.c.created_at, plans.c.created_by, visits.c.visits
        )
        .outerjoin(visits, visits.c.plan_id == plans.c.plan_id)
        .order_by(plans.c.plan_id.desc())
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    records = []
    for row in rows:
        sources = json.loads(row.sources_json)
        records.append(
            {
                "plan_id": row.plan_id,
                "year": row.year,
                "regions": ";".join(sources.get("regions") or []),
                "draw_ids": ";".join(str(x) for x in sources.get("draw_ids", [])),
                "selection_ids": ";".join(str(x) for x in sources.get("selection_ids", [])),
                "visits": row.visits or 0,
                "created_at": row.created_at,
                "created_by": row.created_by,
            }
        )
    columns = ["plan_id", "year", "regions", "draw_ids", "selection_ids", "visits", "created_at", "created_by"]
    frame = pd.DataFrame(records, columns=columns)
    frame["created_at"] = pd.to_datetime(frame["created_at"]).astype("datetime64[ns]")
    return frame.astype({"plan_id": "Int64", "year": "Int64", "visits": "Int64"})


# --------------------------------------------------------------------------- helpers


def _insert(connection: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _INSERT_CHUNK):
        connection.execute(table.insert(), rows[start : start + _INSERT_CHUNK])


def _frame(connection: Connection, query: sa.Select, table: sa.Table) -> pd.DataFrame:
    rows = connection.execute(query).all()
    return pd.DataFrame([tuple(row) for row in rows], columns=[column.name for column in table.columns])


def _objects(values: pd.Series) -> list[Any]:
    """A column as plain Python values with None for missing (Arrow strings iterate slowly)."""
    return values.to_numpy(dtype=object, na_value=None).tolist()


def _check_actor(actor: Any) -> None:
    if not isinstance(actor, str) or not actor.strip():
        raise ValueError(f"actor must name who does this (an operator or service name); got {actor!r}")


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
