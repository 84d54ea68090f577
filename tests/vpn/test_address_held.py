"""A live tunnel's address stays the tunnel's: no lease, not reclaimed, not released by hand (0022)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from ispops.db.session import Database
from ispops.errors import Conflict
from ispops.ipam.jobs import reclaim_all
from tests.api.conftest import TokenFor
from tests.vpn.conftest import FlakyStore, World, tunnel_body

URL = "/api/v1/vpn_tunnels"


def leased_pool(db: Database, world: World) -> None:
    """tenant-a's VPN pool hands out 1-hour leases by default (as a subscriber pool would)."""
    with db.tenant("tenant-a") as s:
        s.execute(text("update ip_pools set default_lease_seconds = 3600 where id = :p"), {"p": world.pool_a})


def allocation(admin: psycopg.Connection[Any], allocation_id: str) -> tuple[Any, ...]:
    row = admin.execute(
        "select status, lease_start, lease_end from ip_allocations where id = %s", (allocation_id,)
    ).fetchone()
    assert row is not None
    return tuple(row)


def tunnel_allocation(admin: psycopg.Connection[Any], tunnel_id: str) -> str:
    row = admin.execute("select ip_allocation_id::text from vpn_tunnels where id = %s", (tunnel_id,)).fetchone()
    assert row is not None and row[0] is not None
    return str(row[0])


def test_a_tunnel_address_has_no_lease_and_survives_the_reclaim_job(
    client: TestClient,
    world: World,
    store: FlakyStore,
    auth: TokenFor,
    db: Database,
    admin: psycopg.Connection[Any],
) -> None:
    leased_pool(db, world)
    noc = auth("tenant-a", "noc_engineer")
    tunnel = client.post(URL, json=tunnel_body(world), headers=noc).json()
    held = tunnel_allocation(admin, tunnel["id"])
    assert allocation(admin, held) == ("allocated", None, None)
    # A subscriber's address from the same pool does get the pool's lease (the job must still reclaim it).
    sub = client.post("/api/v1/ip_allocations", json={"ip_pool_id": world.pool_a}, headers=noc)
    assert sub.status_code == 201, sub.text
    assert sub.json()["lease_end"] is not None

    released = reclaim_all(db, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=30))

    assert released == {"tenant-a": 1}
    assert allocation(admin, held)[0] == "allocated"
    assert allocation(admin, sub.json()["id"])[0] == "released"


@pytest.fixture
def tunnel(client: TestClient, world: World, store: FlakyStore, auth: TokenFor) -> dict[str, Any]:
    """tenant-a's tunnel wg-router-1, made through the API."""
    made: dict[str, Any] = client.post(URL, json=tunnel_body(world), headers=auth("tenant-a", "noc_engineer")).json()
    return made


def test_a_lease_written_by_hand_on_a_tunnel_address_is_not_reclaimed(
    tunnel: dict[str, Any], db: Database, admin: psycopg.Connection[Any]
) -> None:
    held = tunnel_allocation(admin, tunnel["id"])
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    with db.tenant("tenant-a") as s:
        s.execute(
            text("update ip_allocations set lease_start = :a, lease_end = :b where id = :i"),
            {"a": past, "b": past + dt.timedelta(hours=1), "i": held},
        )

    assert reclaim_all(db) == {}
    assert allocation(admin, held)[0] == "allocated"


def test_releasing_a_tunnels_address_is_a_409_naming_the_tunnel(
    tunnel: dict[str, Any], client: TestClient, auth: TokenFor, db: Database, admin: psycopg.Connection[Any]
) -> None:
    noc = auth("tenant-a", "noc_engineer")
    held = tunnel_allocation(admin, tunnel["id"])

    r = client.post(f"/api/v1/ip_allocations/{held}/release", headers=noc)

    assert r.status_code == 409, r.text
    assert "wg-router-1" in r.text and tunnel["vpn_ip"] in r.text
    assert allocation(admin, held)[0] == "allocated"
    # Any writer: the database refuses it too (the platform's 409, naming the tunnel).
    with pytest.raises(Conflict) as refused, db.tenant("tenant-a") as s:
        s.execute(text("update ip_allocations set status = 'released', released_at = now() where id = :i"), {"i": held})
    assert "wg-router-1" in refused.value.message
    assert allocation(admin, held)[0] == "allocated"
    # Deleting the tunnel still gives the address back.
    assert client.delete(f"{URL}/{tunnel['id']}", headers=noc).status_code == 204
    assert allocation(admin, held)[0] == "released"
