"""The second factor at sign-in, the same for tenant users and platform operators."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ispops.auth import mfa, throttle
from ispops.auth.errors import InvalidOtp, MfaRequired
from ispops.auth.principal import RequestMeta
from ispops.errors import Unauthenticated
from ispops.models import PlatformOperator, User


async def check_second_factor(
    session: AsyncSession,
    account: User | PlatformOperator,
    otp: str | None,
    *,
    tenant_id: str | None,
    email: str,
    meta: RequestMeta,
    device_id: str | None = None,
) -> Unauthenticated | None:
    """None when no code is needed or the code is good (and now used up); else the error to report.

    A wrong code counts as a failed login (against ``device_id``, a valid device token of the user, when
    given; ``ispops.auth.throttle``). The account row is locked first, so a recovery code or a
    TOTP step is consumed by one sign-in only.
    """
    if not account.mfa_enabled:
        return None
    if not otp:
        return MfaRequired("a one-time code from your authenticator app is required")
    await session.refresh(account, with_for_update=True)
    ok, remaining, step = mfa.check_otp(
        account.mfa_secret, list(account.mfa_recovery_codes or []), otp, last_step=account.mfa_last_step
    )
    if not ok:
        await throttle.record_failure(session, tenant_id=tenant_id, email=email, ip=meta.ip, device_id=device_id)
        return InvalidOtp("invalid one-time code")
    if remaining is not None:
        account.mfa_recovery_codes = remaining
    if step is not None:
        account.mfa_last_step = step
    return None
