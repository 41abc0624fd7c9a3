"""The audit log (审计日志): read entries and verify the hash chain (auditors and admins)."""

from __future__ import annotations

from flask_smorest import Blueprint

from .. import audit
from ..auth import requires
from ..context import current_engine
from ..schemas import AuditArgs, AuditEntrySchema, AuditVerifySchema

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit", description="审计日志 / audit log")


@blp.route("/entries", methods=["GET"])
@requires("audit:read")
@blp.arguments(AuditArgs, location="query", as_kwargs=False)
@blp.response(200, AuditEntrySchema(many=True))
def list_entries(args: dict):
    """Entries in chain order after ``after_seq``; page on with the last ``seq`` received."""
    return audit.list_entries(current_engine(), **args)


@blp.route("/verify", methods=["GET"])
@requires("audit:read")
@blp.response(200, AuditVerifySchema)
def verify():
    """Walk the chain; ``broken_seq`` names the first edited, inserted or missing entry."""
    report = audit.verify_chain(current_engine())
    return {
        "ok": report.ok,
        "entries": report.entries,
        "head_seq": report.head_seq,
        "head": report.head,
        "broken_seq": report.broken_seq,
        "reason": report.reason,
    }
