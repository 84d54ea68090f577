"""Refresh-token rows shared by tenant users and operators: lookup, rotation, family revocation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ispops.auth.principal import Principal, RequestMeta
from ispops.auth.results import TokenPair
from ispops.auth.throttle import valid_ip
from ispops.auth.tokens import hash_refresh_token, issue_access_token
from ispops.config import Settings
from ispops.errors import Unauthenticated
from ispops.models import OperatorRefreshToken, RefreshToken
from ispops.models.identity import RevokedReason

R = TypeVar("R", RefreshToken, OperatorRefreshToken)
USER_AGENT_MAX = 512


def invalid_refresh() -> Unauthenticated:
    return Unauthenticated("invalid or expired refresh token")


def utcnow() -> datetime:
    return datetime.now(UTC)


async def find_token(session: AsyncSession, model: type[R], token: str, *criteria: ColumnElement[bool]) -> R | None:
    """The row of ``token``, locked until the unit of work ends (two refreshes cannot both rotate it)."""
    stmt = select(model).where(model.token_hash == hash_refresh_token(token), *criteria).with_for_update()
    return await session.scalar(stmt)


async def revoke_family(
    session: AsyncSession,
    model: type[R],
    family_id: uuid.UUID,
    reason: RevokedReason,
    *criteria: ColumnElement[bool],
) -> None:
    """Revoke every still-valid token of a family."""
    await session.execute(
        update(model)
        .where(model.family_id == family_id, model.revoked_at.is_(None), *criteria)
        .values(revoked_at=func.now(), revoked_reason=reason.value)
        .execution_options(synchronize_session=False)
    )


async def claim(
    session: AsyncSession, model: type[R], token: str, *criteria: ColumnElement[bool]
) -> R | Unauthenticated:
    """The presented token's row, marked rotated; or the error to report.

    A token presented again after it was revoked means it was copied: the whole family is revoked
    (reason ``reuse_detected``). That write must be committed although the request fails.
    """
    row = await find_token(session, model, token, *criteria)
    if row is None:
        return invalid_refresh()
    if row.revoked_at is not None:
        await revoke_family(session, model, row.family_id, RevokedReason.REUSE_DETECTED, *criteria)
        return invalid_refresh()
    now = utcnow()
    if row.expires_at <= now:
        return invalid_refresh()
    row.revoked_at = now
    row.revoked_reason = RevokedReason.ROTATED.value
    await session.flush()
    return row


async def act_as(session: AsyncSession, actor_id: uuid.UUID) -> None:
    """Name the acting account (``app.current_user_id``) for the audit columns of this unit of work."""
    await session.execute(select(func.set_config("app.current_user_id", str(actor_id), True)))


def token_row_fields(meta: RequestMeta, settings: Settings, token_hash: str) -> dict[str, object]:
    """Columns common to both refresh-token tables for a new token."""
    return {
        "token_hash": token_hash,
        "expires_at": utcnow() + timedelta(seconds=settings.refresh_token_ttl_seconds),
        "created_ip": valid_ip(meta.ip),
        "user_agent": (meta.user_agent or None) and meta.user_agent[:USER_AGENT_MAX],
    }


def token_pair(principal: Principal, refresh_token: str, *, settings: Settings, jwt_secret: str) -> TokenPair:
    """The response of a login or refresh."""
    return TokenPair(
        access_token=issue_access_token(principal, secret=jwt_secret, ttl_seconds=settings.access_token_ttl_seconds),
        refresh_token=refresh_token,
        expires_in=settings.access_token_ttl_seconds,
        mfa_enrolment_required=not principal.mfa_satisfied,
    )
