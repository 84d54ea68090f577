"""Real network services for the device tests: Net-SNMP's ``snmpd`` and OpenSSH's ``sshd``, each on a
free loopback port with its own configuration, started and stopped by the fixtures.

- ``agent``: an snmpd answering v2c (community ``ispops-ro``) and v3 (user ``noc``, SHA + AES). Every
  interface's ifOperStatus is overridden to up, so the device is deterministically *online* whatever
  interfaces this machine has.
- ``degraded_agent``: the same, but the loopback interface (ifIndex 1) is admin up and oper down.
- ``ssh_router``: sshd whose ForceCommand is a small router-like CLI (prompt ``edge-1#``, ``terminal
  length 0``, ``show running-config`` printing a file the test can change), logged into with an Ed25519
  key by netmiko's ``cisco_ios`` driver. sshd runs as the current user and only accepts that user.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ispops.config import Settings
from ispops.secrets.file import FileSecretStore
from tests.api.conftest import api_settings, app_client, auth, client  # noqa: F401  (the API fixtures)
from tests.ports import free_tcp_port, free_udp_port

COMMUNITY = "ispops-ro"
V3_USER, V3_AUTH, V3_PRIV = "noc", "auth-pass-123", "priv-pass-456"
IF_OPER = "1.3.6.1.2.1.2.2.1.8"
IF_ADMIN = "1.3.6.1.2.1.2.2.1.7"


def need(binary: str) -> str:
    """The binary's path; outside CI a missing one skips (CI installs them: .ci/run)."""
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{binary} is not installed (see .ci/run)")
        pytest.skip(f"{binary} is not installed")
    return path


@dataclass
class Agent:
    port: int
    process: subprocess.Popen[bytes]


def _interface_indexes() -> list[int]:
    out = []
    for entry in Path("/sys/class/net").iterdir():
        try:
            out.append(int((entry / "ifindex").read_text().strip()))
        except (OSError, ValueError):
            continue
    return sorted(out) or [1]


def start_snmpd(folder: Path, overrides: list[str]) -> Iterator[Agent]:
    snmpd, snmpget = need("snmpd"), need("snmpget")
    folder.mkdir(parents=True)
    (folder / "state").mkdir()
    (folder / "mibs").mkdir()
    conf = folder / "snmpd.conf"
    conf.write_text(
        "\n".join(
            [
                f"[snmp] persistentDir {folder / 'state'}",
                f"rocommunity {COMMUNITY} 127.0.0.1",
                f'createUser {V3_USER} SHA "{V3_AUTH}" AES "{V3_PRIV}"',
                f"rouser {V3_USER} priv",
                "sysName ispops-test-agent",
                "sysDescr ispops test agent (Net-SNMP)",
                *overrides,
                "",
            ]
        )
    )
    env = {**os.environ, "MIBS": "", "MIBDIRS": str(folder / "mibs"), "SNMP_PERSISTENT_DIR": str(folder / "state")}
    for _attempt in range(5):
        port = free_udp_port()
        log = (folder / "snmpd.log").open("wb")
        proc = subprocess.Popen(
            [
                snmpd,
                "-f",
                "-Lo",
                "-C",
                "-c",
                str(conf),
                "-I",
                "-smux",
                "-M",
                str(folder / "mibs"),
                "-m",
                "",
                f"udp:127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.poll() is None:
            probe = subprocess.run(
                [
                    snmpget,
                    "-m",
                    "",
                    "-v2c",
                    "-c",
                    COMMUNITY,
                    "-t",
                    "0.3",
                    "-r",
                    "0",
                    f"127.0.0.1:{port}",
                    "1.3.6.1.2.1.1.5.0",
                ],
                capture_output=True,
                env=env,
                check=False,
            )
            if probe.returncode == 0:
                break
        else:
            proc.kill()
            proc.wait()
            continue  # the port was taken meanwhile, or a slow start: try another
        try:
            yield Agent(port, proc)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        return
    pytest.fail(f"snmpd did not start: {(folder / 'snmpd.log').read_text()[-2000:]}")


@pytest.fixture(scope="session")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    overrides = [f"override .{IF_OPER}.{i} integer 1" for i in _interface_indexes()]
    yield from start_snmpd(tmp_path_factory.mktemp("snmp") / "online", overrides)


@pytest.fixture(scope="session")
def degraded_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    overrides = [f"override .{IF_ADMIN}.1 integer 1", f"override .{IF_OPER}.1 integer 2"]
    yield from start_snmpd(tmp_path_factory.mktemp("snmp") / "degraded", overrides)


CLI = r"""#!/bin/bash
# A router-like CLI for config-backup tests: a prompt, paging commands, and the configuration.
config="$1"
while true; do
  printf 'edge-1#'
  IFS= read -r line || exit 0
  line="${line%$'\r'}"
  case "$line" in
    "") ;;
    "terminal length 0"|"terminal width 511") ;;
    "show running-config") cat "$config" ;;
    exit|quit|logout) exit 0 ;;
    *) printf '%% Invalid input detected: %s\n' "$line" ;;
  esac
done
"""


@dataclass
class SshRouter:
    port: int
    username: str
    private_key: str
    config: Path  # what "show running-config" prints; tests rewrite it
    host_key_file: Path  # sshd's public host key (ssh-keygen's .pub: "ssh-ed25519 AAAA... comment")


@pytest.fixture(scope="session")
def ssh_router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshRouter]:
    sshd, keygen = need("sshd"), need("ssh-keygen")
    folder = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "client_key"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)], check=True)
    (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
    cli = folder / "router-cli.sh"
    cli.write_text(CLI)
    cli.chmod(0o755)
    config = folder / "running-config.txt"
    config.write_text("hostname edge-1\n")
    user = getpass.getuser()
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    for _attempt in range(5):
        port = free_tcp_port()
        (folder / "sshd_config").write_text(
            "\n".join(
                [
                    f"Port {port}",
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
                    f"ForceCommand {cli} {config}",
                    "LogLevel ERROR",
                    "",
                ]
            )
        )
        log = (folder / "sshd.log").open("wb")
        proc = subprocess.Popen(
            [sshd, "-D", "-e", "-f", str(folder / "sshd_config")], stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 15
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    ready = s.recv(4).startswith(b"SSH-")
                    break
            except OSError:
                time.sleep(0.1)
        if not ready:
            proc.kill()
            proc.wait()
            continue
        try:
            yield SshRouter(port, user, (folder / "client_key").read_text(), config, folder / "host_key.pub")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        return
    pytest.fail(f"sshd did not start: {(folder / 'sshd.log').read_text()[-2000:]}")


@pytest.fixture
def store(tmp_path: Path) -> FileSecretStore:
    return FileSecretStore(tmp_path / "secrets", os.urandom(32))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Backups under the test's own folder, with a short SSH timeout."""
    return Settings(device_backup_dir=tmp_path / "backups", backup_timeout_seconds=20)


@pytest.fixture
def app_settings(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Settings]:
    """``settings`` as the app's for one test. (Not ``monkeypatch.setattr``: its undo deletes an attribute
    of Starlette's ``State`` instead of restoring it, which left the session's app without settings.)"""
    app_test_client: TestClient = request.getfixturevalue("client")
    state = app_test_client.app.state  # type: ignore[attr-defined]
    before = state.settings
    state.settings = settings
    try:
        yield settings
    finally:
        state.settings = before
