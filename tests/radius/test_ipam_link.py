"""From IPAM to RADIUS: a static pool's address handed to a subscriber is their Framed-IP-Address."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from ispops.db.session import Database
from ispops.ipam import service as ipam
from tests.radius.test_provisioning import PASSWORD_ROW, PLAN_ROWS, isp, profile, rows, subscriber  # noqa: F401

FRAMED = ("radreply", "Framed-IP-Address", ":=", "198.51.100.10")


def test_a_static_allocation_is_rendered_and_released_in_the_same_transaction(
    db: Database,
    admin: psycopg.Connection[Any],
    isp: str,  # noqa: F811 (the fixture)
) -> None:
    sid = uuid.UUID(subscriber(db, isp, profile(db, isp)))
    with db.tenant(isp) as s:
        pool = ipam.create_pool(
            s,
            tenant_id=isp,
            name="static-biz",
            network_cidr="198.51.100.0/28",
            gateway="198.51.100.1",
            pool_type="static",
        )
        made = ipam.allocate(s, tenant_id=isp, pool_id=pool.id, subscriber_id=sid, ip_address="198.51.100.10")
    assert rows(admin, isp, "alice") == PLAN_ROWS | {PASSWORD_ROW, FRAMED}

    with db.tenant(isp) as s:
        ipam.release(s, tenant_id=isp, allocation_id=made.id)
    assert rows(admin, isp, "alice") == PLAN_ROWS | {PASSWORD_ROW}

    # The next free address of the pool, not a requested one, is rendered the same way.
    with db.tenant(isp) as s:
        nxt = ipam.allocate(s, tenant_id=isp, pool_id=pool.id, subscriber_id=sid)
    assert rows(admin, isp, "alice") == PLAN_ROWS | {
        PASSWORD_ROW,
        ("radreply", "Framed-IP-Address", ":=", str(nxt.ip_address).split("/")[0]),
    }


def test_a_dynamic_pools_address_is_not_a_framed_ip(
    db: Database,
    admin: psycopg.Connection[Any],
    isp: str,  # noqa: F811 (the fixture)
) -> None:
    sid = uuid.UUID(subscriber(db, isp, profile(db, isp)))
    with db.tenant(isp) as s:
        pool = ipam.create_pool(s, tenant_id=isp, name="dhcp", network_cidr="198.51.100.16/28", pool_type="dynamic")
        ipam.allocate(s, tenant_id=isp, pool_id=pool.id, subscriber_id=sid)
    assert rows(admin, isp, "alice") == PLAN_ROWS | {PASSWORD_ROW}  # the NAS or DHCP assigns those
