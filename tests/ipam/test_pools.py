"""Pools: geometry and defaults, bad input naming the field, overlap per tenant, and the database's own rules."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from ispops.db.session import Database
from ispops.errors import Conflict, IspopsError, ValidationFailed
from ispops.ipam.pools import plan_pool
from tests.ipam.conftest import OTHER, TENANT, allocate, new_pool, pool_row, release


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"network_cidr": "10.0.0.0/24", "gateway": "10.0.0.1"}, ("10.0.0.2", "10.0.0.254", 253)),
        ({"network_cidr": "10.0.0.0/24"}, ("10.0.0.1", "10.0.0.254", 254)),
        ({"network_cidr": "10.0.0.0/24", "gateway": "10.0.0.254"}, ("10.0.0.1", "10.0.0.253", 253)),
        # A gateway in the middle: the longer side of it.
        ({"network_cidr": "10.0.0.0/24", "gateway": "10.0.0.100"}, ("10.0.0.101", "10.0.0.254", 154)),
        (
            {"network_cidr": "10.0.0.0/24", "gateway": "10.0.0.1", "start_ip": "10.0.0.50"},
            ("10.0.0.50", "10.0.0.254", 205),
        ),
        ({"network_cidr": "10.0.0.0/24", "gateway": "10.0.0.1", "end_ip": "10.0.0.9"}, ("10.0.0.2", "10.0.0.9", 8)),
        ({"network_cidr": "192.0.2.0/31"}, ("192.0.2.0", "192.0.2.1", 2)),
        ({"network_cidr": "192.0.2.7/32"}, ("192.0.2.7", "192.0.2.7", 1)),
        ({"network_cidr": "2001:db8::/120", "gateway": "2001:db8::1"}, ("2001:db8::2", "2001:db8::ff", 254)),
        (
            {"network_cidr": "2001:db8::/64", "start_ip": "2001:db8::100", "end_ip": "2001:db8::1:0"},
            ("2001:db8::100", "2001:db8::1:0", 0xFF01),
        ),
        # Prefix delegation: /56s out of a /48, /64s out of a /56.
        (
            {"network_cidr": "2001:db8::/48", "delegated_prefix_length": 56},
            ("2001:db8::/56", "2001:db8:0:ff00::/56", 256),
        ),
        (
            {"network_cidr": "2001:db8:aa00::/56", "delegated_prefix_length": 64},
            ("2001:db8:aa00::/64", "2001:db8:aa00:ff::/64", 256),
        ),
        (
            {
                "network_cidr": "2001:db8::/32",
                "delegated_prefix_length": 56,
                "start_ip": "2001:db8:1::/56",
                "end_ip": "2001:db8:1:ff00::",
            },
            ("2001:db8:1::/56", "2001:db8:1:ff00::/56", 256),
        ),
    ],
)
def test_defaults_and_sizes(kwargs: dict[str, Any], expected: tuple[str, str, int]) -> None:
    plan = plan_pool(**kwargs)
    assert (plan.start_ip, plan.end_ip, plan.total_ips) == expected


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"network_cidr": "10.0.0.5/24"}, "network_cidr"),  # host bits set
        ({"network_cidr": "not a network"}, "network_cidr"),
        ({"network_cidr": "10.0.0.0/33"}, "network_cidr"),
        ({"network_cidr": "10.0.0.0/24", "start_ip": "10.0.1.5"}, "start_ip"),
        ({"network_cidr": "10.0.0.0/24", "end_ip": "10.1.0.0"}, "end_ip"),
        ({"network_cidr": "10.0.0.0/24", "start_ip": "10.0.0.9", "end_ip": "10.0.0.8"}, "end_ip"),
        ({"network_cidr": "10.0.0.0/24", "start_ip": "2001:db8::1"}, "start_ip"),
        ({"network_cidr": "10.0.0.0/24", "gateway": "10.9.9.9"}, "gateway"),
        ({"network_cidr": "10.0.0.0/24", "gateway": "banana"}, "gateway"),
        (
            {"network_cidr": "10.0.0.0/24", "gateway": "10.0.0.5", "start_ip": "10.0.0.2", "end_ip": "10.0.0.9"},
            "gateway",
        ),
        ({"network_cidr": "192.0.2.7/32", "gateway": "192.0.2.7"}, "network_cidr"),
        ({"network_cidr": "2001:db8::/64"}, "end_ip"),  # 2^64 - 1 addresses do not fit a bigint counter
        ({"network_cidr": "10.0.0.0/8", "delegated_prefix_length": 24}, "delegated_prefix_length"),
        ({"network_cidr": "2001:db8::/48", "delegated_prefix_length": 48}, "delegated_prefix_length"),
        ({"network_cidr": "2001:db8::/48", "delegated_prefix_length": 72}, "delegated_prefix_length"),
        ({"network_cidr": "2001:db8::/48", "delegated_prefix_length": 56, "start_ip": "2001:db8:0:180::"}, "start_ip"),
        ({"network_cidr": "2001:db8::/48", "delegated_prefix_length": 56, "end_ip": "2001:db8:0:100::/60"}, "end_ip"),
    ],
)
def test_bad_geometry_names_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        plan_pool(**kwargs)
    assert (err.value.table, err.value.field) == ("ip_pools", field), err.value.message
    assert field in err.value.message


def test_created_pool_is_stored_with_its_cursor_and_counters(tenants: Database, admin: psycopg.Connection[Any]) -> None:
    pool = new_pool(
        tenants, name="cgnat", network_cidr="100.64.0.0/22", gateway="100.64.0.1", vlan_id=100, dns_primary="1.1.1.1"
    )
    row = pool_row(admin, pool.id)
    assert (row["start_ip"], row["end_ip"], row["total_ips"]) == ("100.64.0.2", "100.64.3.254", 1021)
    assert (row["allocated_ips"], row["available_ips"], row["next_ip"]) == (0, 1021, "100.64.0.2")
    assert (row["utilisation_percent"], row["warning"], row["warning_threshold_percent"]) == (0, False, 90)
    assert pool.next_ip == "100.64.0.2" and pool.tenant_id == TENANT


def test_overlap_is_refused_within_a_tenant_but_not_across(tenants: Database) -> None:
    new_pool(tenants, name="lan", network_cidr="10.0.0.0/24", gateway="10.0.0.1", end_ip="10.0.0.99")
    # The same subnet with a disjoint range (a static and a dynamic range behind one gateway) is fine.
    new_pool(tenants, name="lan-dynamic", network_cidr="10.0.0.0/24", gateway="10.0.0.1", start_ip="10.0.0.100")
    for kwargs, field, words in [
        ({"network_cidr": "10.0.0.0/24", "start_ip": "10.0.0.50", "end_ip": "10.0.0.60"}, "network_cidr", "'lan'"),
        ({"network_cidr": "10.0.0.128/25"}, "network_cidr", "overlaps"),
        ({"network_cidr": "10.0.0.0/16", "start_ip": "10.0.5.1", "end_ip": "10.0.5.9"}, "network_cidr", "10.0.0.0/24"),
    ]:
        with pytest.raises(Conflict) as err:
            new_pool(tenants, **kwargs)
        assert err.value.field == field and words in err.value.message, err.value.message
    # Another tenant may reuse the same private space.
    other = new_pool(tenants, OTHER, name="lan", network_cidr="10.0.0.0/24", gateway="10.0.0.1")
    assert other.total_ips == 253
    # IPv4 and IPv6 never collide.
    new_pool(tenants, name="v6", network_cidr="2001:db8::/120")


def test_the_database_refuses_overlap_and_a_gateway_in_the_range_on_its_own(tenants: Database) -> None:
    new_pool(tenants, name="a", network_cidr="10.1.0.0/24")
    insert = text(
        "insert into ip_pools (tenant_id, name, network_cidr, gateway, start_ip, end_ip, total_ips) "
        "values ('isp-a', :n, :net, :gw, :s, :e, :total)"
    )
    with pytest.raises(Conflict) as err, tenants.tenant(TENANT) as s:
        s.execute(insert, {"n": "b", "net": "10.1.0.0/25", "gw": None, "s": "10.1.0.1", "e": "10.1.0.9", "total": 9})
    assert (err.value.table, err.value.field) == ("ip_pools", "network_cidr")
    with pytest.raises(ValidationFailed) as bad, tenants.tenant(TENANT) as s:
        s.execute(
            insert, {"n": "c", "net": "10.2.0.0/24", "gw": "10.2.0.5", "s": "10.2.0.1", "e": "10.2.0.9", "total": 9}
        )
    assert (bad.value.table, bad.value.field) == ("ip_pools", "gateway")
    with pytest.raises(ValidationFailed) as pd, tenants.tenant(TENANT) as s:
        s.execute(
            text(
                "insert into ip_pools (tenant_id, name, network_cidr, start_ip, end_ip, total_ips, "
                "delegated_prefix_length) values ('isp-a', 'd', '2001:db8::/48', '2001:db8:0:180::/56', "
                "'2001:db8:0:ff00::/56', 1, 56)"
            )
        )
    assert pd.value.field == "delegated_prefix_length"


def test_concurrent_overlapping_creates_leave_one_pool(tenants: Database) -> None:
    def create(n: int) -> str:
        try:
            new_pool(tenants, name=f"race-{n}", network_cidr=f"10.50.{n}.0/24" if n % 2 else "10.50.0.0/16")
            return "created"
        except IspopsError as exc:
            return type(exc).__name__

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(create, range(6)))
    # The /16 covers every /24: either the /16 won alone, or some /24s won and every /16 lost.
    with tenants.tenant(TENANT) as s:
        made = s.execute(text("select network_cidr::text from ip_pools order by 1")).scalars().all()
    assert outcomes.count("created") == len(made)
    assert set(outcomes) <= {"created", "Conflict"}
    assert made == ["10.50.0.0/16"] or "10.50.0.0/16" not in made


def test_a_pool_with_live_allocations_cannot_be_deleted_or_moved(
    tenants: Database, admin: psycopg.Connection[Any]
) -> None:
    pool = new_pool(tenants, name="p", network_cidr="10.3.0.0/29")
    held = allocate(tenants, pool.id)
    with pytest.raises(Conflict) as err, tenants.tenant(TENANT) as s:
        s.execute(text("update ip_pools set deleted_at = now() where id = :p"), {"p": pool.id})
    assert err.value.table == "ip_pools"
    with pytest.raises(ValidationFailed) as moved, tenants.tenant(TENANT) as s:
        s.execute(text("update ip_pools set end_ip = '10.3.0.5', total_ips = 5 where id = :p"), {"p": pool.id})
    assert moved.value.field == "start_ip"
    release(tenants, held.id)
    with tenants.tenant(TENANT) as s:  # empty now: the range may change (the cursor starts over) ...
        s.execute(text("update ip_pools set end_ip = '10.3.0.5', total_ips = 5 where id = :p"), {"p": pool.id})
    assert pool_row(admin, pool.id)["next_ip"] == "10.3.0.1"
    with tenants.tenant(TENANT) as s:  # ... and it may be deleted; its space is free for a new pool
        s.execute(text("update ip_pools set deleted_at = now() where id = :p"), {"p": pool.id})
    assert new_pool(tenants, name="p2", network_cidr="10.3.0.0/29").total_ips == 6


@pytest.mark.parametrize(
    ("column", "value"), [("default_lease_seconds", 0), ("warning_threshold_percent", 101), ("vlan_id", 4095)]
)
def test_column_rules_name_the_field(tenants: Database, column: str, value: int) -> None:
    pool = new_pool(tenants, name="p", network_cidr="10.4.0.0/29")
    with pytest.raises(ValidationFailed) as err, tenants.tenant(TENANT) as s:
        s.execute(text(f"update ip_pools set {column} = :v where id = :p"), {"v": value, "p": pool.id})
    assert (err.value.table, err.value.field) == ("ip_pools", column)


# 0004's CHECKs on the editable columns are rules of ipam_pool_guard since migration 0018: same field (422) on
# INSERT and on UPDATE, from any writer.
BASE_POOL = {
    "net": "10.6.0.0/24",
    "gw": None,
    "s": "10.6.0.1",
    "e": "10.6.0.9",
    "total": 9,
    "type": "dynamic",
    "vlan": None,
}
MOVED_RULES = [
    ("end_ip", {"e": "10.6.1.9"}, "end_ip = '10.6.1.9'"),  # outside the network
    ("end_ip", {"e": "10.6.0.0"}, "end_ip = '10.6.0.0'"),  # before start_ip
    ("gateway", {"gw": "10.7.0.1"}, "gateway = '10.7.0.1'"),
    ("pool_type", {"type": "bogus"}, "pool_type = 'bogus'"),
    ("start_ip", {"s": "10.5.255.250"}, "start_ip = '10.5.255.250'"),
    ("total_ips", {"total": -1}, "total_ips = -1"),
    ("vlan_id", {"vlan": 0}, "vlan_id = 4095"),
]


@pytest.mark.parametrize(
    ("field", "bad", "assignment"), MOVED_RULES, ids=[f"{r[0]}-{i}" for i, r in enumerate(MOVED_RULES)]
)
def test_moved_check_rules_name_the_field_on_insert_and_update(
    tenants: Database, field: str, bad: dict[str, Any], assignment: str
) -> None:
    insert = text(
        "insert into ip_pools (tenant_id, name, network_cidr, gateway, start_ip, end_ip, total_ips, pool_type, "
        "vlan_id) values ('isp-a', :n, :net, :gw, :s, :e, :total, :type, :vlan) returning id"
    )
    with pytest.raises(ValidationFailed) as inserted, tenants.tenant(TENANT) as s:
        s.execute(insert, {**BASE_POOL, **bad, "n": "bad"})
    assert (inserted.value.table, inserted.value.field) == ("ip_pools", field), inserted.value.message
    with tenants.tenant(TENANT) as s:
        pool_id = s.execute(insert, {**BASE_POOL, "n": "good"}).scalar_one()
    with pytest.raises(ValidationFailed) as updated, tenants.tenant(TENANT) as s:
        s.execute(text(f"update ip_pools set {assignment} where id = :p"), {"p": pool_id})
    assert (updated.value.table, updated.value.field) == ("ip_pools", field), updated.value.message


def test_moved_check_rules_hold_for_every_writer_and_only_allocated_ips_stays_a_check(
    tenants: Database, admin: psycopg.Connection[Any]
) -> None:
    checks = admin.execute(
        "select conname from pg_constraint where conrelid = 'ip_pools'::regclass and contype = 'c'"
    ).fetchall()
    assert checks == [("ck_ip_pools__allocated_ips",)]
    pool = new_pool(tenants, name="p", network_cidr="10.8.0.0/29")
    # The owner (migrations, maintenance) is held to the rules too: a trigger, not an application check.
    with pytest.raises(psycopg.errors.CheckViolation) as err:
        admin.execute("update ip_pools set vlan_id = 9999 where id = %s", (pool.id,))
    assert (err.value.diag.constraint_name, err.value.diag.column_name) == ("ck_ip_pools__vlan_id", "vlan_id")
