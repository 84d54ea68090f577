"""The ONU routes: auto-find, authorise and the other actions, their refusals, and tenant isolation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ispops.db.session import Database
from ispops.ftth import service
from tests.api.conftest import TokenFor
from tests.ftth.onu_world import OltWorld

Headers = dict[str, str]


@pytest.fixture
def noc(auth: TokenFor, olt_world: OltWorld) -> Headers:
    return auth("isp-a", "noc_engineer")


@pytest.fixture
def driver_calls() -> Iterator[list[tuple[str, str, Any]]]:
    """What the routes hand to the driver hook (provisioning replaces the hook; here it records)."""
    calls: list[tuple[str, str, Any]] = []

    def record(session: Session, tenant_id: str, action: service.DriverAction) -> uuid.UUID:
        calls.append((tenant_id, action.action, action.onu.onu_id))
        return uuid.uuid4()  # as if a driver job was queued

    saved = service.on_driver_action
    service.on_driver_action = record
    yield calls
    service.on_driver_action = saved


def found(client: TestClient, world: OltWorld, h: Headers, serial: str) -> dict[str, Any]:
    r = client.post(
        f"/api/v1/olts/{world.olt}/discovered",
        json={"serial_number": serial, "frame": 0, "slot": 1, "port": 3},
        headers=h,
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_auto_find_then_authorise(
    client: TestClient, olt_world: OltWorld, noc: Headers, driver_calls: list[Any], admin: psycopg.Connection[Any]
) -> None:
    onu = found(client, olt_world, noc, "HWTC12345678")
    assert (onu["status"], onu["onu_id"], onu["pon_port_id"]) == ("discovered", None, str(olt_world.port))
    listed = client.get(f"/api/v1/olts/{olt_world.olt}/unconfigured", headers=noc).json()
    assert [o["serial_number"] for o in listed] == ["HWTC12345678"]
    r = client.post(
        f"/api/v1/onus/{onu['id']}/authorise",
        json={
            "onu_type": "HG8145V5",
            "mode": "routing",
            "vlan_id": 100,
            "line_profile": "FTTH",
            "service_profile": "INTERNET",
            "speed_profile": "100M",
            "zone": "Market",
            "splitter_id": str(olt_world.splitter),
            "splitter_port": 3,
        },
        headers=noc,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["onu_id"], body["mode"], body["splitter_port"]) == ("authorising", 0, "routing", 3)
    assert driver_calls == [("isp-a", "authorise", 0)]
    assert client.get(f"/api/v1/olts/{olt_world.olt}/unconfigured", headers=noc).json() == []
    events = admin.execute(
        "select action, changes->>'action' from audit_events where entity = 'onus' and entity_id = %s order by id",
        (onu["id"],),
    ).fetchall()
    assert events[-1] == ("action", "authorise")
    ports = client.get(f"/api/v1/olts/{olt_world.olt}/pon-ports", headers=noc).json()
    assert [(p["name"], p["max_onus"], p["used"]) for p in ports] == [("0/1/3", 128, 1)]


def test_authorise_by_serial_and_by_loid_without_discovery(
    client: TestClient, olt_world: OltWorld, noc: Headers, driver_calls: list[Any]
) -> None:
    base = {"olt_id": str(olt_world.olt), "slot": 1, "port": 3}
    first = client.post("/api/v1/onus/authorise", json={**base, "serial_number": "ZTEGC0FFEE01"}, headers=noc)
    loid = client.post("/api/v1/onus/authorise", json={**base, "auth_method": "loid", "loid": "cust-4711"}, headers=noc)
    assert (first.status_code, loid.status_code) == (200, 200), (first.text, loid.text)
    assert [first.json()["onu_id"], loid.json()["onu_id"]] == [0, 1]
    assert (loid.json()["auth_method"], loid.json()["loid"]) == ("loid", "cust-4711")
    dup = client.post("/api/v1/onus/authorise", json={**base, "serial_number": "ZTEGC0FFEE01"}, headers=noc)
    assert dup.status_code == 409 and "ZTEGC0FFEE01" in dup.json()["detail"]
    assert [c[1] for c in driver_calls] == ["authorise", "authorise"]


def test_bad_input_is_a_4xx_naming_the_field_and_writes_nothing(
    client: TestClient, olt_world: OltWorld, other_world: OltWorld, noc: Headers, admin: psycopg.Connection[Any]
) -> None:
    onu = found(client, olt_world, noc, "HWTC0BAD0001")
    before = admin.execute("select row_to_json(o)::text from onus o where id = %s", (onu["id"],)).fetchone()
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"splitter_id": str(other_world.splitter), "splitter_port": 1}, 422, "splitter_id"),
        ({"olt_id": str(other_world.olt)}, 422, "olt_id"),
        ({"pon_port_id": str(other_world.port)}, 422, "pon_port_id"),
        ({"mode": "nat"}, 422, "mode"),
        ({"vlan_id": 5000}, 422, "vlan_id"),
        ({"splitter_id": str(olt_world.splitter), "splitter_port": 9}, 422, "splitter_port"),  # a 1x8 has 8
    ]
    for body, status, field in cases:
        r = client.post(f"/api/v1/onus/{onu['id']}/authorise", json=body, headers=noc)
        assert r.status_code == status, (body, r.text)
        assert field in r.text, (body, r.text)
    after = admin.execute("select row_to_json(o)::text from onus o where id = %s", (onu["id"],)).fetchone()
    assert after == before
    r = client.post(f"/api/v1/onus/{onu['id']}/retire", headers=noc)
    assert r.status_code == 200
    r = client.post(f"/api/v1/onus/{onu['id']}/reboot", headers=noc)
    assert r.status_code == 409 and r.json()["field"] == "status"


def test_a_full_port_through_the_api(client: TestClient, olt_world: OltWorld, noc: Headers) -> None:
    a, b, c = (found(client, olt_world, noc, f"HWTC0FULL00{i}") for i in range(3))
    for onu in (a, b):
        assert client.post(f"/api/v1/onus/{onu['id']}/authorise", json={}, headers=noc).status_code == 200
    # A port cannot shrink below an id in use ...
    shrink = client.patch(f"/api/v1/olt_pon_ports/{olt_world.port}", json={"max_onus": 1}, headers=noc)
    assert shrink.status_code == 409 and shrink.json()["field"] == "max_onus", shrink.text
    # ... but to exactly what is used, and then it is full.
    assert client.patch(f"/api/v1/olt_pon_ports/{olt_world.port}", json={"max_onus": 2}, headers=noc).status_code == 200
    r = client.post(f"/api/v1/onus/{c['id']}/authorise", json={}, headers=noc)
    assert r.status_code == 409
    assert r.json()["field"] == "pon_port_id" and "0/1/3 is full" in r.json()["detail"]
    assert client.get(f"/api/v1/onus/{c['id']}", headers=noc).json()["status"] == "discovered"


def test_another_tenants_olt_and_onus_are_not_found(
    client: TestClient, olt_world: OltWorld, other_world: OltWorld, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    theirs_h = auth("isp-b", "noc_engineer")
    theirs = found(client, other_world, theirs_h, "HWTC0THEIRS1")
    mine = auth("isp-a", "tenant_admin")
    before = admin.execute("select row_to_json(o)::text from onus o where id = %s", (theirs["id"],)).fetchone()
    for path in ("unconfigured", "pon-ports", "profile"):
        assert client.get(f"/api/v1/olts/{other_world.olt}/{path}", headers=mine).status_code == 404, path
    r = client.post(f"/api/v1/olts/{other_world.olt}/discovered", json={"serial_number": "X", "port": 1}, headers=mine)
    assert r.status_code == 404
    for action in ("authorise", "deauthorise", "reboot", "retire", "move", "replace"):
        body = {"serial_number": "NEW00001"} if action == "replace" else {"port": 5} if action == "move" else {}
        r = client.post(f"/api/v1/onus/{theirs['id']}/{action}", json=body, headers=mine)
        assert r.status_code == 404, (action, r.text)
    assert client.get(f"/api/v1/olt_pon_ports/{other_world.port}", headers=mine).status_code == 404
    after = admin.execute("select row_to_json(o)::text from onus o where id = %s", (theirs["id"],)).fetchone()
    assert after == before


def test_field_techs_authorise_support_agents_do_not(client: TestClient, olt_world: OltWorld, auth: TokenFor) -> None:
    onu = found(client, olt_world, auth("isp-a", "noc_engineer"), "HWTC0ROLES01")
    r = client.post(f"/api/v1/onus/{onu['id']}/authorise", json={}, headers=auth("isp-a", "support_agent"))
    assert r.status_code == 403
    r = client.post(f"/api/v1/onus/{onu['id']}/authorise", json={}, headers=auth("isp-a", "field_tech"))
    assert r.status_code == 200


def test_move_and_replace_through_the_api(
    client: TestClient, db: Database, olt_world: OltWorld, noc: Headers, driver_calls: list[Any]
) -> None:
    onu = found(client, olt_world, noc, "HWTC0MOVE001")
    client.post(f"/api/v1/onus/{onu['id']}/authorise", json={"vlan_id": 10}, headers=noc)
    with db.tenant("isp-a") as s:  # what the driver job does when it succeeds
        service.complete_authorisation(s, "isp-a", uuid.UUID(onu["id"]))
    with_port = client.post(
        "/api/v1/olt_pon_ports", json={"olt_id": str(olt_world.olt), "slot": 2, "port": 0}, headers=noc
    )
    assert with_port.status_code == 201, with_port.text
    assert (with_port.json()["name"], with_port.json()["max_onus"]) == ("0/2/0", 128)
    again = client.post("/api/v1/olt_pon_ports", json={"olt_id": str(olt_world.olt), "slot": 2, "port": 0}, headers=noc)
    assert again.status_code == 409
    r = client.post(f"/api/v1/onus/{onu['id']}/move", json={"pon_port_id": with_port.json()["id"]}, headers=noc)
    assert r.status_code == 200, r.text
    assert (r.json()["onu_id"], r.json()["pon_port"], r.json()["status"]) == (0, 0, "authorising")
    r = client.post(f"/api/v1/onus/{onu['id']}/replace", json={"serial_number": "HWTC0MOVE002"}, headers=noc)
    assert r.status_code == 409  # still authorising: the move's driver job has not finished
    assert [c[1] for c in driver_calls] == ["authorise", "move"]


def test_generic_patch_cannot_change_the_lifecycle(client: TestClient, olt_world: OltWorld, noc: Headers) -> None:
    onu = found(client, olt_world, noc, "HWTC0PATCH01")
    r = client.patch(f"/api/v1/onus/{onu['id']}", json={"status": "online"}, headers=noc)
    assert r.status_code == 422 and "status" in r.text
    r = client.patch(f"/api/v1/onus/{onu['id']}", json={"onu_id": 3}, headers=noc)
    assert r.status_code == 422 and "onu_id" in r.text


def test_unknown_onu_is_404(client: TestClient, olt_world: OltWorld, noc: Headers) -> None:
    r = client.post(f"/api/v1/onus/{uuid.uuid4()}/authorise", json={}, headers=noc)
    assert r.status_code == 404
