"""``/api/v1/auth``: login, token refresh and logout for tenant staff and platform operators; MFA.

Each endpoint is one unit of work. Services return failures that must persist (failed-login counters,
a revoked token family) instead of raising them; the endpoint lets the unit of work commit and raises
afterwards (``Outcome.unwrap``).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Annotated

from fastapi import APIRouter, Cookie, Depends, Header, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from ispops.api.crud import Resource
from ispops.auth import device, service
from ispops.auth.deps import Db, Meta, get_principal, get_settings_dep
from ispops.auth.principal import Principal
from ispops.auth.refresh import invalid_refresh
from ispops.auth.results import Outcome, TokenPair
from ispops.auth.schemas import (
    LoginRequest,
    MfaConfirmRequest,
    MfaDisableRequest,
    MfaEnrolResponse,
    OperatorLoginRequest,
    RecoveryCodesResponse,
    RefreshRequest,
    TokenResponse,
)
from ispops.auth.tokens import OPERATOR_PREFIX, refresh_token_prefix
from ispops.config import Settings
from ispops.db.async_session import AsyncDatabase

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
RESOURCES: list[Resource] = []


def register(api: APIRouter) -> None:
    api.include_router(router)


Config = Annotated[Settings, Depends(get_settings_dep)]
# Not get_full_principal: a token still waiting for a required MFA enrolment must reach /mfa/*.
Caller = Annotated[Principal, Depends(get_principal)]


def _secret(request: Request) -> str:
    return str(request.app.state.jwt_secret)


def _tokens(outcome: Outcome[TokenPair]) -> TokenResponse:
    return TokenResponse.of(outcome.unwrap())


DeviceHeader = Annotated[
    str | None,
    Header(alias=device.HEADER, description="the device_token of an earlier sign-in of this user (API clients)"),
]
DeviceCookie = Annotated[
    str | None, Cookie(alias=device.COOKIE, description="set by an earlier sign-in of this user (browsers)")
]


@router.post("/login", summary="Sign in as a tenant's staff member")
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    db: Db,
    settings: Config,
    meta: Meta,
    device_header: DeviceHeader = None,
    device_cookie: DeviceCookie = None,
) -> TokenResponse:
    # enforce_status=False here and in refresh/logout: the service refuses a suspended tenant or an ended
    # trial itself, only after the password (or refresh token) checked out, so nothing leaks without it.
    async with db.tenant(body.tenant, enforce_status=False) as session:
        outcome = await service.login_user(
            session,
            tenant_id=body.tenant,
            email=body.email,
            password=body.password,
            otp=body.otp,
            meta=meta,
            settings=settings,
            jwt_secret=_secret(request),
            devices=(device_header, device_cookie),
        )
    tokens = _tokens(outcome)
    if tokens.device_token is not None:
        response.set_cookie(
            device.COOKIE,
            tokens.device_token,
            max_age=device.LIFETIME_SECONDS,
            path="/api/v1/auth",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
    return tokens


@router.post("/refresh", summary="Exchange a refresh token for new tokens (rotation)")
async def refresh(body: RefreshRequest, request: Request, db: Db, settings: Config, meta: Meta) -> TokenResponse:
    tenant_id = refresh_token_prefix(body.refresh_token)
    if tenant_id is None:
        raise invalid_refresh()
    async with db.tenant(tenant_id, enforce_status=False) as session:
        outcome = await service.refresh_user(
            session,
            tenant_id=tenant_id,
            refresh_token=body.refresh_token,
            meta=meta,
            settings=settings,
            jwt_secret=_secret(request),
        )
    return _tokens(outcome)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke a refresh token and its family")
async def logout(body: RefreshRequest, db: Db) -> Response:
    tenant_id = refresh_token_prefix(body.refresh_token)
    if tenant_id is not None:
        async with db.tenant(tenant_id, enforce_status=False) as session:  # revoking stays possible
            await service.logout_user(session, tenant_id=tenant_id, refresh_token=body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/mfa/enrol", summary="Start TOTP enrolment: a new secret, not active until confirmed")
async def mfa_enrol(principal: Caller, db: Db) -> MfaEnrolResponse:
    async with _unit(db, principal) as session:
        secret, uri = await service.begin_mfa_enrolment(session, principal=principal)
    return MfaEnrolResponse(secret=secret, provisioning_uri=uri)


@router.post("/mfa/confirm", summary="Confirm enrolment with a code; returns single-use recovery codes")
async def mfa_confirm(body: MfaConfirmRequest, principal: Caller, db: Db) -> RecoveryCodesResponse:
    async with _unit(db, principal) as session:
        codes = await service.confirm_mfa(session, principal=principal, otp=body.otp)
    return RecoveryCodesResponse(recovery_codes=codes)


@router.post("/mfa/disable", status_code=status.HTTP_204_NO_CONTENT, summary="Turn MFA off (password + code)")
async def mfa_disable(body: MfaDisableRequest, principal: Caller, db: Db, settings: Config, meta: Meta) -> Response:
    async with _unit(db, principal) as session:
        outcome = await service.disable_mfa(
            session, principal=principal, password=body.password, otp=body.otp, meta=meta, settings=settings
        )
    outcome.unwrap()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/operator/login", summary="Sign in as a platform operator")
async def operator_login(
    body: OperatorLoginRequest, request: Request, db: Db, settings: Config, meta: Meta
) -> TokenResponse:
    async with db.platform() as session:
        outcome = await service.login_operator(
            session,
            email=body.email,
            password=body.password,
            otp=body.otp,
            meta=meta,
            settings=settings,
            jwt_secret=_secret(request),
        )
    return _tokens(outcome)


@router.post("/operator/refresh", summary="Exchange an operator refresh token for new tokens")
async def operator_refresh(
    body: RefreshRequest, request: Request, db: Db, settings: Config, meta: Meta
) -> TokenResponse:
    if refresh_token_prefix(body.refresh_token) != OPERATOR_PREFIX:
        raise invalid_refresh()
    async with db.platform() as session:
        outcome = await service.refresh_operator(
            session, refresh_token=body.refresh_token, meta=meta, settings=settings, jwt_secret=_secret(request)
        )
    return _tokens(outcome)


@router.post("/operator/logout", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke an operator refresh token")
async def operator_logout(body: RefreshRequest, db: Db) -> Response:
    if refresh_token_prefix(body.refresh_token) == OPERATOR_PREFIX:
        async with db.platform() as session:
            await service.logout_operator(session, refresh_token=body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _unit(db: AsyncDatabase, principal: Principal) -> AbstractAsyncContextManager[AsyncSession]:
    """The principal's own unit of work: its tenant for users, the platform for operators."""
    if principal.is_operator:
        return db.platform(user_id=principal.id)
    return db.tenant(principal.tenant_id or "", user_id=principal.id)
