"""CPE polling over SNMP against a real snmpd (Net-SNMP) on loopback answering the airMAX OIDs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ispops.db.session import Database
from ispops.devices.snmp import SnmpCredentials
from ispops.wireless.jobs import AIRMAX, poll_cpes
from tests.devices.conftest import COMMUNITY, Agent, start_snmpd
from tests.ports import free_udp_port
from tests.wireless.conftest import HILL, Isp


@pytest.fixture(scope="module")
def cpe_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    overrides = [
        f"override .{AIRMAX.signal_dbm} integer -71",
        f"override .{AIRMAX.noise_dbm} integer -95",
        f"override .{AIRMAX.tx_rate_kbps} integer 144000",
        f"override .{AIRMAX.distance_m} integer 2250",
        f'override .{AIRMAX.ap_mac} octet_str "0a:00:00:00:00:02"',
    ]
    yield from start_snmpd(tmp_path_factory.mktemp("cpe-snmp") / "cpe", overrides)


def test_polling_stores_readings_and_raises_alarms(isp: Isp, db: Database, cpe_agent: Agent, admin: Any) -> None:
    tower = isp.tower()
    east = isp.sector(tower, "East", radio_mac="0a:00:00:00:00:01")
    north = isp.sector(tower, "North", azimuth=0, frequency_mhz=5200, radio_mac="0a:00:00:00:00:02")
    cpe = isp.cpe(east, "02:00:00:00:06:01", HILL[0], 36.82, cpe_ip="127.0.0.1")
    silent = isp.cpe(east, "02:00:00:00:06:02", HILL[0], 36.82, cpe_ip="127.0.0.2")
    isp.cpe(east, "02:00:00:00:06:03", HILL[0], 36.82)  # no management address: not polled
    # The second CPE's address has no agent on this port: it fails alone.
    report = poll_cpes(
        db,
        isp.tenant,
        credentials=SnmpCredentials(version="v2c", community=COMMUNITY),
        port=cpe_agent.port,
        timeout=0.5,
        retries=0,
    )
    assert (report.polled, report.answered) == (2, 1)
    assert list(report.failed) == [silent["id"]]
    row = admin.execute(
        "select source, signal_dbm, noise_dbm, snr_db, link_speed_mbps, distance_km, registered_sector_id::text "
        "from wireless_cpe_readings where wireless_subscriber_id = %s",
        (cpe["id"],),
    ).fetchone()
    assert row[0] == "snmp" and [float(v) for v in row[1:6]] == [-71, -95, 24, 144, 2.25]
    assert row[6] == north["id"]
    assert report.ingest is not None
    assert {a["kind"] for a in report.ingest.raised} == {"wrong_sector", "signal_drift"}
    health = isp.get(f"wireless_subscribers/{cpe['id']}/health")
    assert health["signal_dbm"] == -71 and health["registered_sector_id"] == north["id"]


def test_nothing_to_poll(isp: Isp, db: Database) -> None:
    report = poll_cpes(db, isp.tenant, credentials=SnmpCredentials(version="v2c", community="x"), port=free_udp_port())
    assert (report.polled, report.answered, report.ingest) == (0, 0, None)
