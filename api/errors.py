"""Every failure in one shape: RFC 9457 problem details (``application/problem+json``).

The data layer raises plain domain errors; only this module knows HTTP. A ``LookupError`` (an
unknown institution, draw, run...) becomes 404, a ``PermissionError`` 403, a ``ValueError`` (a
parameter outside what is allowed, with a message naming it) 422, an ``ImportRejected`` 422 with the
full problem list; anything unexpected is logged and becomes a 500 that reveals nothing internal.
Dashboard pages (outside ``/api/``) get the same information as an HTML page.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import marshmallow as ma
from flask import Response, current_app, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from features import ImportRejected

log = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:medcredit:problem:"

TITLES_ZH: dict[int, str] = {
    400: "请求格式错误",
    401: "未认证：缺少或无效的令牌",
    403: "无权访问",
    404: "未找到",
    405: "不支持的请求方法",
    406: "无法提供所请求的格式",
    409: "与当前状态冲突",
    413: "上传内容过大",
    415: "不支持的内容类型",
    422: "请求内容未通过校验",
    429: "请求过于频繁",
    500: "服务器内部错误",
    503: "服务暂不可用",
}


class FieldErrorSchema(ma.Schema):
    location = ma.fields.String(required=True, metadata={"description": "json, query, path, form or files"})
    field = ma.fields.String(required=True, metadata={"description": "Dotted field name; '_schema' for the whole body"})
    pointer = ma.fields.String(required=True, metadata={"description": "JSON pointer into the location"})
    detail = ma.fields.String(required=True)


class ImportProblemSchema(ma.Schema):
    table = ma.fields.String(allow_none=True)
    file = ma.fields.String(allow_none=True)
    row = ma.fields.Integer(allow_none=True)
    column = ma.fields.String(allow_none=True)
    value = ma.fields.String(allow_none=True)
    reason = ma.fields.String(required=True)
    reason_zh = ma.fields.String()
    detail = ma.fields.String()


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details with two extensions: field errors and import problems."""

    type = ma.fields.String(required=True, metadata={"description": "Problem type URI (about:blank for plain HTTP)"})
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String()
    instance = ma.fields.String()
    title_zh = ma.fields.String()
    errors = ma.fields.List(ma.fields.Nested(FieldErrorSchema))
    problems = ma.fields.List(ma.fields.Nested(ImportProblemSchema))
    problems_total = ma.fields.Integer()


def _flatten(messages: Any, location: str, path: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """webargs/marshmallow nested messages → one entry per field and message."""
    if isinstance(messages, dict):
        out: list[dict[str, str]] = []
        for key, value in messages.items():
            out.extend(_flatten(value, location, (*path, str(key))))
        return out
    if isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages):
        field = ".".join(path) or "_schema"
        pointer = "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in path) if path else ""
        return [{"location": location, "field": field, "pointer": pointer, "detail": m} for m in messages]
    if isinstance(messages, list):
        return [e for i, m in enumerate(messages) for e in _flatten(m, location, (*path, str(i)))]
    return [{"location": location, "field": ".".join(path) or "_schema", "pointer": "", "detail": str(messages)}]


def field_errors(messages: dict[str, Any]) -> list[dict[str, str]]:
    """Field-level errors from webargs ``messages`` (keyed by location first)."""
    return [e for location, value in messages.items() for e in _flatten(value, location)]


def problem_body(
    status: int,
    *,
    detail: str | None = None,
    slug: str | None = None,
    errors: list[dict[str, str]] | None = None,
    problems: list[dict[str, Any]] | None = None,
    problems_total: int | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + slug if slug else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "title_zh": TITLES_ZH.get(status, HTTPStatus(status).phrase),
        "instance": request.path if request else None,
    }
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    if problems is not None:
        body["problems"] = problems
        body["problems_total"] = problems_total if problems_total is not None else len(problems)
    return {k: v for k, v in body.items() if v is not None}


def _wants_html() -> bool:
    return not request.path.startswith("/api/")


def render_problem(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """A problem as JSON under /api/, as a Chinese HTML page elsewhere."""
    status = body["status"]
    if _wants_html():
        response = Response(render_template("error.html", problem=body), status=status, mimetype="text/html")
    else:
        response = Response(current_app.json.dumps(body), status=status, content_type=PROBLEM_CONTENT_TYPE)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


_MAX_LISTED_PROBLEMS = 1000


def handle_http_exception(error: HTTPException) -> Response:
    """Werkzeug/webargs HTTP errors (401, 404, 405, 413, 422...) → problem."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = field_errors(data["messages"]) if "messages" in data else None
    detail = data.get("message") or _default_detail(error)
    slug = "validation" if errors is not None else None
    headers = dict(data.get("headers") or {})
    if status == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="medcredit"')
    if isinstance(error, InternalServerError):
        log.error("internal error on %s %s", request.method, request.path, exc_info=error.original_exception)
        detail = "An unexpected error occurred; it has been logged. / 发生意外错误，已记录日志。"
    return render_problem(problem_body(status, detail=detail, slug=slug, errors=errors), headers)


def _default_detail(error: HTTPException) -> str | None:
    if error.code == 422 and getattr(error, "data", None):
        return "The request did not pass validation; see errors."
    return error.description


def handle_domain_error(error: Exception) -> Response:
    """Plain exceptions from the layers below, mapped to HTTP once, here."""
    if isinstance(error, ImportRejected):
        listed = [_problem_dict(p) for p in error.problems[:_MAX_LISTED_PROBLEMS]]
        detail = f"Import rejected, nothing written: {len(error.problems)} problem(s). / 导入被拒绝，未写入任何数据。"
        body = problem_body(
            422, detail=detail, slug="import-rejected", problems=listed, problems_total=len(error.problems)
        )
        return render_problem(body)
    if isinstance(error, PermissionError):
        return render_problem(problem_body(403, detail=str(error), slug="forbidden"))
    if isinstance(error, LookupError) and not isinstance(error, KeyError | IndexError):
        return render_problem(problem_body(404, detail=str(error), slug="not-found"))
    if isinstance(error, ValueError):
        return render_problem(problem_body(422, detail=str(error), slug="invalid-value"))
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=error)
    return render_problem(
        problem_body(500, detail="An unexpected error occurred; it has been logged. / 发生意外错误，已记录日志。")
    )


def _problem_dict(problem: Any) -> dict[str, Any]:
    data = problem.as_dict()
    if data.get("value") is not None:
        data["value"] = str(data["value"])
    return data


def register(app) -> None:
    """Domain errors and anything unexpected; HTTP errors go through the Api's handler."""
    app.register_error_handler(Exception, handle_domain_error)
