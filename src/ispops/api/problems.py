"""Errors as RFC 9457 ``application/problem+json``: one handler per kind, never internals."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ispops.api.schemas import NOT_BLANK, VISIBLE_WITHOUT_CONTROL
from ispops.errors import IspopsError

log = logging.getLogger("ispops.api")
PROBLEM = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal error",
}


def problem(request: Request, status: int, detail: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://ispops.dev/problems/{extra.get('code', status)}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": getattr(request.state, "request_id", None),
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def ispops_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IspopsError)
    extra: dict[str, Any] = getattr(exc, "extra", None) or {}  # members some errors add (InUse: used_by)
    if exc.status == 422:  # every 422 lists what was wrong, as docs/api.md promises
        extra.setdefault("errors", exc.errors or [{"field": exc.field or "body", "message": exc.message}])
    return problem(request, exc.status, exc.message, code=exc.code, field=exc.field, table=exc.table, **extra)


def _position(document: Any, offset: int) -> str:
    """Where in the request body a JSON syntax error is: line, column and character offset."""
    text = document.decode("utf-8", "replace") if isinstance(document, bytes) else document
    if not isinstance(text, str):
        return f"at character {offset}"
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"at line {line}, column {column} (character {offset})"


def _message(error: dict[str, Any], body: Any) -> str:
    """pydantic's message for one error, in the words a person needs: what is allowed."""
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "json_invalid":
        loc = error.get("loc", ())
        offset = loc[-1] if loc and isinstance(loc[-1], int) else 0
        return f"the body is not valid JSON: {ctx.get('error', 'syntax error')} {_position(body, offset)}"
    if kind in ("string_too_long", "too_long") and isinstance(error.get("input"), str):
        return f"at most {ctx.get('max_length')} characters"
    if kind in ("string_too_short", "too_short") and isinstance(error.get("input"), str):
        n = ctx.get("min_length")
        return "must not be empty" if n == 1 else f"at least {n} characters"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        if pattern == NOT_BLANK:
            return "must not be empty or only whitespace"
        if pattern == VISIBLE_WITHOUT_CONTROL:
            return "must not be empty or only whitespace, nor contain control characters"
        return f"must match {pattern}"
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "less_than_equal": ("at most", "le"),
        "greater_than": ("greater than", "gt"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"must be {words} {ctx.get(key)}"
    if kind == "missing":
        return "a value is required"
    if kind == "value_error" and "error" in ctx:  # our validators' own words, without pydantic's prefix
        return str(ctx["error"])
    if kind == "extra_forbidden":
        return "unknown field: not accepted here"
    return str(error.get("msg", "invalid"))


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": "body" if e.get("type") == "json_invalid" else _field_of(e.get("loc", ())),
            "message": _message(e, exc.body),
        }
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"field": "body", "message": "invalid"}
    return problem(
        request,
        422,
        f"{first['field']}: {first['message']}",
        code="validation_failed",
        field=first["field"],
        errors=errors,
    )


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    try:  # a named code like every other problem: not_found, method_not_allowed, …
        code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        code = str(exc.status_code)
    return problem(request, exc.status_code, str(exc.detail), code=code)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error, request_id=%s", getattr(request.state, "request_id", None))
    return problem(
        request, 500, "an unexpected error occurred; quote the request id when reporting it", code="internal_error"
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(IspopsError, ispops_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
