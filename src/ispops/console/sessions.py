"""Console sign-in sessions: a cookie holding a refresh token of the user's own family.

Signing in through the console runs the API's own login (``ispops.auth.service.login_user``: the same
password check, TOTP, throttling and lockout) and keeps the refresh token it issues, server-side as a
``refresh_tokens`` row, in an HttpOnly cookie. Each request looks the row up (not revoked, not expired,
user still active; roles and MFA state are read again), so logging out, a password reset that revokes
tokens or a disabled user take effect on the next request. No table of its own (migration 0036 is unused).

The CSRF token is an HMAC of the session's token hash with a key derived from the JWT secret: bound to
the session, nothing stored, and a new one after every sign-in.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ispops.auth.tokens import OPERATOR_PREFIX, hash_refresh_token, refresh_token_prefix
from ispops.models import RefreshToken, Tenant, User

COOKIE = "ispops_console"
PRE_COOKIE = "ispops_console_pre"  # the login form's own CSRF token (double submit), before any session
FLASH_COOKIE = "ispops_flash"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
PATH = "/console"
_CONTEXT = b"ispops console csrf v1"


@dataclass(frozen=True)
class SessionUser:
    """Who a valid session cookie belongs to, as read on this request."""

    user_id: uuid.UUID
    email: str
    roles: frozenset[str]
    mfa_enabled: bool
    tenant_name: str
    require_mfa: bool


def tenant_of(token: str | None) -> str | None:
    """The tenant named by a session cookie, or None for anything that cannot be one."""
    if not token or len(token) > 400:
        return None
    prefix = refresh_token_prefix(token)
    return None if prefix is None or prefix == OPERATOR_PREFIX else prefix


async def lookup(session: AsyncSession, tenant_id: str, token: str) -> SessionUser | None:
    """The user of a live session token of this tenant (one query), or None."""
    stmt = (
        select(User.id, User.email, User.roles, User.mfa_enabled, Tenant.name, Tenant.settings)
        .select_from(RefreshToken)
        .join(User, (User.id == RefreshToken.user_id) & (User.tenant_id == RefreshToken.tenant_id))
        .join(Tenant, Tenant.id == RefreshToken.tenant_id)
        .where(
            RefreshToken.tenant_id == tenant_id,
            RefreshToken.token_hash == hash_refresh_token(token),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > datetime.now(UTC),
            User.deleted_at.is_(None),
            User.is_active.is_(True),
        )
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    user_id, email, roles, mfa_enabled, tenant_name, settings = row
    return SessionUser(
        user_id=user_id,
        email=email,
        roles=frozenset(roles or []),
        mfa_enabled=bool(mfa_enabled),
        tenant_name=tenant_name,
        require_mfa=(settings or {}).get("require_mfa") is True,
    )


@functools.lru_cache(maxsize=8)
def _key(jwt_secret: str) -> bytes:
    return hmac.new(jwt_secret.encode(), _CONTEXT, hashlib.sha256).digest()


def csrf_token(jwt_secret: str, token: str) -> str:
    """The CSRF token of a session (stable for the session's life)."""
    digest = hmac.new(_key(jwt_secret), hash_refresh_token(token).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_ok(expected: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(expected.encode(), (presented or "").encode())


def new_pre_token() -> str:
    return secrets.token_urlsafe(24)
