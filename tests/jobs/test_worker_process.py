"""``ispops worker`` as its own process: picks up jobs, stops cleanly on SIGTERM, and when killed its
running job is put back in the queue by the stalled-job sweep."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ispops.db.server import Server
from ispops.db.session import Database
from ispops.jobs import defer_in
from ispops.jobs.app import connector_for, create_app, sweep_stalled_jobs
from tests.jobs.conftest import customers, queue, run_jobs
from tests.jobs.sample import SPECS

ROOT = Path(__file__).resolve().parents[2]


def start_worker(server: Server, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISPOPS_")}
    env["ISPOPS_DATABASE_URL"] = server.admin_url.render_as_string(hide_password=False)
    return subprocess.Popen(
        [sys.executable, "-m", "ispops", "worker", "--import", "tests.jobs.sample", "--concurrency", "1", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def worker_process(jobs_db: Database) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        started.append(start_worker(jobs_db.server, *args))
        return started[-1]

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def wait_for(what: str, check: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc.poll() is not None:
            pytest.fail(f"worker exited ({proc.returncode}) before {what}:\n{proc.communicate()[0]}")
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}:\n{proc.communicate()[0]}")


def workers(admin: psycopg.Connection[Any]) -> int:
    row = admin.execute("select count(*) from procrastinate.procrastinate_workers").fetchone()
    return int(row[0]) if row else 0


def sweep(db: Database, stalled_after: float) -> dict[str, int]:
    async def go() -> dict[str, int]:
        app = create_app(connector_for(db.server), specs=SPECS, schedule=False)
        async with app.open_async():
            return await sweep_stalled_jobs(app, stalled_after=stalled_after)

    return asyncio.run(go())


def test_the_worker_command_runs_jobs_and_stops_cleanly_on_sigterm(
    jobs_db: Database,
    tenants: list[str],
    admin: psycopg.Connection[Any],
    worker_process: Callable[..., subprocess.Popen[str]],
) -> None:
    proc = worker_process()
    wait_for("the worker to register", lambda: workers(admin) == 1, proc)
    with jobs_db.tenant("isp-a") as s:
        defer_in(s, "tests.record", note="live")  # woken by NOTIFY when the transaction commits
    wait_for("the job to run", lambda: customers(admin, "isp-a") == ["live"], proc)

    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Jobs: " in out and "tests.record" in out
    assert out.rstrip().endswith("Worker stopped.")
    assert workers(admin) == 0  # unregistered on the way out
    # The schedule runs too (jobs.retry_stalled, fan-outs…); ours is the one we can count on.
    assert ("tests.record", "succeeded") in [(r[0], r[1]) for r in queue(admin)]


def test_the_stalled_job_sweep_retries_the_job_of_a_killed_worker(
    jobs_db: Database,
    tenants: list[str],
    admin: psycopg.Connection[Any],
    worker_process: Callable[..., subprocess.Popen[str]],
) -> None:
    with jobs_db.tenant("isp-a") as s:
        defer_in(s, "tests.block_once")
    proc = worker_process("--no-schedule")
    wait_for("the job to start", lambda: customers(admin, "isp-a") == ["started"], proc)
    assert [(r[1], r[2]) for r in queue(admin)] == [("doing", 0)]
    assert sweep(jobs_db, stalled_after=60) == {"retried": 0, "failed": 0, "workers_removed": 0}  # alive

    proc.kill()  # SIGKILL: no goodbye, the job stays "doing"
    proc.communicate()
    time.sleep(2.5)
    assert sweep(jobs_db, stalled_after=2) == {"retried": 1, "failed": 0, "workers_removed": 1}
    assert [(r[1], r[2]) for r in queue(admin)] == [("todo", 1)]

    run_jobs(jobs_db)  # any worker takes it again, from the start (tasks are idempotent)
    assert [(r[1], r[2]) for r in queue(admin)] == [("succeeded", 2)]
    assert customers(admin, "isp-a") == ["done", "started"]


def test_a_job_that_keeps_killing_its_worker_is_failed(
    jobs_db: Database, tenants: list[str], admin: psycopg.Connection[Any]
) -> None:
    with jobs_db.tenant("isp-a") as s:
        defer_in(s, "tests.record")
    registered = admin.execute("select procrastinate.procrastinate_register_worker_v1()").fetchone()
    assert registered is not None
    worker_id = registered[0]
    admin.execute(
        "update procrastinate.procrastinate_workers set last_heartbeat = now() - interval '1 hour' where id = %s",
        (worker_id,),
    )
    admin.execute(
        "update procrastinate.procrastinate_jobs set status = 'doing', worker_id = %s, attempts = 4", (worker_id,)
    )
    assert sweep(jobs_db, stalled_after=60) == {"retried": 0, "failed": 1, "workers_removed": 1}
    assert [(r[1], r[2]) for r in queue(admin)] == [("failed", 5)]
