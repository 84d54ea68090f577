"""Signing in and out of the console, and MFA enrolment.

Sign-in runs the API's own ``login_user`` (password, TOTP, throttling, lockout, device tokens) and keeps
the refresh token it issues in the session cookie (``ispops.console.sessions``). The login form carries its
own CSRF token (double submit with a pre-session cookie); everything after sign-in uses the session's.
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from ispops.auth import device, service
from ispops.auth.deps import get_meta
from ispops.auth.schemas import LoginRequest, MfaConfirmRequest
from ispops.config import Settings
from ispops.console import render, sessions
from ispops.console.context import ConsoleDep
from ispops.console.nav import NavItem
from ispops.db.async_session import AsyncDatabase
from ispops.errors import IspopsError

router = APIRouter()
NAV: list[NavItem] = []


def _safe_next(target: str | None) -> str:
    """Only a console path of this site (no scheme, no host, no //): never an open redirect."""
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console/"


def _login_page(
    request: Request, *, status_code: int = 200, errors: dict[str, str] | None = None, **values: str
) -> Response:
    token = request.cookies.get(sessions.PRE_COOKIE) or sessions.new_pre_token()
    response = render.public_page(
        request,
        "login.html",
        status_code=status_code,
        errors=errors or {},
        values=values,
        login_csrf=token,
        next=_safe_next(values.get("next") or request.query_params.get("next")),
    )
    response.set_cookie(
        sessions.PRE_COOKIE,
        token,
        path="/console/login",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/console/login")
async def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/console/login")
async def login(
    request: Request,
    tenant: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    otp: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/console/",
) -> Response:
    values = {"tenant": tenant, "email": email, "next": next}
    expected = request.cookies.get(sessions.PRE_COOKIE)
    if not expected or not sessions.csrf_ok(expected, csrf_token):
        errors = {"__all__": "The sign-in form expired; please try again."}
        return _login_page(request, status_code=403, errors=errors, **values)
    try:
        body = LoginRequest(tenant=tenant.strip(), email=email.strip(), password=password, otp=otp.strip() or None)
    except ValidationError as exc:
        return _login_page(request, status_code=422, errors=render.form_errors(exc), **values)
    db = cast(AsyncDatabase, request.app.state.db)
    settings = cast(Settings, request.app.state.settings)
    secret = cast(str, request.app.state.jwt_secret)
    async with db.tenant(body.tenant, enforce_status=False) as session:
        outcome = await service.login_user(
            session,
            tenant_id=body.tenant,
            email=body.email,
            password=body.password,
            otp=body.otp,
            meta=await get_meta(request),
            settings=settings,
            jwt_secret=secret,
            devices=(request.cookies.get(device.COOKIE),),
        )
    # Committed: the failure counters survive a refused sign-in.
    if outcome.error is not None:
        return _login_failed(request, outcome.error, values)
    pair = outcome.unwrap()
    https = request.url.scheme == "https"
    target = "/console/mfa" if pair.mfa_enrolment_required else _safe_next(next)
    response = render.redirect(request, target)
    response.set_cookie(
        sessions.COOKIE, pair.refresh_token, path=sessions.PATH, httponly=True, samesite="lax", secure=https
    )
    response.delete_cookie(sessions.PRE_COOKIE, path="/console/login")
    if pair.device_token is not None:
        response.set_cookie(
            device.COOKIE,
            pair.device_token,
            max_age=device.LIFETIME_SECONDS,
            path="/console/login",
            httponly=True,
            samesite="strict",
            secure=https,
        )
    if pair.lockouts:
        render.flash(
            response,
            f"Your account was locked {len(pair.lockouts)} time(s) by failed sign-ins since your last visit.",
            "info",
        )
    return response


def _login_failed(request: Request, error: IspopsError, values: dict[str, str]) -> Response:
    field = "otp" if error.code in ("mfa_required", "invalid_otp") else "__all__"
    message = error.message
    if field == "__all__" and error.status == 401:
        message = "Wrong tenant, email or password."
    return _login_page(request, status_code=error.status, errors={field: message}, **values)


@router.post("/console/logout")
async def logout(con: ConsoleDep) -> Response:
    token = con.request.cookies.get(sessions.COOKIE, "")
    await service.logout_user(con.session, tenant_id=con.tenant_id, refresh_token=token)
    response = render.redirect(con, "/console/login")
    response.delete_cookie(sessions.COOKIE, path=sessions.PATH)
    return response


@router.get("/console/mfa")
async def mfa_page(con: ConsoleDep) -> Response:
    return render.page(con, "mfa.html", stage="enabled" if con.mfa_enabled else "start", errors={})


@router.post("/console/mfa/enrol")
async def mfa_enrol(con: ConsoleDep) -> Response:
    try:
        secret, uri = await service.begin_mfa_enrolment(con.session, principal=con.principal)
    except IspopsError as exc:
        return render.page(con, "mfa.html", stage="enabled", errors=render.form_errors(exc), status_code=exc.status)
    return render.page(con, "mfa.html", stage="confirm", secret=secret, uri=uri, errors={})


@router.post("/console/mfa/confirm")
async def mfa_confirm(
    con: ConsoleDep, otp: Annotated[str, Form()] = "", secret: Annotated[str, Form()] = ""
) -> Response:
    try:
        body = MfaConfirmRequest(otp=otp.strip())
        async with con.session.begin_nested():
            codes = await service.confirm_mfa(con.session, principal=con.principal, otp=body.otp)
    except (ValidationError, IspopsError) as exc:
        return render.page(
            con, "mfa.html", stage="confirm", secret=secret, uri="", errors=render.form_errors(exc), status_code=422
        )
    return render.page(con, "mfa.html", stage="codes", codes=codes)
