"""Authentication errors more specific than ``ispops.errors`` (same handler, same rendering)."""

from __future__ import annotations

from ispops.errors import Unauthenticated

INVALID_CREDENTIALS = "invalid credentials"


class MfaRequired(Unauthenticated):
    """The password was right; a one-time code (TOTP or recovery code) is needed too."""

    code = "mfa_required"


class InvalidOtp(Unauthenticated):
    """The password was right but the one-time code was not (counts as a failed login)."""

    code = "invalid_otp"


def invalid_credentials() -> Unauthenticated:
    """The one answer for every failed login, whatever the reason (no account-existence oracle)."""
    return Unauthenticated(INVALID_CREDENTIALS)
