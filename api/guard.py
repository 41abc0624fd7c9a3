"""One gate for every request: who is calling, may they, and the audit entry afterwards.

- API endpoints (``/api/``) take ``Authorization: Bearer <token>``; dashboard pages take the
  session cookie set at login (and a CSRF token on every form post).
- The permission comes from the view's :func:`api.auth.requires`; a view declaring nothing is
  refused at application start (fail closed), not at request time.
- A view argument ``code`` names an institution: it must exist (404) and lie in the caller's
  region scope (403, 属地管辖).
- Every change (POST/PUT/PATCH/DELETE) by an authenticated caller, and every read of an
  institution's detail, is appended to the audit log with its outcome.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any

from flask import Flask, Response, current_app, g, redirect, request, session, url_for
from werkzeug.exceptions import BadRequest, Forbidden, Unauthorized

from . import audit
from .auth import bearer_secret, hash_token, principal_for_hash
from .cache import snapshot
from .context import current_engine
from .errors import problem_body, render_problem
from .store import institution_region

log = logging.getLogger(__name__)

PUBLIC_BLUEPRINTS = {"api-docs"}
PUBLIC_ENDPOINTS = {"static"}
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
_AUDITED_BODY_CHARS = 4000


def _view():
    return current_app.view_functions.get(request.endpoint) if request.endpoint else None


def _is_public(endpoint: str, view: Any) -> bool:
    blueprint = endpoint.rpartition(".")[0]
    return endpoint in PUBLIC_ENDPOINTS or blueprint in PUBLIC_BLUEPRINTS or getattr(view, "_public", False)


def check_declared(app: Flask) -> None:
    """Refuse to start when a view forgot to declare its permission."""
    missing = [
        endpoint
        for endpoint, view in app.view_functions.items()
        if not _is_public(endpoint, view) and not getattr(view, "_permission", None)
    ]
    if missing:
        raise RuntimeError(f"views without a declared permission (use api.auth.requires): {sorted(missing)}")


def csrf_token() -> str:
    """The session's CSRF token (created on first use) for dashboard forms."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def _check_csrf() -> None:
    sent = request.form.get("csrf_token", "") or request.headers.get("X-CSRF-Token", "")
    if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
        raise BadRequest("表单已过期或来源无效，请刷新页面后重试 / invalid or missing CSRF token; reload the page")


def _authenticate(is_api: bool):
    engine = current_engine()
    if is_api:
        secret = bearer_secret(request.headers.get("Authorization"))
        if secret is None:
            raise Unauthorized("Send an API token as 'Authorization: Bearer <token>'. / 请在请求头中提供令牌。")
        cache = current_app.extensions["medcredit.tokens"]
        principal = cache.get(hash_token(secret), lambda digest: principal_for_hash(engine, digest))
        if principal is None:
            raise Unauthorized("The token is unknown or revoked. / 令牌无效或已撤销。")
        return principal
    token_hash = session.get("token_sha256")
    return principal_for_hash(engine, token_hash) if token_hash else None


def _refuse_nul_characters() -> None:
    """NUL cannot be stored in PostgreSQL text and is never meaningful here: refuse it up front."""
    parts = [request.path, *request.args.keys(), *(v for vs in request.args.listvalues() for v in vs)]
    if request.method in MUTATING and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        parts += [*request.form.keys(), *(v for vs in request.form.listvalues() for v in vs)]
    if any("\x00" in part for part in parts) or (request.is_json and b"\\u0000" in request.get_data(cache=True)):
        raise BadRequest("NUL characters (\\x00, \\u0000) are not allowed in paths, queries or bodies.")


def before_request() -> Response | None:
    _refuse_nul_characters()
    view = _view()
    endpoint = request.endpoint
    if endpoint is None or view is None:
        return None  # routing will answer 404/405
    is_api = request.path.startswith("/api/")
    if not is_api and request.method in MUTATING:
        _check_csrf()
    if _is_public(endpoint, view):
        return None
    principal = _authenticate(is_api)
    if principal is None:  # dashboard without a session
        return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))
    g.principal = principal
    if not principal.can(view._permission):
        raise Forbidden(
            f"role {principal.role!r} lacks permission {view._permission!r}. / 角色 {principal.role} 无此权限。"
        )
    code = (request.view_args or {}).get("code")
    if code is not None:
        require_institution_scope(code)
    return None


def require_institution_scope(code: str) -> str:
    """The institution's region, after checking it is in the caller's scope (403 otherwise)."""
    region = snapshot("regions").get().get(code) or institution_region(current_engine(), code)  # unknown → 404
    g.region = region
    principal = g.get("principal")
    if principal is not None and not principal.sees_region(region):
        raise Forbidden(
            f"institution {code} belongs to region {region}, outside your scope {principal.scope_label}. "
            f"/ 机构 {code} 属于 {region}，不在您的管辖范围（属地管辖）。"
        )
    return region


def require_all_regions(what: str) -> None:
    """Refuse callers limited to some counties for actions that span every region."""
    principal = g.get("principal")
    if principal is not None and principal.regions is not None:
        raise Forbidden(
            f"{what} spans every region and needs a token scoped to all regions; yours covers "
            f"{principal.scope_label}. / 此操作涉及全部区县，需要全域令牌。"
        )


def _request_summary() -> dict[str, Any]:
    summary: dict[str, Any] = {"method": request.method, "path": request.path}
    if request.args:
        summary["query"] = request.args.to_dict(flat=False)
    if request.method in MUTATING and request.is_json:
        body = request.get_data(as_text=True)
        summary["body"] = body if len(body) <= _AUDITED_BODY_CHARS else body[:_AUDITED_BODY_CHARS] + "…"
    elif request.method in MUTATING and request.form:
        summary["form"] = {k: v for k, v in request.form.items() if k not in {"csrf_token", "token"}}
    return summary


def after_request(response: Response) -> Response:
    principal = g.get("principal")
    view = _view()
    if principal is None or view is None:
        return response
    audit_read = getattr(view, "_audit_read", None)
    is_change = request.method in MUTATING
    if not is_change and not audit_read:
        return response
    if response.status_code == 413:  # the body was never read: do not touch it again
        payload = {"method": request.method, "path": request.path}
    else:
        payload = _request_summary()
    payload["status"] = response.status_code
    payload.update(g.get("audit_details", {}))
    action = audit_read if (audit_read and not is_change) else f"{request.endpoint}:{request.method.lower()}"
    region = g.get("region") or (None if principal.regions is None else ";".join(sorted(principal.regions)))
    try:
        audit.append_entry(
            current_engine(),
            actor=principal.actor,
            action=action,
            resource=request.path,
            region=region,
            payload=payload,
        )
    except Exception:  # the log must not be silently skipped: refuse to hand out unaudited detail
        log.exception("audit append failed for %s %s", request.method, request.path)
        if not is_change:
            return render_problem(problem_body(503, detail="Audit log unavailable; detail not released."))
    return response


_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def security_headers(response: Response) -> Response:
    for key, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", _CSP)
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def install(app: Flask) -> None:
    app.before_request(before_request)
    app.after_request(after_request)
    app.after_request(security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
