"""TR-069 CPE management: the GenieACS NBI adapter against a local double of GenieACS's documented API
(GenieACS needs MongoDB: it cannot run here), and the CPE routes with the secret store and tenancy."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from ispops.config import Settings
from ispops.db.session import Database
from ispops.errors import NotFound, ValidationFailed
from ispops.ftth.tr069 import AcsError, GenieAcs
from ispops.radius.provisioning import set_password
from ispops.secrets.file import FileSecretStore
from tests.api.conftest import TokenFor, secret_store  # noqa: F401 (the app's secret store)
from tests.ftth.doubles.genieacs import Acs, cpe, genieacs
from tests.ftth.onu_world import OltWorld, discover

Headers = dict[str, str]
SERIAL = "HWTC1A2B3C4D"
WLAN = "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1."
PPP = "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANPPPConnection.1."


def test_adapter_paths_per_data_model_and_vendor() -> None:
    with genieacs(
        cpe(SERIAL, tenant="isp-a"),
        cpe("ZTEG00000001", tenant="isp-a", model="tr181", manufacturer="ZTE"),
        cpe("ZTEG00000002", tenant="isp-a", manufacturer="ZTE", online=False),
        cpe("HWTC99999999", tenant="isp-b"),
    ) as acs:
        client = GenieAcs(acs.url, timeout=5)
        huawei = client.find(tenant_id="isp-a", serial_number=SERIAL)
        assert (huawei.data_model, huawei.vendor) == ("tr098", "huawei")
        assert client.set_wifi(huawei, "Home", "correct horse battery") == "done"
        assert acs.value(SERIAL, WLAN + "SSID") == "Home"
        assert acs.value(SERIAL, WLAN + "PreSharedKey.1.PreSharedKey") == "correct horse battery"
        assert client.set_pppoe(huawei, "ada@isp", "s3cret-pw") == "done"
        assert [acs.value(SERIAL, PPP + k) for k in ("Enable", "ConnectionType", "Username", "Password")] == [
            True,
            "IP_Routed",
            "ada@isp",
            "s3cret-pw",
        ]
        tr181 = client.find(tenant_id="isp-a", serial_number="ZTEG00000001")
        assert tr181.data_model == "tr181"
        client.set_wifi(tr181, "Flat", "another passphrase")
        assert acs.value("ZTEG00000001", "Device.WiFi.SSID.1.SSID") == "Flat"
        assert acs.value("ZTEG00000001", "Device.WiFi.AccessPoint.1.Security.KeyPassphrase") == "another passphrase"
        client.set_pppoe(tr181, "bob@isp", "pw-12345")
        assert acs.value("ZTEG00000001", "Device.PPP.Interface.1.Username") == "bob@isp"
        asleep = client.find(tenant_id="isp-a", serial_number="ZTEG00000002")
        assert client.set_wifi(asleep, "Later", "queued passphrase") == "queued"  # 202: at its next inform
        assert acs.value("ZTEG00000002", WLAN + "KeyPassphrase") is None
        assert client.reboot(huawei) == "done" and client.refresh(huawei) == "done"
        assert acs.tasks[-2:] == [
            (huawei.id, {"name": "reboot"}),
            (huawei.id, {"name": "refreshObject", "objectName": "InternetGatewayDevice"}),
        ]
        with pytest.raises(NotFound):  # isp-b's CPE is not isp-a's, even by its serial
            client.find(tenant_id="isp-a", serial_number="HWTC99999999")
        acs.fail_tasks = True
        with pytest.raises(AcsError):
            client.reboot(huawei)


@pytest.fixture
def acs_app(client: TestClient) -> Iterator[Acs]:
    """A GenieACS double with isp-a's and isp-b's CPEs, configured as the app's ACS for the test."""
    with genieacs(cpe(SERIAL, tenant="isp-a"), cpe("HWTCBBBBBBBB", tenant="isp-b")) as acs:
        state = client.app.state  # type: ignore[attr-defined]
        before: Settings = state.settings
        state.settings = before.model_copy(update={"genieacs_nbi_url": acs.url})
        try:
            yield acs
        finally:
            state.settings = before


def subscriber(db: Database, tenant: str, username: str, password: str) -> uuid.UUID:
    with db.tenant(tenant) as s:
        customer = s.execute(
            text("insert into customers (tenant_id, customer_number, name) values (:t, 'C-1', 'Ada') returning id"),
            {"t": tenant},
        ).scalar_one()
        sub: uuid.UUID = s.execute(
            text(
                "insert into subscribers (tenant_id, customer_id, subscriber_number, service_type, status, "
                "pppoe_username) values (:t, :c, 'SUB-1', 'ftth', 'active', :u) returning id"
            ),
            {"t": tenant, "c": customer, "u": username},
        ).scalar_one()
        set_password(s, tenant_id=tenant, subscriber_id=sub, password=password)
    return sub


def test_wifi_passphrase_goes_to_the_secret_store(
    client: TestClient,
    db: Database,
    olt_world: OltWorld,
    auth: TokenFor,
    acs_app: Acs,
    secret_store: FileSecretStore,  # noqa: F811
    admin: Any,
) -> None:
    noc = auth("isp-a", "noc_engineer")
    [onu] = discover(db, olt_world, SERIAL)
    r = client.put(
        f"/api/v1/onus/{onu}/cpe/wifi", json={"ssid": "Home", "passphrase": "correct horse battery"}, headers=noc
    )
    assert r.status_code == 200, r.text
    assert r.json()["task"] == "done" and r.json()["genieacs_device_id"].endswith(SERIAL)
    assert acs_app.value(SERIAL, WLAN + "PreSharedKey.1.PreSharedKey") == "correct horse battery"
    row = admin.execute("select wifi_ssid, wifi_password_vault_path from onus where id = %s", (onu,)).fetchone()
    assert row[0] == "Home" and row[1].startswith(f"tenants/isp-a/onus/{onu}/wifi-")
    assert secret_store.get(row[1]) == b"correct horse battery"
    assert "correct horse battery" not in str(admin.execute("select * from onus").fetchall())

    r = client.put(
        f"/api/v1/onus/{onu}/cpe/wifi", json={"ssid": "Home", "passphrase": "a newer passphrase"}, headers=noc
    )
    assert r.status_code == 200, r.text
    path = admin.execute("select wifi_password_vault_path from onus where id = %s", (onu,)).fetchone()[0]
    assert path != row[1] and secret_store.get(path) == b"a newer passphrase"
    assert not secret_store.exists(row[1])  # the old one, deleted after the commit

    acs_app.fail_tasks = True  # the ACS refuses: nothing changes, the new secret is deleted again
    r = client.put(f"/api/v1/onus/{onu}/cpe/wifi", json={"ssid": "Other", "passphrase": "never stored"}, headers=noc)
    assert r.status_code == 502, r.text
    assert admin.execute("select wifi_ssid, wifi_password_vault_path from onus where id = %s", (onu,)).fetchone() == (
        "Home",
        path,
    )
    assert secret_store.exists(path)

    r = client.put(f"/api/v1/onus/{onu}/cpe/wifi", json={"ssid": "Home", "passphrase": "short"}, headers=noc)
    assert r.status_code == 422 and "passphrase" in r.text


def test_wan_pppoe_uses_the_subscribers_radius_credentials(
    client: TestClient, db: Database, olt_world: OltWorld, auth: TokenFor, acs_app: Acs
) -> None:
    noc = auth("isp-a", "noc_engineer")
    [onu] = discover(db, olt_world, SERIAL)
    r = client.put(f"/api/v1/onus/{onu}/cpe/wan", json={}, headers=noc)
    assert r.status_code == 422 and r.json()["field"] == "subscriber_id", r.text
    sub = subscriber(db, "isp-a", "ada@isp", "pppoe-pass-1")
    with db.tenant("isp-a") as s:
        s.execute(text("update onus set subscriber_id = :s where id = :o"), {"s": sub, "o": onu})
    r = client.put(f"/api/v1/onus/{onu}/cpe/wan", json={}, headers=noc)
    assert r.status_code == 200, r.text
    assert (acs_app.value(SERIAL, PPP + "Username"), acs_app.value(SERIAL, PPP + "Password")) == (
        "ada@isp",
        "pppoe-pass-1",
    )
    assert client.post(f"/api/v1/onus/{onu}/cpe/reboot", headers=noc).json()["task"] == "done"
    assert client.post(f"/api/v1/onus/{onu}/cpe/refresh", headers=noc).json()["task"] == "done"
    got = client.get(f"/api/v1/onus/{onu}/cpe", headers=noc).json()
    assert (got["data_model"], got["product_class"]) == ("tr098", "HG8245H")


def test_each_tenant_touches_only_its_own_cpes(
    client: TestClient,
    db: Database,
    olt_world: OltWorld,
    other_world: OltWorld,
    auth: TokenFor,
    acs_app: Acs,
    admin: Any,
) -> None:
    [mine] = discover(db, olt_world, SERIAL)
    b = auth("isp-b", "noc_engineer")
    assert (
        client.put(f"/api/v1/onus/{mine}/cpe/wifi", json={"ssid": "x", "passphrase": "12345678"}, headers=b).status_code
        == 404
    )
    assert client.post(f"/api/v1/onus/{mine}/cpe/reboot", headers=b).status_code == 404
    assert client.get(f"/api/v1/onus/{mine}/cpe", headers=b).status_code == 404
    # isp-b's own ONU carrying isp-a's CPE serial: the ACS device is tagged isp-a, so it is not found
    [theirs] = discover(db, other_world, SERIAL)
    assert client.post(f"/api/v1/onus/{theirs}/cpe/reboot", headers=b).status_code == 404
    assert acs_app.tasks == []
    assert client.get(f"/api/v1/onus/{mine}/cpe", headers=auth("isp-a", "support_agent")).status_code == 200


def test_onu_secret_paths_must_be_under_the_tenants_prefix(
    db: Database, olt_world: OltWorld, other_world: OltWorld
) -> None:
    [onu] = discover(db, olt_world, SERIAL)
    with pytest.raises(ValidationFailed) as wifi, db.tenant("isp-a") as s:
        s.execute(
            text("update onus set wifi_password_vault_path = 'tenants/isp-b/onus/x/wifi' where id = :o"), {"o": onu}
        )
    assert wifi.value.field == "wifi_password_vault_path"
    with pytest.raises(ValidationFailed) as acs, db.tenant("isp-a") as s:  # a prefix of another tenant's
        s.execute(text("update onus set acs_password_vault_path = 'tenants/isp-ab/x' where id = :o"), {"o": onu})
    assert acs.value.field == "acs_password_vault_path"
    with db.tenant("isp-a") as s:
        s.execute(text("update onus set acs_password_vault_path = 'tenants/isp-a/acs' where id = :o"), {"o": onu})
