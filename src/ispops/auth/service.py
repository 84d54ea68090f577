"""Tenant users: login, refresh-token rotation, logout, and MFA enrolment (users and operators).

Async, keyword-only, over a unit of work the caller owns; nothing here commits. Functions whose
failure leaves writes that must persist (failed-login counters, a revoked token family) return an
:class:`~ispops.auth.results.Outcome`: let the unit of work commit, then call ``unwrap()``.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ispops.auth import device, mfa, throttle
from ispops.auth.errors import invalid_credentials
from ispops.auth.operators import create_operator, login_operator, logout_operator, refresh_operator
from ispops.auth.passwords import needs_rehash, rehash, verify_password
from ispops.auth.principal import Principal, RequestMeta
from ispops.auth.refresh import (
    act_as,
    claim,
    find_token,
    invalid_refresh,
    revoke_family,
    token_pair,
    token_row_fields,
    utcnow,
)
from ispops.auth.results import Outcome, TokenPair
from ispops.auth.second_factor import check_second_factor
from ispops.auth.tokens import hash_refresh_token, new_refresh_token, refresh_token_prefix
from ispops.config import Settings
from ispops.errors import Conflict, PermissionDenied, Unauthenticated, ValidationFailed
from ispops.models import PlatformOperator, RefreshToken, Tenant, User
from ispops.models.identity import RevokedReason
from ispops.tenancy.status import refusal

__all__ = [
    "begin_mfa_enrolment",
    "confirm_mfa",
    "create_operator",
    "disable_mfa",
    "login_operator",
    "login_user",
    "logout_operator",
    "logout_user",
    "refresh_operator",
    "refresh_user",
]


def tenant_refusal(tenant: Tenant) -> PermissionDenied | None:
    """Why staff of this tenant may not sign in now, or None. Only shown to holders of a right password.
    The same rule every tenant request applies (``ispops.tenancy.status``)."""
    return refusal(None if tenant.deleted_at is not None else tenant.status, tenant.trial_ends_at, now=utcnow())


def requires_mfa(tenant: Tenant) -> bool:
    return (tenant.settings or {}).get("require_mfa") is True


async def _live_user(
    session: AsyncSession, tenant_id: str, *, email: str | None = None, user_id: uuid.UUID | None = None
) -> User | None:
    """A not-deleted user of the tenant by lower-cased email or by id (active or not)."""
    stmt = select(User).where(User.tenant_id == tenant_id, User.deleted_at.is_(None))
    if email is not None:
        stmt = stmt.where(func.lower(User.email) == email)
    if user_id is not None:
        stmt = stmt.where(User.id == user_id)
    return await session.scalar(stmt)


def _user_principal(user: User, tenant: Tenant) -> Principal:
    return Principal(
        kind="user",
        id=str(user.id),
        tenant_id=tenant.id,
        roles=frozenset(user.roles or []),
        mfa_satisfied=user.mfa_enabled or not requires_mfa(tenant),
    )


async def _issue_user_refresh(
    session: AsyncSession, user: User, family_id: uuid.UUID, meta: RequestMeta, settings: Settings
) -> str:
    token = new_refresh_token(user.tenant_id)
    fields = token_row_fields(meta, settings, hash_refresh_token(token))
    session.add(RefreshToken(tenant_id=user.tenant_id, user_id=user.id, family_id=family_id, **fields))
    await session.flush()
    return token


async def login_user(
    session: AsyncSession,
    *,
    tenant_id: str,
    email: str,
    password: str,
    otp: str | None,
    meta: RequestMeta,
    settings: Settings,
    jwt_secret: str,
    devices: tuple[str | None, ...] = (),
) -> Outcome[TokenPair]:
    """Sign a tenant user in with email + password (+ one-time code when MFA is on).

    Unknown tenant or email, wrong password and inactive user all give the same 401 after the same
    work (one argon2 verification). Failures are recorded per address, and per device token when
    ``devices`` (the client's tokens: header, cookie) holds a valid one of this user, else per account;
    they are returned, not raised: commit, then ``unwrap()``. Accounts of unknown tenants cannot be
    counted (the failure table references tenants); the per-address limit still applies to them.
    Success returns a new device token and the lockouts since the user's previous sign-in.
    """
    email_n = throttle.normalise_email(email)
    if limited := await throttle.check_ip(session, meta.ip, settings):
        return Outcome.fail(limited)
    tenant = await session.scalar(select(Tenant).where(Tenant.id == tenant_id))
    user = None
    known: device.Device | None = None
    if tenant is not None:
        user = await _live_user(session, tenant.id, email=email_n)
        if user is not None:
            known = device.trusted(devices, jwt_secret=jwt_secret, tenant_id=tenant.id, user_id=user.id)
        limited = (
            await throttle.check_device(session, tenant_id=tenant.id, device_id=known.device_id, settings=settings)
            if known is not None
            else await throttle.check_account(session, tenant_id=tenant.id, email=email_n, settings=settings)
        )
        if limited:
            return Outcome.fail(limited)
    device_id = known.device_id if known is not None else None
    password_ok = await verify_password(user.password_hash if user else None, password)
    if tenant is None or user is None or not password_ok or not user.is_active:
        await throttle.record_failure(
            session, tenant_id=tenant.id if tenant else None, email=email_n, ip=meta.ip, device_id=device_id
        )
        if tenant is not None and user is not None and known is None:
            await throttle.note_lockout(
                session, tenant_id=tenant.id, email=email_n, user_id=user.id, meta=meta, settings=settings
            )
        return Outcome.fail(invalid_credentials())
    if refused := tenant_refusal(tenant):
        return Outcome.fail(refused)
    if second := await check_second_factor(
        session, user, otp, tenant_id=tenant.id, email=email_n, meta=meta, device_id=device_id
    ):
        if known is None:
            await throttle.note_lockout(
                session, tenant_id=tenant.id, email=email_n, user_id=user.id, meta=meta, settings=settings
            )
        return Outcome.fail(second)
    await act_as(session, user.id)
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = await rehash(password)
    lockouts = await throttle.lockouts_since(session, tenant_id=tenant.id, user_id=user.id, since=user.last_login_at)
    user.last_login_at = utcnow()
    refresh_token = await _issue_user_refresh(session, user, uuid.uuid4(), meta, settings)
    pair = token_pair(_user_principal(user, tenant), refresh_token, settings=settings, jwt_secret=jwt_secret)
    token = device.issue(jwt_secret=jwt_secret, tenant_id=tenant.id, user_id=user.id)
    return Outcome.ok(replace(pair, device_token=token, lockouts=lockouts))


async def refresh_user(
    session: AsyncSession,
    *,
    tenant_id: str,
    refresh_token: str,
    meta: RequestMeta,
    settings: Settings,
    jwt_secret: str,
) -> Outcome[TokenPair]:
    """Rotate a refresh token: the presented one is revoked, a new one of the same family issued.

    Roles and MFA state are read again. A revoked token presented again revokes its whole family; the
    returned failure must be committed for that to hold.
    """
    if refresh_token_prefix(refresh_token) != tenant_id:
        return Outcome.fail(invalid_refresh())
    row = await claim(session, RefreshToken, refresh_token, RefreshToken.tenant_id == tenant_id)
    if isinstance(row, Unauthenticated):
        return Outcome.fail(row)
    tenant = await session.scalar(select(Tenant).where(Tenant.id == tenant_id))
    user = await _live_user(session, tenant_id, user_id=row.user_id)
    if tenant is None or user is None or not user.is_active or tenant_refusal(tenant) is not None:
        return Outcome.fail(invalid_refresh())
    await act_as(session, user.id)
    new_token = await _issue_user_refresh(session, user, row.family_id, meta, settings)
    return Outcome.ok(token_pair(_user_principal(user, tenant), new_token, settings=settings, jwt_secret=jwt_secret))


async def logout_user(session: AsyncSession, *, tenant_id: str, refresh_token: str) -> None:
    """Revoke the token's family (reason ``logout``). Unknown or already revoked tokens are fine."""
    if refresh_token_prefix(refresh_token) != tenant_id:
        return
    row = await find_token(session, RefreshToken, refresh_token, RefreshToken.tenant_id == tenant_id)
    if row is not None:
        await revoke_family(
            session, RefreshToken, row.family_id, RevokedReason.LOGOUT, RefreshToken.tenant_id == tenant_id
        )


# --- MFA enrolment: the principal's own account, user (tenant unit of work) or operator (platform) ---


async def _account(session: AsyncSession, principal: Principal) -> User | PlatformOperator:
    try:
        account_id = uuid.UUID(principal.id)
    except ValueError:
        raise Unauthenticated("invalid or expired access token") from None
    account: User | PlatformOperator | None
    if principal.is_operator:
        account = await session.scalar(
            select(PlatformOperator).where(PlatformOperator.id == account_id, PlatformOperator.deleted_at.is_(None))
        )
    else:
        account = await _live_user(session, principal.tenant_id or "", user_id=account_id)
    if account is None or not account.is_active:
        raise Unauthenticated("this account is no longer active")
    await act_as(session, account.id)
    return account


async def begin_mfa_enrolment(session: AsyncSession, *, principal: Principal) -> tuple[str, str]:
    """Store a new TOTP secret (MFA stays off until confirmed); return it and its ``otpauth://`` URI."""
    account = await _account(session, principal)
    if account.mfa_enabled:
        raise Conflict("MFA is already enabled; disable it before enrolling again", field="mfa_enabled")
    secret = mfa.new_secret()
    account.mfa_secret = secret
    await session.flush()
    return secret, mfa.provisioning_uri(secret, account.email)


async def confirm_mfa(session: AsyncSession, *, principal: Principal, otp: str) -> list[str]:
    """Turn MFA on once a code from the new secret checks out; return the recovery codes (shown once)."""
    account = await _account(session, principal)
    if account.mfa_enabled:
        raise Conflict("MFA is already enabled", field="mfa_enabled")
    if not account.mfa_secret:
        raise Conflict("no MFA enrolment in progress; start one first", field="mfa_secret")
    step = mfa.totp_step(account.mfa_secret, otp)
    if step is None:
        raise ValidationFailed("otp: invalid one-time code", field="otp")
    account.mfa_last_step = step
    codes = mfa.new_recovery_codes()
    account.mfa_recovery_codes = [mfa.hash_recovery_code(c) for c in codes]
    account.mfa_enabled = True
    await session.flush()
    return codes


async def disable_mfa(
    session: AsyncSession,
    *,
    principal: Principal,
    password: str,
    otp: str,
    meta: RequestMeta,
    settings: Settings,
) -> Outcome[None]:
    """Turn MFA off after checking the password and a one-time code (TOTP or recovery code).

    Wrong answers count as failed logins (per address; per account for tenant users) and are returned,
    not raised: commit, then ``unwrap()``.
    """
    account = await _account(session, principal)
    if not account.mfa_enabled:
        raise Conflict("MFA is not enabled", field="mfa_enabled")
    tenant_id = account.tenant_id if isinstance(account, User) else None
    if limited := await throttle.check_ip(session, meta.ip, settings):
        return Outcome.fail(limited)
    if tenant_id is not None and (
        limited := await throttle.check_account(session, tenant_id=tenant_id, email=account.email, settings=settings)
    ):
        return Outcome.fail(limited)
    password_ok = await verify_password(account.password_hash, password)
    otp_ok, _, _ = mfa.check_otp(
        account.mfa_secret, list(account.mfa_recovery_codes or []), otp, last_step=account.mfa_last_step
    )
    if not (password_ok and otp_ok):
        await throttle.record_failure(session, tenant_id=tenant_id, email=account.email, ip=meta.ip)
        return Outcome.fail(PermissionDenied("invalid password or one-time code"))
    account.mfa_enabled = False
    account.mfa_secret = None
    account.mfa_recovery_codes = []
    await session.flush()
    return Outcome.ok(None)
