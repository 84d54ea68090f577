"""Errors as RFC 9457 ``application/problem+json``: one handler per kind, never internals."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    return problem(request, exc.status, exc.message, code=exc.code, field=exc.field, table=exc.table, **extra)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": _field_of(e.get("loc", ())), "message": e.get("msg", "invalid")} for e in exc.errors()]
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
    return problem(request, exc.status_code, str(exc.detail), code=str(exc.status_code))


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error, request_id=%s", getattr(request.state, "request_id", None))
    return problem(request, 500, "an unexpected error occurred; quote the request id when reporting it",
                   code="internal_error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(IspopsError, ispops_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
