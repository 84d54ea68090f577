"""Device API: validation, poll now, interfaces, masking, tenant isolation, devices near a point."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from ispops.db.session import Database
from ispops.devices import geo
from ispops.devices.service import credentials_path
from ispops.secrets import runtime as secret_runtime
from ispops.secrets.file import FileSecretStore
from tests.api.conftest import TokenFor
from tests.devices.conftest import COMMUNITY, V3_AUTH, V3_PRIV, V3_USER, Agent
from tests.factories import make_tenant

NAIROBI = (-1.2921, 36.8219)


@pytest.fixture
def tenants(db: Database) -> None:
    make_tenant(db, "tenant-a")
    make_tenant(db, "tenant-b")


def create(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    r = client.post("/api/v1/devices", json={"device_type": "switch", **body}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def test_types_validation_and_conflicts(client: TestClient, auth: TokenFor, tenants: None) -> None:
    noc = auth("tenant-a", "noc_engineer")
    for kind in ("olt", "router", "switch", "wireless_ap", "cpe", "onu"):
        create(client, noc, name=f"dev-{kind}", device_type=kind)

    r = client.post(
        "/api/v1/devices", json={"name": "x", "device_type": "switch", "mac_address": "00:11:22:33:44"}, headers=noc
    )
    assert r.status_code == 422
    assert r.json()["field"] == "mac_address"

    r = client.post("/api/v1/devices", json={"name": "dev-olt", "device_type": "switch"}, headers=noc)
    assert r.status_code == 409
    assert r.json()["field"] == "name"
    # Names are per tenant.
    create(client, auth("tenant-b", "noc_engineer"), name="dev-olt")

    r = client.post("/api/v1/devices", json={"name": "y", "device_type": "toaster"}, headers=noc)
    assert r.status_code == 422

    r = client.post("/api/v1/devices", json={"name": "z", "device_type": "switch", "snmp_port": 0}, headers=noc)
    assert r.status_code == 422


def test_observed_fields_are_read_only_and_the_community_is_write_only(
    client: TestClient, auth: TokenFor, tenants: None, admin: psycopg.Connection[Any]
) -> None:
    noc = auth("tenant-a", "noc_engineer")
    r = client.post(
        "/api/v1/devices", json={"name": "a", "device_type": "switch", "operational_status": "online"}, headers=noc
    )
    assert r.status_code == 422  # set by polls only
    dev = create(client, noc, name="a", snmp_community="s3cret-community")
    assert "snmp_community" not in dev  # write-only (POST .../reveal-secret shows it: tests/api/test_secrets.py)
    assert "snmp_community" not in client.get(f"/api/v1/devices/{dev['id']}", headers=noc).json()
    # Sending the old mask back (a form round trip from before it was write-only) keeps the stored community.
    body = {"snmp_community": "********", "site_name": "HQ"}
    r = client.patch(f"/api/v1/devices/{dev['id']}", json=body, headers=noc)
    assert r.status_code == 200, r.text
    stored = admin.execute("select snmp_community, site_name from devices where id = %s", (dev["id"],)).fetchone()
    assert stored == ("s3cret-community", "HQ")


def test_a_secret_path_outside_the_tenant_is_refused(client: TestClient, auth: TokenFor, tenants: None) -> None:
    noc = auth("tenant-a", "noc_engineer")
    foreign = "tenants/tenant-b/devices/x/credentials"
    r = client.post(
        "/api/v1/devices", json={"name": "a", "device_type": "switch", "credentials_vault_path": foreign}, headers=noc
    )
    assert r.status_code == 422 and r.json()["field"] == "credentials_vault_path"
    dev = create(client, noc, name="a")
    r = client.patch(f"/api/v1/devices/{dev['id']}", json={"credentials_vault_path": foreign}, headers=noc)
    assert r.status_code == 422 and r.json()["field"] == "credentials_vault_path"
    # Another device's API-kept credentials: its next change would delete them from under this one.
    other = create(client, noc, name="b")
    theirs = f"{credentials_path('tenant-a', uuid.UUID(other['id']))}-0123456789abcdef"
    patched = client.patch(f"/api/v1/devices/{dev['id']}", json={"credentials_vault_path": theirs}, headers=noc)
    made = client.post(
        "/api/v1/devices", json={"name": "c", "device_type": "switch", "credentials_vault_path": theirs}, headers=noc
    )
    for r in (patched, made):
        assert (r.status_code, r.json()["field"]) == (422, "credentials_vault_path"), r.text
    own = f"{credentials_path('tenant-a', uuid.UUID(dev['id']))}-0123456789abcdef"  # its own: fine
    assert (
        client.patch(f"/api/v1/devices/{dev['id']}", json={"credentials_vault_path": own}, headers=noc).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"management_ip": "127.0.0.1", "snmp_version": "v2c"}, "snmp_community"),  # nothing to ask with
        ({"snmp_community": "public"}, "management_ip"),  # nowhere to ask
        ({"management_ip": "127.0.0.1", "snmp_version": "v3"}, "credentials_vault_path"),  # no v3 user
    ],
)
def test_a_device_that_cannot_be_polled_is_a_422_naming_what_to_fix(
    client: TestClient, auth: TokenFor, tenants: None, body: dict[str, Any], field: str
) -> None:
    noc = auth("tenant-a", "noc_engineer")
    dev = create(client, noc, name="unpollable", **body)
    r = client.post(f"/api/v1/devices/{dev['id']}/poll", headers=noc)
    assert (r.status_code, r.json()["field"]) == (422, field), r.text
    after = client.get(f"/api/v1/devices/{dev['id']}", headers=noc).json()
    assert after["last_poll_error"] and after["operational_status"] == dev["operational_status"]  # said why only


def test_poll_now_and_interfaces(
    client: TestClient,
    auth: TokenFor,
    tenants: None,
    agent: Agent,
    store: FileSecretStore,
    admin: psycopg.Connection[Any],
) -> None:
    noc, field = auth("tenant-a", "noc_engineer"), auth("tenant-a", "field_tech")
    intruder = auth("tenant-b", "tenant_admin")
    dev = create(client, noc, name="edge", management_ip="127.0.0.1", snmp_port=agent.port, snmp_community=COMMUNITY)
    base = f"/api/v1/devices/{dev['id']}"

    before = client.get(f"{base}/interfaces", headers=field).json()
    assert before["operational_status"] is None and before["interfaces"] == []
    assert client.post(f"{base}/poll", headers=field).status_code == 403
    assert client.post(f"{base}/poll", headers=intruder).status_code == 404
    assert client.get(f"{base}/interfaces", headers=intruder).status_code == 404

    r = client.post(f"{base}/poll", headers=noc)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["operational_status"] == "online" and body["sys_name"] == "ispops-test-agent"
    lo = next(i for i in body["interfaces"] if i["if_index"] == 1)
    assert lo["name"] == "lo" and isinstance(lo["in_octets"], int)
    assert client.get(f"{base}/interfaces", headers=field).json() == body
    device = client.get(base, headers=field).json()
    assert device["operational_status"] == "online" and device["last_seen"] is not None
    audit = admin.execute(
        "select changes->>'action' from audit_events where entity = 'devices' and entity_id = %s and action = 'action'",
        (dev["id"],),
    ).fetchall()
    assert audit == [("poll",)]

    # v3 through credentials stored by the API (write-only).
    with secret_runtime.installed(store):
        creds = {"snmp_user": V3_USER, "snmp_auth_key": V3_AUTH, "snmp_priv_key": V3_PRIV}
        assert client.put(f"{base}/credentials", json=creds, headers=noc).status_code == 204
        first_path = client.get(base, headers=noc).json()["credentials_vault_path"]
        assert first_path.startswith(credentials_path("tenant-a", uuid.UUID(dev["id"])) + "-")
        assert json.loads(store.get(first_path))["snmp_user"] == V3_USER
        assert client.patch(base, json={"snmp_version": "v3"}, headers=noc).status_code == 200
        assert client.post(f"{base}/poll", headers=noc).json()["operational_status"] == "online"

        # A wrong key: offline, and the API says why.
        wrong = {**creds, "snmp_auth_key": "not-the-key"}
        assert client.put(f"{base}/credentials", json=wrong, headers=noc).status_code == 204
        second_path = client.get(base, headers=noc).json()["credentials_vault_path"]
        assert second_path != first_path and not store.exists(first_path)  # the old one went after the commit
        polled = client.post(f"{base}/poll", headers=noc).json()
        assert polled["operational_status"] == "offline" and polled["last_poll_error"]
        assert client.get(base, headers=noc).json()["last_poll_error"] == polled["last_poll_error"]

        assert client.delete(f"{base}/credentials", headers=noc).status_code == 204
        assert not store.exists(second_path)
    r = client.post(f"{base}/poll", headers=noc)
    assert r.status_code == 422 and r.json()["field"] == "credentials_vault_path"
    assert client.get(base, headers=noc).json()["last_poll_error"].startswith("SNMP v3 needs snmp_user")


def _at(client: TestClient, headers: dict[str, str], name: str, lat: float, lng: float) -> str:
    return str(create(client, headers, name=name, location_lat=round(lat, 6), location_lng=round(lng, 6))["id"])


def test_devices_near_a_point(client: TestClient, auth: TokenFor, tenants: None) -> None:
    noc = auth("tenant-a", "noc_engineer")
    lat, lng = NAIROBI
    near = _at(client, noc, "near", lat + 0.009, lng)  # ~1 km north
    mid = _at(client, noc, "mid", lat, lng + 0.045)  # ~5 km east
    _at(client, noc, "far", lat + 0.45, lng)  # ~50 km
    create(client, noc, name="nowhere")  # no location
    _at(client, auth("tenant-b", "noc_engineer"), "theirs", lat, lng)  # at the very point, another tenant

    r = client.get("/api/v1/devices/near", params={"lat": lat, "lng": lng, "radius_km": 10}, headers=noc)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["id"] for i in items] == [near, mid]
    expected = geo.distances_km(lat, lng, [(lat + 0.009, lng), (lat, lng + 0.045)])
    assert [i["distance_km"] for i in items] == pytest.approx(expected, abs=1e-3)
    assert 0.99 < items[0]["distance_km"] < 1.01

    r = client.get("/api/v1/devices/near", params={"lat": lat, "lng": lng, "radius_km": 100, "limit": 1}, headers=noc)
    assert [i["name"] for i in r.json()["items"]] == ["near"]
    r = client.get("/api/v1/devices/near", params={"lat": 95, "lng": lng}, headers=noc)
    assert r.status_code == 422


def test_near_orders_by_distance_on_the_ground_not_in_degrees(
    client: TestClient, auth: TokenFor, tenants: None
) -> None:
    """At 60°N a degree of longitude is half a degree of latitude: 0.15° east (~8.4 km) is nearer than
    0.1° north (~11.1 km), though farther in degrees."""
    noc = auth("tenant-a", "noc_engineer")
    north = _at(client, noc, "north", 60.1, 10.0)
    east = _at(client, noc, "east", 60.0, 10.15)
    r = client.get("/api/v1/devices/near", params={"lat": 60, "lng": 10, "radius_km": 20}, headers=noc)
    assert [i["id"] for i in r.json()["items"]] == [east, north]
    r = client.get("/api/v1/devices/near", params={"lat": 60, "lng": 10, "radius_km": 9}, headers=noc)
    assert [i["id"] for i in r.json()["items"]] == [east]


def test_near_uses_the_gist_index_under_rls(db: Database, tenants: None) -> None:
    with db.tenant("tenant-a") as s:
        # On a table this small any tenant_id index plus a sort costs about the same as the ordered GiST
        # scan, and the planner's pick flips with the statistics: rule out the scan and the sort, so the
        # question is only whether the GiST index can serve the query under RLS.
        s.execute(text("set local enable_seqscan = off"))
        s.execute(text("set local enable_sort = off"))
        stmt = geo.near_query("tenant-a", *NAIROBI)
        compiled = stmt.compile(dialect=s.get_bind().dialect, compile_kwargs={"literal_binds": True})
        plan = "\n".join(r[0] for r in s.execute(text(f"explain {compiled}")))
    assert "idx_devices_location" in plan, plan
