"""Errors on console paths are HTML pages, not problem+json: the app's handlers, wrapped for ``/console``.

``mount`` wraps the handlers ``ispops.api.problems.install`` registered; a request outside ``/console``
gets exactly what it got before. A missing session is a redirect to the login page (``HX-Redirect`` for
htmx requests, which would otherwise swap the login page into a fragment).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ispops.console import render, sessions
from ispops.console.context import LoginRequired, MfaEnrolmentRequired
from ispops.errors import IspopsError

Handler = Callable[[Request, Exception], Awaitable[Response]]
PREFIX = "/console"
TITLES = {
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Conflict",
    415: "Unsupported",
    422: "Invalid input",
    429: "Too many attempts",
    500: "Something went wrong",
}


def is_console(request: Request) -> bool:
    return request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/")


def _go(request: Request, url: str) -> Response:
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


async def login_required(request: Request, exc: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = _go(request, "/console/login?next=" + quote(target, safe=""))
    if request.cookies.get(sessions.COOKIE):  # a dead session: forget it
        response.delete_cookie(sessions.COOKIE, path=sessions.PATH)
    return response


async def mfa_required(request: Request, exc: Exception) -> Response:
    return _go(request, "/console/mfa")


def error_page(request: Request, status: int, message: str) -> Response:
    return render.public_page(
        request, "error.html", status_code=status, status=status, title=TITLES.get(status, "Error"), message=message
    )


def _wrap(original: Handler | None, message_of: Callable[[Exception], tuple[int, str]]) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        if is_console(request):
            status, message = message_of(exc)
            return error_page(request, status, message)
        assert original is not None
        return await original(request, exc)

    return handle


def _ispops(exc: Exception) -> tuple[int, str]:
    assert isinstance(exc, IspopsError)
    if exc.status >= 500:
        return 500, "An unexpected error occurred."
    return exc.status, exc.message


def _http(exc: Exception) -> tuple[int, str]:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return 404, "There is no such page, or no such record in your organisation."
    return exc.status_code, str(exc.detail)


def _validation(exc: Exception) -> tuple[int, str]:
    # A malformed id or parameter in a console URL: nothing there to show.
    return 404, "There is no such page, or no such record in your organisation."


def _unexpected(exc: Exception) -> tuple[int, str]:
    return 500, "An unexpected error occurred; it has been logged."


def install(app: FastAPI) -> None:
    handlers = cast(dict[Any, Handler], app.exception_handlers)  # problems.install's are all async
    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(MfaEnrolmentRequired, mfa_required)
    for kind, message_of in (
        (IspopsError, _ispops),
        (StarletteHTTPException, _http),
        (RequestValidationError, _validation),
    ):
        app.add_exception_handler(kind, _wrap(handlers.get(kind), message_of))
    original = handlers.get(Exception)

    async def unexpected(request: Request, exc: Exception) -> Response:
        if is_console(request):
            if original is not None:
                await original(request, exc)  # logs it with the request id
            return error_page(request, *_unexpected(exc))
        assert original is not None
        return await original(request, exc)

    app.add_exception_handler(Exception, unexpected)
