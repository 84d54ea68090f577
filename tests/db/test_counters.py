"""Derived counters (errata 11): kept in the same transaction, exact under concurrency, checkable."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from ispops.db.counters import check_counters
from ispops.db.session import Database
from ispops.errors import Conflict, QuotaExceeded, ValidationFailed
from tests.factories import make_tenant, populate


def tenant_counters(admin: psycopg.Connection[Any], tenant: str) -> dict[str, int]:
    row = admin.execute(
        "select current_subscribers, current_users, current_olts, current_routers, current_wireless_aps "
        "from tenants where id = %s",
        (tenant,),
    ).fetchone()
    assert row is not None
    return dict(zip(["subscribers", "users", "olts", "routers", "aps"], row, strict=True))


def one(admin: psycopg.Connection[Any], sql: str, *args: object) -> Any:
    row = admin.execute(sql, args).fetchone()
    assert row is not None
    return row[0]


def add_subscriber(db: Database, tenant: str, number: str, status: str = "active") -> str:
    with db.tenant(tenant) as s:
        return str(
            s.execute(
                text(
                    "insert into subscribers (tenant_id, subscriber_number, service_type, status) "
                    "values (:t, :n, 'ftth', :s) returning id"
                ),
                {"t": tenant, "n": number, "s": status},
            ).scalar_one()
        )


def test_subscriber_counter_follows_status_soft_and_hard_delete(db: Database, admin: psycopg.Connection[Any]) -> None:
    make_tenant(db, "isp-a")
    ids = [add_subscriber(db, "isp-a", f"S-{i}") for i in range(3)]
    add_subscriber(db, "isp-a", "S-pending", status="pending")
    assert tenant_counters(admin, "isp-a")["subscribers"] == 4
    with db.tenant("isp-a") as s:
        s.execute(text("update subscribers set status = 'terminated' where id = :i"), {"i": ids[0]})
        s.execute(text("update subscribers set deleted_at = now() where id = :i"), {"i": ids[1]})
    assert tenant_counters(admin, "isp-a")["subscribers"] == 2
    with db.tenant("isp-a") as s:
        s.execute(text("update subscribers set deleted_at = null where id = :i"), {"i": ids[1]})
        s.execute(text("delete from subscribers where id = :i"), {"i": ids[2]})
    assert tenant_counters(admin, "isp-a")["subscribers"] == 2


def test_a_rolled_back_change_leaves_counters_alone(db: Database, admin: psycopg.Connection[Any]) -> None:
    make_tenant(db, "isp-a")
    add_subscriber(db, "isp-a", "S-1")
    with pytest.raises(RuntimeError), db.tenant("isp-a") as s:
        s.execute(
            text("insert into subscribers (tenant_id, subscriber_number, service_type) values ('isp-a', 'S-2', 'ftth')")
        )
        raise RuntimeError("request failed after the insert")
    assert tenant_counters(admin, "isp-a")["subscribers"] == 1


def test_plant_counters(db: Database, admin: psycopg.Connection[Any]) -> None:
    ids = populate(db, "isp-a", 1)
    counts = tenant_counters(admin, "isp-a")
    assert counts == {"subscribers": 1, "users": 1, "olts": 1, "routers": 0, "aps": 0}
    assert one(admin, "select active_onus from olts where id = %s", ids["olts"]) == 1
    assert one(admin, "select ports_used from splitters where id = %s", ids["splitters"]) == 1
    assert one(admin, "select allocated_ips, available_ips from ip_pools where id = %s", ids["ip_pools"]) == 1
    assert one(admin, "select available_ips from ip_pools where id = %s", ids["ip_pools"]) == 190
    assert one(admin, "select current_subscribers from wireless_sectors where id = %s", ids["wireless_sectors"]) == 1

    with db.tenant("isp-a") as s:
        s.execute(text("update devices set device_type = 'router'"))
        s.execute(
            text(
                "insert into devices (tenant_id, name, device_type) values "
                "('isp-a', 'ap-1', 'wireless_ap'), ('isp-a', 'ap-2', 'wireless_ap')"
            )
        )
        s.execute(text("update onus set status = 'offline'"))
        s.execute(text("update ip_allocations set status = 'released', released_at = now()"))
        s.execute(text("update wireless_subscribers set deleted_at = now()"))
    assert tenant_counters(admin, "isp-a")["routers"] == 1
    assert tenant_counters(admin, "isp-a")["aps"] == 2
    assert one(admin, "select active_onus from olts where id = %s", ids["olts"]) == 0
    assert one(admin, "select available_ips from ip_pools where id = %s", ids["ip_pools"]) == 191
    assert one(admin, "select current_subscribers from wireless_sectors where id = %s", ids["wireless_sectors"]) == 0


def test_moving_an_onu_moves_the_count(db: Database, admin: psycopg.Connection[Any]) -> None:
    ids = populate(db, "isp-a", 1)
    with db.tenant("isp-a") as s:
        dev = s.execute(
            text("insert into devices (tenant_id, name, device_type) values ('isp-a', 'olt-2', 'olt') returning id")
        ).scalar()
        olt2 = s.execute(
            text("insert into olts (tenant_id, device_id) values ('isp-a', :d) returning id"), {"d": dev}
        ).scalar()
        s.execute(text("update onus set olt_id = :o"), {"o": olt2})
    assert one(admin, "select active_onus from olts where id = %s", ids["olts"]) == 0
    assert one(admin, "select active_onus from olts where id = %s", str(olt2)) == 1
    assert tenant_counters(admin, "isp-a")["olts"] == 2


def test_a_full_splitter_refuses_another_onu(db: Database) -> None:
    populate(db, "isp-a", 1)
    with db.tenant("isp-a") as s:
        s.execute(text("update splitters set split_ratio = '1x2'"))
        s.execute(
            text(
                "insert into onus (tenant_id, olt_id, splitter_id, splitter_port, serial_number, pon_port, onu_id) "
                "select tenant_id, olt_id, splitter_id, 2, 'SN-2', 0, 2 from onus"
            )
        )
    # Without a port an ONU takes the lowest free one (migration 0028): there is none left.
    with pytest.raises(Conflict) as err, db.tenant("isp-a") as s:
        s.execute(
            text(
                "insert into onus (tenant_id, olt_id, splitter_id, splitter_port, serial_number, pon_port, onu_id) "
                "select tenant_id, olt_id, splitter_id, null, 'SN-3', 0, 3 from onus limit 1"
            )
        )
    assert (err.value.table, err.value.field) == ("onus", "splitter_port")
    assert "no free output port" in err.value.message


def test_counters_stay_exact_under_concurrent_inserts(db: Database, admin: psycopg.Connection[Any]) -> None:
    make_tenant(db, "isp-a")
    make_tenant(db, "isp-b")

    def worker(n: int) -> None:
        tenant = "isp-a" if n % 2 else "isp-b"
        for i in range(15):
            add_subscriber(db, tenant, f"S-{n}-{i}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(worker, range(8)))
    assert tenant_counters(admin, "isp-a")["subscribers"] == 60
    assert tenant_counters(admin, "isp-b")["subscribers"] == 60


def test_check_finds_no_drift_then_finds_the_one_we_make(db: Database, admin: psycopg.Connection[Any]) -> None:
    populate(db, "isp-a", 1)
    populate(db, "isp-b", 2)
    sources, drifts = check_counters(db)
    assert drifts == []
    assert {(s.target, s.column) for s in sources} >= {
        ("tenants", "current_subscribers"),
        ("tenants", "current_users"),
        ("olts", "active_onus"),
        ("splitters", "ports_used"),
        ("ip_pools", "allocated_ips"),
        ("wireless_sectors", "current_subscribers"),
    }
    admin.execute("update tenants set current_subscribers = 7 where id = 'isp-b'")
    admin.execute("update olts set active_onus = 5 where tenant_id = 'isp-a'")
    _, drifts = check_counters(db)
    found = {(d.tenant_id, d.table, d.column, d.stored, d.actual) for d in drifts}
    assert found == {
        ("isp-b", "tenants", "current_subscribers", 7, 1),
        ("isp-a", "olts", "active_onus", 5, 1),
    }


def test_quota_is_enforced_exactly_under_concurrent_creates(db: Database, admin: psycopg.Connection[Any]) -> None:
    make_tenant(db, "isp-a")
    admin.execute("update tenants set max_subscribers = 10 where id = 'isp-a'")
    outcomes: list[str] = []

    def worker(n: int) -> None:
        for i in range(4):
            try:
                add_subscriber(db, "isp-a", f"S-{n}-{i}")
                outcomes.append("ok")
            except QuotaExceeded as exc:
                outcomes.append(f"quota:{exc.field}:{'max_subscribers' in exc.message}")

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(worker, range(6)))
    assert outcomes.count("ok") == 10 and outcomes.count("quota:max_subscribers:True") == 14
    assert one(admin, "select count(*) from subscribers where tenant_id = 'isp-a'") == 10
    assert tenant_counters(admin, "isp-a")["subscribers"] == 10
    # Lowering a limit below current use is allowed; only growth is refused.
    admin.execute("update tenants set max_subscribers = 5 where id = 'isp-a'")
    # Which ten creates won the race is up to the scheduler: terminate one of those that exist.
    winner = one(
        admin, "select subscriber_number from subscribers where tenant_id = 'isp-a' order by subscriber_number limit 1"
    )
    with db.tenant("isp-a") as s:
        done = s.execute(
            text("update subscribers set status = 'terminated' where subscriber_number = :n"), {"n": winner}
        )
        assert done.rowcount == 1  # type: ignore[attr-defined]
    assert tenant_counters(admin, "isp-a")["subscribers"] == 9


def test_a_splitter_port_holds_one_thing_and_exists(db: Database) -> None:
    populate(db, "isp-a", 1)  # an ONU on port 1 of SPL-1 (1x8)
    child = (
        "insert into splitters (tenant_id, olt_id, name, split_ratio, parent_splitter_id, parent_output_port) "
        "select tenant_id, olt_id, :name, '1x4', id, :port from splitters where name = 'SPL-1'"
    )
    with pytest.raises(Conflict) as taken, db.tenant("isp-a") as s:
        s.execute(text(child), {"name": "NAP-1", "port": 1})
    assert (taken.value.table, taken.value.field) == ("splitters", "parent_output_port")
    with pytest.raises(ValidationFailed) as missing, db.tenant("isp-a") as s:
        s.execute(text(child), {"name": "NAP-1", "port": 9})
    assert (missing.value.table, missing.value.field) == ("splitters", "parent_output_port")
    with db.tenant("isp-a") as s:
        s.execute(text(child), {"name": "NAP-2", "port": 2})
    with pytest.raises(Conflict) as onu, db.tenant("isp-a") as s:
        s.execute(text("update onus set splitter_port = 2"))
    assert (onu.value.table, onu.value.field) == ("onus", "splitter_port")
    with db.tenant("isp-a") as s:  # a soft-deleted ONU frees its port
        s.execute(text("update onus set deleted_at = now()"))
        s.execute(text(child), {"name": "NAP-3", "port": 1})
