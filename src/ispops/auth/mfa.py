"""TOTP (RFC 6238: 30 s, 6 digits, one step of clock drift) and single-use recovery codes."""

from __future__ import annotations

import hashlib
import re
import secrets

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


def verify_totp(secret: str | None, code: str) -> bool:
    code = code.strip().replace(" ", "")
    if not secret or not _TOTP_CODE.match(code):
        return False
    return pyotp.TOTP(secret).verify(code, valid_window=1)


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


def check_otp(secret: str | None, recovery_hashes: list[str], otp: str) -> tuple[bool, list[str] | None]:
    """Whether ``otp`` is a valid TOTP code or an unused recovery code.

    Returns ``(ok, remaining)``: ``remaining`` is the new list of recovery hashes when a recovery code
    was consumed (the caller stores it), else None.
    """
    if verify_totp(secret, otp):
        return True, None
    remaining = consume_recovery_code(recovery_hashes, otp)
    return remaining is not None, remaining
