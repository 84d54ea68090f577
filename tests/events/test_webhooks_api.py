"""Webhook endpoints over HTTP: create (secret once), list, get, update, delete, rotate; SSRF refusals;
another tenant's endpoints and deliveries are 404s."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ispops.db.session import Database
from ispops.secrets.file import FileSecretStore
from tests.api.conftest import TokenFor
from tests.factories import make_tenant

BASE = "/api/v1/webhook_endpoints"


@pytest.fixture
def tenants(db: Database) -> None:
    make_tenant(db, "isp-a")
    make_tenant(db, "isp-b")


def _create(client: TestClient, headers: dict[str, str], url: str, types: list[str] | None = None) -> dict[str, object]:
    r = client.post(BASE, json={"url": url, "event_types": types or ["subscriber.suspended"]}, headers=headers)
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


@pytest.mark.usefixtures("tenants", "allow_local")
def test_endpoint_crud_and_secret_shown_once(client: TestClient, auth: TokenFor, store: FileSecretStore) -> None:
    receiver_url = "http://127.0.0.1:9/hooks"
    a = auth("isp-a", "tenant_admin")
    created = _create(client, a, receiver_url, ["subscriber.suspended", "usage.cap_reached"])
    secret = str(created["secret"])
    assert secret.startswith("whsec_")
    assert created["event_types"] == ["subscriber.suspended", "usage.cap_reached"]
    eid = created["id"]
    got = client.get(f"{BASE}/{eid}", headers=a)
    assert got.status_code == 200 and "secret" not in got.json()
    listed = client.get(BASE, headers=a).json()
    assert listed["total"] == 1 and "secret" not in listed["items"][0]
    # the secret is in the secret store, under the tenant's prefix, and nowhere in the row
    paths = [p.relative_to(store.root).as_posix() for p in store.root.rglob("*.sec")]
    assert len(paths) == 1 and paths[0].startswith(f"tenants/isp-a/webhooks/{eid}/")
    patched = client.patch(f"{BASE}/{eid}", json={"enabled": False, "event_types": ["order.failed"]}, headers=a)
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    assert patched.json()["event_types"] == ["order.failed"]
    rotated = client.post(f"{BASE}/{eid}/rotate-secret", headers=a)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"] != secret and rotated.json()["overlap_until"] is not None
    assert client.delete(f"{BASE}/{eid}", headers=a).status_code == 204
    assert client.get(f"{BASE}/{eid}", headers=a).status_code == 404
    assert not list(store.root.rglob("*.sec"))  # both secrets deleted once the delete committed


@pytest.mark.usefixtures("tenants", "allow_local", "store")
def test_other_tenant_sees_404(client: TestClient, auth: TokenFor) -> None:
    a, b = auth("isp-a", "tenant_admin"), auth("isp-b", "tenant_admin")
    eid = _create(client, a, "http://127.0.0.1:9/hooks")["id"]
    assert client.get(f"{BASE}/{eid}", headers=b).status_code == 404
    assert client.patch(f"{BASE}/{eid}", json={"enabled": False}, headers=b).status_code == 404
    assert client.delete(f"{BASE}/{eid}", headers=b).status_code == 404
    assert client.post(f"{BASE}/{eid}/rotate-secret", headers=b).status_code == 404
    assert client.get(f"{BASE}/{eid}/deliveries", headers=b).status_code == 404
    body = {"since": "2020-01-01T00:00:00Z"}
    assert client.post(f"{BASE}/{eid}/replay", json=body, headers=b).status_code == 404
    assert client.get(BASE, headers=b).json()["total"] == 0
    assert client.get(f"{BASE}/{eid}", headers=a).status_code == 200


@pytest.mark.usefixtures("tenants", "store")
def test_non_admins_are_refused(client: TestClient, auth: TokenFor) -> None:
    assert client.get(BASE, headers=auth("isp-a", "noc_engineer")).status_code == 403


@pytest.mark.usefixtures("tenants", "store")
@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/in",  # not https
        "https://127.0.0.1/in",  # loopback
        "https://localhost:8443/in",  # a name resolving to loopback
        "https://10.1.2.3/in",  # private
        "https://192.168.0.10/in",
        "https://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
        "https://[::1]/in",
        "https://[fe80::1]/in",
        "https://[::ffff:10.0.0.1]/in",  # an IPv4-mapped private address
        "https://0.0.0.0/in",  # unspecified
        "https://224.0.0.1/in",  # multicast
        "https://100.64.0.1/in",  # shared address space (carrier-grade NAT)
        "https://user:pw@203.0.113.10/in",  # credentials in the URL (and a documentation address)
        "ftp://files.example.com/x",
    ],
)
def test_refused_urls_are_422_naming_url(client: TestClient, auth: TokenFor, url: str) -> None:
    r = client.post(BASE, json={"url": url, "event_types": ["order.failed"]}, headers=auth("isp-a", "tenant_admin"))
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "url"


@pytest.mark.usefixtures("tenants", "store", "allow_local")
def test_the_operator_allowance_is_narrow(client: TestClient, auth: TokenFor) -> None:
    """Allowing 127.0.0.0/8 (the tests' receiver) still refuses other private addresses, and updates too."""
    a = auth("isp-a", "tenant_admin")
    r = client.post(BASE, json={"url": "http://10.0.0.5/in", "event_types": ["order.failed"]}, headers=a)
    assert r.status_code == 422 and r.json()["field"] == "url"
    eid = _create(client, a, "http://127.0.0.1:9/hooks")["id"]
    r = client.patch(f"{BASE}/{eid}", json={"url": "http://192.168.1.1/x"}, headers=a)
    assert r.status_code == 422 and r.json()["field"] == "url"
    assert client.get(f"{BASE}/{eid}", headers=a).json()["url"] == "http://127.0.0.1:9/hooks"


@pytest.mark.usefixtures("tenants", "store", "allow_local")
def test_unknown_event_types_are_422(client: TestClient, auth: TokenFor) -> None:
    a = auth("isp-a", "tenant_admin")
    r = client.post(BASE, json={"url": "http://127.0.0.1:9/x", "event_types": ["subscriber.exploded"]}, headers=a)
    assert r.status_code == 422 and r.json()["field"] == "event_types"
    r = client.post(BASE, json={"url": "http://127.0.0.1:9/x", "event_types": []}, headers=a)
    assert r.status_code == 422
    assert client.get(BASE, headers=a).json()["total"] == 0


@pytest.mark.usefixtures("tenants", "store")
def test_event_types_list(client: TestClient, auth: TokenFor) -> None:
    types = client.get("/api/v1/event_types", headers=auth("isp-a", "tenant_admin")).json()["event_types"]
    assert "subscriber.activated" in types and "session.stopped" in types
