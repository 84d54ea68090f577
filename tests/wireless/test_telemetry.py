"""CPE health: pushed readings kept as day-partitioned history (RLS + FORCE on every partition, retention
by ``ispops db maintain``), the CPE's latest values, and the three alarms."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ispops.db import partitions
from ispops.db.schema_check import check_schema
from ispops.db.session import Database
from ispops.wireless.jobs import maintain_readings
from tests.wireless.conftest import HILL, Isp

SPOT = (HILL[0], 36.82)  # ~2.2 km east
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def at(minutes: int) -> str:
    return (NOW + dt.timedelta(minutes=minutes)).isoformat()


def push(isp: Isp, *readings: dict[str, Any], status: int = 200) -> dict[str, Any]:
    return isp.post("wireless/cpe-readings", {"readings": list(readings)}, status=status)


@pytest.fixture
def site(isp: Isp) -> dict[str, Any]:
    tower = isp.tower()
    east = isp.sector(tower, "East", radio_mac="0a:00:00:00:00:01")
    north = isp.sector(tower, "North", azimuth=0, radio_mac="0a:00:00:00:00:02", frequency_mhz=5200)
    plan = isp.plan("Home 50", 50)
    cpe = isp.cpe(east, "02:00:00:00:05:01", *SPOT, plan=plan)
    return {"east": east, "north": north, "cpe": cpe, "predicted": float(cpe["predicted_signal_dbm"])}


def test_readings_are_kept_and_the_latest_shown(isp: Isp, site: dict[str, Any], admin: Any) -> None:
    p = site["predicted"]
    report = push(
        isp,
        {"cpe_mac": "02:00:00:00:05:01", "read_at": at(0), "signal_dbm": p, "noise_dbm": -95, "link_speed_mbps": 200},
        {
            "wireless_subscriber_id": site["cpe"]["id"],
            "read_at": at(5),
            "signal_dbm": p - 1,
            "noise_dbm": -95,
            "distance_km": 2.2,
            "ap_mac": "0A:00:00:00:00:01",
        },
    )
    assert (report["accepted"], report["cpes"], report["raised"]) == (2, 1, [])
    rows = admin.execute(
        "select source, snr_db, registered_sector_id::text, tableoid::regclass::text from wireless_cpe_readings "
        "order by read_at"
    ).fetchall()
    assert [r[0] for r in rows] == ["push", "push"]
    assert float(rows[0][1]) == pytest.approx(p + 95, abs=0.1)  # SNR from signal - noise when not given
    assert rows[1][2] == site["east"]["id"]  # the radio MAC names the sector
    assert rows[0][3] == f"wireless_cpe_readings_p{NOW:%Y%m%d}" or rows[0][3].startswith("wireless_cpe_readings_p")
    health = isp.get(f"wireless_subscribers/{site['cpe']['id']}/health")
    assert health["signal_dbm"] == round(p - 1) and health["registered_sector_id"] == site["east"]["id"]
    assert health["last_seen"].startswith(at(5)[:16]) and health["open_alarms"] == []
    history = isp.get("wireless_cpe_readings", wireless_subscriber_id=site["cpe"]["id"])
    assert history["total"] == 2 and history["items"][0]["read_at"].startswith(at(5)[:16])  # newest first
    # An older batch replayed later does not move the latest values back.
    push(isp, {"cpe_mac": "02:00:00:00:05:01", "read_at": at(-60), "signal_dbm": -90})
    assert isp.get(f"wireless_subscribers/{site['cpe']['id']}/health")["signal_dbm"] == round(p - 1)


def test_a_drift_of_more_than_6_db_raises_and_recovery_clears(isp: Isp, site: dict[str, Any]) -> None:
    p = site["predicted"]
    cpe = site["cpe"]["id"]
    ok = push(isp, {"wireless_subscriber_id": cpe, "read_at": at(0), "signal_dbm": p - 5.9, "noise_dbm": -95})
    assert ok["raised"] == []
    low = push(isp, {"wireless_subscriber_id": cpe, "read_at": at(1), "signal_dbm": p - 8, "noise_dbm": -95})
    assert [a["kind"] for a in low["raised"]] == ["signal_drift"]
    assert "8.0 dB below the predicted" in low["raised"][0]["detail"]
    again = push(isp, {"wireless_subscriber_id": cpe, "read_at": at(2), "signal_dbm": p - 9, "noise_dbm": -95})
    alarms = isp.get("wireless_cpe_alarms", wireless_subscriber_id=cpe)["items"]
    assert len(alarms) == 1 and float(alarms[0]["measured"]) == pytest.approx(p - 9, abs=0.01)  # refreshed, not doubled
    assert again["cleared"] == 0
    back = push(isp, {"wireless_subscriber_id": cpe, "read_at": at(3), "signal_dbm": p, "noise_dbm": -95})
    assert back["cleared"] == 1
    assert isp.get(f"wireless_subscribers/{cpe}/health")["open_alarms"] == []


def test_snr_below_what_the_plan_needs(isp: Isp, site: dict[str, Any]) -> None:
    cpe = site["cpe"]["id"]
    health = isp.get(f"wireless_subscribers/{cpe}/health")
    # 50 Mbps on 802.11ac, 20 MHz, 2 streams, 65 % efficiency: 39 Mbps per stream (MCS 4, 16-QAM 3/4) x 2 x 0.65
    # = 50.7 Mbps, which needs 15 dB.
    assert health["plan_needs_snr_db"] == 15
    p = site["predicted"]
    raised = push(isp, {"wireless_subscriber_id": cpe, "read_at": at(0), "signal_dbm": p, "snr_db": 12})["raised"]
    assert [(a["kind"], a["measured"], a["expected"]) for a in raised] == [("snr_below_plan", 12, 15)]


def test_a_cpe_on_another_sector_than_on_record(isp: Isp, site: dict[str, Any]) -> None:
    cpe = site["cpe"]["id"]
    p = site["predicted"]
    wrong = push(isp, {"wireless_subscriber_id": cpe, "read_at": at(0), "signal_dbm": p, "ap_mac": "0a:00:00:00:00:02"})
    assert [a["kind"] for a in wrong["raised"]] == ["wrong_sector"]
    assert site["north"]["id"] in wrong["raised"][0]["detail"]
    right = push(
        isp,
        {"wireless_subscriber_id": cpe, "read_at": at(1), "signal_dbm": p, "registered_sector_id": site["east"]["id"]},
    )
    assert right["cleared"] == 1


def test_readings_for_another_tenants_cpe_or_bad_values_are_refused(
    isp: Isp, other: Isp, site: dict[str, Any], admin: Any
) -> None:
    theirs = push(other, {"wireless_subscriber_id": site["cpe"]["id"], "read_at": at(0)}, status=422)
    assert theirs["field"] == "readings.0.wireless_subscriber_id"
    by_mac = push(other, {"cpe_mac": "02:00:00:00:05:01", "read_at": at(0)}, status=422)
    assert by_mac["field"] == "readings.0.cpe_mac"
    sector = push(
        isp, {"cpe_mac": "02:00:00:00:05:01", "read_at": at(0), "registered_sector_id": other.tower()["id"]}, status=422
    )
    assert sector["field"] == "readings.0.registered_sector_id"
    naive = push(isp, {"cpe_mac": "02:00:00:00:05:01", "read_at": "2026-12-07T10:00:00"}, status=422)
    assert naive["field"] == "readings.0.read_at"
    response = isp.client.post(
        "/api/v1/wireless/cpe-readings",
        content='{"readings": [{"cpe_mac": "02:00:00:00:05:01", "read_at": "' + at(0) + '", "signal_dbm": NaN}]}',
        headers={**isp.headers, "content-type": "application/json"},
    )
    assert response.status_code == 422 and response.json()["field"] == "readings.0.signal_dbm"
    # A good reading next to a bad one: neither is kept.
    mixed = push(
        isp,
        {"cpe_mac": "02:00:00:00:05:01", "read_at": at(0)},
        {"cpe_mac": "02:00:00:00:09:99", "read_at": at(0)},
        status=422,
    )
    assert mixed["field"] == "readings.1.cpe_mac"
    assert admin.execute("select count(*) from wireless_cpe_readings").fetchone() == (0,)


def test_other_tenants_see_404_and_field_techs_cannot_push(
    isp: Isp, other: Isp, site: dict[str, Any], client: TestClient, auth: Any
) -> None:
    cpe = site["cpe"]["id"]
    push(isp, {"wireless_subscriber_id": cpe, "read_at": at(0), "signal_dbm": site["predicted"] - 10})
    reading = isp.get("wireless_cpe_readings")["items"][0]
    alarm = isp.get("wireless_cpe_alarms")["items"][0]
    other.get(f"wireless_cpe_readings/{reading['id']}", status=404)
    other.get(f"wireless_cpe_alarms/{alarm['id']}", status=404)
    other.get(f"wireless_subscribers/{cpe}/health", status=404)
    assert other.get("wireless_cpe_readings")["total"] == 0 and other.get("wireless_cpe_alarms")["total"] == 0
    tech = auth(isp.tenant, "field_tech")
    refused = client.post(
        "/api/v1/wireless/cpe-readings",
        json={"readings": [{"wireless_subscriber_id": cpe, "read_at": at(1)}]},
        headers=tech,
    )
    assert refused.status_code == 403
    assert client.get(f"/api/v1/wireless_subscribers/{cpe}/health", headers=tech).status_code == 200


def test_every_partition_has_its_own_policy_and_maintain_keeps_the_window(db: Database, admin: Any) -> None:
    parts = [
        r[0]
        for r in admin.execute(
            "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
            "where i.inhparent = 'wireless_cpe_readings'::regclass"
        )
    ]
    assert "wireless_cpe_readings_default" in parts and f"wireless_cpe_readings_p{NOW:%Y%m%d}" in parts
    for name in parts:
        rls, force = admin.execute(
            "select relrowsecurity, relforcerowsecurity from pg_class where relname = %s", (name,)
        ).fetchone()
        policies = admin.execute("select count(*) from pg_policy where polrelid = %s::regclass", (name,)).fetchone()
        assert (rls, force, policies) == (True, True, (1,)), name
    admin.execute("select ispops_wireless_readings_ensure_partition(current_date - 400)")
    old = f"wireless_cpe_readings_p{(NOW.date() - dt.timedelta(days=400)):%Y%m%d}"
    report = partitions.maintain(db, cpe_days_ahead=9, cpe_retention_days=90)
    assert old in report.dropped
    ahead = f"wireless_cpe_readings_p{(NOW.date() + dt.timedelta(days=9)):%Y%m%d}"
    assert ahead in report.created or ahead in {r[0] for r in admin.execute("select relname from pg_class")}
    with db.owner() as conn:
        assert [p for p in check_schema(conn) if "wireless" in p] == []


def test_the_worker_keeps_the_window_as_the_application_role(db: Database, admin: Any) -> None:
    admin.execute("select ispops_wireless_readings_ensure_partition(current_date - 200)")
    old = f"wireless_cpe_readings_p{(NOW.date() - dt.timedelta(days=200)):%Y%m%d}"
    done = maintain_readings(db, days_ahead=7, retention_days=90)
    assert done["dropped"] == [old] and done["problems"] == []
    assert maintain_readings(db) == {"created": [], "dropped": [], "problems": []}  # idempotent
