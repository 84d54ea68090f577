"""``ispops radius coa-drain --follow`` beside ``ispops up`` on a fresh embedded server (issue 13, item 9):
SIGTERM ends it cleanly, and neither it nor a follower killed outright keeps the embedded PostgreSQL running
after ``up`` stops."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_up import free_port, read_until, start_up


def follow(data_dir: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISPOPS_")}
    env.update({"ISPOPS_DATA_DIR": str(data_dir), "COLUMNS": "200"})
    return subprocess.Popen(
        [sys.executable, "-m", "ispops", "radius", "coa-drain", "--follow", "--interval", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def holders(data_dir: Path) -> list[int]:
    """The pids pgserver counts as holding the embedded server."""
    path = data_dir / "postgres" / ".handle_pids.json"
    return list(json.loads(path.read_text())) if path.exists() else []


@pytest.fixture
def data() -> Iterator[Path]:
    """A data directory the embedded server's own user can reach (pytest's tmp dir is private to root, and
    other pytest runs reset its mode)."""
    base = Path(tempfile.mkdtemp(prefix="ispops-follow-"))
    base.chmod(0o755)
    yield base / "data"
    pidfile = base / "data" / "postgres" / "postmaster.pid"
    if pidfile.exists():  # the test failed: do not leave its PostgreSQL running
        os.kill(int(pidfile.read_text().split()[0]), signal.SIGINT)
    shutil.rmtree(base, ignore_errors=True)


def test_follow_stops_on_sigterm_and_up_stops_the_database(data: Path) -> None:
    up = start_up(data, "--no-demo", port=free_port())
    try:
        read_until(up, "Running.")
        polite, crashed = follow(data), follow(data)
        read_until(polite, "Sending CoA/Disconnect requests")
        read_until(crashed, "Sending CoA/Disconnect requests")
        assert {polite.pid, crashed.pid} <= set(holders(data))

        polite.send_signal(signal.SIGTERM)
        out, _ = polite.communicate(timeout=60)
        assert polite.returncode == 0, out
        assert "Stopped." in out
        assert polite.pid not in holders(data)  # its handle was released on the way out

        crashed.kill()  # no chance to release anything
        crashed.wait(timeout=30)
        assert crashed.pid in holders(data)
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGTERM)
    out, _ = up.communicate(timeout=120)
    assert up.returncode == 0, out
    assert "Stopped." in out and "keeps running" not in out, out
    assert not (data / "postgres" / "postmaster.pid").exists(), out  # PostgreSQL was stopped, not orphaned
    assert holders(data) == []
