"""Device tokens: a browser or API client that has signed in as a user before (OWASP's "device cookies").

A successful sign-in issues one (cookie ``ispops_device``, and ``device_token`` in the JSON for API
clients, which send it back in the ``X-Ispops-Device`` header). It names the tenant, the user and a random
device id, and is HMAC-SHA256-signed with a key derived from the JWT secret. A later sign-in that presents
a valid token *for the same user* is counted against that device only, not against the account: so
someone who knows an email address and floods it with wrong passwords locks out untrusted clients, not
the user's own browser (``ispops.auth.throttle``). A forged token, an expired one or another user's is
simply ignored: the attempt is an untrusted client's.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
import time
import uuid
from dataclasses import dataclass

COOKIE = "ispops_device"
HEADER = "X-Ispops-Device"
LIFETIME_SECONDS = 180 * 24 * 3600
MAX_LENGTH = 512
_VERSION = "d1"
_CONTEXT = b"ispops device token v1"
_DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")


@dataclass(frozen=True)
class Device:
    """A verified token: whose browser or client it is."""

    tenant_id: str
    user_id: uuid.UUID
    device_id: str
    issued_at: int


@functools.lru_cache(maxsize=8)
def _key(jwt_secret: str) -> bytes:
    """A key of its own, derived from the JWT secret: a device token can never pass for an access token."""
    return hmac.new(jwt_secret.encode(), _CONTEXT, hashlib.sha256).digest()


def _mac(jwt_secret: str, payload: str) -> str:
    digest = hmac.new(_key(jwt_secret), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue(*, jwt_secret: str, tenant_id: str, user_id: uuid.UUID, now: float | None = None) -> str:
    """A new device token for this user (a new device id on every sign-in)."""
    issued = int(time.time() if now is None else now)
    payload = f"{_VERSION}.{tenant_id}.{user_id}.{secrets.token_urlsafe(16)}.{issued}"
    return f"{payload}.{_mac(jwt_secret, payload)}"


def verify(token: str | None, *, jwt_secret: str, now: float | None = None) -> Device | None:
    """The token's device when it is well formed, signed with our key and not expired; else None."""
    if not token or len(token) > MAX_LENGTH:
        return None
    payload, _, mac = token.rpartition(".")
    parts = payload.split(".")
    if len(parts) != 5 or parts[0] != _VERSION or not hmac.compare_digest(mac, _mac(jwt_secret, payload)):
        return None
    _, tenant_id, user, device_id, issued = parts
    try:
        user_id, issued_at = uuid.UUID(user), int(issued)
    except ValueError:
        return None
    if not _DEVICE_ID.match(device_id) or not 0 <= (time.time() if now is None else now) - issued_at < LIFETIME_SECONDS:
        return None
    return Device(tenant_id=tenant_id, user_id=user_id, device_id=device_id, issued_at=issued_at)


def trusted(
    candidates: tuple[str | None, ...], *, jwt_secret: str, tenant_id: str, user_id: uuid.UUID
) -> Device | None:
    """The first candidate (header, cookie) that is a valid token of this very user, or None."""
    for token in candidates:
        found = verify(token, jwt_secret=jwt_secret)
        if found is not None and found.tenant_id == tenant_id and found.user_id == user_id:
            return found
    return None
