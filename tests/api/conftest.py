"""API test fixtures: the real app on the session's test database, and tokens per role."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from ispops.app import create_app
from ispops.auth.principal import Principal
from ispops.auth.tokens import issue_access_token
from ispops.config import Settings
from ispops.db.server import Server
from ispops.db.session import Database
from ispops.secrets import runtime
from ispops.secrets.file import FileSecretStore

SECRET = "test-secret-" + "x" * 64


@pytest.fixture(scope="session")
def api_settings() -> Settings:
    return Settings(jwt_secret=SECRET, login_failures_per_ip_per_minute=10_000)


@pytest.fixture(scope="session")
def app_client(database: Database, api_settings: Settings) -> Iterator[TestClient]:
    app = create_app(api_settings, server=database.server)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def client(db: Database, app_client: TestClient) -> TestClient:
    """The app client, with the database emptied before the test (through ``db``)."""
    return app_client


@pytest.fixture
def secret_store(client: TestClient, tmp_path: Path) -> Iterator[FileSecretStore]:
    """A temporary secret store for the app (VPN tunnels keep their private keys there)."""
    store = FileSecretStore(tmp_path / "secrets", os.urandom(32))
    with runtime.installed(store):
        yield store


TokenFor = Callable[..., dict[str, str]]


@pytest.fixture
def auth() -> TokenFor:
    """``auth("tenant-a", "noc_engineer")`` -> Authorization headers for such a user."""

    def make(tenant: str | None, *roles: str, user_id: str = "u-test", operator: bool = False) -> dict[str, str]:
        principal = Principal(
            kind="operator" if operator else "user",
            id=user_id,
            tenant_id=None if operator else tenant,
            roles=frozenset(roles),
        )
        token = issue_access_token(principal, secret=SECRET, ttl_seconds=600)
        return {"Authorization": f"Bearer {token}"}

    return make


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(server: Server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISPOPS_")}
    env["ISPOPS_JWT_SECRET"] = SECRET
    if server.embedded:
        host = server.admin_url.query["host"]
        assert isinstance(host, str)
        env["ISPOPS_DATA_DIR"] = os.path.dirname(host)
        env["ISPOPS_DATABASE_NAME"] = server.database
    else:
        env["ISPOPS_DATABASE_URL"] = server.admin_url.render_as_string(hide_password=False)
    return env


@pytest.fixture(scope="session")
def live_url(database: Database) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "ispops.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-proxy-headers",
        ],
        env=env_for(database.server),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the API did not become ready")
    yield url
    proc.terminate()
    proc.wait(timeout=30)
