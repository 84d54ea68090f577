"""Tunnel addresses come from the tenant's IPAM pools, through ``ispops.ipam.service``.

A tunnel's address is an ordinary allocation (no subscriber), so the pool counters, utilisation, the
free list and the "never a duplicate" unique index (``uq_ip_allocations__tenant_id__ip_address``) all
cover it. The pool's network is the tunnel network (the peer's AllowedIPs) and its gateway is the hub's
address inside it. Release is done by the database (migration 0012's trigger on ``vpn_tunnels``,
whichever path deletes the tunnel); the IPAM triggers put the address back on the pool's free list.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ispops.errors import Conflict, IspopsError, ValidationFailed
from ispops.ipam import service as ipam
from ispops.models import IpPool, VpnTunnel

# Tunnels made before their addresses came from IPAM hold addresses the pool does not know about;
# the allocator adopts such an address for the tunnel holding it and tries the next one.
MAX_ADOPTIONS = 1000
MAX_NAMED = 5  # pools named in an error

_POOL_FOR_IP = text(
    "select id from ip_pools where tenant_id = :t and deleted_at is null and is_active "
    "and family(start_ip) = family(cast(:ip as inet)) "
    "and start_ip <= cast(:ip as inet) and end_ip >= cast(:ip as inet) "
    "order by masklen(network_cidr) desc limit 1"
)


@dataclass(frozen=True)
class TunnelAddress:
    allocation_id: uuid.UUID
    ip: str
    network: str  # the pool's network: the tunnel network
    gateway: str | None  # the hub's address in it


def pool_containing(session: Session, tenant_id: Any, ip: str) -> uuid.UUID:
    pool_id = session.scalar(_POOL_FOR_IP, {"t": tenant_id, "ip": ip})
    if pool_id is None:
        raise ValidationFailed(
            f"vpn_tunnels.vpn_ip: {ip} is not inside an active IP pool of this tenant; give ip_pool_id",
            table="vpn_tunnels",
            field="vpn_ip",
        )
    return uuid.UUID(str(pool_id))


def vpn_pool(session: Session, tenant_id: Any) -> uuid.UUID:
    """The tenant's one active ``vpn`` pool (migration 0023), for a tunnel request naming no pool: 422 naming
    ``ip_pool_id`` when there is none, or several to choose from."""
    pools = session.execute(
        select(IpPool.id, IpPool.name)
        .where(
            IpPool.tenant_id == tenant_id,
            IpPool.pool_type == "vpn",
            IpPool.is_active,
            IpPool.deleted_at.is_(None),
            IpPool.delegated_prefix_length.is_(None),
        )
        .order_by(IpPool.name)
        .limit(MAX_NAMED + 1)
    ).all()
    if len(pools) == 1:
        return uuid.UUID(str(pools[0].id))
    if not pools:
        why = "this tenant has no active pool of type vpn: give the pool to allocate from (or vpn_ip inside one)"
    else:
        names = ", ".join(p.name for p in pools[:MAX_NAMED]) + (", ..." if len(pools) > MAX_NAMED else "")
        why = f"this tenant has several active vpn pools ({names}): give the one to allocate from"
    raise ValidationFailed(f"vpn_tunnels.ip_pool_id: {why}", table="vpn_tunnels", field="ip_pool_id")


def _as_vpn_ip(exc: IspopsError) -> IspopsError:
    """IPAM names its own field (``ip_address``); the client sent ``vpn_ip``."""
    if exc.field == "ip_address":
        message = exc.message.replace("ip_allocations.ip_address", "vpn_tunnels.vpn_ip")
        return type(exc)(message, table="vpn_tunnels", field="vpn_ip")
    return exc


def allocate(session: Session, tenant_id: Any, pool_id: uuid.UUID, requested: str | None = None) -> TunnelAddress:
    """The requested address, or the next free one, of the pool: 422 unknown pool (``ip_pool_id``), 422 outside it,
    409 taken or exhausted (naming ``vpn_ip`` or ``ip_pool_id``)."""
    pool = session.scalars(
        select(IpPool).where(IpPool.tenant_id == tenant_id, IpPool.id == pool_id, IpPool.deleted_at.is_(None))
    ).first()
    if pool is None:  # a reference in the request body, like device_id: 422 naming it (not 404 for the URL)
        raise ValidationFailed(
            "vpn_tunnels.ip_pool_id: refers to a record that does not exist", table="vpn_tunnels", field="ip_pool_id"
        )
    if pool.delegated_prefix_length is not None:
        raise ValidationFailed(
            "ip_pool_id: a prefix-delegation pool cannot address tunnels", table="vpn_tunnels", field="ip_pool_id"
        )

    def holder_of(ip: str) -> VpnTunnel | None:
        return session.scalars(
            select(VpnTunnel).where(
                VpnTunnel.tenant_id == tenant_id, VpnTunnel.vpn_ip == ip, VpnTunnel.deleted_at.is_(None)
            )
        ).first()

    if requested is not None and (holder := holder_of(requested)) is not None:
        raise Conflict(
            f"vpn_tunnels.vpn_ip: {requested} is held by tunnel {holder.tunnel_name}",
            table="vpn_tunnels",
            field="vpn_ip",
        )
    for _ in range(MAX_ADOPTIONS):
        try:
            made = ipam.allocate(session, tenant_id=str(tenant_id), pool_id=pool_id, ip_address=requested)
        except IspopsError as exc:
            raise _as_vpn_ip(exc) from exc
        if made.lease_end is not None:  # the pool's default lease is for subscribers: a tunnel holds its address
            made.lease_start = made.lease_end = None
            session.flush()
        ip = str(made.ip_address).split("/")[0]
        holder = holder_of(ip)
        if holder is None:
            gateway = str(pool.gateway).split("/")[0] if pool.gateway else None
            return TunnelAddress(made.id, ip, str(pool.network_cidr), gateway)
        if holder.ip_allocation_id is not None:  # inconsistent data: refuse (the request rolls back)
            raise Conflict(
                f"vpn_tunnels.vpn_ip: {ip} is held by tunnel {holder.tunnel_name}", table="vpn_tunnels", field="vpn_ip"
            )
        holder.ip_allocation_id = made.id  # adopt: the legacy tunnel's address is accounted for now
        session.flush()
    raise Conflict(f"ip_pools: no address of pool {pool.name} could be used", table="ip_pools", field="ip_pool_id")
