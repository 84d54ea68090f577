"""OLTs: technology and optical class, PON ports addressed frame/slot/port, their counters."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi.testclient import TestClient

from ispops.db.counters import check_counters
from ispops.db.session import Database
from tests.api.conftest import TokenFor
from tests.factories import make_tenant


def new_olt(client: TestClient, h: dict[str, str], name: str, **body: Any) -> Any:
    device = client.post("/api/v1/devices", json={"name": name, "device_type": "olt"}, headers=h).json()["id"]
    return client.post("/api/v1/olts", json={"device_id": device, **body}, headers=h)


def test_technology_and_class(client: TestClient, db: Database, auth: TokenFor) -> None:
    make_tenant(db, "isp-a")
    h = auth("isp-a", "noc_engineer")
    plain = new_olt(client, h, "olt-plain")
    assert plain.status_code == 201, plain.text
    assert (plain.json()["technology"], plain.json()["optical_class"]) == ("gpon", None)
    assert client.get(f"/api/v1/olts/{plain.json()['id']}/profile", headers=h).json()["optical_class"] == "b_plus"
    wrong = new_olt(client, h, "olt-wrong", technology="xgspon", optical_class="c_plus")
    assert wrong.status_code == 422 and wrong.json()["field"] == "optical_class", wrong.text
    unknown = new_olt(client, h, "olt-unknown", technology="gpon", optical_class="d_plus")
    assert unknown.status_code == 422 and "optical_class" in unknown.text
    c_plus = new_olt(client, h, "olt-c", technology="gpon", optical_class="c_plus").json()
    profile = client.get(f"/api/v1/olts/{c_plus['id']}/profile", headers=h).json()
    assert profile["thresholds"]["onu_rx_sensitivity_dbm"] == -30 and profile["onu_ids_per_port"] == 128
    r = client.patch(f"/api/v1/olts/{c_plus['id']}", json={"technology": "xgspon"}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "optical_class"
    r = client.patch(f"/api/v1/olts/{c_plus['id']}", json={"technology": "xgspon", "optical_class": "n2"}, headers=h)
    assert r.status_code == 200
    xgs_port = client.post("/api/v1/olt_pon_ports", json={"olt_id": c_plus["id"], "port": 0}, headers=h).json()
    assert (xgs_port["name"], xgs_port["max_onus"]) == ("0/0/0", 256)


def test_pon_ports_and_active_pon_ports(
    client: TestClient, db: Database, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    make_tenant(db, "isp-a")
    h = auth("isp-a", "noc_engineer")
    olt = new_olt(client, h, "olt-1", max_pon_ports=16).json()
    ports = [
        client.post("/api/v1/olt_pon_ports", json={"olt_id": olt["id"], "slot": 1, "port": p}, headers=h).json()
        for p in range(3)
    ]
    assert [p["name"] for p in ports] == ["0/1/0", "0/1/1", "0/1/2"]
    assert client.get(f"/api/v1/olts/{olt['id']}", headers=h).json()["active_pon_ports"] == 3
    disabled = client.patch(f"/api/v1/olt_pon_ports/{ports[2]['id']}", json={"status": "disabled"}, headers=h)
    assert disabled.status_code == 200
    assert client.get(f"/api/v1/olts/{olt['id']}", headers=h).json()["active_pon_ports"] == 2
    r = client.patch(f"/api/v1/olt_pon_ports/{ports[0]['id']}", json={"port": 7}, headers=h)
    assert r.status_code == 422  # an address is fixed once made
    bad = client.post("/api/v1/olt_pon_ports", json={"olt_id": olt["id"], "slot": 1, "port": 300}, headers=h)
    assert bad.status_code == 422 and "port" in bad.text
    # Deleting an unused port works; one that holds an ONU is still in use.
    onu = client.post(
        "/api/v1/onus",
        json={"olt_id": olt["id"], "pon_port_id": ports[0]["id"], "serial_number": "ZTEG0DEL0001"},
        headers=h,
    )
    assert onu.status_code == 201, onu.text
    assert (
        client.delete(f"/api/v1/olt_pon_ports/{ports[1]['id']}", headers=auth("isp-a", "tenant_admin")).status_code
        == 204
    )
    held = client.delete(f"/api/v1/olt_pon_ports/{ports[0]['id']}", headers=auth("isp-a", "tenant_admin"))
    assert held.status_code == 409
    assert check_counters(db)[1] == []


def test_a_legacy_onu_with_only_a_port_number_gets_port_0_0_n(client: TestClient, db: Database, auth: TokenFor) -> None:
    make_tenant(db, "isp-a")
    h = auth("isp-a", "noc_engineer")
    olt = new_olt(client, h, "olt-1").json()
    onu = client.post(
        "/api/v1/onus",
        json={"olt_id": olt["id"], "serial_number": "HWTC0LEGACY1", "pon_port": 5, "onu_id": 9},
        headers=h,
    )
    assert onu.status_code == 201, onu.text
    port = client.get(f"/api/v1/olt_pon_ports/{onu.json()['pon_port_id']}", headers=h).json()
    assert (port["name"], onu.json()["pon_port"]) == ("0/0/5", 5)
    none = client.post("/api/v1/onus", json={"olt_id": olt["id"], "serial_number": "HWTC0LEGACY2"}, headers=h)
    assert none.status_code == 422 and "pon_port_id" in none.text
