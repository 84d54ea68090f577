"""TOTP (RFC 6238: 30 s, 6 digits, one step of clock drift) and single-use recovery codes."""

from __future__ import annotations

import hashlib
import re
import secrets
import time

import pyotp

ISSUER = "ispops"
RECOVERY_CODE_COUNT = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: codes are read off paper
_GROUPS, _GROUP_LEN = 3, 4
_TOTP_CODE = re.compile(r"^\d{6}$")


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    """``otpauth://`` URI for authenticator apps (issuer ``ispops``, account = the email)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def totp_step(secret: str | None, code: str, *, after: int | None = None) -> int | None:
    """The 30-second time step ``code`` belongs to (now, or one step either side), if it is later than
    ``after`` — the last step already accepted for this account — so a code works once (RFC 6238 §5.2)."""
    code = code.strip().replace(" ", "")
    if not secret or not _TOTP_CODE.match(code):
        return None
    totp = pyotp.TOTP(secret)
    now = int(time.time()) // totp.interval
    for step in (now - 1, now, now + 1):
        if (after is None or step > after) and secrets.compare_digest(totp.at(step * totp.interval), code):
            return step
    return None


def verify_totp(secret: str | None, code: str) -> bool:
    return totp_step(secret, code) is not None


def new_recovery_codes() -> list[str]:
    """Ten codes like ``k7qm-2xrt-9cpa``; show them once, store only :func:`hash_recovery_code`."""
    return [
        "-".join("".join(secrets.choice(_ALPHABET) for _ in range(_GROUP_LEN)) for _ in range(_GROUPS))
        for _ in range(RECOVERY_CODE_COUNT)
    ]


def _normalise(code: str) -> str:
    return re.sub(r"[^a-z0-9]", "", code.lower())


def hash_recovery_code(code: str) -> str:
    """SHA-256 hex of the code without separators or case (codes carry ~59 random bits: no salt needed)."""
    return hashlib.sha256(_normalise(code).encode()).hexdigest()


def consume_recovery_code(hashes: list[str], code: str) -> list[str] | None:
    """The stored hashes minus the one ``code`` matches, or None when it matches none."""
    if len(_normalise(code)) != _GROUPS * _GROUP_LEN:
        return None
    digest = hash_recovery_code(code)
    matches = [h for h in hashes if secrets.compare_digest(h, digest)]
    if not matches:
        return None
    return [h for h in hashes if h != digest]


def check_otp(
    secret: str | None, recovery_hashes: list[str], otp: str, *, last_step: int | None = None
) -> tuple[bool, list[str] | None, int | None]:
    """Whether ``otp`` is an unused TOTP code or an unused recovery code.

    Returns ``(ok, remaining, step)``: ``remaining`` is the new list of recovery hashes when a recovery
    code was consumed, ``step`` the TOTP time step when a TOTP code was used (the caller stores either).
    """
    step = totp_step(secret, otp, after=last_step)
    if step is not None:
        return True, None, step
    remaining = consume_recovery_code(recovery_hashes, otp)
    return remaining is not None, remaining, None
