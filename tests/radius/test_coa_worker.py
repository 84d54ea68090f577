"""The standard worker sends CoA/Disconnect requests the moment they are queued (issue 13, item 8).

``ispops worker`` is started as ``ispops up`` starts it (a subprocess, here with ``--no-schedule`` so the
minute job ``radius.drain_coa_queue`` never runs), a real FreeRADIUS plays the NAS's CoA listener, and a
manual disconnect through the API must reach it: only the worker's ``LISTEN ispops_radius_coa`` can send it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from ispops.db.session import Database
from tests.api.conftest import TokenFor, api_settings, app_client, auth, client, env_for
from tests.jobs.conftest import QUEUE_TABLES
from tests.radius.coa_listener import CoaListener, coa_listener, nas_listener
from tests.radius.coa_world import nas, profile, session, subscriber, tenant

__all__ = ["api_settings", "app_client", "auth", "client", "coa_listener", "nas_listener"]

Admin = psycopg.Connection[Any]


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def listeners(admin: Admin) -> int:
    """Connections of the test database that are listening for CoA notifications."""
    row = admin.execute(
        "select count(*) from pg_stat_activity where datname = current_database() "
        "and usename = 'ispops_app' and query = 'LISTEN ispops_radius_coa'"
    ).fetchone()
    return int(row[0]) if row else 0


@pytest.fixture
def worker(db: Database, admin: Admin) -> Iterator[subprocess.Popen[str]]:
    """``ispops worker`` on the test database, without the periodic schedule, listening; the job queue is
    emptied first (no drain job left by another test may do the listener's work)."""
    admin.execute(f"truncate {QUEUE_TABLES} restart identity cascade")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ispops", "worker", "--no-schedule", "--concurrency", "1", "--log-level", "warning"],
        env=env_for(db.server) | {"COLUMNS": "200", "PATH": os.environ.get("PATH", "")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: listeners(admin) or proc.poll() is not None, "the worker to LISTEN")
        assert proc.poll() is None, proc.communicate()[0]
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_worker_sends_a_manual_disconnect_at_once_and_stops_cleanly(
    db: Database,
    admin: Admin,
    nas_listener: CoaListener,
    client: TestClient,
    auth: TokenFor,
    worker: subprocess.Popen[str],
) -> None:
    tid = tenant(db, admin, "isp-a")
    nas_id = nas(db, tid, "127.0.0.1", nas_listener.port, secret=nas_listener.secret)
    alice = subscriber(db, tid, "alice", profile(db, tid, "basic", 50, 10))
    radacctid = session(db, tid, alice, "alice", "127.0.0.1", acctsessionid="W-1")

    response = client.post(f"/api/v1/radius/sessions/{radacctid}/disconnect", headers=auth(tid, "support_agent"))
    assert response.status_code == 202, response.text

    [attempt] = wait_for(
        lambda: admin.execute(
            "select kind, reason, result, nas_id, acctsessionid from radius_coa_attempts where tenant_id = %s", (tid,)
        ).fetchall(),
        "the Disconnect in the attempts log",
    )
    assert attempt == ("disconnect", "manual", "ack", nas_id, "W-1")
    [got] = nas_listener.received()
    assert (got.packet_type, got.one("Acct-Session-Id"), got.one("User-Name")) == ("Disconnect-Request", "W-1", "alice")
    assert admin.execute("select count(*) from radius_coa_queue").fetchone() == (0,)
    # Nothing but the listener sent it: no drain job was ever queued or run.
    assert admin.execute(
        "select count(*) from procrastinate.procrastinate_jobs where task_name = 'radius.drain_coa_queue'"
    ).fetchone() == (0,)

    # A change made in SQL (a suspension: the trigger queues and notifies) goes out the same way.
    admin.execute("update radacct set acctstoptime = null where radacctid = %s", (radacctid,))
    admin.execute("update subscribers set status = 'suspended' where id = %s", (alice,))
    wait_for(lambda: len(nas_listener.received()) == 2, "the suspension's Disconnect")

    worker.send_signal(signal.SIGTERM)
    out, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, out
    assert "Worker stopped." in out
    assert listeners(admin) == 0
