"""Access tokens (HS256 JWTs), opaque refresh tokens, and the JWT signing key."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from ispops.auth.principal import Principal
from ispops.config import Settings
from ispops.errors import ConfigurationError, Unauthenticated
from ispops.keyfiles import read_or_create_private

ALGORITHM = "HS256"
ACCESS_TYPE = "access"
OPERATOR_PREFIX = "op"
SECRET_FILE = "jwt-secret"  # noqa: S105 - a file name
MIN_SECRET_LENGTH = 32  # RFC 7518 3.2: an HS256 key has at least 256 bits
_REQUIRED_CLAIMS = ["sub", "kind", "roles", "mfa", "iat", "exp", "jti", "typ"]


def issue_access_token(principal: Principal, *, secret: str, ttl_seconds: int, now: datetime | None = None) -> str:
    """A signed access token carrying the principal."""
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": principal.id,
        "kind": principal.kind,
        "roles": sorted(principal.roles),
        "mfa": principal.mfa_satisfied,
        "iat": issued,
        "exp": issued + timedelta(seconds=ttl_seconds),
        "jti": uuid.uuid4().hex,
        "typ": ACCESS_TYPE,
    }
    if principal.tenant_id is not None:
        claims["tid"] = principal.tenant_id
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


# Verified tokens, so a client's next requests skip the signature check and JSON parsing. Keyed by the
# token and the secret; an entry is used only until the token's own expiry.
_VERIFIED: OrderedDict[tuple[str, str], tuple[Principal, float]] = OrderedDict()
_VERIFIED_MAX = 4096


def decode_access_token(token: str, *, secret: str) -> Principal:
    """The principal of a valid access token; ``Unauthenticated`` for anything else."""
    key = (token, secret)
    hit = _VERIFIED.get(key)
    if hit is not None:
        if hit[1] > time.time():
            return hit[0]
        _VERIFIED.pop(key, None)
    principal, expires = _decode(token, secret=secret)
    _VERIFIED[key] = (principal, expires)
    if len(_VERIFIED) > _VERIFIED_MAX:
        _VERIFIED.popitem(last=False)
    return principal


def _decode(token: str, *, secret: str) -> tuple[Principal, float]:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": _REQUIRED_CLAIMS})
    except jwt.PyJWTError as exc:
        raise Unauthenticated("invalid or expired access token") from exc
    kind, sub, tid, roles, mfa = (claims.get(k) for k in ("kind", "sub", "tid", "roles", "mfa"))
    well_formed = (
        claims.get("typ") == ACCESS_TYPE
        and isinstance(sub, str)
        and bool(sub)
        and isinstance(mfa, bool)
        and isinstance(roles, list)
        and all(isinstance(r, str) for r in roles)
        and ((kind == "user" and isinstance(tid, str) and bool(tid)) or (kind == "operator" and tid is None))
    )
    if not well_formed:
        raise Unauthenticated("invalid or expired access token")
    principal = Principal(
        kind="user" if kind == "user" else "operator",
        id=str(sub),
        tenant_id=tid if isinstance(tid, str) else None,
        roles=frozenset(roles) if isinstance(roles, list) else frozenset(),
        mfa_satisfied=bool(mfa),
    )
    return principal, float(claims["exp"])


def new_refresh_token(prefix: str) -> str:
    """``<prefix>.<random>``: the tenant id for tenant users, ``op`` for operators."""
    return f"{prefix}.{secrets.token_urlsafe(32)}"


def hash_refresh_token(token: str) -> str:
    """What is stored: SHA-256 hex of the whole token, prefix included."""
    return hashlib.sha256(token.encode()).hexdigest()


def refresh_token_prefix(token: str) -> str | None:
    """The tenant id (or ``op``) before the first dot, or None when the token has no usable prefix."""
    prefix, dot, rest = token.partition(".")
    if not dot or not prefix or not rest or len(prefix) > 255:
        return None
    return prefix


def jwt_secret_for(settings: Settings, data_dir: Path | None = None) -> str:
    """The access-token signing key.

    ``ISPOPS_JWT_SECRET`` when set. Otherwise, with the embedded database only, 64 random bytes
    generated once and kept hex-encoded in ``<data_dir>/jwt-secret`` (mode 0600).
    """
    if settings.jwt_secret:
        if len(settings.jwt_secret) < MIN_SECRET_LENGTH:
            raise ConfigurationError(f"ISPOPS_JWT_SECRET must be at least {MIN_SECRET_LENGTH} characters")
        return settings.jwt_secret
    if not settings.embedded:
        raise ConfigurationError(
            "ISPOPS_JWT_SECRET is not set: set it (at least 32 random characters) when using ISPOPS_DATABASE_URL"
        )
    path = (data_dir if data_dir is not None else settings.data_dir) / SECRET_FILE
    secret = read_or_create_private(path, lambda: secrets.token_bytes(64).hex()).strip()
    if len(secret) < MIN_SECRET_LENGTH:
        raise ConfigurationError(f"{path} is empty or too short; delete it to generate a new key")
    return secret
