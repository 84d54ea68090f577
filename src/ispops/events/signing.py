"""Standard Webhooks signatures (https://www.standardwebhooks.com/): ``webhook-id``, ``webhook-timestamp``
and ``webhook-signature`` = ``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``, one per secret,
space-separated (two during a rotation's overlap). Secrets are ``whsec_<base64 of 32 random bytes>``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def key_of(secret: str) -> bytes:
    """The HMAC key a ``whsec_`` secret stands for."""
    if not secret.startswith(PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    return base64.b64decode(secret[len(PREFIX) :], validate=True)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<signature>`` of one message with one secret."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key_of(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers (plus the content type) for ``body`` signed with every secret."""
    if not secrets_:
        raise ValueError("at least one secret is needed to sign")
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets_),
    }
