"""DHCP-style leases: a lease ends, renewing moves the end, the periodic reclaim gives expired ones back."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import pytest

from ispops.db.session import Database
from ispops.errors import Conflict, ValidationFailed
from ispops.ipam import service
from ispops.ipam.jobs import reclaim_all, reclaim_expired_leases
from tests.cli.test_cli import cli_env, invoke  # noqa: F401 (cli_env: a fixture)
from tests.ipam.conftest import OTHER, TENANT, allocate, new_pool, new_subscriber, pool_row, release, static_ip

T0 = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


def test_a_lease_has_an_end_and_can_be_renewed(tenants: Database) -> None:
    pool = new_pool(tenants, name="dhcp", network_cidr="10.20.0.0/29", default_lease_seconds=3600)
    short = allocate(tenants, pool.id, lease_seconds=60, now=T0)
    assert (short.lease_start, short.lease_end) == (T0, T0 + dt.timedelta(seconds=60))
    default = allocate(tenants, pool.id, now=T0)
    assert default.lease_end == T0 + dt.timedelta(hours=1)
    with tenants.tenant(TENANT) as s:  # a reservation holds until released unless it asks for a lease
        assert service.reserve(s, tenant_id=TENANT, pool_id=pool.id, now=T0).lease_end is None
        renewed = service.renew(s, tenant_id=TENANT, allocation_id=short.id, now=T0 + dt.timedelta(seconds=50))
    assert renewed.lease_end == T0 + dt.timedelta(seconds=50 + 3600)
    assert renewed.lease_start == T0
    permanent = new_pool(tenants, name="fixed", network_cidr="10.20.1.0/29")
    held = allocate(tenants, permanent.id)
    assert held.lease_end is None
    with pytest.raises(ValidationFailed) as err, tenants.tenant(TENANT) as s:
        service.renew(s, tenant_id=TENANT, allocation_id=held.id)  # no length given, no pool default
    assert err.value.field == "lease_seconds"
    release(tenants, short.id)
    with pytest.raises(Conflict), tenants.tenant(TENANT) as s:
        service.renew(s, tenant_id=TENANT, allocation_id=short.id, lease_seconds=60)
    with pytest.raises(ValidationFailed) as bad:
        allocate(tenants, pool.id, lease_seconds=0)
    assert bad.value.field == "lease_seconds"


def test_reclaim_gives_expired_leases_back(tenants: Database, admin: psycopg.Connection[Any]) -> None:
    pool = new_pool(tenants, name="dhcp", network_cidr="10.21.0.0/29", pool_type="static")  # .1 - .6
    sub = new_subscriber(tenants)
    leased = allocate(tenants, pool.id, subscriber_id=sub, lease_seconds=60, now=T0)
    later = allocate(tenants, pool.id, lease_seconds=600, now=T0)
    forever = allocate(tenants, pool.id)
    assert static_ip(admin, sub) == leased.ip_address
    with tenants.tenant(TENANT) as s:
        assert reclaim_expired_leases(s, TENANT, T0 + dt.timedelta(seconds=59)) == 0
        assert reclaim_expired_leases(s, TENANT, T0 + dt.timedelta(seconds=60)) == 1
    with tenants.tenant(TENANT) as s:  # idempotent: nothing left to do at the same time
        assert reclaim_expired_leases(s, TENANT, T0 + dt.timedelta(seconds=60)) == 0
    row = admin.execute("select status, released_at from ip_allocations where id = %s", (leased.id,)).fetchone()
    assert row == ("released", T0 + dt.timedelta(seconds=60))
    assert static_ip(admin, sub) is None  # a static lease that ends is deprovisioned too
    assert pool_row(admin, pool.id)["allocated_ips"] == 2
    assert allocate(tenants, pool.id).ip_address == leased.ip_address  # back on the free list
    statuses = dict(
        admin.execute("select id, status from ip_allocations where id in (%s, %s)", (later.id, forever.id)).fetchall()
    )
    assert set(statuses.values()) == {"allocated"}


def test_reclaim_is_confined_to_the_tenant_and_runs_for_all(tenants: Database, admin: psycopg.Connection[Any]) -> None:
    mine = new_pool(tenants, name="a", network_cidr="10.22.0.0/29")
    theirs = new_pool(tenants, OTHER, name="b", network_cidr="10.22.0.0/29")
    allocate(tenants, mine.id, lease_seconds=10, now=T0)
    allocate(tenants, theirs.id, OTHER, lease_seconds=10, now=T0)
    with tenants.tenant(TENANT) as s:
        assert reclaim_expired_leases(s, TENANT, T0 + dt.timedelta(minutes=1)) == 1
    assert pool_row(admin, theirs.id)["allocated_ips"] == 1
    # As the job runner calls it: with the Database, in a unit of work of its own.
    assert reclaim_expired_leases(tenants, OTHER, T0 + dt.timedelta(minutes=1)) == 1
    allocate(tenants, mine.id, lease_seconds=10, now=T0)
    allocate(tenants, theirs.id, OTHER, lease_seconds=10, now=T0)
    assert reclaim_all(tenants, T0 + dt.timedelta(minutes=1)) == {TENANT: 1, OTHER: 1}
    assert reclaim_all(tenants, T0 + dt.timedelta(minutes=1)) == {}


@pytest.fixture
def expired_leases(tenants: Database) -> None:
    for tenant in (TENANT, OTHER):
        pool = new_pool(tenants, tenant, name="dhcp", network_cidr="10.23.0.0/29")
        for _ in range(2):
            allocate(tenants, pool.id, tenant, lease_seconds=1, now=T0)


@pytest.mark.usefixtures("cli_env", "expired_leases")
def test_cli_reclaim(admin: psycopg.Connection[Any]) -> None:
    result = invoke("ipam", "reclaim")
    assert result.exit_code == 0, result.output
    assert "isp-a: 2 expired lease(s) released" in result.output
    assert "Reclaimed 4 expired lease(s) in 2 tenant(s)." in result.output
    assert admin.execute("select count(*) from ip_allocations where status <> 'released'").fetchone() == (0,)
    again = invoke("ipam", "reclaim")
    assert again.exit_code == 0 and "Reclaimed 0 expired lease(s) in 0 tenant(s)." in again.output
    assert invoke("ipam", "--help").exit_code == 0
