"""A Huawei MA5800 reached over SSH, as a double: real OpenSSH ``sshd`` on loopback whose ForceCommand is
the console double ``huawei_cli.py``. The OLT's state (ONTs, service ports, the auto-find list, commands to
fail or hang) is a JSON file the test reads and writes through :class:`HuaweiSsh`."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.devices.conftest import need
from tests.ports import free_tcp_port

HERE = Path(__file__).resolve().parent


def empty_state() -> dict[str, Any]:
    return {"onts": [], "service_ports": [], "autofind": [], "resets": [], "fail": [], "hang": [], "log": []}


@dataclass
class HuaweiSsh:
    port: int
    username: str
    private_key: str
    state_file: Path

    def reset(self, **state: Any) -> None:
        self.state_file.write_text(json.dumps({**empty_state(), **state}))

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.state_file.read_text())
        return data


def start_huawei_ssh(folder: Path) -> Iterator[HuaweiSsh]:
    sshd, keygen = need("sshd"), need("ssh-keygen")
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("host_key", "client_key"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)], check=True)
    (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
    script = folder / "huawei_cli.py"
    shutil.copy(HERE / "huawei_cli.py", script)
    state = folder / "olt.json"
    state.write_text(json.dumps(empty_state()))
    command = folder / "console.sh"
    command.write_text(f"#!/bin/sh\nexec {sys.executable} -u {script} {state}\n")
    command.chmod(0o755)
    user = getpass.getuser()
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
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
                    f"ForceCommand {command}",
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
            yield HuaweiSsh(port, user, (folder / "client_key").read_text(), state)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        return
    pytest.fail(f"sshd did not start: {(folder / 'sshd.log').read_text()[-2000:]}")
