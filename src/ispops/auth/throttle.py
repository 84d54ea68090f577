"""Failed-login counters: per account (tenant + email, in ``login_failures``), per device token, and per
source address.

The per-address table is global and reached only through the SECURITY DEFINER function
``ispops_ip_login_failures``; the per-account table is a tenant table under RLS. A failure presented with
a valid device token of the user (``ispops.auth.device``) is counted against that token only: its row's
``email`` is ``device:<device id>``, which no account's email can be (an email has an ``@``). So the
account limit locks out clients that never signed in as the user, and the user's own browser gets
through. When the account limit engages, an audit event tells the tenant (:func:`note_lockout`).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ispops.auth.principal import RequestMeta
from ispops.config import Settings
from ispops.errors import TooManyRequests
from ispops.models import AuditEvent, LoginFailure

ACCOUNT_WINDOW_SECONDS = 3600
IP_WINDOW_SECONDS = 60
DEVICE_PREFIX = "device:"
LOCKOUT_ACTION = "login_lockout"
MAX_LOCKOUT_IPS = 20
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


def device_key(device_id: str) -> str:
    """What ``login_failures.email`` holds for a failure counted against a device token."""
    return DEVICE_PREFIX + device_id


def _recent(tenant_id: str, key: str) -> list[Any]:
    return [
        LoginFailure.tenant_id == tenant_id,
        func.lower(LoginFailure.email) == key,
        LoginFailure.occurred_at >= func.now() - timedelta(seconds=ACCOUNT_WINDOW_SECONDS),
    ]


async def account_failures(session: AsyncSession, *, tenant_id: str, email: str) -> int:
    """Failed logins for this email in this tenant in the last hour (whether or not the account exists)."""
    count = await session.scalar(
        select(func.count()).select_from(LoginFailure).where(*_recent(tenant_id, normalise_email(email)))
    )
    return int(count or 0)


async def device_failures(session: AsyncSession, *, tenant_id: str, device_id: str) -> int:
    """Failed logins presented with this device token in the last hour."""
    key = device_key(device_id).lower()
    count = await session.scalar(select(func.count()).select_from(LoginFailure).where(*_recent(tenant_id, key)))
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


async def check_device(
    session: AsyncSession, *, tenant_id: str, device_id: str, settings: Settings
) -> TooManyRequests | None:
    if await device_failures(session, tenant_id=tenant_id, device_id=device_id) >= (
        settings.login_failures_per_device_per_hour
    ):
        return TooManyRequests("too many failed logins from this device; try again later")
    return None


async def record_failure(
    session: AsyncSession, *, tenant_id: str | None, email: str, ip: str | None, device_id: str | None = None
) -> None:
    """Count a failed login against the address and, when the tenant exists, against the device token
    when one of the user's was presented, else against the account."""
    if tenant_id is not None:
        key = device_key(device_id) if device_id is not None else normalise_email(email)
        session.add(LoginFailure(tenant_id=tenant_id, email=key, ip=valid_ip(ip)))
        await session.flush()
    await ip_failures(session, ip, record=True)


async def note_lockout(
    session: AsyncSession, *, tenant_id: str, email: str, user_id: UUID, meta: RequestMeta, settings: Settings
) -> None:
    """After an untrusted client's failure: when it was the one that reached the account limit, add an
    audit event on the user (``entity`` users, ``action`` action, ``changes.action`` login_lockout) with
    the count and the addresses the failures came from. A tenant admin reads it in the audit trail; the
    user is shown it at the next sign-in (``lockouts`` in the login answer)."""
    recent = _recent(tenant_id, normalise_email(email))
    failures = int(await session.scalar(select(func.count()).select_from(LoginFailure).where(*recent)) or 0)
    if failures != settings.login_failures_per_account_per_hour:
        return
    ips = await session.scalars(
        select(func.host(LoginFailure.ip))
        .where(*recent, LoginFailure.ip.is_not(None))
        .group_by(LoginFailure.ip)
        .order_by(func.count().desc(), LoginFailure.ip)
        .limit(MAX_LOCKOUT_IPS)
    )
    session.add(
        AuditEvent(
            tenant_id=tenant_id,
            actor_kind="system",
            actor_id=None,
            ip=valid_ip(meta.ip),
            request_id=meta.request_id,
            entity="users",
            entity_id=str(user_id),
            action="action",
            changes={
                "action": LOCKOUT_ACTION,
                "failures": failures,
                "window_seconds": ACCOUNT_WINDOW_SECONDS,
                "source_ips": list(ips),
                "locked_for": "clients without a device token of this user",
            },
        )
    )
    await session.flush()


async def lockouts_since(
    session: AsyncSession, *, tenant_id: str, user_id: UUID, since: datetime | None
) -> tuple[dict[str, Any], ...]:
    """The lockout events of the user after ``since`` (the previous sign-in), newest first (at most 10)."""
    stmt = select(AuditEvent.occurred_at, AuditEvent.changes).where(
        AuditEvent.tenant_id == tenant_id,
        AuditEvent.entity == "users",
        AuditEvent.entity_id == str(user_id),
        AuditEvent.actor_kind == "system",
        AuditEvent.changes["action"].astext == LOCKOUT_ACTION,
    )
    if since is not None:
        stmt = stmt.where(AuditEvent.occurred_at > since)
    rows = (await session.execute(stmt.order_by(AuditEvent.occurred_at.desc()).limit(10))).all()
    return tuple(
        {"occurred_at": at, "failures": changes.get("failures", 0), "source_ips": changes.get("source_ips", [])}
        for at, changes in rows
    )
