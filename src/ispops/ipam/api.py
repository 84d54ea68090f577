"""IPAM over HTTP: validated creation of pools and allocations, and the actions on them.

``/api/v1/ip_pools`` and ``/api/v1/ip_allocations`` are generic resources (``ispops.api.resources``) whose
creation goes through the hooks here; this module adds the actions: allocate, reserve, release, renew,
and a pool's utilisation. Every route filters on the caller's tenant (another tenant's pool or
allocation is a 404), checks a permission from the matrix, and writes an audit event in the same
transaction.

(No ``from __future__ import annotations``: FastAPI reads the route functions' annotations.)
"""

import uuid
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from ispops.api import permissions
from ispops.api.crud import Resource
from ispops.api.schemas import Inet
from ispops.audit.service import record
from ispops.auth.deps import get_db, get_full_principal, get_meta
from ispops.auth.principal import Principal, RequestMeta
from ispops.db.async_session import AsyncDatabase
from ispops.errors import Conflict
from ispops.ipam import service
from ispops.ipam.pools import check_gateway
from ispops.models import IpAllocation, IpPool

LeaseSeconds = Annotated[int, Field(ge=1, le=service.MAX_LEASE_SECONDS, description="lease length in seconds")]


def _tenant(principal: Principal) -> str:
    assert principal.tenant_id is not None  # tenant users only: operators have no permission here
    return str(principal.tenant_id)


# --- hooks for the generic resources -------------------------------------------------------------------


async def create_pool(session: AsyncSession, principal: Principal, body: BaseModel) -> IpPool:
    """POST /api/v1/ip_pools: geometry validated, defaults filled in, no overlap within the tenant."""
    fields = body.model_dump(exclude_unset=True)
    return await session.run_sync(lambda s: service.create_pool(s, tenant_id=_tenant(principal), **fields))


def check_pool_update(pool: Any, changes: dict[str, Any]) -> None:
    """PATCH /api/v1/ip_pools/{id}: a new gateway stays in the network and out of the range.

    (Overlap with another pool's range is refused by the ip_pools trigger: 409.)
    """
    if changes.get("gateway") is not None:
        changes["gateway"] = check_gateway(
            network_cidr=pool.network_cidr, gateway=changes["gateway"], start_ip=pool.start_ip, end_ip=pool.end_ip
        )


async def create_allocation(session: AsyncSession, principal: Principal, body: BaseModel) -> IpAllocation:
    """POST /api/v1/ip_allocations: the same as allocating from the pool (next free or the given address)."""
    fields = body.model_dump(exclude_unset=True)
    return await session.run_sync(
        lambda s: service.allocate(
            s, tenant_id=_tenant(principal), pool_id=fields["ip_pool_id"], ip_address=fields.get("ip_address"),
            subscriber_id=fields.get("subscriber_id"), mac_address=fields.get("mac_address"),
            lease_seconds=fields.get("lease_seconds"), status=fields.get("status") or "allocated",
        )
    )


def check_allocation_update(allocation: Any, changes: dict[str, Any]) -> None:
    """PATCH /api/v1/ip_allocations/{id}: history (released rows) is not edited."""
    if allocation.status == "released" and changes:
        raise Conflict(
            "ip_allocations: a released allocation is history and cannot change", table="ip_allocations",
            field="status",
        )


ALLOCATION_CREATE_EXTRA: dict[str, Any] = {
    "ip_address": (Inet | None, Field(None, description="a free address (or delegated prefix) of the pool; "
                                      "omitted: the pool's next free one")),
    "status": (Literal["allocated", "active", "reserved"], "allocated"),
    "lease_seconds": (LeaseSeconds | None, Field(None, description="a DHCP-style lease ending this long from "
                                                  "now (default: the pool's default_lease_seconds)")),
}
POOL_CREATE_EXTRA: dict[str, Any] = {
    "start_ip": (Inet | None, Field(None, description="first address handed out (default: the first usable "
                                    "address after the gateway)")),
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


Key = Annotated[uuid.UUID, Path(description="the record's id")]
Who = Annotated[Principal, Depends(get_full_principal)]
Db = Annotated[AsyncDatabase, Depends(get_db)]
Meta = Annotated[RequestMeta, Depends(get_meta)]


def build(router: APIRouter, pools: Resource, allocations: Resource) -> None:
    """Register the IPAM action routes (after crud.build has made the resources' schemas)."""
    allocation_read: Any = allocations.read_model
    pools_path, allocations_path = f"/api/v1/{pools.name}", f"/api/v1/{allocations.name}"
    not_found: dict[int | str, dict[str, Any]] = {404: {"description": "not found (or another tenant's)"}}

    async def audit(s: AsyncSession, principal: Principal, meta: RequestMeta, made: IpAllocation, what: str) -> Any:
        await record(
            s, principal=principal, meta=meta, entity=allocations.name, entity_id=str(made.id),
            action="create" if what in ("allocate", "reserve") else "action",
            changes={"action": what, "ip_pool_id": str(made.ip_pool_id), "ip_address": made.ip_address,
                     "subscriber_id": str(made.subscriber_id) if made.subscriber_id else None,
                     "status": made.status, "lease_end": made.lease_end},
        )
        return allocation_read.model_validate(made)

    async def allocate(key: Key, principal: Who, db: Db, meta: Meta, body: AllocateBody | None = None) -> Any:
        permissions.require(principal, allocations.name, "create")
        b = body or AllocateBody()
        async with db.tenant(_tenant(principal), user_id=principal.id) as s:
            made = await s.run_sync(partial(
                service.allocate, tenant_id=_tenant(principal), pool_id=key, ip_address=b.ip_address,
                subscriber_id=b.subscriber_id, mac_address=b.mac_address, lease_seconds=b.lease_seconds,
                status=b.status,
            ))
            return await audit(s, principal, meta, made, "allocate")

    async def reserve(key: Key, principal: Who, db: Db, meta: Meta, body: ReserveBody | None = None) -> Any:
        permissions.require(principal, allocations.name, "create")
        b = body or ReserveBody()
        async with db.tenant(_tenant(principal), user_id=principal.id) as s:
            made = await s.run_sync(partial(
                service.reserve, tenant_id=_tenant(principal), pool_id=key, ip_address=b.ip_address,
                subscriber_id=b.subscriber_id, lease_seconds=b.lease_seconds,
            ))
            return await audit(s, principal, meta, made, "reserve")

    async def utilisation(key: Key, principal: Who, db: Db) -> Any:
        permissions.require(principal, pools.name, "read")
        async with db.tenant(_tenant(principal), user_id=principal.id) as s:
            u = await s.run_sync(partial(service.utilisation, tenant_id=_tenant(principal), pool_id=key))
        return UtilisationRead.model_validate(u, from_attributes=True)

    async def release(key: Key, principal: Who, db: Db, meta: Meta) -> Any:
        permissions.require(principal, allocations.name, "update")
        async with db.tenant(_tenant(principal), user_id=principal.id) as s:
            made = await s.run_sync(partial(service.release, tenant_id=_tenant(principal), allocation_id=key))
            return await audit(s, principal, meta, made, "release")

    async def renew(key: Key, principal: Who, db: Db, meta: Meta, body: RenewBody | None = None) -> Any:
        permissions.require(principal, allocations.name, "update")
        seconds = body.lease_seconds if body else None
        async with db.tenant(_tenant(principal), user_id=principal.id) as s:
            made = await s.run_sync(partial(
                service.renew, tenant_id=_tenant(principal), allocation_id=key, lease_seconds=seconds,
            ))
            return await audit(s, principal, meta, made, "renew")

    conflict: dict[int | str, dict[str, Any]] = {
        409: {"description": "the pool is exhausted, inactive or reserved, or the address is taken"}
    }
    router.add_api_route(
        f"{pools_path}/{{key}}/allocate", allocate, methods=["POST"], response_model=allocation_read, status_code=201,
        tags=["ipam"], summary="Allocate the pool's next free address (or a given one)",
        operation_id="allocate_ip", responses={**not_found, **conflict},
    )
    router.add_api_route(
        f"{pools_path}/{{key}}/reserve", reserve, methods=["POST"], response_model=allocation_read, status_code=201,
        tags=["ipam"], summary="Reserve an address of the pool (held, not provisioned)", operation_id="reserve_ip",
        responses={**not_found, **conflict},
    )
    router.add_api_route(
        f"{pools_path}/{{key}}/utilisation", utilisation, methods=["GET"], response_model=UtilisationRead,
        tags=["ipam"], summary="How full a pool is", operation_id="ip_pool_utilisation", responses=not_found,
    )
    router.add_api_route(
        f"{allocations_path}/{{key}}/release", release, methods=["POST"], response_model=allocation_read, tags=["ipam"],
        summary="Give an address back to its pool", operation_id="release_ip",
        responses={**not_found, 409: {"description": "already released"}},
    )
    router.add_api_route(
        f"{allocations_path}/{{key}}/renew", renew, methods=["POST"], response_model=allocation_read, tags=["ipam"],
        summary="Extend a lease", operation_id="renew_ip_lease",
        responses={**not_found, 409: {"description": "already released"}},
    )
