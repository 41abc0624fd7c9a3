"""The model registry: every risk-model version the service trained, with its file hash and metadata.

One row per version in ``model_versions``. Files live under ``<data dir>/models/``; a row stores the
path relative to the data directory when the file is inside it, so that a data directory can move.
At most one version is active: the one ``medcredit model score`` and the API use by default.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from features.storage import data_dir, metadata

from .bundle import BundleError, BundleInfo, load_bundle, write_bundle
from .training import RiskModel

__all__ = [
    "ModelRecord",
    "UnknownModelVersion",
    "get_model_record",
    "list_model_versions",
    "load_model",
    "model_directory",
    "register_bundle",
    "save_model",
]

log = logging.getLogger(__name__)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("format_version", sa.String(40), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("trained_from", sa.Date, nullable=False),
    sa.Column("trained_to", sa.Date, nullable=False),
    sa.Column("metadata_json", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=False),
    sa.Column("actor", sa.String(100)),
    comment="风险模型版本",
)


class UnknownModelVersion(LookupError):
    """No registered model has the requested version (or none is registered at all)."""


@dataclass(frozen=True)
class ModelRecord:
    version: str
    created_at: datetime
    format_version: str
    path: Path
    sha256: str
    trained_from: date
    trained_to: date
    metadata: dict[str, Any]
    active: bool
    actor: str | None


def model_directory() -> Path:
    """``<data dir>/models/``, created when missing."""
    path = data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _stored_path(path: Path) -> str:
    root = data_dir()
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return str(Path(path).resolve())


def _json_ready(value: Any) -> Any:
    """NaN and infinity are not JSON: store them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value


def register_bundle(
    engine: Engine, info: BundleInfo, *, activate: bool = True, actor: str | None = None
) -> ModelRecord:
    """Record a written bundle; with ``activate`` it becomes the version used for scoring."""
    window = info.metadata["training_window"]
    row = {
        "version": info.version,
        "created_at": datetime.fromisoformat(info.metadata["created_at"]).astimezone(UTC).replace(tzinfo=None),
        "format_version": info.format_version,
        "path": _stored_path(info.path),
        "sha256": info.sha256,
        "trained_from": date.fromisoformat(window[0]),
        "trained_to": date.fromisoformat(window[1]),
        "metadata_json": json.dumps(_json_ready(info.metadata), ensure_ascii=False, sort_keys=True),
        "active": activate,
        "actor": actor,
    }
    with engine.begin() as connection:
        exists = connection.execute(
            sa.select(model_versions.c.sha256).where(model_versions.c.version == info.version)
        ).scalar_one_or_none()
        if exists is not None and exists != info.sha256:
            raise BundleError(f"version {info.version} is already registered with a different file hash")
        if activate:
            connection.execute(sa.update(model_versions).values(active=False))
        if exists is None:
            connection.execute(sa.insert(model_versions).values(**row))
        elif activate:
            connection.execute(
                sa.update(model_versions).where(model_versions.c.version == info.version).values(active=True)
            )
    log.info("registered model %s (active=%s)", info.version, activate)
    return get_model_record(engine, info.version)


def save_model(
    engine: Engine, model: RiskModel, *, directory: Path | None = None, activate: bool = True, actor: str | None = None
) -> ModelRecord:
    """Write ``model`` under the models directory and register it."""
    info = write_bundle(model, directory or model_directory())
    return register_bundle(engine, info, activate=activate, actor=actor)


def _record(row: sa.Row) -> ModelRecord:
    path = Path(row.path)
    return ModelRecord(
        version=row.version,
        created_at=row.created_at,
        format_version=row.format_version,
        path=path if path.is_absolute() else data_dir() / path,
        sha256=row.sha256,
        trained_from=row.trained_from,
        trained_to=row.trained_to,
        metadata=json.loads(row.metadata_json),
        active=bool(row.active),
        actor=row.actor,
    )


def list_model_versions(engine: Engine) -> list[ModelRecord]:
    """Every registered version, newest first."""
    query = sa.select(model_versions).order_by(model_versions.c.created_at.desc(), model_versions.c.version.desc())
    with engine.connect() as connection:
        return [_record(row) for row in connection.execute(query)]


def get_model_record(engine: Engine, version: str | None = None) -> ModelRecord:
    """The record of ``version``, or of the active version when ``version`` is None."""
    query = sa.select(model_versions)
    if version is None:
        query = query.where(model_versions.c.active.is_(True))
    else:
        query = query.where(model_versions.c.version == version)
    with engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        if version is None:
            raise UnknownModelVersion("no active risk model is registered; train one with `medcredit model train`")
        raise UnknownModelVersion(f"version must be a registered model version; got {version!r}")
    return _record(row)


def load_model(engine: Engine, version: str | None = None) -> tuple[RiskModel, ModelRecord]:
    """Load a registered model after verifying its file against the registry (hash and format)."""
    record = get_model_record(engine, version)
    model = load_bundle(record.path, sha256=record.sha256, format_version=record.format_version)
    return model, record
