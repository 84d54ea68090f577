"""Periodic IPAM work: reclaiming expired DHCP-style leases.

``reclaim_expired_leases`` is a plain function over one tenant's unit of work, idempotent (a lease is
released once; running it again finds nothing), so a job runner may retry it freely. ``ispops ipam
reclaim`` runs it for every tenant, each in its own transaction.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from ispops.db.session import Database
from ispops.models import IpAllocation, IpPool, VpnTunnel
from ispops.tenancy.service import list_tenant_ids


def expired_leases(tenant_id: str, now: dt.datetime) -> tuple[ColumnElement[bool], ...]:
    """The live allocations of the tenant whose lease has ended by ``now`` (what the reclaim releases)."""
    held_by_tunnel = (
        select(VpnTunnel.id)
        .where(
            VpnTunnel.tenant_id == tenant_id,
            VpnTunnel.ip_allocation_id == IpAllocation.id,
            VpnTunnel.deleted_at.is_(None),
        )
        .exists()
    )
    return (
        IpAllocation.tenant_id == tenant_id,
        IpAllocation.status != "released",
        IpAllocation.lease_end <= now,
        ~held_by_tunnel,  # a tunnel's address has no lease; one that has (written by hand) is not taken back
    )


def reclaim_expired_leases(session: Session | Database, tenant_id: str, now: dt.datetime | None = None) -> int:
    """Release every live allocation of the tenant whose ``lease_end`` is at or before ``now``.

    The addresses go back on their pools' free lists and the counters drop, in this transaction (the
    ip_allocations triggers). Pools are locked first, in a fixed order, as releases lock them.
    Returns the number of leases released. Given a ``Database`` instead of a session (as the job
    runner calls tenant jobs), it runs in a unit of work of its own; ``now`` defaults to the clock.
    """
    if isinstance(session, Database):
        with session.tenant(tenant_id, enforce_status=False) as own:
            return reclaim_expired_leases(own, tenant_id, now)
    now = now or dt.datetime.now(dt.UTC)
    expired = expired_leases(tenant_id, now)
    pools = session.scalars(select(IpAllocation.ip_pool_id).where(*expired).distinct()).all()
    if not pools:
        return 0
    session.execute(
        select(IpPool.id)
        .where(IpPool.tenant_id == tenant_id, IpPool.id.in_(pools))
        .order_by(IpPool.id)
        .with_for_update(key_share=True)
    )
    result = session.execute(
        update(IpAllocation).where(*expired).values(status="released", released_at=now),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def reclaim_all(db: Database, now: dt.datetime | None = None) -> dict[str, int]:
    """Reclaim expired leases in every tenant; returns tenant -> leases released (tenants with any)."""
    at = now or dt.datetime.now(dt.UTC)
    done: dict[str, int] = {}
    for tenant_id in list_tenant_ids(db):
        with db.tenant(tenant_id, enforce_status=False) as session:
            count = reclaim_expired_leases(session, tenant_id, at)
        if count:
            done[tenant_id] = count
    return done
