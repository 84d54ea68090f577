"""The splitter tree and the cables: the rules, through the API and on the database (issue 15, section 4)."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from ispops.db.session import Database
from ispops.errors import Conflict
from tests.api.conftest import TokenFor
from tests.ftth.plant_world import World, build

Json = dict[str, Any]


@pytest.fixture
def world(db: Database) -> World:
    return build(db, "isp-a")


@pytest.fixture
def admin_headers(auth: TokenFor) -> dict[str, str]:
    return auth("isp-a", "tenant_admin")


def _splitter(client: TestClient, headers: dict[str, str], key: str) -> Json:
    response = client.get(f"/api/v1/splitters/{key}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _count(admin: psycopg.Connection[Any], table: str) -> int:
    row = admin.execute(f"select count(*) from {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_a_child_takes_the_lowest_free_port_and_ports_used_is_exact(
    world: World, client: TestClient, admin_headers: dict[str, str]
) -> None:
    made = client.post(
        "/api/v1/splitters",
        json={"name": "L3", "split_ratio": "1x8", "parent_splitter_id": world.ids["R"]},
        headers=admin_headers,
    )
    assert made.status_code == 201, made.text
    assert made.json()["parent_output_port"] == 3  # 1 and 2 feed L1 and L2
    assert _splitter(client, admin_headers, world.ids["R"])["ports_used"] == 3
    assert client.delete(f"/api/v1/splitters/{made.json()['id']}", headers=admin_headers).status_code == 204
    assert _splitter(client, admin_headers, world.ids["R"])["ports_used"] == 2


def test_an_overfull_splitter_is_refused_naming_the_port_and_nothing_is_written(
    world: World, client: TestClient, admin_headers: dict[str, str], admin: psycopg.Connection[Any]
) -> None:
    before = _count(admin, "splitters")
    beyond = client.post(
        "/api/v1/splitters",
        json={"name": "X", "split_ratio": "1x8", "parent_splitter_id": world.ids["R"], "parent_output_port": 5},
        headers=admin_headers,
    )
    assert beyond.status_code == 422 and beyond.json()["field"] == "parent_output_port", beyond.text
    taken = client.post(
        "/api/v1/splitters",
        json={"name": "X", "split_ratio": "1x8", "parent_splitter_id": world.ids["R"], "parent_output_port": 1},
        headers=admin_headers,
    )
    assert taken.status_code == 409 and taken.json()["field"] == "parent_output_port", taken.text
    for name in ("X3", "X4"):  # R (1x4) has ports 3 and 4 left
        assert (
            client.post(
                "/api/v1/splitters",
                json={"name": name, "split_ratio": "1x8", "parent_splitter_id": world.ids["R"]},
                headers=admin_headers,
            ).status_code
            == 201
        )
    full = client.post(
        "/api/v1/splitters",
        json={"name": "X5", "split_ratio": "1x8", "parent_splitter_id": world.ids["R"]},
        headers=admin_headers,
    )
    assert full.status_code == 409 and full.json()["field"] == "parent_output_port", full.text
    assert "no free output port" in full.json()["detail"]
    assert _count(admin, "splitters") == before + 2
    assert _splitter(client, admin_headers, world.ids["R"])["ports_used"] == 4


def test_an_onu_port_is_one_onu_or_one_splitter(
    world: World, client: TestClient, admin_headers: dict[str, str]
) -> None:
    # L1's port 1 holds ONU A1: a child splitter cannot take it
    response = client.post(
        "/api/v1/splitters",
        json={"name": "Y", "split_ratio": "1x2", "parent_splitter_id": world.ids["L1"], "parent_output_port": 1},
        headers=admin_headers,
    )
    assert response.status_code == 409 and response.json()["field"] == "parent_output_port"
    # nor another ONU
    moved = client.patch(
        f"/api/v1/onus/{world.ids['B1']}",
        json={"splitter_id": world.ids["L1"], "splitter_port": 1},
        headers=admin_headers,
    )
    assert moved.status_code == 409 and moved.json()["field"] == "splitter_port", moved.text


def test_a_splitter_cannot_shrink_below_the_ports_in_use(
    world: World, client: TestClient, admin_headers: dict[str, str]
) -> None:
    response = client.patch(f"/api/v1/splitters/{world.ids['L1']}", json={"split_ratio": "1x2"}, headers=admin_headers)
    assert response.status_code == 409 and response.json()["field"] == "split_ratio", response.text
    assert _splitter(client, admin_headers, world.ids["L1"])["split_ratio"] == "1x8"
    ok = client.patch(f"/api/v1/splitters/{world.ids['L1']}", json={"split_ratio": "1x4"}, headers=admin_headers)
    assert ok.status_code == 200, ok.text


def test_a_cycle_is_refused_naming_the_parent(world: World, client: TestClient, admin_headers: dict[str, str]) -> None:
    child = client.post(
        "/api/v1/splitters",
        json={"name": "C", "split_ratio": "1x2", "parent_splitter_id": world.ids["L2"]},
        headers=admin_headers,
    ).json()
    # L2 under its own child C
    response = client.patch(
        f"/api/v1/splitters/{world.ids['L2']}",
        json={"parent_splitter_id": child["id"], "parent_output_port": 1},
        headers=admin_headers,
    )
    assert response.status_code == 409 and response.json()["field"] == "parent_splitter_id", response.text
    assert "descendant" in response.json()["detail"]
    assert _splitter(client, admin_headers, world.ids["L2"])["parent_splitter_id"] == world.ids["R"]
    itself = client.patch(
        f"/api/v1/splitters/{world.ids['L2']}",
        json={"parent_splitter_id": world.ids["L2"], "parent_output_port": 3},
        headers=admin_headers,
    )
    assert itself.status_code in (409, 422) and itself.json()["field"] == "parent_splitter_id"


def test_two_concurrent_moves_cannot_make_a_loop(world: World, db: Database, admin: psycopg.Connection[Any]) -> None:
    """L1 under L2 and L2 under L1, at once: the second waits on the tree lock, then sees the first."""
    move = (
        "update splitters set parent_splitter_id = cast(:p as uuid), parent_output_port = 8 where id = cast(:s as uuid)"
    )
    outcome: dict[str, BaseException | None] = {}
    with db.tenant("isp-a") as first:
        first.execute(text(move), {"p": world.ids["L2"], "s": world.ids["L1"]})

        def second() -> None:
            try:
                with db.tenant("isp-a") as s:
                    s.execute(text(move), {"p": world.ids["L1"], "s": world.ids["L2"]})
                outcome["error"] = None
            except BaseException as exc:  # handed to the test thread
                outcome["error"] = exc

        thread = threading.Thread(target=second)
        thread.start()
        # wait (on the database's own word, not a clock) until the second is blocked on the advisory lock
        for _ in range(10_000):
            waiting = admin.execute(
                "select count(*) from pg_locks where locktype = 'advisory' and not granted"
            ).fetchone()
            if waiting and waiting[0] >= 1:
                break
            if not thread.is_alive():
                break
            threading.Event().wait(0.01)
        assert thread.is_alive(), "the second move did not wait for the first"
    thread.join(timeout=60)
    assert isinstance(outcome["error"], Conflict) and outcome["error"].field == "parent_splitter_id"
    parents = dict(admin.execute("select name, parent_splitter_id::text from splitters where name in ('L1', 'L2')"))
    assert parents == {"L1": world.ids["L2"], "L2": world.ids["R"]}


def test_a_splitter_is_fed_from_a_pon_port_or_a_parent_never_both(
    world: World, client: TestClient, admin_headers: dict[str, str]
) -> None:
    both = client.post(
        "/api/v1/splitters",
        json={"name": "Z", "split_ratio": "1x8", "parent_splitter_id": world.ids["R"], "pon_port_id": world.ids["pon"]},
        headers=admin_headers,
    )
    assert both.status_code == 422 and both.json()["field"] == "pon_port_id", both.text
    second_root = client.post(
        "/api/v1/splitters",
        json={"name": "Z", "split_ratio": "1x8", "pon_port_id": world.ids["pon"]},
        headers=admin_headers,
    )
    assert second_root.status_code == 409 and second_root.json()["field"] == "pon_port_id", second_root.text


def test_another_tenants_splitter_cannot_be_used(
    world: World, db: Database, client: TestClient, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    other = build(db, "isp-b", serial_prefix="ZTEG")
    headers = auth("isp-a", "tenant_admin")
    onu = client.patch(
        f"/api/v1/onus/{world.ids['B2']}", json={"splitter_id": other.ids["L1"], "splitter_port": 7}, headers=headers
    )
    assert onu.status_code == 422 and onu.json()["field"] == "splitter_id", onu.text
    child = client.post(
        "/api/v1/splitters",
        json={"name": "Q", "split_ratio": "1x8", "parent_splitter_id": other.ids["R"]},
        headers=headers,
    )
    assert child.status_code == 422 and child.json()["field"] == "parent_splitter_id", child.text
    assert admin.execute("select count(*) from splitters where name = 'Q'").fetchone() == (0,)
    assert client.get(f"/api/v1/splitters/{other.ids['L1']}", headers=headers).status_code == 404


# --- cables ------------------------------------------------------------------------------------------------

EQUATOR = {"type": "LineString", "coordinates": [[0, 0], [0.5, 0], [1, 0]]}


def test_a_cable_gets_its_geodesic_length_and_its_strands(
    world: World, client: TestClient, admin_headers: dict[str, str], admin: psycopg.Connection[Any]
) -> None:
    made = client.post(
        "/api/v1/fiber_cables",
        json={"cable_name": "EQ", "fiber_count": 24, "geojson_path": EQUATOR, "start_closure_id": world.ids["CL"]},
        headers=admin_headers,
    )
    assert made.status_code == 201, made.text
    cable = made.json()
    # one degree of longitude on the WGS84 equator: 2πa/360 with a = 6,378,137 m
    assert float(cable["length_meters"]) == pytest.approx(111319.49, abs=0.01)
    assert cable["length_measured"] is False
    strands = client.get(f"/api/v1/fiber_strands?cable_id={cable['id']}&limit=100", headers=admin_headers).json()[
        "items"
    ]
    assert [s["strand_number"] for s in strands] == list(range(1, 25))
    assert (strands[0]["color"], strands[11]["color"], strands[12]["color"], strands[12]["tube_number"]) == (
        "blue",
        "aqua",
        "blue",
        2,
    )
    # a new route re-measures; a measured length stays
    half = {"type": "LineString", "coordinates": [[0, 0], [0.5, 0]]}
    patched = client.patch(f"/api/v1/fiber_cables/{cable['id']}", json={"geojson_path": half}, headers=admin_headers)
    assert float(patched.json()["length_meters"]) == pytest.approx(55659.75, abs=0.01)
    measured = client.patch(f"/api/v1/fiber_cables/{cable['id']}", json={"length_meters": 56000}, headers=admin_headers)
    assert measured.json()["length_measured"] is True
    kept = client.patch(f"/api/v1/fiber_cables/{cable['id']}", json={"geojson_path": EQUATOR}, headers=admin_headers)
    assert float(kept.json()["length_meters"]) == 56000


@pytest.mark.parametrize(
    "route",
    [
        "not an object",
        {"type": "Point", "coordinates": [0, 0]},
        {"type": "LineString", "coordinates": [[0, 0]]},
        {"type": "LineString", "coordinates": [[0, 0], [0, 0]]},
        {"type": "LineString", "coordinates": [[0, 0], [200, 0]]},
        {"type": "LineString", "coordinates": [[0, 0], [0, 91]]},
        {"type": "LineString", "coordinates": [[0, 0], ["1", 0]]},
        {"type": "LineString", "coordinates": [[0, 0], [1]]},
        {"type": "LineString", "coordinates": [[0, 0], [1, 1]], "properties": {}},
    ],
)
def test_a_malformed_route_is_422_naming_geojson_path_and_nothing_is_written(
    route: Any, world: World, client: TestClient, admin_headers: dict[str, str], admin: psycopg.Connection[Any]
) -> None:
    before = (_count(admin, "fiber_cables"), _count(admin, "fiber_strands"))
    response = client.post(
        "/api/v1/fiber_cables",
        json={"cable_name": "BAD", "fiber_count": 4, "geojson_path": route},
        headers=admin_headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "geojson_path" or "geojson_path" in response.text
    assert (_count(admin, "fiber_cables"), _count(admin, "fiber_strands")) == before
    patched = client.patch(
        f"/api/v1/fiber_cables/{world.ids['F']}", json={"geojson_path": route}, headers=admin_headers
    )
    assert patched.status_code == 422 and "geojson_path" in patched.text


@pytest.mark.parametrize("count", [0, 6913, 230_706_611])
def test_a_fiber_count_beyond_the_largest_cable_is_422_naming_it_and_nothing_is_written(
    count: int, world: World, client: TestClient, admin_headers: dict[str, str], admin: psycopg.Connection[Any]
) -> None:
    # A cable is made with all its strands: an unbounded count once asked for 230 million rows (API fuzz).
    before = (_count(admin, "fiber_cables"), _count(admin, "fiber_strands"))
    response = client.post(
        "/api/v1/fiber_cables", json={"cable_name": "HUGE", "fiber_count": count}, headers=admin_headers
    )
    assert response.status_code == 422, response.text
    assert "fiber_count" in response.text
    assert (_count(admin, "fiber_cables"), _count(admin, "fiber_strands")) == before


def test_the_largest_cable_has_all_its_strands(
    world: World, client: TestClient, admin_headers: dict[str, str], admin: psycopg.Connection[Any]
) -> None:
    response = client.post(
        "/api/v1/fiber_cables", json={"cable_name": "MAX", "fiber_count": 6912}, headers=admin_headers
    )
    assert response.status_code == 201, response.text
    row = admin.execute("select count(*) from fiber_strands where cable_id = %s", (response.json()["id"],)).fetchone()
    assert row == (6912,)


def test_a_cable_end_is_at_one_place(world: World, client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/fiber_cables",
        json={
            "cable_name": "TWO",
            "fiber_count": 2,
            "start_device_id": world.ids["device"],
            "start_splitter_id": world.ids["R"],
        },
        headers=admin_headers,
    )
    assert response.status_code == 422 and response.json()["field"] == "start_splitter_id", response.text


def test_a_link_names_its_hop_and_a_strand_carries_one(
    world: World, client: TestClient, admin_headers: dict[str, str]
) -> None:
    strand = client.get(
        f"/api/v1/fiber_strands?cable_id={world.ids['F']}&strand_number=2", headers=admin_headers
    ).json()["items"][0]
    neither = client.post("/api/v1/fiber_links", json={"strand_id": strand["id"]}, headers=admin_headers)
    assert neither.status_code == 422 and neither.json()["field"] == "splitter_id", neither.text
    again = client.post(
        "/api/v1/fiber_links",
        json={"strand_id": world.strands["F"], "splitter_id": world.ids["L1"], "seq": 5},
        headers=admin_headers,
    )
    assert again.status_code == 409 and again.json()["field"] == "strand_id", again.text


def test_a_drop_link_leaves_the_onus_own_splitter(
    world: World, client: TestClient, admin_headers: dict[str, str], admin: psycopg.Connection[Any]
) -> None:
    before = (_count(admin, "fiber_strands"), _count(admin, "fiber_links"))
    # A drop cable of 2 fibres: strand 2 is free. ONU A1 hangs off L1, not L2.
    spare = client.get(
        f"/api/v1/fiber_strands?cable_id={world.ids['D2']}&strand_number=2", headers=admin_headers
    ).json()["items"][0]
    wrong = client.post(
        "/api/v1/fiber_links",
        json={"strand_id": spare["id"], "onu_id": world.ids["A1"], "splitter_id": world.ids["L2"], "seq": 2},
        headers=admin_headers,
    )
    assert wrong.status_code == 422 and wrong.json()["field"] == "splitter_id", wrong.text
    assert (_count(admin, "fiber_strands"), _count(admin, "fiber_links")) == before  # nothing written
    right = client.post(
        "/api/v1/fiber_links",
        json={"strand_id": spare["id"], "onu_id": world.ids["A1"], "splitter_id": world.ids["L1"], "seq": 2},
        headers=admin_headers,
    )
    assert right.status_code == 201, right.text
    moved = client.patch(
        f"/api/v1/fiber_links/{right.json()['id']}", json={"splitter_id": world.ids["L2"]}, headers=admin_headers
    )
    assert moved.status_code == 422 and moved.json()["field"] == "splitter_id", moved.text
