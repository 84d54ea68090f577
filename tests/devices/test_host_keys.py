"""SSH host keys of config backups: pinned on first use, checked afterwards, shown by the API."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from ispops.config import Settings
from ispops.db.session import Database
from ispops.devices import jobs, service
from ispops.devices.backup import BackupFailed, BackupStorage, fetch_config
from ispops.devices.service import DeviceCredentials, credentials_path
from ispops.models import Device
from ispops.secrets import runtime as secret_runtime
from ispops.secrets.file import FileSecretStore
from ispops.secrets.store import SecretStoreError
from tests.api.conftest import TokenFor
from tests.devices.conftest import SshRouter
from tests.devices.test_backup import CONFIG_1, api_world, router_device
from tests.devices.test_credentials import secrets_in
from tests.devices.test_polling import add_device, device
from tests.factories import make_tenant


def keygen_fingerprint(public_key_file: Path) -> str:
    """OpenSSH's own fingerprint of a public key file ("256 SHA256:abc... comment (ED25519)")."""
    out = subprocess.run(["ssh-keygen", "-l", "-f", str(public_key_file)], check=True, capture_output=True, text=True)
    return out.stdout.split()[1]


def another_host_key(tmp_path: Path) -> Path:
    key = tmp_path / "impostor"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key.with_suffix(".pub")


def stored(db: Database, store: FileSecretStore, tenant: str, did: uuid.UUID) -> dict[str, object]:
    """The credentials the device's row names now (pinning writes them to a new path)."""
    return dict(json.loads(store.get(str(device(db, tenant, did).credentials_vault_path))))


def test_first_backup_pins_the_host_key_and_the_next_one_checks_it(
    db: Database, store: FileSecretStore, ssh_router: SshRouter, settings: Settings
) -> None:
    make_tenant(db, "tenant-a")
    did = router_device(db, store, ssh_router)
    ssh_router.config.write_text(CONFIG_1)
    assert "ssh_host_key" not in stored(db, store, "tenant-a", did)

    first = jobs.backup_tenant(db, "tenant-a", settings=settings, store=store)

    assert (first.changed, first.failed) == (1, 0), first.problems
    key_type, key_b64 = ssh_router.host_key_file.read_text().split()[:2]
    assert stored(db, store, "tenant-a", did)["ssh_host_key"] == f"{key_type} {key_b64}"  # the comment is not kept
    # Pinned: the next backup is checked against it and passes.
    again = jobs.backup_tenant(db, "tenant-a", settings=settings, store=store)
    assert (again.unchanged, again.failed) == (1, 0), again.problems


def test_a_device_presenting_another_host_key_is_refused_and_nothing_is_stored(
    db: Database, store: FileSecretStore, ssh_router: SshRouter, settings: Settings, tmp_path: Path
) -> None:
    make_tenant(db, "tenant-a")
    impostor = another_host_key(tmp_path)
    did = router_device(db, store, ssh_router, ssh_host_key=impostor.read_text())
    ssh_router.config.write_text(CONFIG_1)
    before = stored(db, store, "tenant-a", did)

    summary = jobs.backup_tenant(db, "tenant-a", settings=settings, store=store)

    assert summary.failed == 1
    error = device(db, "tenant-a", did).last_config_backup_error or ""
    assert error.startswith("ssh_host_key: the device presented "), error
    assert keygen_fingerprint(ssh_router.host_key_file) in error  # what it presented, as ssh-keygen -l shows it
    assert "if its key really changed" in error  # refused by paramiko during the handshake, before logging in
    assert BackupStorage(settings.backup_dir).entries("tenant-a", did) == []
    assert device(db, "tenant-a", did).config_backup_path is None
    assert stored(db, store, "tenant-a", did) == before  # the wrong pin is not replaced by what was presented


def test_the_right_pinned_key_is_accepted_with_new_keys_refused(
    db: Database, store: FileSecretStore, ssh_router: SshRouter, tmp_path: Path
) -> None:
    strict = Settings(
        device_backup_dir=tmp_path / "backups", backup_timeout_seconds=20, backup_accept_new_host_keys=False
    )
    make_tenant(db, "tenant-a")
    unpinned = router_device(db, store, ssh_router)
    pinned = router_device(db, store, ssh_router, ssh_host_key=ssh_router.host_key_file.read_text())
    ssh_router.config.write_text(CONFIG_1)

    summary = jobs.backup_tenant(db, "tenant-a", settings=strict, store=store)

    assert (summary.changed, summary.failed) == (1, 1), summary.problems
    assert device(db, "tenant-a", pinned).last_config_backup_error is None
    error = device(db, "tenant-a", unpinned).last_config_backup_error or ""
    assert "none pinned" in error and "backup_accept_new_host_keys" in error
    assert "ssh_host_key" not in stored(db, store, "tenant-a", unpinned)  # nothing learnt when refusing


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGXzl6GhHlGQ8HfwkIV1VsygtYf4wEGbJGBIKZ0rN6M4"


def with_credentials(
    db: Database, store: FileSecretStore, name: str, creds: DeviceCredentials
) -> tuple[uuid.UUID, str]:
    """tenant-a's device ``name`` with ``creds`` at a path of its own, as the API writes them."""
    make_tenant(db, "tenant-a")
    did = add_device(db, "tenant-a", name, vendor="Cisco")
    path = service.new_credentials_path("tenant-a", did)
    store.put(path, service.encode_credentials(creds))
    with db.tenant("tenant-a") as s:
        s.get_one(Device, did).credentials_vault_path = path
    return did, path


def test_pinning_writes_a_new_path_and_deletes_the_old_after_commit(
    db: Database, store: FileSecretStore, admin: psycopg.Connection[Any]
) -> None:
    read = DeviceCredentials(username="backup", password="pw")
    did, old = with_credentials(db, store, "edge-pin", read)
    request = service.PinRequest(did, old, read, KEY)

    with db.tenant("tenant-a") as s:
        new = service.pin_host_key(s, store, "tenant-a", request)
        assert old in secrets_in(store)  # the committed row named it until now: kept until the commit
    assert new is not None and device(db, "tenant-a", did).credentials_vault_path == new
    assert new != old and service.is_own_credentials_path("tenant-a", did, new)
    assert service.read_credentials(store, "tenant-a", new) == read.model_copy(update={"ssh_host_key": KEY})
    assert secrets_in(store) == [new]
    [(actor, changes)] = admin.execute(
        "select actor_kind || ':' || actor_id, changes from audit_events where entity = 'devices' "
        "and entity_id = %s and action = 'action'",
        (str(did),),
    ).fetchall()
    assert actor == "system:device-backup"
    assert changes == {
        "action": "pin_ssh_host_key",
        "fingerprint": service.fingerprint(KEY),
        "credentials_vault_path": [old, new],
    }


def test_a_pin_after_a_credentials_change_changes_nothing(db: Database, store: FileSecretStore) -> None:
    """A PUT .../credentials committed while the backup ran (new path, old one deleted): the pin must not
    write the old path back (a stale copy of the old password) nor touch the new credentials."""
    read = DeviceCredentials(username="backup", password="old")
    replaced = DeviceCredentials(username="backup", password="new")
    did, new = with_credentials(db, store, "edge-race", replaced)  # the PUT's result
    old = service.new_credentials_path("tenant-a", did)  # where the backup read, deleted by the PUT
    request = service.PinRequest(did, old, read, KEY)

    with db.tenant("tenant-a") as s:
        assert service.pin_host_key(s, store, "tenant-a", request) is None
    assert secrets_in(store) == [new]
    assert service.read_credentials(store, "tenant-a", new) == replaced
    # Same path but other content (a hand edit of the secret): not pinned either.
    with db.tenant("tenant-a") as s:
        assert service.pin_host_key(s, store, "tenant-a", service.PinRequest(did, new, read, KEY)) is None
    assert device(db, "tenant-a", did).credentials_vault_path == new


def test_a_failed_pin_leaves_the_credentials_as_they_were(db: Database, store: FileSecretStore) -> None:
    read = DeviceCredentials(username="backup", password="pw")
    did, old = with_credentials(db, store, "edge-rollback", read)
    with pytest.raises(RuntimeError), db.tenant("tenant-a") as s:
        assert service.pin_host_key(s, store, "tenant-a", service.PinRequest(did, old, read, KEY)) is not None
        raise RuntimeError("the transaction fails after the pin was written")
    assert device(db, "tenant-a", did).credentials_vault_path == old
    assert secrets_in(store) == [old]  # the new copy was compensated
    assert service.read_credentials(store, "tenant-a", old) == read


def test_host_key_api(
    client: TestClient,
    auth: TokenFor,
    db: Database,
    store: FileSecretStore,
    ssh_router: SshRouter,
    app_settings: Settings,
) -> None:
    did, noc, support, intruder = api_world(db, auth, "edge-keys")
    url = f"/api/v1/devices/{did}/ssh-host-key"
    expected = keygen_fingerprint(ssh_router.host_key_file)

    with secret_runtime.installed(store):
        assert client.get(url, headers=noc).status_code == 404  # no credentials yet
        creds = {"username": ssh_router.username, "private_key": ssh_router.private_key, "ssh_port": ssh_router.port}
        assert client.put(f"/api/v1/devices/{did}/credentials", json=creds, headers=noc).status_code == 204
        missing = client.get(url, headers=noc)
        assert missing.status_code == 404 and "no SSH host key" in missing.text
        ssh_router.config.write_text(CONFIG_1)
        r = client.post(f"/api/v1/devices/{did}/backup", headers=noc)
        assert r.status_code == 200 and r.json()["ok"], r.text
        assert r.json()["ssh_host_key_pinned"] == expected
        again = client.post(f"/api/v1/devices/{did}/backup", headers=noc).json()
        assert again["ok"] and again["ssh_host_key_pinned"] is None  # already pinned

        shown = client.get(url, headers=support)  # a public key: anyone who may read devices
        assert shown.status_code == 200, shown.text
        assert shown.json()["fingerprint"] == expected
        assert shown.json()["key_type"] == "ssh-ed25519"
        assert shown.json()["public_key"] == " ".join(ssh_router.host_key_file.read_text().split()[:2])
        assert client.get(url, headers=intruder).status_code == 404

        # New credentials without ssh_host_key keep the pin; an explicit null unpins.
        creds_url = f"/api/v1/devices/{did}/credentials"
        assert client.put(creds_url, json={**creds, "ssh_port": ssh_router.port}, headers=noc).status_code == 204
        assert client.get(url, headers=noc).json()["fingerprint"] == expected
        assert client.put(creds_url, json={**creds, "ssh_host_key": None}, headers=noc).status_code == 204
        assert client.get(url, headers=noc).status_code == 404


def test_a_shared_credentials_path_is_not_pinned(
    db: Database, store: FileSecretStore, ssh_router: SshRouter, settings: Settings
) -> None:
    """A path set by hand may serve several devices presenting different keys: nothing is written there."""
    make_tenant(db, "tenant-a")
    did = router_device(db, store, ssh_router)
    shared = "tenants/tenant-a/shared/backup-credentials"
    store.put(shared, store.get(credentials_path("tenant-a", did)))
    store.delete(credentials_path("tenant-a", did))
    with db.tenant("tenant-a") as s:
        s.get_one(Device, did).credentials_vault_path = shared
    ssh_router.config.write_text(CONFIG_1)

    summary = jobs.backup_tenant(db, "tenant-a", settings=settings, store=store)

    assert (summary.changed, summary.failed) == (1, 0), summary.problems
    assert "ssh_host_key" not in json.loads(store.get(shared))
    assert secrets_in(store) == [shared] and device(db, "tenant-a", did).credentials_vault_path == shared


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"ssh_host_key": "not a key"}, "ssh_host_key"),
        ({"ssh_host_key": "ssh-dss AAAAB3NzaC1kc3MAAACBAP"}, "ssh_host_key"),  # DSA: not accepted
        ({"ssh_host_key": "ssh-ed25519 !!!notbase64"}, "ssh_host_key"),
        ({"ssh_host_key": "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ=="}, "ssh_host_key"),  # rsa blob, ed25519 name
        ({"device_type": "cisco_ios_telnet"}, "device_type"),  # backups log in over SSH only
        ({"device_type": "cisco_ios_serial"}, "device_type"),
    ],
)
def test_bad_credentials_are_a_422_naming_the_field_and_write_nothing(
    client: TestClient, auth: TokenFor, db: Database, store: FileSecretStore, bad: dict[str, str], field: str
) -> None:
    make_tenant(db, "tenant-a")
    did = add_device(db, "tenant-a", "edge-bad-creds", vendor="Cisco")
    with secret_runtime.installed(store):
        r = client.put(
            f"/api/v1/devices/{did}/credentials",
            json={"username": "u", "password": "p", **bad},
            headers=auth("tenant-a", "noc_engineer"),
        )
    assert r.status_code == 422 and field in r.text, r.text
    assert list(store.root.rglob("*.sec")) == []  # nothing half-written
    assert device(db, "tenant-a", did).credentials_vault_path is None


class GetFails(FileSecretStore):
    """A store whose reads fail, like an unreachable Vault."""

    def get(self, path: str) -> bytes:
        raise SecretStoreError("secret store unavailable (get)")


def test_new_credentials_never_drop_a_pin_they_could_not_read(
    client: TestClient, auth: TokenFor, db: Database, store: FileSecretStore
) -> None:
    """The pin is carried over from whatever path the device names (one set by hand too); when the current
    credentials cannot be read the PUT fails instead of unpinning the device."""
    pinned = DeviceCredentials(username="backup", password="old", ssh_host_key=KEY)
    did, hand = with_credentials(db, store, "edge-carry", pinned)
    shared = "tenants/tenant-a/shared/with-pin"
    store.put(shared, service.encode_credentials(pinned))
    with secret_runtime.installed(store), db.tenant("tenant-a") as s:
        s.get_one(Device, did).credentials_vault_path = shared  # set by hand, with a pin in it
    noc = auth("tenant-a", "noc_engineer")
    url = f"/api/v1/devices/{did}/credentials"
    new_creds = {"username": "backup", "password": "new"}

    with secret_runtime.installed(GetFails(store.root, os.urandom(32))):
        r = client.put(url, json=new_creds, headers=noc)
    assert r.status_code == 503, r.text
    assert device(db, "tenant-a", did).credentials_vault_path == shared  # nothing changed

    store.put(shared, b"not json")
    with secret_runtime.installed(store):
        r = client.put(url, json=new_creds, headers=noc)
        assert (r.status_code, r.json()["field"]) == (422, "ssh_host_key"), r.text
        assert client.put(url, json={**new_creds, "ssh_host_key": None}, headers=noc).status_code == 204
        assert stored(db, store, "tenant-a", did).get("ssh_host_key") is None  # unpinned on request only

    store.put(shared, service.encode_credentials(pinned))
    with secret_runtime.installed(store):
        with db.tenant("tenant-a") as s:
            s.get_one(Device, did).credentials_vault_path = shared
        assert client.put(url, json=new_creds, headers=noc).status_code == 204
    assert stored(db, store, "tenant-a", did)["ssh_host_key"] == KEY  # carried over from the hand-set path
    assert store.exists(shared)  # set by hand: never the API's to delete
    assert not store.exists(hand)  # the device's own first credentials went when it was pointed elsewhere


def test_a_hand_written_telnet_driver_is_refused_by_the_backup_not_the_poll(store: FileSecretStore) -> None:
    path = "tenants/tenant-a/shared/old-telnet"
    store.put(path, b'{"username": "u", "password": "p", "device_type": "cisco_ios_telnet", "snmp_community": "c"}')
    creds = service.read_credentials(store, "tenant-a", path)  # still readable: SNMP does not care
    assert creds.snmp_community == "c"
    with pytest.raises(BackupFailed, match="in clear"):
        fetch_config("127.0.0.1", "Cisco", creds, timeout=1)
