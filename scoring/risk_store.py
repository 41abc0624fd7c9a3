"""Stored risk scores (风险评分): the active risk model's rating of every institution, with reasons.

``score_and_store`` loads a registered model (``models.load_model``), builds every active
institution's features as of a date (``models.snapshot_from_store``), rates them
(``RiskModel.score``) and explains them (``RiskModel.reasons``), and stores the result as one
batch in one transaction: nothing is written when anything fails. Batches are never changed
afterwards, so a score shown later is the score as it was computed.

Tables (migration ``0006_risk_scores``): ``risk_score_batches`` (model version, as_of, who and
when) and ``risk_scores`` (one row per institution and batch: probability, expected amount,
priority, risk level code and the reasons as JSON). Risk levels are stored as codes
(``low``/``medium``/``high``/``very_high``); :data:`RISK_LEVEL_ZH` gives the Chinese labels.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from features.storage import metadata
from models import load_model, snapshot_from_store
from models.registry import model_versions

__all__ = [
    "RISK_LEVELS",
    "RISK_LEVEL_EN",
    "RISK_LEVEL_ZH",
    "RiskBatch",
    "institution_scores",
    "latest_scores",
    "list_batches",
    "risk_level_code",
    "score_and_store",
]

logger = logging.getLogger(__name__)

RISK_LEVELS = ("low", "medium", "high", "very_high")
RISK_LEVEL_ZH = {"low": "低", "medium": "中", "high": "高", "very_high": "极高"}
RISK_LEVEL_EN = {"low": "low", "medium": "medium", "high": "high", "very_high": "very high"}
_CODE_BY_LABEL = {
    **{zh: code for code, zh in RISK_LEVEL_ZH.items()},
    **{en: code for code, en in RISK_LEVEL_EN.items()},
    **{code: code for code in RISK_LEVELS},
}
MAX_REASONS = 10
_INSERT_CHUNK = 1000

risk_score_batches = sa.Table(
    "risk_score_batches",
    metadata,
    sa.Column("batch_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_version", sa.String(64), sa.ForeignKey(model_versions.c.version), nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("n_reasons", sa.Integer, nullable=False),
    sa.Column("institutions", sa.Integer, nullable=False),
    sa.Column("scored_at", sa.DateTime, nullable=False),
    sa.Column("scored_by", sa.String(100), nullable=False),
    comment="风险评分批次",
)

risk_scores = sa.Table(
    "risk_scores",
    metadata,
    sa.Column("batch_id", sa.Integer, sa.ForeignKey(risk_score_batches.c.batch_id), primary_key=True),
    sa.Column("institution_code", sa.String(40), primary_key=True),
    sa.Column("probability", sa.Float, nullable=False),
    sa.Column("expected_amount", sa.Float, nullable=False),
    sa.Column("priority", sa.Float, nullable=False),
    sa.Column("risk_level", sa.String(20), nullable=False),
    sa.Column("reasons_json", sa.Text, nullable=False),
    sa.Index("ix_risk_scores_institution", "institution_code"),
    comment="机构风险评分及原因",
)

SCORE_COLUMNS = [
    "institution_code",
    "batch_id",
    "model_version",
    "as_of",
    "scored_at",
    "scored_by",
    "probability",
    "expected_amount",
    "priority",
    "risk_level",
    "risk_level_zh",
    "risk_level_en",
    "reasons",
]


@dataclass(frozen=True)
class RiskBatch:
    """One stored scoring: which model, as of when, by whom, and how many institutions per level."""

    batch_id: int
    model_version: str
    as_of: date
    scored_at: datetime
    scored_by: str
    institutions: int
    levels: dict[str, int]


def risk_level_code(label: Any) -> str:
    """The level code (``low`` … ``very_high``) of a model label (低/中/高/极高, English or a code)."""
    code = _CODE_BY_LABEL.get(str(label).strip())
    if code is None:
        raise ValueError(f"risk_level must be one of {sorted(_CODE_BY_LABEL)}; got {label!r}")
    return code


def _check_arguments(as_of: Any, n_reasons: Any, actor: Any) -> pd.Timestamp:
    if not isinstance(actor, str) or not actor.strip():
        raise ValueError(f"actor must name who scores (an operator or service name); got {actor!r}")
    if isinstance(n_reasons, bool) or not isinstance(n_reasons, int) or not 0 <= n_reasons <= MAX_REASONS:
        raise ValueError(f"n_reasons must be an integer from 0 to {MAX_REASONS}; got {n_reasons!r}")
    try:
        when = pd.Timestamp(as_of)
    except (TypeError, ValueError) as error:
        raise ValueError(f"as_of must be a date such as '2025-01-01'; got {as_of!r}") from error
    if pd.isna(when):
        raise ValueError(f"as_of must be a date such as '2025-01-01'; got {as_of!r}")
    return when.normalize()


def _reason_lists(reasons: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Institution code → its reasons in rank order, as {feature, zh, en, contribution}."""
    out: dict[str, list[dict[str, Any]]] = {}
    if reasons.empty:
        return out
    ordered = reasons.sort_values(["institution_code", "rank"], kind="stable")
    for row in ordered.itertuples(index=False):
        out.setdefault(str(row.institution_code), []).append(
            {
                "feature": str(row.feature),
                "zh": str(row.reason_zh),
                "en": str(row.reason_en),
                "contribution": round(float(row.contribution), 6),
            }
        )
    return out


def _finite(value: Any, name: str, code: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"the model gave {code} a {name} of {value!r}; scores must be finite numbers")
    return number


def _score_rows(scored: pd.DataFrame, reasons: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    for row in scored.itertuples(index=False):
        code = str(row.institution_code)
        rows.append(
            {
                "institution_code": code,
                "probability": _finite(row.probability, "probability", code),
                "expected_amount": _finite(row.expected_amount, "expected_amount", code),
                "priority": _finite(row.priority, "priority", code),
                "risk_level": risk_level_code(row.risk_level),
                "reasons_json": json.dumps(reasons.get(code, []), ensure_ascii=False),
            }
        )
    return rows


def score_and_store(
    engine: Engine, *, as_of: Any, version: str | None = None, n_reasons: int = 3, actor: str
) -> RiskBatch:
    """Rate every institution active at ``as_of`` with the model ``version`` (default: the active
    one), with its top ``n_reasons`` reasons, and store the batch in one transaction.

    Raises ``models.UnknownModelVersion`` (a LookupError) when no such model is registered and
    ``ValueError`` for a bad argument or when no institution is active at ``as_of``."""
    when = _check_arguments(as_of, n_reasons, actor)
    model, record = load_model(engine, version)
    features = snapshot_from_store(engine, when)
    if features.empty:
        raise ValueError(f"no institution is active at as_of {when.date()}; nothing to score")
    scored = model.score(features)
    reasons = _reason_lists(model.reasons(features, top=n_reasons)) if n_reasons else {}
    rows = _score_rows(scored, reasons)
    scored_at = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as connection:
        batch_id = connection.execute(
            risk_score_batches.insert().values(
                model_version=record.version,
                as_of=when.date(),
                n_reasons=n_reasons,
                institutions=len(rows),
                scored_at=scored_at,
                scored_by=actor,
            )
        ).inserted_primary_key[0]
        for row in rows:
            row["batch_id"] = batch_id
        for start in range(0, len(rows), _INSERT_CHUNK):
            connection.execute(risk_scores.insert(), rows[start : start + _INSERT_CHUNK])
    levels = {level: sum(1 for r in rows if r["risk_level"] == level) for level in RISK_LEVELS}
    logger.info("risk batch %s: model %s as of %s, %d institutions", batch_id, record.version, when.date(), len(rows))
    return RiskBatch(
        batch_id=int(batch_id),
        model_version=record.version,
        as_of=when.date(),
        scored_at=scored_at,
        scored_by=actor,
        institutions=len(rows),
        levels=levels,
    )


def _scores_query() -> sa.Select:
    return sa.select(
        risk_scores.c.institution_code,
        risk_scores.c.batch_id,
        risk_score_batches.c.model_version,
        risk_score_batches.c.as_of,
        risk_score_batches.c.scored_at,
        risk_score_batches.c.scored_by,
        risk_scores.c.probability,
        risk_scores.c.expected_amount,
        risk_scores.c.priority,
        risk_scores.c.risk_level,
        risk_scores.c.reasons_json,
    ).join_from(risk_scores, risk_score_batches, risk_scores.c.batch_id == risk_score_batches.c.batch_id)


def _score_frame(rows: list[sa.Row]) -> pd.DataFrame:
    """Rows of :func:`_scores_query` as a frame of :data:`SCORE_COLUMNS` (reasons parsed)."""
    records = []
    for row in rows:
        record = dict(row._mapping)
        record["reasons"] = json.loads(record.pop("reasons_json"))
        record["risk_level_zh"] = RISK_LEVEL_ZH[record["risk_level"]]
        record["risk_level_en"] = RISK_LEVEL_EN[record["risk_level"]]
        records.append(record)
    frame = pd.DataFrame(records, columns=SCORE_COLUMNS)
    frame["as_of"] = pd.to_datetime(frame["as_of"]).astype("datetime64[ns]")
    frame["scored_at"] = pd.to_datetime(frame["scored_at"]).astype("datetime64[ns]")
    frame["batch_id"] = frame["batch_id"].astype("Int64")
    for column in ("probability", "expected_amount", "priority"):
        frame[column] = frame[column].astype("float64")
    return frame


def latest_scores(engine: Engine) -> pd.DataFrame:
    """Each institution's score from its newest batch (latest ``as_of``, then the batch stored last),
    by institution code; columns :data:`SCORE_COLUMNS`, ``reasons`` a list of
    {feature, zh, en, contribution}. Empty before any scoring."""
    ranked = sa.select(
        risk_scores.c.institution_code,
        risk_scores.c.batch_id,
        sa.func.row_number()
        .over(
            partition_by=risk_scores.c.institution_code,
            order_by=(risk_score_batches.c.as_of.desc(), risk_score_batches.c.batch_id.desc()),
        )
        .label("position"),
    ).join_from(risk_scores, risk_score_batches, risk_scores.c.batch_id == risk_score_batches.c.batch_id)
    newest = ranked.subquery()
    query = (
        _scores_query()
        .join(
            newest,
            sa.and_(
                newest.c.institution_code == risk_scores.c.institution_code,
                newest.c.batch_id == risk_scores.c.batch_id,
                newest.c.position == 1,
            ),
        )
        .order_by(risk_scores.c.institution_code)
    )
    with engine.connect() as connection:
        return _score_frame(connection.execute(query).all())


def institution_scores(engine: Engine, institution_code: str) -> pd.DataFrame:
    """Every stored score of one institution, newest first (latest ``as_of``, then batch);
    columns :data:`SCORE_COLUMNS`. Empty when it was never scored."""
    query = (
        _scores_query()
        .where(risk_scores.c.institution_code == institution_code)
        .order_by(risk_score_batches.c.as_of.desc(), risk_score_batches.c.batch_id.desc())
    )
    with engine.connect() as connection:
        return _score_frame(connection.execute(query).all())


def list_batches(engine: Engine) -> pd.DataFrame:
    """Every stored batch, newest first: batch_id, model_version, as_of, n_reasons, institutions,
    scored_at, scored_by."""
    columns = [column.name for column in risk_score_batches.columns]
    query = sa.select(risk_score_batches).order_by(risk_score_batches.c.batch_id.desc())
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    frame = pd.DataFrame([tuple(row) for row in rows], columns=columns)
    frame["as_of"] = pd.to_datetime(frame["as_of"]).astype("datetime64[ns]")
    return frame.astype({"batch_id": "Int64", "n_reasons": "Int64", "institutions": "Int64"})
