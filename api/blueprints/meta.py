"""Service health and the caller's own identity."""

from __future__ import annotations

import sqlalchemy as sa
from flask_smorest import Blueprint

from ..auth import PERMISSIONS, requires
from ..context import current_engine, current_principal
from ..schemas import HealthSchema, MeSchema

blp = Blueprint("meta", __name__, url_prefix="/api/v1", description="服务状态与当前用户 / health and identity")


@blp.route("/health", methods=["GET"])
@requires(None)
@blp.doc(security=[])
@blp.response(200, HealthSchema)
def health():
    """Liveness and database reachability (no token needed)."""
    with current_engine().connect() as connection:
        connection.execute(sa.text("SELECT 1"))
    from importlib.metadata import version

    return {"status": "ok", "database": current_engine().dialect.name, "version": version("medcredit")}


@blp.route("/me", methods=["GET"])
@requires("institutions:read")
@blp.response(200, MeSchema)
def me():
    """The token's holder, role, region scope (null: every region) and permissions."""
    principal = current_principal()
    return {
        "token_id": principal.token_id,
        "name": principal.name,
        "role": principal.role,
        "regions": None if principal.regions is None else sorted(principal.regions),
        "permissions": sorted(PERMISSIONS[principal.role]),
    }
