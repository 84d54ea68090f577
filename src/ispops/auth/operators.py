"""Platform operators: login, refresh-token rotation, logout, creation. Units of work from ``db.platform()``.

Operators belong to no tenant, and ``login_failures`` is a tenant table, so failed operator logins are
throttled per source address only (``ispops_ip_login_failures``); that is the limit that matters for
the handful of operator accounts, whose emails are not public.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ispops.auth import throttle
from ispops.auth.errors import invalid_credentials
from ispops.auth.passwords import hash_password_async, needs_rehash, rehash, verify_password
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
from ispops.auth.tokens import OPERATOR_PREFIX, hash_refresh_token, new_refresh_token, refresh_token_prefix
from ispops.config import Settings
from ispops.errors import Conflict, Unauthenticated, ValidationFailed
from ispops.models import OperatorRefreshToken, PlatformOperator
from ispops.models.identity import RevokedReason
from ispops.tenancy.service import EMAIL


def _principal(operator: PlatformOperator) -> Principal:
    return Principal(kind="operator", id=str(operator.id), tenant_id=None)


async def _live_operator(
    session: AsyncSession, *, email: str | None = None, operator_id: uuid.UUID | None = None
) -> PlatformOperator | None:
    stmt = select(PlatformOperator).where(PlatformOperator.deleted_at.is_(None))
    if email is not None:
        stmt = stmt.where(func.lower(PlatformOperator.email) == email)
    if operator_id is not None:
        stmt = stmt.where(PlatformOperator.id == operator_id)
    return await session.scalar(stmt)


async def _issue_refresh(
    session: AsyncSession, operator: PlatformOperator, family_id: uuid.UUID, meta: RequestMeta, settings: Settings
) -> str:
    token = new_refresh_token(OPERATOR_PREFIX)
    fields = token_row_fields(meta, settings, hash_refresh_token(token))
    session.add(OperatorRefreshToken(operator_id=operator.id, family_id=family_id, **fields))
    await session.flush()
    return token


async def create_operator(
    session: AsyncSession, *, email: str, password: str, full_name: str | None = None
) -> PlatformOperator:
    """A new platform operator (password at least 12 characters, hashed with argon2id)."""
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise ValidationFailed(
            "platform_operators.email: not an email address", table="platform_operators", field="email"
        )
    if await _live_operator(session, email=email) is not None:
        raise Conflict(f"platform_operators: {email} already exists", table="platform_operators", field="email")
    operator = PlatformOperator(
        id=uuid.uuid4(), email=email, password_hash=await hash_password_async(password), full_name=full_name
    )
    session.add(operator)
    await session.flush()
    return operator


async def login_operator(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    otp: str | None,
    meta: RequestMeta,
    settings: Settings,
    jwt_secret: str,
) -> Outcome[TokenPair]:
    """Sign an operator in; same answers and same failure handling as ``login_user``."""
    email_n = throttle.normalise_email(email)
    if limited := await throttle.check_ip(session, meta.ip, settings):
        return Outcome.fail(limited)
    operator = await _live_operator(session, email=email_n)
    password_ok = await verify_password(operator.password_hash if operator else None, password)
    if operator is None or not password_ok or not operator.is_active:
        await throttle.record_failure(session, tenant_id=None, email=email_n, ip=meta.ip)
        return Outcome.fail(invalid_credentials())
    if second := await check_second_factor(session, operator, otp, tenant_id=None, email=email_n, meta=meta):
        return Outcome.fail(second)
    await act_as(session, operator.id)
    if needs_rehash(operator.password_hash):
        operator.password_hash = await rehash(password)
    operator.last_login_at = utcnow()
    token = await _issue_refresh(session, operator, uuid.uuid4(), meta, settings)
    return Outcome.ok(token_pair(_principal(operator), token, settings=settings, jwt_secret=jwt_secret))


async def refresh_operator(
    session: AsyncSession, *, refresh_token: str, meta: RequestMeta, settings: Settings, jwt_secret: str
) -> Outcome[TokenPair]:
    """Rotate an operator refresh token; reuse of a revoked one revokes its family (commit, then unwrap)."""
    if refresh_token_prefix(refresh_token) != OPERATOR_PREFIX:
        return Outcome.fail(invalid_refresh())
    row = await claim(session, OperatorRefreshToken, refresh_token)
    if isinstance(row, Unauthenticated):
        return Outcome.fail(row)
    operator = await _live_operator(session, operator_id=row.operator_id)
    if operator is None or not operator.is_active:
        return Outcome.fail(invalid_refresh())
    token = await _issue_refresh(session, operator, row.family_id, meta, settings)
    return Outcome.ok(token_pair(_principal(operator), token, settings=settings, jwt_secret=jwt_secret))


async def logout_operator(session: AsyncSession, *, refresh_token: str) -> None:
    """Revoke the token's family (reason ``logout``); idempotent."""
    row = await find_token(session, OperatorRefreshToken, refresh_token)
    if row is not None:
        await revoke_family(session, OperatorRefreshToken, row.family_id, RevokedReason.LOGOUT)
