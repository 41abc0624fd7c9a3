"""Per-application and per-request things the views use: the engine and the caller."""

from __future__ import annotations

from flask import abort, current_app, g
from sqlalchemy.engine import Engine

from .auth import Principal

ENGINE_KEY = "medcredit.engine"


def current_engine() -> Engine:
    """The application's engine (opened once by ``create_app``)."""
    return current_app.extensions[ENGINE_KEY]


def current_principal() -> Principal:
    """The authenticated caller; the guard has already refused anonymous requests."""
    principal = g.get("principal")
    if principal is None:  # a view declared public asked for the caller
        abort(401)
    return principal


def note_audit(**details) -> None:
    """Add details (ids created, files received...) to the audit entry of this request."""
    g.setdefault("audit_details", {}).update(details)
