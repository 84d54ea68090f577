"""Configuration backups over real SSH (sshd + netmiko), stored with diffs, and exposed by the API."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from ispops.config import Settings
from ispops.db.session import Database
from ispops.devices import jobs
from ispops.devices.backup import BackupStorage
from ispops.devices.service import credentials_path
from ispops.models import Device
from ispops.secrets import runtime as secret_runtime
from ispops.secrets.file import FileSecretStore
from tests.api.conftest import TokenFor
from tests.devices.conftest import SshRouter
from tests.devices.test_polling import add_device, device
from tests.factories import make_tenant

CONFIG_1 = "hostname edge-1\ninterface ge-0/0/1\n description uplink\n"
CONFIG_2 = "hostname edge-1\ninterface ge-0/0/1\n description uplink to core\n"


def router_device(
    db: Database, store: FileSecretStore, router: SshRouter, tenant: str = "tenant-a", **creds: Any
) -> uuid.UUID:
    did = add_device(db, tenant, f"edge-{uuid.uuid4().hex[:6]}", vendor="Cisco")
    path = credentials_path(tenant, did)
    secret = {"username": router.username, "private_key": router.private_key, "ssh_port": router.port, **creds}
    store.put(path, json.dumps(secret).encode())
    with db.tenant(tenant) as s:
        s.get_one(Device, did).credentials_vault_path = path
    return did


def test_backup_job_stores_configs_and_diffs(
    db: Database, store: FileSecretStore, ssh_router: SshRouter, settings: Settings
) -> None:
    make_tenant(db, "tenant-a")
    did = router_device(db, store, ssh_router)
    add_device(db, "tenant-a", "no-credentials")  # skipped: nothing to log in with
    ssh_router.config.write_text(CONFIG_1)

    first = jobs.backup_tenant(db, "tenant-a", settings=settings, store=store)

    assert (first.changed, first.unchanged, first.failed) == (1, 0, 0), first.problems
    d = device(db, "tenant-a", did)
    assert d.config_backup_path is not None and d.last_config_backup is not None
    saved = Path(d.config_backup_path)
    assert saved.read_text() == CONFIG_1
    assert saved.parent == settings.backup_dir / "tenant-a" / str(did)
    assert saved.stat().st_mode & 0o777 == 0o600
    assert not saved.with_suffix(".diff").exists()  # nothing to compare the first one with

    # Same configuration: no new file, but the check is recorded.
    again = jobs.backup_tenant(db, "tenant-a", settings=settings, store=store)
    assert (again.changed, again.unchanged) == (0, 1), again.problems
    d2 = device(db, "tenant-a", did)
    assert d2.config_backup_path == d.config_backup_path
    assert d2.last_config_backup and d.last_config_backup and d2.last_config_backup > d.last_config_backup

    ssh_router.config.write_text(CONFIG_2)
    third = jobs.backup_tenant(db, "tenant-a", settings=settings, store=store)
    assert third.changed == 1
    d3 = device(db, "tenant-a", did)
    latest = Path(d3.config_backup_path or "")
    assert latest != saved and latest.read_text() == CONFIG_2
    diff = latest.with_suffix(".diff").read_text()
    assert "- description uplink\n" in diff and "+ description uplink to core\n" in diff
    assert [e.has_diff for e in BackupStorage(settings.backup_dir).entries("tenant-a", did)] == [False, True]


def test_failed_backup_is_recorded_and_keeps_the_last_good_one(
    db: Database, store: FileSecretStore, ssh_router: SshRouter, settings: Settings, tmp_path: Path
) -> None:
    make_tenant(db, "tenant-a")
    did = router_device(db, store, ssh_router)
    ssh_router.config.write_text(CONFIG_1)
    jobs.backup_tenant(db, "tenant-a", settings=settings, store=store)
    good = device(db, "tenant-a", did)

    # Another key: the server refuses it.
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    path = str(good.credentials_vault_path)  # the first backup pinned the host key: a new path
    secret = json.loads(store.get(path))
    store.put(path, json.dumps({**secret, "private_key": other.read_text()}).encode())

    summary = jobs.backup_tenant(db, "tenant-a", settings=settings, store=store)

    assert summary.failed == 1
    d = device(db, "tenant-a", did)
    assert d.last_config_backup_error and "Authentication" in d.last_config_backup_error
    assert (d.config_backup_path, d.last_config_backup) == (good.config_backup_path, good.last_config_backup)


Headers = dict[str, str]


def api_world(db: Database, auth: TokenFor, name: str) -> tuple[uuid.UUID, Headers, Headers, Headers]:
    """tenant-a's Cisco device ``name`` and the tokens of its NOC engineer, its support agent and tenant-b's
    admin (the intruder)."""
    make_tenant(db, "tenant-a")
    make_tenant(db, "tenant-b")
    did = add_device(db, "tenant-a", name, vendor="Cisco Systems")
    return did, auth("tenant-a", "noc_engineer"), auth("tenant-a", "support_agent"), auth("tenant-b", "tenant_admin")


def test_backup_api(
    client: TestClient,
    auth: TokenFor,
    db: Database,
    store: FileSecretStore,
    ssh_router: SshRouter,
    app_settings: Settings,
) -> None:
    did, noc, support, intruder = api_world(db, auth, "edge-api")
    base = f"/api/v1/devices/{did}"

    with secret_runtime.installed(store):
        creds = {"username": ssh_router.username, "private_key": ssh_router.private_key, "ssh_port": ssh_router.port}
        assert client.put(f"{base}/credentials", json=creds, headers=support).status_code == 403
        assert client.put(f"{base}/credentials", json=creds, headers=intruder).status_code == 404
        r = client.put(f"{base}/credentials", json=creds, headers=noc)
        assert r.status_code == 204, r.text
        shown = client.get(base, headers=noc).json()
        assert shown["credentials_vault_path"].startswith(credentials_path("tenant-a", did) + "-")
        assert ssh_router.private_key not in json.dumps(shown)

        assert client.get(f"{base}/backups/latest/diff", headers=noc).status_code == 404  # no backup yet
        ssh_router.config.write_text(CONFIG_1)
        r = client.post(f"{base}/backup", headers=noc)
        assert r.status_code == 200 and r.json()["ok"] and r.json()["changed"], r.text
        ssh_router.config.write_text(CONFIG_2)
        assert client.post(f"{base}/backup", headers=noc).json()["changed"] is True

    listing = client.get(f"{base}/backups", headers=support)
    assert listing.status_code == 200
    assert [b["has_diff"] for b in listing.json()] == [True, False]  # newest first
    diff = client.get(f"{base}/backups/latest/diff", headers=noc)
    assert diff.status_code == 200 and diff.headers["content-type"].startswith("text/x-diff")
    assert "+ description uplink to core" in diff.text
    assert client.get(f"{base}/backups/latest", headers=noc).text == CONFIG_2
    assert client.get(f"{base}/backups/{listing.json()[1]['name']}", headers=noc).text == CONFIG_1
    # Configurations hold the router's secrets: each read is audited (which backup, never its text), uncached.
    assert diff.headers["cache-control"] == "no-store"
    reads = client.get(f"/api/v1/audit_events?entity=devices&entity_id={did}", headers=auth("tenant-a", "tenant_admin"))
    read_changes = [e["changes"] for e in reads.json()["items"] if e["changes"].get("action", "").startswith("read_")]
    assert sorted(c["action"] for c in read_changes) == ["read_backup", "read_backup", "read_backup_diff"]
    assert {c["backup"] for c in read_changes} == {b["name"] for b in listing.json()}
    assert CONFIG_1 not in reads.text and CONFIG_2 not in reads.text
    # Configurations hold secrets: not for support agents; another tenant's device does not exist.
    assert client.get(f"{base}/backups/latest/diff", headers=support).status_code == 403
    for path in ("/backups", "/backups/latest/diff", "/backups/latest"):
        assert client.get(base + path, headers=intruder).status_code == 404
    assert client.post(f"{base}/backup", headers=intruder).status_code == 404
    assert client.get(f"{base}/backups/..%2F..%2Fetc", headers=noc).status_code in (404, 422)
