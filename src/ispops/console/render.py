"""Rendering console pages: Jinja2 templates from ``console/templates``, full pages or htmx fragments.

``page(con, "area/x.html", **context)`` renders the whole page, or only its ``content`` block when the
request is an htmx request (``Console.htmx``). Every template sees ``con``, ``nav`` (the user's menu),
``csrf_token``, ``flash`` and ``static(path)``. ``form_errors(exc)`` turns an error into messages to show
beside the fields; ``flash(response, text)`` shows a one-time message on the next page.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import ValidationError

from ispops.api.problems import _field_of, _message
from ispops.console import nav, sessions
from ispops.console.context import Console
from ispops.errors import IspopsError

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATIC_URL = "/console/static"
SECURITY_HEADERS = {
    # Scripts and styles from the package only (vendored); style attributes are allowed (maps, charts).
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _static(path: str) -> str:
    return f"{STATIC_URL}/{path.lstrip('/')}"


def query_string(request: Request, **changes: Any) -> str:
    """The current query string with some parameters changed (None removes one): for sort and page links."""
    params = {k: v for k, v in request.query_params.multi_items() if k not in changes}
    params.update({k: str(v) for k, v in changes.items() if v is not None and v != ""})
    return "?" + urlencode(params) if params else "?"


env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    enable_async=False,
)
env.globals.update(static=_static, query=query_string)
env.filters["tojson_attr"] = lambda value: json.dumps(value, default=str)
# The macros, as ``m`` in every template: a template's own top-level ``{% import %}`` does not run when only
# its ``content`` block is rendered (htmx requests), so the block would not see them.
env.globals["m"] = env.get_template("_macros.html").make_module()


def _flash_of(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(sessions.FLASH_COOKIE)
    if not raw:
        return None
    kind, _, text = unquote(raw).partition(":")
    return {"kind": kind if kind in ("success", "error", "info") else "info", "text": text[:300]}


def base_context(request: Request, con: Console | None) -> dict[str, Any]:
    return {
        "request": request,
        "con": con,
        "nav": nav.visible(con.can) if con is not None else [],
        "csrf_token": con.csrf_token if con is not None else "",
        "flash": _flash_of(request),
        "path": request.url.path,
    }


def render_html(request: Request, con: Console | None, template: str, /, *, partial: bool, **context: Any) -> str:
    tmpl = env.get_template(template)
    ctx = base_context(request, con) | context
    if partial and "content" in tmpl.blocks:
        return "".join(tmpl.blocks["content"](tmpl.new_context(ctx)))
    return tmpl.render(ctx)


def finish(response: Response, request: Request) -> Response:
    response.headers.update(SECURITY_HEADERS)
    if request.cookies.get(sessions.FLASH_COOKIE):
        response.delete_cookie(sessions.FLASH_COOKIE, path=sessions.PATH)
    return response


def page(con: Console, template: str, /, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page (or, for an htmx request, its ``content`` block)."""
    html = render_html(con.request, con, template, partial=con.htmx, **context)
    response = HTMLResponse(html, status_code=status_code)
    finish(response, con.request)
    return response


def fragment(con: Console, template: str, /, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A template rendered on its own (an htmx fragment: a table body, a status badge)."""
    html = env.get_template(template).render(base_context(con.request, con) | context)
    response = HTMLResponse(html, status_code=status_code)
    finish(response, con.request)
    return response


def public_page(request: Request, template: str, /, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page for someone not signed in (login, errors before a session)."""
    con = getattr(request.state, "console", None)
    html = render_html(request, con if isinstance(con, Console) else None, template, partial=False, **context)
    response = HTMLResponse(html, status_code=status_code)
    finish(response, request)
    return response


def redirect(con: Console | Request, url: str) -> Response:
    """Go to ``url`` after a POST: 303 for a plain form, ``HX-Redirect`` for htmx."""
    request = con.request if isinstance(con, Console) else con
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def flash(response: Response, message: str, kind: str = "success") -> Response:
    """Show ``message`` once, on the next page rendered (``kind``: success, error, info)."""
    response.set_cookie(
        sessions.FLASH_COOKIE, quote(f"{kind}:{message[:300]}"), path=sessions.PATH, httponly=True, samesite="lax"
    )
    return response


def form_errors(exc: BaseException) -> dict[str, str]:
    """{field: message} of an error, for showing beside the fields; ``"__all__"`` for what names no field.

    Takes the platform's errors (``IspopsError``: its ``errors`` list, else its ``field``) and pydantic's
    ``ValidationError`` (worded as the API words a 422: ``ispops.api.problems``).
    """
    out: dict[str, str] = {}
    if isinstance(exc, ValidationError):
        for error in exc.errors():
            out.setdefault(_field_of(error.get("loc", ())), _message(dict(error), None))
        return out
    if isinstance(exc, IspopsError):
        for item in exc.errors or []:
            name = item.get("field") or "__all__"
            out.setdefault(name, _unprefixed(name, item.get("message") or exc.message))
        if not out:
            out[exc.field or "__all__"] = _unprefixed(exc.field or "", exc.message)
        return out
    out["__all__"] = str(exc) or type(exc).__name__
    return out


def _unprefixed(field: str, message: str) -> str:
    """ "name: must not be empty" shown beside the name field reads "must not be empty"."""
    return message.removeprefix(f"{field}: ") if field else message
