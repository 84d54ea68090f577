"""A row that live rows still use cannot be deleted (409 naming them); nothing may point at a deleted row.

Both hold under concurrency: the delete locks its row before counting, the reference locks its target.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import text

from ispops.api.references import LIVE_WITHOUT_SOFT_DELETE, users_of
from ispops.db.session import Database
from ispops.models import Base
from tests.api.conftest import TokenFor
from tests.factories import make_tenant

Post = Callable[..., dict[str, Any]]


@pytest.fixture
def h(client: TestClient, db: Database, auth: TokenFor) -> dict[str, str]:
    make_tenant(db, "isp-a")
    return auth("isp-a", "tenant_admin")


@pytest.fixture
def post(client: TestClient, h: dict[str, str]) -> Post:
    def make(resource: str, /, **body: Any) -> dict[str, Any]:
        response = client.post(f"/api/v1/{resource}", json=body, headers=h)
        assert response.status_code == 201, response.text
        return dict(response.json())

    return make


def row(admin: psycopg.Connection[Any], table: str, key: str) -> Any:
    return admin.execute(f"select row_to_json(x)::text from {table} x where id = %s", (key,)).fetchone()


def refused(response: Response, detail: str, used_by: dict[str, int]) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "in_use" and body["used_by"] == used_by
    assert body["detail"].startswith(detail), body["detail"]


def test_profile_used_by_subscribers(
    client: TestClient, h: dict[str, str], post: Post, admin: psycopg.Connection[Any]
) -> None:
    plan = post("bandwidth_profiles", name="50M", download_mbps=50, upload_mbps=10)["id"]
    subs = [
        post("subscribers", subscriber_number=f"S-{i}", service_type="ftth", bandwidth_profile_id=plan)["id"]
        for i in range(3)
    ]
    before = row(admin, "bandwidth_profiles", plan)
    refused(
        client.delete(f"/api/v1/bandwidth_profiles/{plan}", headers=h),
        "bandwidth profile is used by 3 subscribers",
        {"subscribers": 3},
    )
    assert row(admin, "bandwidth_profiles", plan) == before
    assert client.get(f"/api/v1/bandwidth_profiles/{plan}", headers=h).status_code == 200
    for sub in subs[:2]:
        assert client.delete(f"/api/v1/subscribers/{sub}", headers=h).status_code == 204
    refused(
        client.delete(f"/api/v1/bandwidth_profiles/{plan}", headers=h),
        "bandwidth profile is used by 1 subscriber",
        {"subscribers": 1},
    )  # deleted ones no longer count
    other = post("bandwidth_profiles", name="100M", download_mbps=100, upload_mbps=20)["id"]
    moved = client.patch(f"/api/v1/subscribers/{subs[2]}", json={"bandwidth_profile_id": other}, headers=h)
    assert moved.status_code == 200, moved.text
    assert client.delete(f"/api/v1/bandwidth_profiles/{plan}", headers=h).status_code == 204
    assert admin.execute("select deleted_at is not null from bandwidth_profiles where id = %s", (plan,)).fetchone() == (
        True,
    )


def test_customer_used_by_a_subscriber(
    client: TestClient, h: dict[str, str], post: Post, admin: psycopg.Connection[Any]
) -> None:
    customer = post("customers", customer_number="C-1", name="Ada")["id"]
    sub = post("subscribers", subscriber_number="S-1", service_type="ftth", customer_id=customer)["id"]
    before = row(admin, "customers", customer)
    refused(
        client.delete(f"/api/v1/customers/{customer}", headers=h),
        "customer is used by 1 subscriber",
        {"subscribers": 1},
    )
    assert row(admin, "customers", customer) == before
    assert client.delete(f"/api/v1/subscribers/{sub}", headers=h).status_code == 204
    assert client.delete(f"/api/v1/customers/{customer}", headers=h).status_code == 204


def test_olt_and_its_device_used_by_the_plant(
    client: TestClient, h: dict[str, str], post: Post, admin: psycopg.Connection[Any]
) -> None:
    device = post("devices", name="olt-1", device_type="olt")["id"]
    olt = post("olts", device_id=device, technology="gpon")["id"]
    onus = [post("onus", olt_id=olt, serial_number=f"HWTC0000000{i}", pon_port=0, onu_id=i)["id"] for i in range(2)]
    splitter = post("splitters", name="SPL-1", split_ratio="1x8", olt_id=olt)["id"]
    before = (row(admin, "olts", olt), row(admin, "devices", device))
    refused(
        client.delete(f"/api/v1/olts/{olt}", headers=h),
        "OLT is used by 2 ONUs and 1 splitter",
        {"onus": 2, "splitters": 1},
    )
    refused(client.delete(f"/api/v1/devices/{device}", headers=h), "device is used by 1 OLT", {"olts": 1})
    assert (row(admin, "olts", olt), row(admin, "devices", device)) == before
    for name, key in [("onus", onus[0]), ("onus", onus[1]), ("splitters", splitter)]:
        assert client.delete(f"/api/v1/{name}/{key}", headers=h).status_code == 204
    assert client.delete(f"/api/v1/olts/{olt}", headers=h).status_code == 204
    assert client.delete(f"/api/v1/devices/{device}", headers=h).status_code == 204


def test_tower_used_by_a_sector(
    client: TestClient, h: dict[str, str], post: Post, admin: psycopg.Connection[Any]
) -> None:
    tower = post("wireless_towers", name="Hill", latitude=-1.3, longitude=36.8)["id"]
    sector = post("wireless_sectors", tower_id=tower, name="S1", frequency_mhz=5800, azimuth=0, beamwidth_degrees=90)[
        "id"
    ]
    before = row(admin, "wireless_towers", tower)
    refused(
        client.delete(f"/api/v1/wireless_towers/{tower}", headers=h),
        "wireless tower is used by 1 wireless sector",
        {"wireless_sectors": 1},
    )
    assert row(admin, "wireless_towers", tower) == before
    assert client.delete(f"/api/v1/wireless_sectors/{sector}", headers=h).status_code == 204
    assert client.delete(f"/api/v1/wireless_towers/{tower}", headers=h).status_code == 204


def test_pool_in_use_until_its_allocations_are_released(client: TestClient, h: dict[str, str], post: Post) -> None:
    pool = post("ip_pools", name="cgnat", network_cidr="100.64.0.0/29")["id"]
    allocation = post("ip_allocations", ip_pool_id=pool)["id"]
    refused(
        client.delete(f"/api/v1/ip_pools/{pool}", headers=h),
        "IP pool is used by 1 IP allocation",
        {"ip_allocations": 1},
    )
    assert client.post(f"/api/v1/ip_allocations/{allocation}/release", headers=h).status_code == 200
    assert client.delete(f"/api/v1/ip_pools/{pool}", headers=h).status_code == 204  # released: history


def test_nothing_may_point_at_a_deleted_row(
    client: TestClient, h: dict[str, str], post: Post, admin: psycopg.Connection[Any]
) -> None:
    plan = post("bandwidth_profiles", name="old", download_mbps=5, upload_mbps=1)["id"]
    sub = post("subscribers", subscriber_number="S-1", service_type="ftth")["id"]
    assert client.delete(f"/api/v1/bandwidth_profiles/{plan}", headers=h).status_code == 204
    created = client.post(
        "/api/v1/subscribers",
        json={"subscriber_number": "S-2", "service_type": "ftth", "bandwidth_profile_id": plan},
        headers=h,
    )
    assert created.status_code == 422 and created.json()["field"] == "bandwidth_profile_id", created.text
    changed = client.patch(f"/api/v1/subscribers/{sub}", json={"bandwidth_profile_id": plan}, headers=h)
    assert changed.status_code == 422 and changed.json()["field"] == "bandwidth_profile_id", changed.text
    assert admin.execute("select count(*) from subscribers where bandwidth_profile_id = %s", (plan,)).fetchone() == (0,)


def _wait_until_blocked(admin: psycopg.Connection[Any], pending: Future[Response]) -> None:
    """Until a backend of the test database waits for a row lock (the request under test)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not pending.done():
        waiting = admin.execute(
            "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'"
        ).fetchone()
        if waiting and waiting[0]:
            return
        time.sleep(0.02)
    raise AssertionError(f"the request did not wait for the lock: {pending.result().text if pending.done() else ''}")


def test_a_child_created_while_its_parent_is_being_deleted_is_refused(
    client: TestClient, db: Database, h: dict[str, str], post: Post, admin: psycopg.Connection[Any]
) -> None:
    """The delete (here a transaction of its own) locks the plan; the create waits, then sees it deleted."""
    plan = post("bandwidth_profiles", name="50M", download_mbps=50, upload_mbps=10)["id"]
    body = {"subscriber_number": "S-1", "service_type": "ftth", "bandwidth_profile_id": plan}
    with ThreadPoolExecutor(max_workers=1) as pool:
        with db.tenant("isp-a") as s:
            s.execute(text("select id from bandwidth_profiles where id = :p for update"), {"p": plan})
            s.execute(text("update bandwidth_profiles set deleted_at = now() where id = :p"), {"p": plan})
            pending = pool.submit(client.post, "/api/v1/subscribers", json=body, headers=h)
            _wait_until_blocked(admin, pending)
        response = pending.result(timeout=30)
    assert response.status_code == 422 and response.json()["field"] == "bandwidth_profile_id", response.text
    assert admin.execute("select count(*) from subscribers").fetchone() == (0,)


def test_a_parent_deleted_while_a_child_is_being_created_is_in_use(
    client: TestClient, db: Database, h: dict[str, str], post: Post, admin: psycopg.Connection[Any]
) -> None:
    """The create (here a transaction of its own) holds its reference; the delete waits, then counts it."""
    plan = post("bandwidth_profiles", name="50M", download_mbps=50, upload_mbps=10)["id"]
    with ThreadPoolExecutor(max_workers=1) as pool:
        with db.tenant("isp-a") as s:
            s.execute(
                text(
                    "insert into subscribers (tenant_id, subscriber_number, service_type, bandwidth_profile_id) "
                    "values ('isp-a', 'S-1', 'ftth', :p)"
                ),
                {"p": plan},
            )
            pending = pool.submit(client.delete, f"/api/v1/bandwidth_profiles/{plan}", headers=h)
            _wait_until_blocked(admin, pending)
        response = pending.result(timeout=30)
    refused(response, "bandwidth profile is used by 1 subscriber", {"subscribers": 1})
    assert admin.execute("select deleted_at from bandwidth_profiles where id = %s", (plan,)).fetchone() == (None,)


def test_every_reference_in_the_database_is_counted(admin: psycopg.Connection[Any]) -> None:
    """The references come from the ORM's foreign keys; the database must not have one they miss: every
    foreign key from a soft-deletable table (or IP allocations) to a soft-deletable table is counted."""
    soft = "exists (select 1 from pg_attribute d where d.attrelid = {} and d.attname = 'deleted_at')"
    rows = admin.execute(
        "select c.conrelid::regclass::text, c.confrelid::regclass::text, a.attname from pg_constraint c "
        "join pg_attribute a on a.attrelid = c.conrelid and a.attnum = any(c.conkey) "
        "join pg_class r on r.oid = c.conrelid "
        "where c.contype = 'f' and a.attname <> 'tenant_id' and not r.relispartition "
        f"and {soft.format('c.confrelid')} and (c.conrelid::regclass::text = any(%s) or {soft.format('c.conrelid')})",
        (list(LIVE_WITHOUT_SOFT_DELETE),),
    ).fetchall()
    in_database = {(child, parent, column) for child, parent, column in rows}
    counted = {
        (child, parent.name, column)
        for parent in Base.metadata.tables.values()
        if "deleted_at" in parent.c
        for child, column in users_of(parent).columns
    }
    assert ("subscribers", "bandwidth_profiles", "bandwidth_profile_id") in in_database
    assert in_database == counted
