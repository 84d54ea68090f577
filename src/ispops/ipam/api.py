"""IPAM over HTTP: validated creation of pools and allocations, and the actions on them.

``/api/v1/ip_pools`` and ``/api/v1/ip_allocations`` are generic resources (``RESOURCES``) whose creation
goes through the hooks here; ``register`` adds the actions: allocate, reserve, release, renew, and a
pool's utilisation. Every route filters on the caller's tenant (another tenant's pool or
allocation is a 404), checks a permission from the matrix, and writes an audit event in the same
transaction.

(No ``from __future__ import annotations``: FastAPI reads the route functions' annotations.)
"""

import uuid
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from ispops.api import permissions
from ispops.api.crud import Resource
from ispops.api.schemas import Inet
from ispops.auth.deps import Scope, TenantScope
from ispops.errors import Conflict
from ispops.ipam import service
from ispops.ipam.pools import check_gateway
from ispops.models import IpAllocation, IpPool

LeaseSeconds = Annotated[int, Field(ge=1, le=service.MAX_LEASE_SECONDS, description="lease length in seconds")]


# --- hooks for the generic resources -------------------------------------------------------------------


async def create_pool(session: AsyncSession, tenant_id: str, body: BaseModel) -> IpPool:
    """POST /api/v1/ip_pools: geometry validated, defaults filled in, no overlap within the tenant."""
    fields = body.model_dump(exclude_unset=True)
    return await session.run_sync(lambda s: service.create_pool(s, tenant_id=tenant_id, **fields))


def check_pool_update(pool: Any, changes: dict[str, Any]) -> None:
    """PATCH /api/v1/ip_pools/{id}: a new gateway stays in the network and out of the range.

    (Overlap with another pool's range is refused by the ip_pools trigger: 409.)
    """
    if changes.get("gateway") is not None:
        changes["gateway"] = check_gateway(
            network_cidr=pool.network_cidr, gateway=changes["gateway"], start_ip=pool.start_ip, end_ip=pool.end_ip
        )


async def create_allocation(session: AsyncSession, tenant_id: str, body: BaseModel) -> IpAllocation:
    """POST /api/v1/ip_allocations: the same as allocating from the pool (next free or the given address)."""
    fields = body.model_dump(exclude_unset=True)
    return await session.run_sync(
        lambda s: service.allocate(
            s,
            tenant_id=tenant_id,
            pool_id=fields["ip_pool_id"],
            ip_address=fields.get("ip_address"),
            subscriber_id=fields.get("subscriber_id"),
            mac_address=fields.get("mac_address"),
            lease_seconds=fields.get("lease_seconds"),
            status=fields.get("status") or "allocated",
        )
    )


def check_allocation_update(allocation: Any, changes: dict[str, Any]) -> None:
    """PATCH /api/v1/ip_allocations/{id}: history (released rows) is not edited."""
    if allocation.status == "released" and changes:
        raise Conflict(
            "ip_allocations: a released allocation is history and cannot change",
            table="ip_allocations",
            field="status",
        )


ALLOCATION_CREATE_EXTRA: dict[str, Any] = {
    "ip_address": (
        Inet | None,
        Field(None, description="a free address (or delegated prefix) of the pool; omitted: the pool's next free one"),
    ),
    "status": (Literal["allocated", "active", "reserved"], "allocated"),
    "lease_seconds": (
        LeaseSeconds | None,
        Field(
            None, description="a DHCP-style lease ending this long from now (default: the pool's default_lease_seconds)"
        ),
    ),
}
POOL_CREATE_EXTRA: dict[str, Any] = {
    "start_ip": (
        Inet | None,
        Field(None, description="first address handed out (default: the first usable address after the gateway)"),
    ),
    "end_ip": (Inet | None, Field(None, description="last address handed out (default: the last usable one)")),
}


# --- action routes -----------------------------------------------------------------------------------------


class AllocateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ip_address: Inet | None = Field(None, description="this address (or delegated prefix); default: the next free")
    subscriber_id: uuid.UUID | None = None
    mac_address: str | None = Field(None, max_length=17, description="aa:bb:cc:dd:ee:ff")
    lease_seconds: LeaseSeconds | None = Field(None, description="default: the pool's default_lease_seconds")
    status: Literal["allocated", "active"] = "allocated"


class ReserveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ip_address: Inet | None = Field(None, description="this address (or delegated prefix); default: the next free")
    subscriber_id: uuid.UUID | None = Field(None, description="who it is held for (not provisioned until allocated)")
    lease_seconds: LeaseSeconds | None = Field(None, description="hold it this long only (default: until released)")


class RenewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease_seconds: LeaseSeconds | None = Field(None, description="default: the pool's default_lease_seconds")


class UtilisationRead(BaseModel):
    pool_id: uuid.UUID
    name: str
    total_ips: int
    allocated_ips: int
    available_ips: int
    utilisation_percent: float
    warning_threshold_percent: int
    warning: bool = Field(description="utilisation_percent has reached warning_threshold_percent")
    by_status: dict[str, int] = Field(description="live allocations by status")
    leases_expired: int = Field(description="leases past their end, not yet reclaimed")


POOLS = Resource(
    "ip_pools",
    IpPool,
    tag="ipam",
    filters=("pool_type", "is_active", "name", "vlan_id", "warning"),
    search=("name", "description"),
    sort=("created_at", "name", "utilisation_percent"),
    # counters and what the database derives from them (migration 0018: maintained, no longer generated)
    read_only=frozenset({"allocated_ips", "total_ips", "next_ip", "available_ips", "utilisation_percent", "warning"}),
    create_only=frozenset({"network_cidr", "start_ip", "end_ip", "delegated_prefix_length"}),
    create_hook=create_pool,
    update_check=check_pool_update,
    create_extra=POOL_CREATE_EXTRA,
)
# Allocations are history: released, never deleted.
ALLOCATIONS = Resource(
    "ip_allocations",
    IpAllocation,
    tag="ipam",
    verbs=frozenset({"list", "get", "create", "update"}),
    filters=("ip_pool_id", "subscriber_id", "status", "ip_address"),
    search=("ip_address", "mac_address"),
    sort=("allocated_at", "ip_address", "created_at", "lease_end"),
    default_sort="-allocated_at",
    read_only=frozenset({"status", "lease_start", "lease_end", "allocated_at", "released_at"}),
    create_only=frozenset({"ip_pool_id", "ip_address"}),
    create_hook=create_allocation,
    update_check=check_allocation_update,
    create_extra=ALLOCATION_CREATE_EXTRA,
)
RESOURCES: list[Resource] = [POOLS, ALLOCATIONS]

Key = Annotated[uuid.UUID, Path(description="the record's id")]


def register(router: APIRouter) -> None:
    """The IPAM action routes."""
    pools, allocations = POOLS, ALLOCATIONS
    allocation_read: Any = allocations.read_model
    pools_path, allocations_path = f"/api/v1/{pools.name}", f"/api/v1/{allocations.name}"
    not_found: dict[int | str, dict[str, Any]] = {404: {"description": "not found (or another tenant's)"}}

    async def audit(s: AsyncSession, scope: TenantScope, made: IpAllocation, what: str) -> Any:
        action = "create" if what in ("allocate", "reserve") else "action"
        changes = {
            "action": what,
            "ip_pool_id": str(made.ip_pool_id),
            "ip_address": made.ip_address,
            "subscriber_id": str(made.subscriber_id) if made.subscriber_id else None,
            "status": made.status,
            "lease_end": made.lease_end,
        }
        scope.audit(s, allocations.name, made.id, action, changes)
        return allocation_read.model_validate(made)

    async def allocate(key: Key, scope: Scope, body: AllocateBody | None = None) -> Any:
        permissions.require(scope.principal, allocations.name, "create")
        b = body or AllocateBody()
        async with scope.session() as s:
            made = await s.run_sync(
                partial(
                    service.allocate,
                    tenant_id=scope.tenant_id,
                    pool_id=key,
                    ip_address=b.ip_address,
                    subscriber_id=b.subscriber_id,
                    mac_address=b.mac_address,
                    lease_seconds=b.lease_seconds,
                    status=b.status,
                )
            )
            return await audit(s, scope, made, "allocate")

    async def reserve(key: Key, scope: Scope, body: ReserveBody | None = None) -> Any:
        permissions.require(scope.principal, allocations.name, "create")
        b = body or ReserveBody()
        async with scope.session() as s:
            made = await s.run_sync(
                partial(
                    service.reserve,
                    tenant_id=scope.tenant_id,
                    pool_id=key,
                    ip_address=b.ip_address,
                    subscriber_id=b.subscriber_id,
                    lease_seconds=b.lease_seconds,
                )
            )
            return await audit(s, scope, made, "reserve")

    async def utilisation(key: Key, scope: Scope) -> Any:
        permissions.require(scope.principal, pools.name, "read")
        async with scope.session() as s:
            u = await s.run_sync(partial(service.utilisation, tenant_id=scope.tenant_id, pool_id=key))
        return UtilisationRead.model_validate(u, from_attributes=True)

    async def release(key: Key, scope: Scope) -> Any:
        permissions.require(scope.principal, allocations.name, "update")
        async with scope.session() as s:
            made = await s.run_sync(partial(service.release, tenant_id=scope.tenant_id, allocation_id=key))
            return await audit(s, scope, made, "release")

    async def renew(key: Key, scope: Scope, body: RenewBody | None = None) -> Any:
        permissions.require(scope.principal, allocations.name, "update")
        seconds = body.lease_seconds if body else None
        async with scope.session() as s:
            made = await s.run_sync(
                partial(
                    service.renew,
                    tenant_id=scope.tenant_id,
                    allocation_id=key,
                    lease_seconds=seconds,
                )
            )
            return await audit(s, scope, made, "renew")

    conflict: dict[int | str, dict[str, Any]] = {
        409: {"description": "the pool is exhausted, inactive or reserved, or the address is taken"}
    }
    router.add_api_route(
        f"{pools_path}/{{key}}/allocate",
        allocate,
        methods=["POST"],
        response_model=allocation_read,
        status_code=201,
        tags=["ipam"],
        summary="Allocate the pool's next free address (or a given one)",
        operation_id="allocate_ip",
        responses={**not_found, **conflict},
    )
    router.add_api_route(
        f"{pools_path}/{{key}}/reserve",
        reserve,
        methods=["POST"],
        response_model=allocation_read,
        status_code=201,
        tags=["ipam"],
        summary="Reserve an address of the pool (held, not provisioned)",
        operation_id="reserve_ip",
        responses={**not_found, **conflict},
    )
    router.add_api_route(
        f"{pools_path}/{{key}}/utilisation",
        utilisation,
        methods=["GET"],
        response_model=UtilisationRead,
        tags=["ipam"],
        summary="How full a pool is",
        operation_id="ip_pool_utilisation",
        responses=not_found,
    )
    router.add_api_route(
        f"{allocations_path}/{{key}}/release",
        release,
        methods=["POST"],
        response_model=allocation_read,
        tags=["ipam"],
        summary="Give an address back to its pool",
        operation_id="release_ip",
        responses={**not_found, 409: {"description": "already released"}},
    )
    router.add_api_route(
        f"{allocations_path}/{{key}}/renew",
        renew,
        methods=["POST"],
        response_model=allocation_read,
        tags=["ipam"],
        summary="Extend a lease",
        operation_id="renew_ip_lease",
        responses={**not_found, 409: {"description": "already released"}},
    )
