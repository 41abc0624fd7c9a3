"""The risk model (风险模型): registered versions, the active one, its card and metrics."""

from __future__ import annotations

import marshmallow as ma
from flask import Response
from flask_smorest import Blueprint

from models.card import model_card
from models.registry import ModelRecord, get_model_record, list_model_versions

from ..auth import requires
from ..context import current_engine
from ..schemas import UtcDateTime

blp = Blueprint("model", __name__, url_prefix="/api/v1/model", description="风险模型 / risk model")


class ModelVersionSchema(ma.Schema):
    version = ma.fields.String(required=True)
    created_at = UtcDateTime(required=True)
    format_version = ma.fields.String(required=True)
    sha256 = ma.fields.String(required=True)
    trained_from = ma.fields.Date(required=True)
    trained_to = ma.fields.Date(required=True)
    active = ma.fields.Boolean(required=True)
    actor = ma.fields.String(required=True, allow_none=True)


class ModelMetricsSchema(ma.Schema):
    version = ma.fields.String(required=True)
    metrics = ma.fields.Dict(required=True, metadata={"description": "Held-out metrics as recorded at training"})
    features = ma.fields.List(ma.fields.Raw(), required=True)
    training_window = ma.fields.List(ma.fields.String(), required=True)


def _version(record: ModelRecord) -> dict:
    return {name: getattr(record, name) for name in ModelVersionSchema().fields}


@blp.route("", methods=["GET"])
@requires("model:read")
@blp.response(200, ModelVersionSchema)
def active_model():
    """The active model version (404 problem when none is registered)."""
    return _version(get_model_record(current_engine()))


@blp.route("/versions", methods=["GET"])
@requires("model:read")
@blp.response(200, ModelVersionSchema(many=True))
def versions():
    """Every registered version, newest first."""
    return [_version(record) for record in list_model_versions(current_engine())]


@blp.route("/versions/<version>", methods=["GET"])
@requires("model:read")
@blp.response(200, ModelVersionSchema)
def version_detail(version: str):
    """One registered version."""
    return _version(get_model_record(current_engine(), version))


@blp.route("/card", methods=["GET"])
@requires("model:read")
@blp.response(200, {"type": "string"}, content_type="text/markdown")
def card():
    """The active version's model card (Markdown, Chinese and English)."""
    text = model_card(get_model_record(current_engine()))
    return Response(text, mimetype="text/markdown")


@blp.route("/metrics", methods=["GET"])
@requires("model:read")
@blp.response(200, ModelMetricsSchema)
def metrics():
    """The active version's held-out metrics, features and training window."""
    record = get_model_record(current_engine())
    meta = record.metadata
    return {
        "version": record.version,
        "metrics": meta.get("metrics", {}),
        "features": meta.get("features", []),
        "training_window": [str(x) for x in meta.get("training_window", [record.trained_from, record.trained_to])],
    }
