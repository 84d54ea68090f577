"""Device credentials in the secret store move with the device row: a failed request changes neither."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi.testclient import TestClient

from ispops.db.session import Database
from ispops.secrets import runtime as secret_runtime
from ispops.secrets.file import FileSecretStore
from tests.api.conftest import TokenFor
from tests.devices.test_polling import add_device, device
from tests.factories import make_tenant

CREDS = {"username": "backup", "password": "first-password"}


def put_shared(store: FileSecretStore) -> str:
    """Credentials set by hand at a path several devices may share; the path."""
    path = "tenants/tenant-a/shared/noc-credentials"
    store.put(path, b'{"username": "noc", "password": "shared-one"}')
    return path


def secrets_in(store: FileSecretStore) -> list[str]:
    return sorted(str(p.relative_to(store.root)).removesuffix(".sec") for p in store.root.rglob("*.sec"))


def refused_audit(admin: psycopg.Connection[Any], client: TestClient, method: str, url: str, **kw: Any) -> int:
    """Send a request whose transaction fails at its end (the audit insert is refused): the status."""
    admin.execute("revoke insert on audit_events from ispops_app")
    try:
        return int(client.request(method, url, **kw).status_code)
    finally:
        admin.execute("grant insert on audit_events to ispops_app")


def test_credentials_of_a_rolled_back_request_are_not_kept(
    client: TestClient, auth: TokenFor, db: Database, store: FileSecretStore, admin: psycopg.Connection[Any]
) -> None:
    make_tenant(db, "tenant-a")
    did = add_device(db, "tenant-a", "edge-creds")
    url = f"/api/v1/devices/{did}/credentials"
    noc = auth("tenant-a", "noc_engineer")
    with secret_runtime.installed(store):
        assert client.put(url, json=CREDS, headers=noc).status_code == 204
        first = device(db, "tenant-a", did).credentials_vault_path
        assert first is not None and secrets_in(store) == [first]

        # Replacing them fails after the new secret was written: it is deleted, the old one stays in force.
        status = refused_audit(admin, client, "PUT", url, json={**CREDS, "password": "second"}, headers=noc)
        assert status == 500
        assert device(db, "tenant-a", did).credentials_vault_path == first
        assert secrets_in(store) == [first]
        assert b"first-password" in store.get(first)

        # Forgetting them fails: the row still names them, so they are still there.
        assert refused_audit(admin, client, "DELETE", url, headers=noc) == 500
        assert device(db, "tenant-a", did).credentials_vault_path == first
        assert secrets_in(store) == [first]

        assert client.delete(url, headers=noc).status_code == 204
        assert device(db, "tenant-a", did).credentials_vault_path is None
        assert secrets_in(store) == []


def test_a_path_set_by_hand_is_not_deleted(
    client: TestClient, auth: TokenFor, db: Database, store: FileSecretStore
) -> None:
    make_tenant(db, "tenant-a")
    did = add_device(db, "tenant-a", "edge-hand")
    shared = put_shared(store)
    noc = auth("tenant-a", "noc_engineer")
    r = client.patch(f"/api/v1/devices/{did}", json={"credentials_vault_path": shared}, headers=noc)
    assert r.status_code == 200, r.text
    with secret_runtime.installed(store):
        assert client.put(f"/api/v1/devices/{did}/credentials", json=CREDS, headers=noc).status_code == 204
        assert client.delete(f"/api/v1/devices/{did}/credentials", headers=noc).status_code == 204
    assert store.exists(shared)  # other devices may use it
    assert secrets_in(store) == [shared]


def test_patching_the_path_away_forgets_what_the_api_wrote(
    client: TestClient, auth: TokenFor, db: Database, store: FileSecretStore, admin: psycopg.Connection[Any]
) -> None:
    make_tenant(db, "tenant-a")
    did = add_device(db, "tenant-a", "edge-repointed")
    shared = put_shared(store)
    noc = auth("tenant-a", "noc_engineer")
    url = f"/api/v1/devices/{did}"
    with secret_runtime.installed(store):
        assert client.put(f"{url}/credentials", json=CREDS, headers=noc).status_code == 204
        own = device(db, "tenant-a", did).credentials_vault_path
        assert own is not None
        # A PATCH that fails (the audit insert is refused) changes nothing and deletes nothing.
        assert refused_audit(admin, client, "PATCH", url, json={"credentials_vault_path": shared}, headers=noc) == 500
        assert secrets_in(store) == sorted([own, shared])
        assert client.patch(url, json={"credentials_vault_path": shared}, headers=noc).status_code == 200
    assert device(db, "tenant-a", did).credentials_vault_path == shared
    assert secrets_in(store) == [shared]  # the API-written secret no row names any more is gone


def test_another_tenants_device_credentials_and_backups_are_404(
    client: TestClient, auth: TokenFor, db: Database, store: FileSecretStore
) -> None:
    make_tenant(db, "tenant-a")
    make_tenant(db, "tenant-b")
    did = add_device(db, "tenant-a", "edge-private")
    intruder = auth("tenant-b", "tenant_admin")
    with secret_runtime.installed(store):
        assert (
            client.put(
                f"/api/v1/devices/{did}/credentials", json=CREDS, headers=auth("tenant-a", "noc_engineer")
            ).status_code
            == 204
        )
        path = device(db, "tenant-a", did).credentials_vault_path
        assert client.delete(f"/api/v1/devices/{did}/credentials", headers=intruder).status_code == 404
        assert client.get(f"/api/v1/devices/{did}/ssh-host-key", headers=intruder).status_code == 404
        assert client.get(f"/api/v1/devices/{did}/backups/20261124T101500.123456Z", headers=intruder).status_code == 404
    assert device(db, "tenant-a", did).credentials_vault_path == path
    assert path is not None and store.exists(path)


def test_deleting_a_device_forgets_its_credentials_after_the_commit(
    client: TestClient, auth: TokenFor, db: Database, store: FileSecretStore, admin: psycopg.Connection[Any]
) -> None:
    make_tenant(db, "tenant-a")
    did = add_device(db, "tenant-a", "edge-gone")
    shared_did = add_device(db, "tenant-a", "edge-shared")
    shared = put_shared(store)
    admin_h = auth("tenant-a", "tenant_admin")
    assert (
        client.patch(
            f"/api/v1/devices/{shared_did}", json={"credentials_vault_path": shared}, headers=admin_h
        ).status_code
        == 200
    )
    with secret_runtime.installed(store):
        assert client.put(f"/api/v1/devices/{did}/credentials", json=CREDS, headers=admin_h).status_code == 204
        own = device(db, "tenant-a", did).credentials_vault_path
        # A deletion that fails (the audit insert is refused) keeps them.
        assert refused_audit(admin, client, "DELETE", f"/api/v1/devices/{did}", headers=admin_h) == 500
        assert own is not None and store.exists(own)
        assert client.delete(f"/api/v1/devices/{did}", headers=admin_h).status_code == 204
        assert client.delete(f"/api/v1/devices/{shared_did}", headers=admin_h).status_code == 204
    assert not store.exists(own)
    assert store.exists(shared)  # set by hand: possibly another device's too
