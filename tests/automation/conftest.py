"""Automation test fixtures: two tenants, a secret store, settings with private run and playbook
directories, and a real OpenSSH ``sshd`` on loopback as the managed host.

``managed_host``: one sshd, two ports. On ``linux_port`` it is an ordinary Linux host (a shell, Python:
Ansible modules run there); on ``router_port`` every command goes to a small fake RouterOS that logs what
it is sent and answers ``/export`` with a configuration (``ansible.builtin.raw`` tasks). It logs in the
current user with an Ed25519 key; the host key is pinned in the device credentials.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from ispops.automation import runtime
from ispops.config import Settings
from ispops.db.session import Database
from ispops.secrets import runtime as secret_runtime
from ispops.secrets.file import FileSecretStore
from tests.api.conftest import api_settings, app_client, auth, client  # noqa: F401  (the API fixtures)
from tests.devices.conftest import need
from tests.factories import make_tenant
from tests.ports import free_tcp_port

INSERT_DEVICE = text(
    "insert into devices (id, tenant_id, name, device_type, vendor, management_ip, credentials_vault_path) "
    "values (cast(:id as uuid), :t, :name, 'router', :vendor, cast(:ip as inet), :path)"
)
QUEUE_TABLES = ", ".join(f"procrastinate.procrastinate_{t}" for t in ("jobs", "workers", "periodic_defers", "events"))

ROUTER = r"""#!/bin/bash
# A fake RouterOS for Ansible's raw module: logs each command, prints the configuration on /export.
log="$1"; config="$2"
cmd="${SSH_ORIGINAL_COMMAND:-}"
printf '%s\n' "$cmd" >> "$log"
case "$cmd" in
  /export*) cat "$config" ;;
  *) ;;
esac
"""


@dataclass
class ManagedHost:
    linux_port: int
    router_port: int
    username: str
    private_key: str
    host_key: str  # "ssh-ed25519 AAAA…"
    router_log: Path
    router_config: Path


@pytest.fixture(scope="session")
def managed_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedHost]:
    sshd, keygen = need("sshd"), need("ssh-keygen")
    need("ssh")
    folder = tmp_path_factory.mktemp("managed")
    for name in ("host_key", "client_key"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)], check=True)
    (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
    router = folder / "routeros.sh"
    router.write_text(ROUTER)
    router.chmod(0o755)
    log, config = folder / "router.log", folder / "router-config.rsc"
    log.write_text("")
    config.write_text("# RouterOS 7.16\n/system identity\nset name=edge-7\n")
    user = getpass.getuser()
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    for _attempt in range(5):
        linux, routeros = free_tcp_port(), free_tcp_port()
        if linux == routeros:
            continue
        (folder / "sshd_config").write_text(
            "\n".join(
                [
                    f"Port {linux}",
                    f"Port {routeros}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {folder / 'host_key'}",
                    f"PidFile {folder / 'sshd.pid'}",
                    f"AuthorizedKeysFile {folder / 'authorized_keys'}",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "UsePAM no",
                    "StrictModes no",
                    "PermitRootLogin prohibit-password",
                    f"AllowUsers {user}",
                    "LogLevel ERROR",
                    "Subsystem sftp internal-sftp",
                    f"Match LocalPort {routeros}",
                    f"    ForceCommand {router} {log} {config}",
                    "",
                ]
            )
        )
        out = (folder / "sshd.log").open("wb")
        proc = subprocess.Popen(
            [sshd, "-D", "-e", "-f", str(folder / "sshd_config")], stdout=out, stderr=subprocess.STDOUT
        )
        ready = _wait_ssh(proc, linux) and _wait_ssh(proc, routeros)
        if not ready:
            proc.kill()
            proc.wait()
            continue
        host_key = " ".join((folder / "host_key.pub").read_text().split()[:2])
        try:
            yield ManagedHost(linux, routeros, user, (folder / "client_key").read_text(), host_key, log, config)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        return
    pytest.fail(f"sshd did not start: {(folder / 'sshd.log').read_text()[-2000:]}")


def _wait_ssh(proc: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                return s.recv(4).startswith(b"SSH-")
        except OSError:
            time.sleep(0.1)
    return False


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FileSecretStore]:
    secrets = FileSecretStore(tmp_path / "secrets", os.urandom(32))
    with secret_runtime.installed(secrets):
        yield secrets


@pytest.fixture
def playbook_root(tmp_path: Path) -> Path:
    root = tmp_path / "tenant-playbooks"
    root.mkdir()
    return root


@pytest.fixture
def settings(tmp_path: Path, playbook_root: Path) -> Iterator[Settings]:
    cfg = Settings(
        data_dir=tmp_path / "data",
        automation_run_dir=tmp_path / "runs",
        automation_playbook_roots=str(playbook_root),
        device_backup_dir=tmp_path / "backups",
        automation_radius_address="127.0.0.1",
        # This machine's login shell puts a pyenv shim first, which discovery would pick; CI's is Debian's.
        automation_python_interpreter="/usr/bin/python3",
    )
    with runtime.installed(cfg):
        yield cfg


@pytest.fixture
def queue_db(db: Database, admin: psycopg.Connection[Any]) -> Database:
    admin.execute(f"truncate {QUEUE_TABLES} restart identity cascade")
    return db


@pytest.fixture
def tenants(queue_db: Database) -> list[str]:
    for tenant in ("isp-a", "isp-b"):
        make_tenant(queue_db, tenant)
    return ["isp-a", "isp-b"]


def add_device(
    db: Database,
    store: FileSecretStore,
    tenant: str,
    name: str,
    *,
    port: int | None = None,
    vendor: str = "Linux",
    credentials: dict[str, Any] | None = None,
    address: str = "127.0.0.1",
) -> uuid.UUID:
    """A device of ``tenant``; with ``credentials`` they are stored in the secret store first."""
    device_id = uuid.uuid4()
    path = None
    if credentials is not None:
        path = f"tenants/{tenant}/devices/{device_id}/credentials-test"
        store.put(path, json.dumps({**credentials, **({"ssh_port": port} if port else {})}).encode())
    with db.tenant(tenant) as s:
        s.execute(
            INSERT_DEVICE,
            {"id": str(device_id), "t": tenant, "name": name, "vendor": vendor, "ip": address, "path": path},
        )
    return device_id


def ssh_credentials(host: ManagedHost) -> dict[str, Any]:
    return {"username": host.username, "private_key": host.private_key, "ssh_host_key": host.host_key}


def write_playbook(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(body)
    return path
