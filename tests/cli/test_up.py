"""``ispops up`` end to end in a subprocess: a fresh embedded server, reuse, a clean stop."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ispops.db.migrate import head_revision
from ispops.demo.seed import DEMO_PASSWORD


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_up(data_dir: Path, *args: str, port: int = 0) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISPOPS_")}
    env.update({"ISPOPS_DATA_DIR": str(data_dir), "COLUMNS": "200", "ISPOPS_API_PORT": str(port or free_port())})
    return subprocess.Popen(
        [sys.executable, "-m", "ispops", "up", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 180) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if marker in line:
            return lines
    proc.kill()
    pytest.fail(f"never saw {marker!r}; output so far:\n" + "\n".join(lines))


@pytest.fixture
def data() -> Iterator[Path]:
    """A data directory the embedded server's own user can reach. Not pytest's tmp_path: pytest makes
    /tmp/pytest-of-<user> private (0700) whenever a session or an xdist worker first asks for a tmp dir,
    which can happen while this test's PostgreSQL (run as the pgserver user under root) is starting."""
    base = Path(tempfile.mkdtemp(prefix="ispops-up-"))
    base.chmod(0o755)
    yield base / "data"
    pidfile = base / "data" / "postgres" / "postmaster.pid"
    if pidfile.exists():  # the test failed: do not leave its PostgreSQL running
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text().split()[0]), signal.SIGINT)
    shutil.rmtree(base, ignore_errors=True)


def test_up_starts_reuses_and_stops_the_embedded_server(data: Path) -> None:
    port = free_port()
    proc = start_up(data, port=port)
    lines = read_until(proc, "Running.")
    assert f"API: http://127.0.0.1:{port}" in "\n".join(lines)
    # The API answers, on the database it just migrated and seeded: the demo admin can log in.
    assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["status"] == "ok"
    login = httpx.post(
        f"http://127.0.0.1:{port}/api/v1/auth/login",
        json={"tenant": "lakeside-fibre", "email": "admin@lakeside-fibre.demo", "password": DEMO_PASSWORD},
    )
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    subs = httpx.get(f"http://127.0.0.1:{port}/api/v1/subscribers", headers={"Authorization": f"Bearer {token}"})
    assert subs.json()["total"] == 12
    assert lines[0].startswith("Database: embedded PostgreSQL"), lines
    assert any(f"Migrations: at revision {head_revision()}" in line for line in lines)
    assert any(line.startswith("Demo data: tenants lakeside-fibre, ridgeline-wireless created") for line in lines)
    pidfile = data / "postgres" / "postmaster.pid"
    assert pidfile.exists()

    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Stopped." in out
    assert not pidfile.exists()  # PostgreSQL was stopped, not orphaned

    again = start_up(data, "--no-wait")
    out, _ = again.communicate(timeout=180)
    assert again.returncode == 0, out
    assert "already present" in out  # same data directory, same data
    assert not pidfile.exists()


def test_a_configuration_error_is_one_line_and_nothing_starts(data: Path) -> None:
    """ISPOPS_DATABASE_URL without ISPOPS_JWT_SECRET: the message, a non-zero exit, no traceback, and no
    attempt to reach the (here unreachable) database or start the API first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISPOPS_")}
    env.update(
        {
            "ISPOPS_DATA_DIR": str(data),
            "ISPOPS_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/nowhere",
            "COLUMNS": "200",
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "ispops", "up", "--no-demo"], capture_output=True, text=True, env=env, timeout=120
    )
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "ISPOPS_JWT_SECRET is not set" in out
    for noise in ("Traceback", "SystemExit", "Task exception", "cannot reach the database", "Database:"):
        assert noise not in out, out


def test_the_psql_hint_is_a_url_psql_accepts() -> None:
    from sqlalchemy.engine import make_url

    from ispops.cli.platform import _connection_hint

    class External:
        embedded = False

        def url_for(self, role: str) -> Any:
            return make_url(f"postgresql+psycopg://{role}:pw@db.example:5432/ispops")

    hint = _connection_hint(External())  # type: ignore[arg-type]
    assert hint == "psql 'postgresql://ispops_app:***@db.example:5432/ispops'"
