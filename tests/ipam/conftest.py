"""IPAM test helpers: a tenant with subscribers, pools made through the service."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from ispops.db.session import Database
from ispops.ipam import service
from ispops.models import IpAllocation, IpPool
from tests.api.conftest import api_settings, app_client, auth, client  # noqa: F401 (the API fixtures)
from tests.factories import make_tenant

TENANT = "isp-a"
OTHER = "isp-b"


@pytest.fixture
def tenants(db: Database) -> Database:
    """Two tenants, ``isp-a`` and ``isp-b``, with room for many subscribers."""
    make_tenant(db, TENANT)
    make_tenant(db, OTHER)
    with db.platform() as s:
        s.execute(text("update tenants set max_subscribers = 10000"))
    return db


def new_pool(db: Database, tenant: str = TENANT, **fields: Any) -> IpPool:
    fields.setdefault("name", f"pool-{uuid.uuid4().hex[:8]}")
    with db.tenant(tenant) as s:
        return service.create_pool(s, tenant_id=tenant, **fields)


def new_subscriber(db: Database, tenant: str = TENANT, number: str | None = None) -> uuid.UUID:
    with db.tenant(tenant) as s:
        return uuid.UUID(
            str(
                s.execute(
                    text(
                        "insert into subscribers (tenant_id, subscriber_number, service_type, status) "
                        "values (:t, :n, 'ftth', 'active') returning id"
                    ),
                    {"t": tenant, "n": number or f"S-{uuid.uuid4().hex[:8]}"},
                ).scalar_one()
            )
        )


def allocate(db: Database, pool_id: uuid.UUID, tenant: str = TENANT, **kw: Any) -> IpAllocation:
    with db.tenant(tenant) as s:
        return service.allocate(s, tenant_id=tenant, pool_id=pool_id, **kw)


def release(db: Database, allocation_id: uuid.UUID, tenant: str = TENANT, **kw: Any) -> IpAllocation:
    with db.tenant(tenant) as s:
        return service.release(s, tenant_id=tenant, allocation_id=allocation_id, **kw)


def pool_row(admin: psycopg.Connection[Any], pool_id: uuid.UUID) -> dict[str, Any]:
    """The pool as stored, read past RLS, with a recount of its live allocations."""
    cur = admin.execute(
        "select p.*, (select count(*) from ip_allocations a where a.tenant_id = p.tenant_id "
        "and a.ip_pool_id = p.id and a.status <> 'released') as recount from ip_pools p where p.id = %s",
        (pool_id,),
    )
    row = cur.fetchone()
    assert row is not None and cur.description is not None
    return {c.name: _plain(v) for c, v in zip(cur.description, row, strict=True)}


def _plain(value: Any) -> Any:
    """inet values as the API shows them (psycopg loads them as ipaddress objects)."""
    kinds = (
        ipaddress.IPv4Address,
        ipaddress.IPv6Address,
        ipaddress.IPv4Interface,
        ipaddress.IPv6Interface,
        ipaddress.IPv4Network,
        ipaddress.IPv6Network,
    )
    return str(value) if isinstance(value, kinds) else value


def static_ip(admin: psycopg.Connection[Any], subscriber_id: uuid.UUID) -> str | None:
    row = admin.execute("select host(static_ip_address) from subscribers where id = %s", (subscriber_id,)).fetchone()
    assert row is not None
    return None if row[0] is None else str(row[0])
