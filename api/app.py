"""The Flask application factory: configuration, the store, the OpenAPI description, blueprints.

``create_app(config=None)`` takes defaults, then ``MEDCREDIT_*`` environment variables, then the
mapping given (tests pass one). There is no module-level application: gunicorn builds one with
``api.app:create_app()``.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any

from flask import Flask
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from features.storage import data_dir, database_url, open_store

from . import errors, guard
from .cache import Snapshot, TokenCache
from .context import ENGINE_KEY

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
MiB = 1024 * 1024

DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,  # None: features.storage.database_url() (env or SQLite in the data dir)
    "SECRET_KEY": None,  # None: a random key kept in the data dir, shared by every worker
    "MAX_CONTENT_LENGTH": 64 * MiB,  # uploads larger than this get 413
    "MAX_FORM_MEMORY_SIZE": 1 * MiB,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Strict",
    "SESSION_COOKIE_NAME": "medcredit_session",
    "PERMANENT_SESSION_LIFETIME": 8 * 3600,
    "JSON_SORT_KEYS": False,
    "SNAPSHOT_SECONDS": 2.0,  # hot reads (current grades, institution regions) refresh this often
    "TOKEN_CACHE_SECONDS": 1.0,  # a revoked token stops working within this time
    "API_TITLE": "medcredit API",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": API_PREFIX,
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": "/static/swagger-ui/",
    "API_SPEC_OPTIONS": {
        "info": {
            "description": (
                "定点医药机构信用评价、风险分级与检查选取 — credit grading, risk rating and inspection "
                "selection of designated medical-insurance institutions. Every error is "
                "application/problem+json (RFC 9457). Authenticate with `Authorization: Bearer <token>`."
            )
        },
        "security": [{"bearerAuth": []}],
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
    },
}


class MedcreditApi(Api):
    """flask-smorest's Api with every error documented and answered as problem+json."""

    ERROR_SCHEMA = errors.ProblemSchema

    def _register_responses(self) -> None:
        for status in HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, errors.PROBLEM_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "Problem details (RFC 9457)", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, errors.PROBLEM_CONTENT_TYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, default, lazy=True)

    def handle_http_exception(self, error):
        return errors.handle_http_exception(error)


def _secret_key(directory: Path) -> str:
    """A key kept in the data directory so that every gunicorn worker signs sessions alike."""
    path = directory / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _register_snapshots(app: Flask, engine, ttl: float) -> None:
    from .blueprints._ratings import load_latest_grades, load_latest_risks
    from .store import institution_regions

    app.extensions["medcredit.snapshot.grades"] = Snapshot(lambda: load_latest_grades(engine), ttl)
    app.extensions["medcredit.snapshot.risks"] = Snapshot(lambda: load_latest_risks(engine), ttl)
    app.extensions["medcredit.snapshot.regions"] = Snapshot(lambda: institution_regions(engine), ttl)


def _api_blueprints() -> list:
    from .blueprints import (
        audit_log,
        credit,
        draws,
        imports,
        inspections,
        institutions,
        meta,
        model,
        objections,
        selections,
    )

    return [
        meta.blp,
        institutions.blp,
        credit.blp,
        objections.blp,
        draws.blp,
        selections.blp,
        inspections.blp,
        imports.blp,
        model.blp,
        audit_log.blp,
    ]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: defaults, then ``MEDCREDIT_*`` environment, then ``config``."""
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("MEDCREDIT")
    app.config.from_mapping(config or {})
    app.json.ensure_ascii = False  # Chinese text as UTF-8, not \u escapes
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = database_url()
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _secret_key(data_dir())
    engine = app.extensions[ENGINE_KEY] = open_store(app.config["DATABASE_URL"])
    _register_snapshots(app, engine, float(app.config["SNAPSHOT_SECONDS"]))
    app.extensions["medcredit.tokens"] = TokenCache(float(app.config["TOKEN_CACHE_SECONDS"]))

    api = MedcreditApi(app)
    for blueprint in _api_blueprints():
        api.register_blueprint(blueprint)
    from .blueprints.dashboard import bp as dashboard

    app.register_blueprint(dashboard)
    errors.register(app)
    guard.install(app)
    guard.check_declared(app)
    return app
