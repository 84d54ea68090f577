"""Allocations: next free or requested, reserve and release, exact counters, static addresses, IPv6."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from ispops.db.counters import check_counters
from ispops.db.session import Database
from ispops.errors import Conflict, NotFound, ValidationFailed
from ispops.ipam import service
from tests.ipam.conftest import OTHER, TENANT, allocate, new_pool, new_subscriber, pool_row, release, static_ip


def test_next_free_until_exhausted_then_409_naming_the_pool(tenants: Database, admin: psycopg.Connection[Any]) -> None:
    pool = new_pool(tenants, name="tiny", network_cidr="10.0.0.0/29", gateway="10.0.0.1", warning_threshold_percent=80)
    got = [allocate(tenants, pool.id).ip_address for _ in range(5)]
    assert got == ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
    with pytest.raises(Conflict) as err:
        allocate(tenants, pool.id)
    assert (err.value.table, err.value.field) == ("ip_pools", "ip_pool_id")
    assert "'tiny'" in err.value.message and "exhausted" in err.value.message
    row = pool_row(admin, pool.id)
    assert (row["allocated_ips"], row["available_ips"], row["recount"]) == (5, 0, 5)
    assert (row["utilisation_percent"], row["warning"]) == (100, True)


def test_released_addresses_come_back_lowest_first(tenants: Database, admin: psycopg.Connection[Any]) -> None:
    pool = new_pool(tenants, name="p", network_cidr="10.0.1.0/28")
    made = [allocate(tenants, pool.id) for _ in range(6)]  # .1 - .6
    for index in (4, 1):
        release(tenants, made[index].id)
    row = pool_row(admin, pool.id)
    assert (row["allocated_ips"], row["recount"], row["available_ips"]) == (4, 4, 10)
    assert [allocate(tenants, pool.id).ip_address for _ in range(3)] == ["10.0.1.2", "10.0.1.5", "10.0.1.7"]
    assert pool_row(admin, pool.id)["allocated_ips"] == 7
    # History: a released row stays, and a second release of it is a 409.
    with pytest.raises(Conflict) as err:
        release(tenants, made[1].id)
    assert err.value.field == "status"
    assert admin.execute("select count(*) from ip_allocations where ip_address = '10.0.1.2'").fetchone() == (2,)


def test_requested_address(tenants: Database, admin: psycopg.Connection[Any]) -> None:
    pool = new_pool(tenants, name="req", network_cidr="10.0.2.0/28", gateway="10.0.2.1")
    assert allocate(tenants, pool.id, ip_address="10.0.2.3").ip_address == "10.0.2.3"
    with pytest.raises(Conflict) as taken:
        allocate(tenants, pool.id, ip_address="10.0.2.3")
    assert (taken.value.table, taken.value.field) == ("ip_allocations", "ip_address")
    for outside in ("10.0.2.1", "10.0.2.15", "10.0.3.5", "2001:db8::1", "not-an-ip"):
        with pytest.raises(ValidationFailed) as err:
            allocate(tenants, pool.id, ip_address=outside)
        assert (err.value.table, err.value.field) == ("ip_allocations", "ip_address"), outside
    # The cursor steps over the requested address.
    assert [allocate(tenants, pool.id).ip_address for _ in range(2)] == ["10.0.2.2", "10.0.2.4"]
    assert pool_row(admin, pool.id)["allocated_ips"] == 3


def test_the_database_refuses_an_address_outside_its_pool(tenants: Database) -> None:
    pool = new_pool(tenants, name="p", network_cidr="10.0.3.0/29")
    with pytest.raises(ValidationFailed) as err, tenants.tenant(TENANT) as s:
        s.execute(
            text("insert into ip_allocations (tenant_id, ip_pool_id, ip_address) values ('isp-a', :p, '10.0.9.9')"),
            {"p": pool.id},
        )
    assert (err.value.table, err.value.field) == ("ip_allocations", "ip_address")


def test_reserve_holds_an_address_until_released(tenants: Database, admin: psycopg.Connection[Any]) -> None:
    pool = new_pool(tenants, name="p", network_cidr="10.0.4.0/29")
    with tenants.tenant(TENANT) as s:
        held = service.reserve(s, tenant_id=TENANT, pool_id=pool.id, ip_address="10.0.4.6")
    assert (held.status, held.lease_end) == ("reserved", None)
    assert pool_row(admin, pool.id)["allocated_ips"] == 1
    with pytest.raises(Conflict):
        allocate(tenants, pool.id, ip_address="10.0.4.6")
    release(tenants, held.id)
    assert allocate(tenants, pool.id, ip_address="10.0.4.6").status == "allocated"


def test_inactive_reserved_unknown_and_other_tenants_pools(tenants: Database) -> None:
    inactive = new_pool(tenants, name="off", network_cidr="10.0.5.0/29", is_active=False)
    with pytest.raises(Conflict) as err:
        allocate(tenants, inactive.id)
    assert err.value.field == "is_active"
    kept = new_pool(tenants, name="infra", network_cidr="10.0.6.0/29", pool_type="reserved")
    subscriber = new_subscriber(tenants)
    with pytest.raises(Conflict) as err:
        allocate(tenants, kept.id, subscriber_id=subscriber)
    assert err.value.field == "pool_type"
    with tenants.tenant(TENANT) as s:  # a reservation without a subscriber is what a reserved pool is for
        assert service.reserve(s, tenant_id=TENANT, pool_id=kept.id).ip_address == "10.0.6.1"
    theirs = new_pool(tenants, OTHER, name="theirs", network_cidr="10.0.7.0/29")
    with pytest.raises(NotFound):
        allocate(tenants, theirs.id)
    with pytest.raises(NotFound):
        allocate(tenants, theirs.id, ip_address="10.0.7.1")
    mine = allocate(tenants, new_pool(tenants, name="mine", network_cidr="10.0.8.0/29").id)
    with pytest.raises(NotFound):
        release(tenants, mine.id, tenant=OTHER)
    # A subscriber of another tenant cannot be given an address.
    stranger = new_subscriber(tenants, OTHER)
    with pytest.raises(ValidationFailed) as bad:
        allocate(tenants, mine.ip_pool_id, subscriber_id=stranger)
    assert bad.value.field == "subscriber_id"


def test_static_addresses_follow_the_subscriber(tenants: Database, admin: psycopg.Connection[Any]) -> None:
    static = new_pool(
        tenants, name="business", network_cidr="203.0.113.0/28", gateway="203.0.113.1", pool_type="static"
    )
    dynamic = new_pool(tenants, name="cgnat", network_cidr="100.64.0.0/24")
    sub = new_subscriber(tenants)
    allocate(tenants, dynamic.id, subscriber_id=sub)
    assert static_ip(admin, sub) is None  # dynamic pools do not touch it
    first = allocate(tenants, static.id, subscriber_id=sub)  # the allocator's fast path
    assert static_ip(admin, sub) == first.ip_address == "203.0.113.2"
    second = allocate(tenants, static.id, subscriber_id=sub, ip_address="203.0.113.9")  # a request: the triggers
    assert static_ip(admin, sub) == "203.0.113.9"
    release(tenants, second.id)
    assert static_ip(admin, sub) == "203.0.113.2"  # back to the one it still holds
    with tenants.tenant(TENANT) as s:
        service.reserve(s, tenant_id=TENANT, pool_id=static.id, subscriber_id=sub)
    assert static_ip(admin, sub) == "203.0.113.2"  # a reservation is not provisioned
    release(tenants, first.id)
    assert static_ip(admin, sub) is None
    # Moving a live static allocation to another subscriber moves the address.
    other = new_subscriber(tenants)
    third = allocate(tenants, static.id, subscriber_id=sub)
    with tenants.tenant(TENANT) as s:
        s.execute(text("update ip_allocations set subscriber_id = :o where id = :a"), {"o": other, "a": third.id})
    assert (static_ip(admin, sub), static_ip(admin, other)) == (None, third.ip_address)


def test_prefix_delegation_hands_out_prefixes(tenants: Database, admin: psycopg.Connection[Any]) -> None:
    pd = new_pool(tenants, name="pd", network_cidr="2001:db8:100::/48", delegated_prefix_length=56)
    sub = new_subscriber(tenants)
    assert [allocate(tenants, pd.id, subscriber_id=sub).ip_address for _ in range(2)] == [
        "2001:db8:100::/56",
        "2001:db8:100:100::/56",
    ]
    assert allocate(tenants, pd.id, ip_address="2001:db8:100:500::").ip_address == "2001:db8:100:500::/56"
    assert allocate(tenants, pd.id, ip_address="2001:db8:100:600::/56").ip_address == "2001:db8:100:600::/56"
    for wrong in ("2001:db8:100:180::", "2001:db8:100:700::/64", "2001:db8:200::/56"):
        with pytest.raises(ValidationFailed) as err:
            allocate(tenants, pd.id, ip_address=wrong)
        assert err.value.field == "ip_address", wrong
    row = pool_row(admin, pd.id)
    assert (row["total_ips"], row["allocated_ips"]) == (256, 4)
    assert static_ip(admin, sub) is None  # a delegated prefix is not a Framed-IP-Address
    # IPv6 address pools work like IPv4 ones.
    v6 = new_pool(tenants, name="v6", network_cidr="2001:db8:200::/120", gateway="2001:db8:200::1")
    assert allocate(tenants, v6.id).ip_address == "2001:db8:200::2"


def test_writes_that_bypass_the_allocator_are_stepped_over(tenants: Database, admin: psycopg.Connection[Any]) -> None:
    pool = new_pool(tenants, name="p", network_cidr="10.0.9.0/29")  # .1 - .6
    made = [allocate(tenants, pool.id) for _ in range(6)]
    release(tenants, made[0].id)
    release(tenants, made[3].id)
    with tenants.tenant(TENANT) as s:  # someone takes a free-list address with a plain INSERT
        s.execute(
            text("insert into ip_allocations (tenant_id, ip_pool_id, ip_address) values ('isp-a', :p, '10.0.9.1')"),
            {"p": pool.id},
        )
    assert allocate(tenants, pool.id).ip_address == "10.0.9.4"
    # A free list lost behind the triggers' back: the allocator finds the gap by itself.
    release(tenants, made[1].id)
    admin.execute("delete from ip_pool_free where ip_pool_id = %s", (pool.id,))
    assert allocate(tenants, pool.id).ip_address == "10.0.9.2"
    with pytest.raises(Conflict):
        allocate(tenants, pool.id)
    row = pool_row(admin, pool.id)
    assert row["allocated_ips"] == row["recount"] == 6


def test_counters_stay_exact_through_every_path(tenants: Database, admin: psycopg.Connection[Any]) -> None:
    pool = new_pool(tenants, name="p", network_cidr="10.0.10.0/27")
    subs = [new_subscriber(tenants) for _ in range(3)]
    made = [allocate(tenants, pool.id, subscriber_id=subs[i % 3]) for i in range(10)]
    allocate(tenants, pool.id, ip_address="10.0.10.30")
    with tenants.tenant(TENANT) as s:
        service.reserve(s, tenant_id=TENANT, pool_id=pool.id)
        s.execute(text("update ip_allocations set status = 'active' where id = :a"), {"a": made[0].id})
        s.execute(
            text("update ip_allocations set status = 'released', released_at = now() where id = :a"), {"a": made[1].id}
        )
        s.execute(text("delete from ip_allocations where id = :a"), {"a": made[2].id})
    release(tenants, made[3].id)
    with pytest.raises(RuntimeError), tenants.tenant(TENANT) as s:  # a rolled-back allocation counts nothing
        service.allocate(s, tenant_id=TENANT, pool_id=pool.id)
        raise RuntimeError("the request failed after allocating")
    row = pool_row(admin, pool.id)
    assert row["allocated_ips"] == row["recount"] == 9
    assert row["available_ips"] == 30 - 9
    _, drifts = check_counters(tenants)
    assert drifts == []
    with tenants.tenant(TENANT) as s:
        u = service.utilisation(s, tenant_id=TENANT, pool_id=pool.id)
    assert (u.allocated_ips, u.available_ips, u.utilisation_percent) == (9, 21, 30.0)
    assert u.by_status == {"allocated": 7, "active": 1, "reserved": 1}
