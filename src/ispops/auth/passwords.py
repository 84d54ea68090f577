"""Password checks off the event loop, with the same cost whether or not the account exists."""

from __future__ import annotations

import asyncio
import secrets
from functools import cache

from argon2.exceptions import InvalidHashError, VerificationError

from ispops.tenancy.service import PASSWORD_HASHER, hash_password


@cache
def _dummy_hash() -> str:
    """A hash nobody knows the password of, verified when there is no account to verify against."""
    return PASSWORD_HASHER.hash(secrets.token_urlsafe(24))


def _verify(password_hash: str | None, password: str) -> bool:
    target = password_hash or _dummy_hash()
    try:
        ok = PASSWORD_HASHER.verify(target, password)
    except (VerificationError, InvalidHashError):
        return False
    return ok and password_hash is not None


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches. ``None`` (no account, no password) costs one real verification."""
    return await asyncio.to_thread(_verify, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with other parameters than today's (argon2id m=19 MiB, t=2, p=1)."""
    try:
        return PASSWORD_HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


async def hash_password_async(password: str) -> str:
    """``hash_password`` (length rule included) in a worker thread."""
    return await asyncio.to_thread(hash_password, password)


async def rehash(password: str) -> str:
    """A hash with today's parameters for a password already verified (no length rule: it is not new)."""
    return await asyncio.to_thread(PASSWORD_HASHER.hash, password)
