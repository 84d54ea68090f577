"""The periodic CPE poll (``wireless.poll_tenant``): credentials set through the API, kept per tenant in the
secret store, used for that tenant only, against a real snmpd (Net-SNMP) answering the airMAX OIDs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ispops.db.session import Database
from ispops.jobs.registry import get_spec
from ispops.secrets import runtime
from ispops.secrets.file import FileSecretStore
from ispops.wireless.jobs import AIRMAX, poll_tenant
from tests.devices.conftest import COMMUNITY, V3_AUTH, V3_PRIV, V3_USER, Agent, start_snmpd
from tests.wireless.conftest import HILL, Isp

CPE_SNMP = "/api/v1/wireless/cpe-snmp"


@pytest.fixture(scope="module")
def cpe_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    overrides = [
        f"override .{AIRMAX.signal_dbm} integer -64",
        f"override .{AIRMAX.noise_dbm} integer -96",
        f"override .{AIRMAX.tx_rate_kbps} integer 288000",
        f"override .{AIRMAX.distance_m} integer 1500",
        f'override .{AIRMAX.ap_mac} octet_str "0a:00:00:00:00:11"',
    ]
    yield from start_snmpd(tmp_path_factory.mktemp("cpe-poll") / "cpe", overrides)


@pytest.fixture
def store(client: Any, tmp_path: Path) -> Iterator[FileSecretStore]:
    """A temporary secret store for the app and the job (they share the process's store)."""
    with runtime.installed(FileSecretStore(tmp_path / "secrets", os.urandom(32))) as installed:
        assert isinstance(installed, FileSecretStore)
        yield installed


def _put(isp: Isp, body: dict[str, Any], status: int = 204, headers: dict[str, str] | None = None) -> str:
    response = isp.client.put(CPE_SNMP, json=body, headers=headers or isp.headers)
    assert response.status_code == status, response.text
    return str(response.text)


def _one_cpe(isp: Isp, mac: str) -> dict[str, Any]:
    sector = isp.sector(isp.tower(), "East", radio_mac="0a:00:00:00:00:11")
    return isp.cpe(sector, mac, HILL[0], 36.82, cpe_ip="127.0.0.1")


def _readings(admin: Any, cpe_id: str) -> list[tuple[Any, ...]]:
    return list(
        admin.execute(
            "select tenant_id, source, signal_dbm, noise_dbm, link_speed_mbps from wireless_cpe_readings "
            "where wireless_subscriber_id = %s",
            (cpe_id,),
        ).fetchall()
    )


def test_credentials_set_through_the_api_drive_the_job(
    isp: Isp, db: Database, cpe_agent: Agent, admin: Any, store: FileSecretStore
) -> None:
    cpe = _one_cpe(isp, "02:00:00:00:07:01")
    assert isp.get("wireless/cpe-snmp") == {"configured": False, "version": None, "port": None}
    _put(isp, {"version": "v2c", "community": COMMUNITY, "port": cpe_agent.port})
    # Write-only: no read shows the community, neither this page nor the settings page.
    shown = isp.client.get(CPE_SNMP, headers=isp.headers)
    assert shown.json() == {"configured": True, "version": "v2c", "port": cpe_agent.port}
    assert COMMUNITY not in shown.text
    assert COMMUNITY not in isp.client.get("/api/v1/wireless/settings", headers=isp.headers).text
    # Kept under the tenant's own prefix in the secret store; the change is audited without the secret.
    assert store.exists(f"tenants/{isp.tenant}/wireless/cpe-snmp")
    events = admin.execute(
        "select changes::text from audit_events where tenant_id = %s and entity = 'wireless_settings'", (isp.tenant,)
    ).fetchall()
    assert len(events) == 1 and "cpe_snmp" in events[0][0] and COMMUNITY not in events[0][0]

    report = poll_tenant(db, isp.tenant, timeout=1.0, retries=1)
    assert (report.skipped, report.polled, report.answered, report.failed) == (None, 1, 1, {})
    assert [(str(t), s, float(sig), float(n), float(r)) for t, s, sig, n, r in _readings(admin, cpe["id"])] == [
        (isp.tenant, "snmp", -64, -96, 288)
    ]
    assert isp.get(f"wireless_subscribers/{cpe['id']}/health")["signal_dbm"] == -64


def test_v3_credentials(isp: Isp, db: Database, cpe_agent: Agent, admin: Any, store: FileSecretStore) -> None:
    cpe = _one_cpe(isp, "02:00:00:00:07:02")
    body = {"version": "v3", "user": V3_USER, "auth_key": V3_AUTH, "priv_key": V3_PRIV, "port": cpe_agent.port}
    _put(isp, body)
    shown = isp.client.get(CPE_SNMP, headers=isp.headers).text
    assert V3_AUTH not in shown and V3_PRIV not in shown
    report = poll_tenant(db, isp.tenant, timeout=1.0, retries=1)
    assert (report.polled, report.answered) == (1, 1)
    assert len(_readings(admin, cpe["id"])) == 1


def test_without_credentials_the_tenant_is_skipped(
    isp: Isp, db: Database, cpe_agent: Agent, admin: Any, store: FileSecretStore
) -> None:
    cpe = _one_cpe(isp, "02:00:00:00:07:03")
    report = poll_tenant(db, isp.tenant)
    assert (report.skipped, report.polled, report.ingest) == ("no CPE SNMP credentials", 0, None)
    # Set, then forgotten: skipped again, and the secret is gone from the store.
    _put(isp, {"version": "v2c", "community": COMMUNITY, "port": cpe_agent.port})
    deleted = isp.client.delete(CPE_SNMP, headers=isp.headers)
    assert deleted.status_code == 204, deleted.text
    assert not store.exists(f"tenants/{isp.tenant}/wireless/cpe-snmp")
    assert poll_tenant(db, isp.tenant).skipped == "no CPE SNMP credentials"
    assert _readings(admin, cpe["id"]) == []


def test_another_tenants_credentials_are_never_used(
    isp: Isp, other: Isp, db: Database, cpe_agent: Agent, admin: Any, store: FileSecretStore
) -> None:
    _put(isp, {"version": "v2c", "community": COMMUNITY, "port": cpe_agent.port})
    theirs = _one_cpe(other, "02:00:00:00:07:04")
    # The other tenant has none of its own: skipped, although wisp-a's would answer from this address.
    assert poll_tenant(db, other.tenant).skipped == "no CPE SNMP credentials"
    assert other.get("wireless/cpe-snmp")["configured"] is False
    # With its own (wrong) community it polls with that one: the agent does not answer it.
    _put(other, {"version": "v2c", "community": "not-the-community", "port": cpe_agent.port})
    report = poll_tenant(db, other.tenant, timeout=0.3, retries=0)
    assert (report.polled, report.answered, list(report.failed)) == (1, 0, [theirs["id"]])
    assert _readings(admin, theirs["id"]) == []
    # wisp-a's secret is untouched by wisp-b's write.
    assert store.exists(f"tenants/{isp.tenant}/wireless/cpe-snmp")
    assert isp.get("wireless/cpe-snmp")["port"] == cpe_agent.port


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"version": "v2c"}, "community"),
        ({"version": "v3", "auth_key": "auth-pass-123"}, "user"),
        ({"version": "v3", "user": "noc", "priv_key": "priv-pass-456"}, "auth_key"),
        ({"version": "v2c", "community": "c", "port": 0}, "port"),
        ({"version": "v4", "community": "c"}, "version"),
        ({"version": "v2c", "community": "c", "extra": 1}, "extra"),
    ],
)
def test_bad_credentials_are_refused_naming_the_field(
    isp: Isp, body: dict[str, Any], field: str, store: FileSecretStore
) -> None:
    assert field in _put(isp, body, status=422)
    assert not store.exists(f"tenants/{isp.tenant}/wireless/cpe-snmp")


def test_only_admins_set_them(isp: Isp, auth: Any, store: FileSecretStore) -> None:
    noc = auth(isp.tenant, "noc_engineer")
    _put(isp, {"version": "v2c", "community": COMMUNITY}, status=403, headers=noc)
    assert isp.client.delete(CPE_SNMP, headers=noc).status_code == 403
    assert isp.client.get(CPE_SNMP, headers=noc).json()["configured"] is False
    assert isp.client.get(CPE_SNMP, headers=auth(isp.tenant, "support_agent")).status_code == 403


def test_the_job_is_scheduled() -> None:
    spec = get_spec("wireless.poll_tenant")
    assert (spec.scope, spec.cron, spec.unique) == ("tenant", "*/5 * * * *", True)
    assert spec.resolve() is poll_tenant
