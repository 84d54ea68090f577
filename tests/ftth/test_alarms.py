"""Link alarms and power events (a dying-gasp storm under one splitter is ONE event), and the optical-health
API: push, history, alarms per OLT / PON / ONU, the alarm settings; another tenant's objects are 404."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from ispops.db.session import Database
from ispops.ftth.alarms import reconcile_link_alarms
from tests.api.conftest import TokenFor
from tests.ftth import onu_world
from tests.ftth.conftest import OpticsWorld, add_online_onus

NOW = datetime.now(UTC).replace(microsecond=0)


def go_down(admin: psycopg.Connection[Any], onus: list[uuid.UUID], cause: str, at: datetime = NOW) -> None:
    admin.execute(
        "update onus set status = 'offline', last_down_cause = %s, last_down_at = %s where id = any(%s)",
        (cause, at, onus),
    )


def come_up(admin: psycopg.Connection[Any], onus: list[uuid.UUID]) -> None:
    admin.execute("update onus set status = 'online' where id = any(%s)", (onus,))


def reconcile(db: Database, tenant: str) -> Any:
    with db.tenant(tenant) as s:
        return reconcile_link_alarms(s, tenant)


def open_link_alarms(admin: psycopg.Connection[Any]) -> list[tuple[str, str, int]]:
    rows = admin.execute(
        "select kind, severity, onu_count from ftth_alarms where cleared_at is null order by kind, onu_count"
    ).fetchall()
    return [(str(k), str(s), int(n)) for k, s, n in rows]


def test_a_dying_gasp_storm_under_one_splitter_is_one_power_event_not_n_fibre_faults(
    db: Database, optics_world: OpticsWorld, admin: psycopg.Connection[Any]
) -> None:
    storm = optics_world.onus[:4]
    go_down(admin, storm, "dying_gasp")
    go_down(admin, [optics_world.onus[4]], "los")
    changes = reconcile(db, optics_world.tenant)
    assert (changes.power_events_raised, changes.los_raised, changes.dying_gasp_raised) == (1, 1, 0)
    assert open_link_alarms(admin) == [("los", "critical", 1), ("power_event", "warning", 4)]
    event = admin.execute("select splitter_id, members, onu_id from ftth_alarms where kind = 'power_event'").fetchone()
    assert event is not None
    assert event[0] == optics_world.world.splitter and event[2] is None
    assert sorted(event[1]) == sorted(str(o) for o in storm)
    # Idempotent: nothing changed, nothing written.
    again = reconcile(db, optics_world.tenant)
    assert (again.power_events_raised, again.los_raised, again.cleared) == (0, 0, 0)
    # Power back on three of them: the event stays until the last is up.
    come_up(admin, storm[:3])
    reconcile(db, optics_world.tenant)
    assert open_link_alarms(admin) == [("los", "critical", 1), ("power_event", "warning", 4)]
    come_up(admin, [storm[3], optics_world.onus[4]])
    cleared = reconcile(db, optics_world.tenant)
    assert cleared.cleared == 2
    assert open_link_alarms(admin) == []


def test_a_lone_dying_gasp_is_a_power_note_and_a_second_folds_both_into_one_event(
    db: Database, optics_world: OpticsWorld, admin: psycopg.Connection[Any]
) -> None:
    first, second = optics_world.onus[:2]
    go_down(admin, [first], "dying_gasp", NOW - timedelta(seconds=60))
    reconcile(db, optics_world.tenant)
    assert open_link_alarms(admin) == [("dying_gasp", "info", 1)]
    go_down(admin, [second], "dying_gasp", NOW)
    reconcile(db, optics_world.tenant)
    assert open_link_alarms(admin) == [("power_event", "warning", 2)]
    # One far outside the storm window on the same splitter joins nothing: it stands alone.
    go_down(admin, [optics_world.onus[2]], "dying_gasp", NOW + timedelta(hours=2))
    reconcile(db, optics_world.tenant)
    assert open_link_alarms(admin) == [("dying_gasp", "info", 1), ("power_event", "warning", 2)]


# ---------------------------------------------------------------------------------------------------------
# API


def push(client: TestClient, headers: dict[str, str], *readings: dict[str, Any]) -> Any:
    return client.post("/api/v1/ftth/optics/readings", json={"readings": list(readings)}, headers=headers)


def test_push_by_serial_and_by_id_then_read_history_and_alarms(
    client: TestClient, auth: TokenFor, optics_world: OpticsWorld, admin: psycopg.Connection[Any]
) -> None:
    noc = auth(optics_world.tenant, "noc_engineer")
    onu = optics_world.onus[0]
    answer = push(
        client,
        noc,
        {"serial_number": "OPTX00000000", "measured_at": (NOW - timedelta(minutes=5)).isoformat(), "rx_dbm": -26.0},
        {"onu_id": str(onu), "measured_at": NOW.isoformat(), "rx_dbm": -27.4, "distance_m": 2500},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "received": 2,
        "stored": 2,
        "onus_updated": 1,
        "alarms_raised": 1,
        "alarms_cleared": 0,
        "alarms_changed": 0,
    }
    assert admin.execute("select bool_and(pushed) from onu_optical_readings").fetchone() == (True,)
    got = client.get(f"/api/v1/onus/{onu}/optics", headers=noc)
    assert got.status_code == 200
    assert [float(i["rx_dbm"]) for i in got.json()["items"]] == [-26.0, -27.4]
    world = optics_world.world
    for query in (f"olt_id={world.olt}", f"olt_id={world.olt}&pon_port=3", f"onu_id={onu}"):
        listed = client.get(f"/api/v1/ftth/alarms?{query}", headers=noc)
        assert listed.status_code == 200, listed.text
        assert [(a["kind"], a["severity"], a["onu_id"]) for a in listed.json()["items"]] == [
            ("rx_low", "critical", str(onu))
        ]
    assert client.get(f"/api/v1/ftth/alarms?olt_id={world.olt}&pon_port=4", headers=noc).json()["total"] == 0
    summary = client.get("/api/v1/ftth/alarms/summary", headers=noc).json()
    assert summary == [
        {"olt_id": str(world.olt), "pon_port": 3, "kind": "rx_low", "severity": "critical", "alarms": 1, "onus": 1}
    ]


def test_an_impossible_rx_is_a_422_naming_the_field_and_nothing_is_written(
    client: TestClient, auth: TokenFor, optics_world: OpticsWorld, admin: psycopg.Connection[Any]
) -> None:
    noc = auth(optics_world.tenant, "noc_engineer")
    good = {"onu_id": str(optics_world.onus[0]), "measured_at": NOW.isoformat(), "rx_dbm": -20.0}
    bad = {"onu_id": str(optics_world.onus[1]), "measured_at": NOW.isoformat(), "rx_dbm": 50.0}
    answer = push(client, noc, good, bad)
    assert answer.status_code == 422
    assert answer.json()["field"] == "readings.1.rx_dbm"
    both = push(client, noc, {**good, "serial_number": "OPTX00000000"})
    assert both.status_code == 422 and "exactly one of onu_id and serial_number" in both.text
    assert admin.execute("select count(*) from onu_optical_readings").fetchone() == (0,)
    assert admin.execute("select count(*) from onus where last_seen is not null").fetchone() == (0,)


def test_another_tenants_onu_olt_and_splitter_are_404_everywhere(
    client: TestClient, auth: TokenFor, optics_world: OpticsWorld, db: Database, admin: psycopg.Connection[Any]
) -> None:
    other = onu_world.build(db, "isp-b")
    (theirs,) = add_online_onus(db, other, 1, prefix="OTHR")
    noc = auth(optics_world.tenant, "noc_engineer")
    mine = {"onu_id": str(optics_world.onus[0]), "measured_at": NOW.isoformat(), "rx_dbm": -20.0}
    answer = push(client, noc, mine, {"onu_id": str(theirs), "measured_at": NOW.isoformat(), "rx_dbm": -20.0})
    assert answer.status_code == 404 and answer.json()["field"] == "readings.1.onu_id"
    by_serial = push(client, noc, {"serial_number": "OTHR00000000", "measured_at": NOW.isoformat(), "rx_dbm": -20})
    assert by_serial.status_code == 404 and by_serial.json()["field"] == "readings.0.serial_number"
    assert admin.execute("select count(*) from onu_optical_readings").fetchone() == (0,)
    assert client.get(f"/api/v1/onus/{theirs}/optics", headers=noc).status_code == 404
    for query in (f"olt_id={other.olt}", f"onu_id={theirs}", f"splitter_id={other.splitter}"):
        assert client.get(f"/api/v1/ftth/alarms?{query}", headers=noc).status_code == 404, query
    assert client.get(f"/api/v1/ftth/alarms/summary?olt_id={other.olt}", headers=noc).status_code == 404
    # isp-b's alarms never show in isp-a's lists.
    go_down(admin, [theirs], "los")
    reconcile(db, "isp-b")
    assert client.get("/api/v1/ftth/alarms", headers=noc).json() == {"items": [], "total": 0}


def test_alarm_settings_are_per_tenant_validated_and_used(
    client: TestClient, auth: TokenFor, optics_world: OpticsWorld, db: Database, admin: psycopg.Connection[Any]
) -> None:
    other = onu_world.build(db, "isp-b")
    admin_a = auth(optics_world.tenant, "tenant_admin")
    defaults = client.get("/api/v1/ftth/settings/alarms", headers=admin_a)
    assert defaults.status_code == 200
    assert defaults.json()["warn_margin_db"] == 2.0 and defaults.json()["hysteresis_db"] == 1.0
    bad = client.put("/api/v1/ftth/settings/alarms", json={"hysteresis_db": 9}, headers=admin_a)
    assert bad.status_code == 422 and bad.json()["field"] == "hysteresis_db"
    support = auth(optics_world.tenant, "support_agent")
    assert client.put("/api/v1/ftth/settings/alarms", json={}, headers=support).status_code == 403
    put = client.put("/api/v1/ftth/settings/alarms", json={"warn_margin_db": 4.0}, headers=admin_a)
    assert put.status_code == 200 and put.json()["warn_margin_db"] == 4.0
    assert admin.execute(
        "select count(*) from audit_events where entity = 'ftth_settings' and tenant_id = 'isp-a'"
    ).fetchone() == (1,)
    # isp-b keeps the defaults; isp-a's warning is now at -23 dBm on a B+ OLT.
    assert (
        client.get("/api/v1/ftth/settings/alarms", headers=auth(other.tenant, "noc_engineer")).json()["warn_margin_db"]
        == 2.0
    )
    noc = auth(optics_world.tenant, "noc_engineer")
    warn = push(client, noc, {"onu_id": str(optics_world.onus[0]), "measured_at": NOW.isoformat(), "rx_dbm": -23.5})
    assert warn.status_code == 200, warn.text
    assert admin.execute("select kind, severity from ftth_alarms").fetchall() == [("rx_low", "warning")]


def test_the_optics_routes_refuse_undeclared_parameters(
    client: TestClient, auth: TokenFor, optics_world: OpticsWorld
) -> None:
    noc = auth(optics_world.tenant, "tenant_admin")
    for path in (
        f"/api/v1/onus/{optics_world.onus[0]}/optics",
        "/api/v1/ftth/alarms",
        "/api/v1/ftth/alarms/summary",
        "/api/v1/ftth/settings/alarms",
    ):
        answer = client.get(path, params={"zz_unknown": "1"}, headers=noc)
        assert answer.status_code == 422 and answer.json()["field"] == "zz_unknown", (path, answer.text)
