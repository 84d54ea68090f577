"""available_ips, utilisation_percent and warning: plain columns since migration 0018, exact after every write.

The allocator sets them in its own update of the pool row; every other writer goes through the
``ip_pools_ipam_usage`` trigger. Each test compares the stored values with what the generated columns of
0004/0010 computed, from the row's own counter (itself compared with a recount).
"""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import text

from ispops.db.counters import check_counters
from ispops.db.session import Database
from ispops.ipam import service
from tests.api.conftest import TokenFor
from tests.ipam.conftest import TENANT, allocate, new_pool, pool_row, release


def usage(admin: psycopg.Connection[Any], pool_id: uuid.UUID) -> tuple[int, int, Decimal, bool]:
    """(allocated, available, percent, warning) as stored, after checking them against the definitions."""
    row = pool_row(admin, pool_id)
    allocated, total, threshold = row["allocated_ips"], row["total_ips"], row["warning_threshold_percent"]
    assert allocated == row["recount"]
    percent = (Decimal(allocated * 100) / total).quantize(Decimal("0.01"), ROUND_HALF_UP) if total else Decimal(0)
    expected = (total - allocated, percent, total > 0 and allocated * 100 >= total * threshold)
    assert (row["available_ips"], row["utilisation_percent"], row["warning"]) == expected
    return allocated, row["available_ips"], row["utilisation_percent"], row["warning"]


def test_the_allocator_and_releases_keep_them_exact(tenants: Database, admin: psycopg.Connection[Any]) -> None:
    pool = new_pool(tenants, name="p", network_cidr="10.60.0.0/29", warning_threshold_percent=50)  # .1 - .6
    assert usage(admin, pool.id) == (0, 6, Decimal("0.00"), False)
    made = [allocate(tenants, pool.id) for _ in range(2)]  # the allocator's own update
    assert usage(admin, pool.id) == (2, 4, Decimal("33.33"), False)
    made.append(allocate(tenants, pool.id))
    assert usage(admin, pool.id) == (3, 3, Decimal("50.00"), True)  # the threshold is reached at 50 %
    release(tenants, made[0].id)  # the counter trigger
    assert usage(admin, pool.id) == (2, 4, Decimal("33.33"), False)
    allocate(tenants, pool.id)  # from the free list
    assert usage(admin, pool.id) == (3, 3, Decimal("50.00"), True)
    allocate(tenants, pool.id, ip_address="10.60.0.6")  # a requested address: a plain insert, the triggers
    allocate(tenants, pool.id)
    allocate(tenants, pool.id)
    assert usage(admin, pool.id) == (6, 0, Decimal("100.00"), True)
    with tenants.tenant(TENANT) as s:  # what the ORM reads back is the same
        loaded = service.load_pool(s, tenant_id=TENANT, pool_id=pool.id)
        assert (loaded.available_ips, loaded.utilisation_percent, loaded.warning) == (0, Decimal("100.00"), True)


def test_generic_writes_of_allocations_keep_them_exact(tenants: Database, admin: psycopg.Connection[Any]) -> None:
    pool = new_pool(tenants, name="p", network_cidr="10.61.0.0/28", warning_threshold_percent=10)  # 14 slots
    insert = text(
        "insert into ip_allocations (tenant_id, ip_pool_id, ip_address) values ('isp-a', :p, :ip) returning id"
    )
    with tenants.tenant(TENANT) as s:  # an import: no allocator, the generic counter trigger
        first = s.execute(insert, {"p": pool.id, "ip": "10.61.0.5"}).scalar_one()
        s.execute(insert, {"p": pool.id, "ip": "10.61.0.6"})
    assert usage(admin, pool.id) == (2, 12, Decimal("14.29"), True)
    with tenants.tenant(TENANT) as s:
        s.execute(
            text("update ip_allocations set status = 'released', released_at = now() where id = :a"), {"a": first}
        )
    assert usage(admin, pool.id) == (1, 13, Decimal("7.14"), False)
    with tenants.tenant(TENANT) as s:
        s.execute(text("delete from ip_allocations where ip_pool_id = :p"), {"p": pool.id})
    assert usage(admin, pool.id) == (0, 14, Decimal("0.00"), False)
    _, drifts = check_counters(tenants)
    assert drifts == []


def test_edits_of_the_pool_recompute_them(
    tenants: Database, admin: psycopg.Connection[Any], client: TestClient, auth: TokenFor
) -> None:
    pool = new_pool(tenants, name="p", network_cidr="10.62.0.0/28")  # 14 slots
    for _ in range(7):
        allocate(tenants, pool.id)
    assert usage(admin, pool.id) == (7, 7, Decimal("50.00"), False)
    with tenants.tenant(TENANT) as s:  # through the ORM: the flush reads the new values back
        loaded = service.load_pool(s, tenant_id=TENANT, pool_id=pool.id)
        loaded.warning_threshold_percent = 50
        s.flush()
        assert loaded.warning is True
    assert usage(admin, pool.id) == (7, 7, Decimal("50.00"), True)
    with tenants.tenant(TENANT) as s:  # a larger count of addresses (say, a range edit by hand)
        s.execute(text("update ip_pools set total_ips = 20 where id = :p"), {"p": pool.id})
    assert usage(admin, pool.id) == (7, 13, Decimal("35.00"), False)
    noc = auth(TENANT, "noc_engineer")
    edited = client.patch(f"/api/v1/ip_pools/{pool.id}", json={"warning_threshold_percent": 35}, headers=noc)
    assert edited.status_code == 200, edited.text
    assert (edited.json()["available_ips"], edited.json()["warning"]) == (13, True)
    assert usage(admin, pool.id) == (7, 13, Decimal("35.00"), True)


def test_a_direct_write_of_them_cannot_make_them_wrong(tenants: Database, admin: psycopg.Connection[Any]) -> None:
    pool = new_pool(tenants, name="p", network_cidr="10.63.0.0/29")  # 6 slots
    allocate(tenants, pool.id)
    with tenants.tenant(TENANT) as s:
        s.execute(text("update ip_pools set available_ips = 5 where id = :p"), {"p": pool.id})
        s.execute(
            text("update ip_pools set available_ips = 0, utilisation_percent = 99, warning = true where id = :p"),
            {"p": pool.id},
        )
    assert usage(admin, pool.id) == (1, 5, Decimal("16.67"), False)
    admin.execute("update ip_pools set utilisation_percent = 1, warning = true where id = %s", (pool.id,))
    assert usage(admin, pool.id) == (1, 5, Decimal("16.67"), False)
    with tenants.tenant(TENANT) as s:  # a pool inserted with made-up values gets the real ones
        made = s.execute(
            text(
                "insert into ip_pools (tenant_id, name, network_cidr, start_ip, end_ip, total_ips, available_ips, "
                "utilisation_percent, warning) values ('isp-a', 'q', '10.63.1.0/29', '10.63.1.1', '10.63.1.6', 6, 1, "
                "50, true) returning id"
            )
        ).scalar_one()
    assert usage(admin, made) == (0, 6, Decimal("0.00"), False)


def test_the_allocator_flag_ends_with_its_allocation(tenants: Database, admin: psycopg.Connection[Any]) -> None:
    """Within one transaction, writes after an allocation are counted and recomputed as usual."""
    pool = new_pool(tenants, name="p", network_cidr="10.64.0.0/29")
    with tenants.tenant(TENANT) as s:
        service.allocate(s, tenant_id=TENANT, pool_id=pool.id)
        assert s.execute(text("select current_setting('ispops.ipam_allocator', true)")).scalar() == ""
        s.execute(
            text("insert into ip_allocations (tenant_id, ip_pool_id, ip_address) values ('isp-a', :p, '10.64.0.6')"),
            {"p": pool.id},
        )
        s.execute(text("update ip_pools set warning_threshold_percent = 30 where id = :p"), {"p": pool.id})
    assert usage(admin, pool.id) == (2, 4, Decimal("33.33"), True)


def test_the_allocators_own_update_skips_the_trigger(tenants: Database, admin: psycopg.Connection[Any]) -> None:
    """The point of 0018: no PL/pgSQL call for the allocator's update of the pool row; other writers make one."""
    pool = new_pool(tenants, name="p", network_cidr="10.65.0.0/29")
    calls = "select coalesce(sum(calls), 0) from pg_stat_xact_user_functions where funcname = 'ipam_pool_usage'"
    with admin.transaction():
        admin.execute("set local track_functions = 'pl'")
        admin.execute("select set_config('app.current_tenant_id', %s, true)", (TENANT,))
        admin.execute(
            "select * from ipam_allocate(%s, %s, NULL, NULL, 'allocated', NULL, NULL, now())", (TENANT, pool.id)
        )
        assert admin.execute(calls).fetchone() == (0,)
        admin.execute(
            "select * from ipam_allocate(%s, %s, '10.65.0.5', NULL, 'allocated', NULL, NULL, now())", (TENANT, pool.id)
        )  # a requested address: the generic counter, then the trigger
        assert admin.execute(calls).fetchone() == (1,)
    assert usage(admin, pool.id) == (2, 4, Decimal("33.33"), False)
