"""IPAM: pools, allocations, reservations, leases.

Keyword-only functions on a synchronous ``Session`` (the API runs them through
``AsyncSession.run_sync``). The caller owns the transaction; nothing here commits.

The database does the allocating (``ipam_allocate``, migrations 0010 and 0018): allocations from a pool
are serialised, the lowest free-list address or the cursor is taken, and the partial unique index on live
allocations is the guarantee against duplicates. Every query also names the tenant (DESIGN.md, Tenancy 3).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import INET, UUID
from sqlalchemy.orm import Session

from ispops.errors import Conflict, NotFound, ValidationFailed
from ispops.ipam.pools import plan_pool, requested_slot
from ispops.models import IpAllocation, IpPool

LIVE_STATUSES = ("allocated", "active", "reserved")
MAX_LEASE_SECONDS = 10 * 366 * 24 * 3600

ALLOCATE = select(IpAllocation).from_statement(
    text(
        "SELECT * FROM ipam_allocate(:tenant, :pool, :ip, :subscriber, :status, :mac, :lease_seconds, :now)"
    ).bindparams(
        bindparam("tenant", type_=String),
        bindparam("pool", type_=UUID(as_uuid=True)),
        bindparam("ip", type_=INET),
        bindparam("subscriber", type_=UUID(as_uuid=True)),
        bindparam("status", type_=String),
        bindparam("mac", type_=String),
        bindparam("lease_seconds"),
        bindparam("now"),
    )
)


def _pool_not_found() -> NotFound:
    return NotFound("ip_pools: no such record", table="ip_pools")


def _allocation_not_found() -> NotFound:
    return NotFound("ip_allocations: no such record", table="ip_allocations")


def _lock_tenant_pools(session: Session, tenant_id: str) -> None:
    """Pool creation and range changes, one at a time per tenant (the ip_pools trigger takes it too)."""
    session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended("ispops.ip_pools:" + tenant_id, 0))))


OVERLAP = text(
    """
    SELECT p.name, p.network_cidr::text, p.start_ip::text, p.end_ip::text, host(p.gateway),
           (ipam_first(p.start_ip) <= ipam_last(:end) AND ipam_last(p.end_ip) >= ipam_first(:start)) AS ranges,
           (p.network_cidr && :net AND p.network_cidr <> :net) AS networks
      FROM ip_pools p
     WHERE p.tenant_id = :tenant AND p.deleted_at IS NULL AND p.id IS DISTINCT FROM :id
       AND ((ipam_first(p.start_ip) <= ipam_last(:end) AND ipam_last(p.end_ip) >= ipam_first(:start))
            OR (p.network_cidr && :net AND p.network_cidr <> :net)
            OR (ipam_first(:gw) >= ipam_first(p.start_ip) AND ipam_first(:gw) <= ipam_last(p.end_ip))
            OR (ipam_first(p.gateway) >= ipam_first(:start) AND ipam_first(p.gateway) <= ipam_last(:end)))
     ORDER BY p.name LIMIT 1
    """
).bindparams(
    bindparam("start", type_=INET),
    bindparam("end", type_=INET),
    bindparam("gw", type_=INET),
    bindparam("net", type_=INET),
    bindparam("id", type_=UUID(as_uuid=True)),
)


def _check_overlap(
    session: Session,
    *,
    tenant_id: str,
    pool_id: uuid.UUID | None,
    network_cidr: str,
    start_ip: str,
    end_ip: str,
    gateway: str | None,
) -> None:
    """409 naming the field, with the pool it collides with (the trigger is the guarantee; this explains)."""
    row = session.execute(
        OVERLAP,
        {"tenant": tenant_id, "id": pool_id, "net": network_cidr, "start": start_ip, "end": end_ip, "gw": gateway},
    ).first()
    if row is None:
        return
    name, net, start, end, gw, ranges, networks = row
    if ranges:
        field, why = "network_cidr", f"its range {start_ip} - {end_ip} overlaps pool {name!r} ({start} - {end})"
    elif networks:
        field, why = "network_cidr", f"{network_cidr} partly overlaps pool {name!r}'s network {net}"
    elif gateway is not None and gw != gateway:
        field, why = "gateway", f"{gateway} is inside pool {name!r} ({start} - {end})"
    else:
        field, why = "network_cidr", f"pool {name!r} has its gateway {gw} inside the range {start_ip} - {end_ip}"
    raise Conflict(f"ip_pools.{field}: {why}", table="ip_pools", field=field)


def create_pool(
    session: Session,
    *,
    tenant_id: str,
    name: str,
    network_cidr: str,
    gateway: str | None = None,
    start_ip: str | None = None,
    end_ip: str | None = None,
    delegated_prefix_length: int | None = None,
    **fields: Any,
) -> IpPool:
    """Create a pool: validated geometry, defaults filled in, no overlap within the tenant.

    ``fields`` are the pool's other columns (description, dns_primary, dns_secondary, pool_type,
    vlan_id, is_active, default_lease_seconds, warning_threshold_percent).
    """
    plan = plan_pool(
        network_cidr=network_cidr,
        gateway=gateway,
        start_ip=start_ip,
        end_ip=end_ip,
        delegated_prefix_length=delegated_prefix_length,
    )
    _lock_tenant_pools(session, tenant_id)
    _check_overlap(
        session,
        tenant_id=tenant_id,
        pool_id=None,
        network_cidr=plan.network_cidr,
        start_ip=plan.start_ip,
        end_ip=plan.end_ip,
        gateway=plan.gateway,
    )
    pool = IpPool(
        tenant_id=tenant_id,
        name=name,
        network_cidr=plan.network_cidr,
        gateway=plan.gateway,
        start_ip=plan.start_ip,
        end_ip=plan.end_ip,
        total_ips=plan.total_ips,
        delegated_prefix_length=plan.delegated_prefix_length,
        **fields,
    )
    session.add(pool)
    session.flush()
    session.refresh(pool)  # next_ip is set by the ip_pools trigger
    return pool


def load_pool(session: Session, *, tenant_id: str, pool_id: uuid.UUID, lock: bool = False) -> IpPool:
    stmt = select(IpPool).where(IpPool.tenant_id == tenant_id, IpPool.id == pool_id, IpPool.deleted_at.is_(None))
    if lock:
        stmt = stmt.with_for_update(key_share=True)
    pool = session.scalars(stmt).first()
    if pool is None:
        raise _pool_not_found()
    return pool


def _why_not(session: Session, *, tenant_id: str, pool_id: uuid.UUID, subscriber_id: uuid.UUID | None) -> Exception:
    """``ipam_allocate`` returned no row: say why (the unhappy path may afford a query)."""
    pool = session.scalars(
        select(IpPool).where(IpPool.tenant_id == tenant_id, IpPool.id == pool_id, IpPool.deleted_at.is_(None))
    ).first()
    if pool is None:
        return _pool_not_found()
    if not pool.is_active:
        return Conflict(f"ip_pools: pool {pool.name!r} is not active", table="ip_pools", field="is_active")
    if pool.pool_type in ("reserved", "vpn") and subscriber_id is not None:
        use = "reserve without a subscriber" if pool.pool_type == "reserved" else "its addresses are for tunnels"
        return Conflict(
            f"ip_pools: pool {pool.name!r} is {pool.pool_type}: its addresses are not handed to subscribers "
            f"({use}, or use a dynamic or static pool)",
            table="ip_pools",
            field="pool_type",
        )
    return Conflict(
        f"ip_pools: pool {pool.name!r} is exhausted ({pool.allocated_ips} of {pool.total_ips} addresses in use)",
        table="ip_pools",
        field="ip_pool_id",
    )


def allocate(
    session: Session,
    *,
    tenant_id: str,
    pool_id: uuid.UUID,
    ip_address: str | None = None,
    subscriber_id: uuid.UUID | None = None,
    mac_address: str | None = None,
    lease_seconds: int | None = None,
    status: str = "allocated",
    now: dt.datetime | None = None,
) -> IpAllocation:
    """Hand out the pool's next free address (or ``ip_address``), optionally to a subscriber.

    ``lease_seconds`` (else the pool's ``default_lease_seconds``, except for reservations) makes it a
    lease ending then; expired leases are reclaimed by ``ispops.ipam.jobs``. Raises 404 for an unknown
    pool, 409 when it is exhausted or inactive (or the address is taken), 422 for an address outside it.
    """
    if status not in LIVE_STATUSES:
        raise ValidationFailed(
            f"ip_allocations.status: one of {', '.join(LIVE_STATUSES)}", table="ip_allocations", field="status"
        )
    if lease_seconds is not None and not 0 < lease_seconds <= MAX_LEASE_SECONDS:
        raise ValidationFailed(
            f"lease_seconds: between 1 and {MAX_LEASE_SECONDS}", table="ip_allocations", field="lease_seconds"
        )
    requested = None
    if ip_address is not None:
        pool = load_pool(session, tenant_id=tenant_id, pool_id=pool_id)
        requested = requested_slot(
            value=ip_address,
            network_cidr=pool.network_cidr,
            start_ip=pool.start_ip,
            end_ip=pool.end_ip,
            delegated_prefix_length=pool.delegated_prefix_length,
            pool=repr(pool.name),
        )
    made: IpAllocation | None = session.scalars(
        ALLOCATE,
        {
            "tenant": tenant_id,
            "pool": pool_id,
            "ip": requested,
            "subscriber": subscriber_id,
            "status": status,
            "mac": mac_address,
            "lease_seconds": lease_seconds,
            "now": now or dt.datetime.now(dt.UTC),
        },
    ).first()
    if made is None:
        raise _why_not(session, tenant_id=tenant_id, pool_id=pool_id, subscriber_id=subscriber_id)
    return made


def reserve(
    session: Session,
    *,
    tenant_id: str,
    pool_id: uuid.UUID,
    ip_address: str | None = None,
    subscriber_id: uuid.UUID | None = None,
    lease_seconds: int | None = None,
    now: dt.datetime | None = None,
) -> IpAllocation:
    """Hold an address (``status = 'reserved'``): not handed out, not provisioned; release to free it."""
    return allocate(
        session,
        tenant_id=tenant_id,
        pool_id=pool_id,
        ip_address=ip_address,
        subscriber_id=subscriber_id,
        lease_seconds=lease_seconds,
        status="reserved",
        now=now,
    )


def _load_live_locked(session: Session, *, tenant_id: str, allocation_id: uuid.UUID) -> IpAllocation:
    """The allocation, locked after its pool (the order ``ipam_allocate`` and the counter lock them in)."""
    pool_id = session.scalar(
        select(IpAllocation.ip_pool_id).where(IpAllocation.tenant_id == tenant_id, IpAllocation.id == allocation_id)
    )
    if pool_id is None:
        raise _allocation_not_found()
    session.execute(
        select(IpPool.id).where(IpPool.tenant_id == tenant_id, IpPool.id == pool_id).with_for_update(key_share=True)
    )
    allocation = session.scalars(
        select(IpAllocation)
        .where(IpAllocation.tenant_id == tenant_id, IpAllocation.id == allocation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if allocation is None:
        raise _allocation_not_found()
    if allocation.status == "released":
        raise Conflict(
            f"ip_allocations: {allocation.ip_address} was already released", table="ip_allocations", field="status"
        )
    return allocation


def release(
    session: Session, *, tenant_id: str, allocation_id: uuid.UUID, now: dt.datetime | None = None
) -> IpAllocation:
    """Give an address back (409 if it already was). The row stays as history."""
    allocation = _load_live_locked(session, tenant_id=tenant_id, allocation_id=allocation_id)
    allocation.status = "released"
    allocation.released_at = now or dt.datetime.now(dt.UTC)
    session.flush()
    return allocation


def renew(
    session: Session,
    *,
    tenant_id: str,
    allocation_id: uuid.UUID,
    lease_seconds: int | None = None,
    now: dt.datetime | None = None,
) -> IpAllocation:
    """Extend a lease to ``now + lease_seconds`` (default: the pool's ``default_lease_seconds``)."""
    allocation = _load_live_locked(session, tenant_id=tenant_id, allocation_id=allocation_id)
    if lease_seconds is None:
        lease_seconds = session.scalar(
            select(IpPool.default_lease_seconds).where(
                IpPool.tenant_id == tenant_id, IpPool.id == allocation.ip_pool_id
            )
        )
    if lease_seconds is None or not 0 < lease_seconds <= MAX_LEASE_SECONDS:
        raise ValidationFailed(
            f"lease_seconds: between 1 and {MAX_LEASE_SECONDS} (the pool has no default lease)",
            table="ip_allocations",
            field="lease_seconds",
        )
    start = now or dt.datetime.now(dt.UTC)
    allocation.lease_start = allocation.lease_start or start
    allocation.lease_end = start + dt.timedelta(seconds=lease_seconds)
    session.flush()
    return allocation


@dataclass(frozen=True)
class Utilisation:
    pool_id: uuid.UUID
    name: str
    total_ips: int
    allocated_ips: int
    available_ips: int
    utilisation_percent: float
    warning_threshold_percent: int
    warning: bool
    by_status: dict[str, int]
    leases_expired: int


def utilisation(session: Session, *, tenant_id: str, pool_id: uuid.UUID, now: dt.datetime | None = None) -> Utilisation:
    """How full a pool is, exactly (the counters), with the live allocations by status."""
    pool = load_pool(session, tenant_id=tenant_id, pool_id=pool_id)
    live = IpAllocation.status != "released"
    rows = session.execute(
        select(IpAllocation.status, func.count())
        .where(IpAllocation.tenant_id == tenant_id, IpAllocation.ip_pool_id == pool_id, live)
        .group_by(IpAllocation.status)
    ).all()
    expired = session.scalar(
        select(func.count()).where(
            IpAllocation.tenant_id == tenant_id,
            IpAllocation.ip_pool_id == pool_id,
            live,
            IpAllocation.lease_end <= (now or dt.datetime.now(dt.UTC)),
        )
    )
    return Utilisation(
        pool_id=pool.id,
        name=pool.name,
        total_ips=pool.total_ips,
        allocated_ips=pool.allocated_ips,
        available_ips=pool.available_ips,
        utilisation_percent=float(pool.utilisation_percent),
        warning_threshold_percent=pool.warning_threshold_percent,
        warning=pool.warning,
        by_status=dict.fromkeys(LIVE_STATUSES, 0) | {str(s): int(n) for s, n in rows},
        leases_expired=int(expired or 0),
    )
