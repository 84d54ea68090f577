"""Failed-login counters: per account (tenant + email, in ``login_failures``) and per source address.

The per-address table is global and reached only through the SECURITY DEFINER function
``ispops_ip_login_failures``; the per-account table is a tenant table under RLS.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ispops.config import Settings
from ispops.errors import TooManyRequests
from ispops.models import LoginFailure

ACCOUNT_WINDOW_SECONDS = 3600
IP_WINDOW_SECONDS = 60
_IP_FUNCTION = text("select ispops_ip_login_failures(cast(:ip as inet), :window, :record)")


def valid_ip(ip: str | None) -> str | None:
    """The address if it is one PostgreSQL's ``inet`` accepts, else None (e.g. test clients)."""
    if not ip:
        return None
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return None


def normalise_email(email: str) -> str:
    return email.strip().lower()[:255]


async def account_failures(session: AsyncSession, *, tenant_id: str, email: str) -> int:
    """Failed logins for this email in this tenant in the last hour (whether or not the account exists)."""
    count = await session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(
            LoginFailure.tenant_id == tenant_id,
            func.lower(LoginFailure.email) == normalise_email(email),
            LoginFailure.occurred_at >= func.now() - timedelta(seconds=ACCOUNT_WINDOW_SECONDS),
        )
    )
    return int(count or 0)


async def ip_failures(session: AsyncSession, ip: str | None, *, record: bool) -> int:
    """Failed logins from ``ip`` in the last minute, after recording one more when ``record``."""
    addr = valid_ip(ip)
    if addr is None:
        return 0
    count = await session.scalar(_IP_FUNCTION, {"ip": addr, "window": IP_WINDOW_SECONDS, "record": record})
    return int(count or 0)


async def check_ip(session: AsyncSession, ip: str | None, settings: Settings) -> TooManyRequests | None:
    if await ip_failures(session, ip, record=False) >= settings.login_failures_per_ip_per_minute:
        return TooManyRequests("too many failed logins from this address; try again in a minute")
    return None


async def check_account(
    session: AsyncSession, *, tenant_id: str, email: str, settings: Settings
) -> TooManyRequests | None:
    failures = await account_failures(session, tenant_id=tenant_id, email=email)
    if failures >= settings.login_failures_per_account_per_hour:
        return TooManyRequests("too many failed logins for this account; try again later")
    return None


async def record_failure(session: AsyncSession, *, tenant_id: str | None, email: str, ip: str | None) -> None:
    """Count a failed login against the address and, when the tenant exists, against the account."""
    if tenant_id is not None:
        session.add(LoginFailure(tenant_id=tenant_id, email=normalise_email(email), ip=valid_ip(ip)))
        await session.flush()
    await ip_failures(session, ip, record=True)
