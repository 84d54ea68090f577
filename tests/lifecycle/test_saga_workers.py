"""The engine on real workers: the advance job in an in-process worker, two runs racing on one order, a
process killed at a crash point and the order resumed, stalled orders found and queued again."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ispops.db.session import Database
from ispops.jobs import defer_in
from ispops.jobs.app import connector_for, create_app
from ispops.jobs.registry import get_spec
from ispops.jobs.worker import run_worker_async
from ispops.lifecycle import crash, jobs, saga
from tests.lifecycle.saga_support import (  # noqa: F401  (fixtures)
    Mark,
    Site,
    advance_jobs,
    marks,
    new_order,
    number,
    order_row,
    plan,
    site_fixture,
)

ROOT = Path(__file__).resolve().parents[2]
SPECS = [get_spec("lifecycle.advance"), get_spec("lifecycle.resume_stalled")]


def run_jobs(db: Database, concurrency: int = 1) -> None:
    """A real worker in this process, until nothing is ready."""
    app = create_app(connector_for(db.server), specs=SPECS, schedule=False)
    asyncio.run(
        run_worker_async(
            app, db, concurrency=concurrency, wait=False, install_signal_handlers=False, listen_notify=False
        )
    )


def test_a_submitted_order_runs_on_a_worker(site: Site, admin: psycopg.Connection[Any]) -> None:
    orders = [new_order(site.db, site.tenant, sub) for sub in site.subscribers]
    with plan(Mark("a"), Mark("b")) as steps:
        run_jobs(site.db, concurrency=2)
    statuses = admin.execute("select workflow_status from service_activations").fetchall()
    assert statuses == [("completed",)] * 3
    assert [len(s.done) for s in steps] == [3, 3]
    assert marks(admin) == sorted(number(n, o) for o in orders for n in "ab")
    assert {j[0] for j in advance_jobs(admin)} == {"succeeded"}


def _lock_waiters(admin: psycopg.Connection[Any]) -> int:
    row = admin.execute(
        "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()"
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_two_runs_racing_on_one_order_do_each_step_once(site: Site, admin: psycopg.Connection[Any]) -> None:
    order_id = new_order(site.db, site.tenant, site.subscribers[0])
    entered, gate = threading.Event(), threading.Event()
    outcomes: list[str] = []

    def run() -> None:
        outcomes.append(saga.advance(site.db, site.tenant, order_id))

    with plan(Mark("a", gate=gate, entered=entered), Mark("b"), Mark("c")) as steps:
        first = threading.Thread(target=run)
        first.start()
        assert entered.wait(30)  # the first run is inside step a, holding the order's row
        second = threading.Thread(target=run)
        second.start()
        deadline = time.monotonic() + 30
        while _lock_waiters(admin) == 0:  # the second waits for the row
            assert time.monotonic() < deadline, "the second run never waited for the order's row"
            time.sleep(0.02)
        gate.set()
        first.join(30)
        second.join(30)
    assert sorted(outcomes) == ["completed", "finished"]
    assert steps[0].calls == 1 and [len(s.done) for s in steps] == [1, 1, 1]
    assert [e["step"] for e in order_row(admin, order_id)["steps_completed"]] == ["a", "b", "c"]
    assert marks(admin) == sorted(number(n, order_id) for n in "abc")


def test_two_jobs_of_one_order_on_a_two_slot_worker_do_each_step_once(
    site: Site, admin: psycopg.Connection[Any]
) -> None:
    order_id = new_order(site.db, site.tenant, site.subscribers[0])
    with site.db.tenant(site.tenant) as s:  # a duplicate job (the stalled sweep and the safety net may both queue)
        defer_in(s, saga.ADVANCE_JOB, order_id=str(order_id))
    with plan(Mark("a"), Mark("b"), Mark("c")) as steps:
        run_jobs(site.db, concurrency=2)
    assert [len(s.done) for s in steps] == [1, 1, 1]
    assert order_row(admin, order_id)["workflow_status"] == "completed"
    assert [j[0] for j in advance_jobs(admin)] == ["succeeded", "succeeded"]


SCRIPT = """
import sys, uuid
from ispops.config import Settings
from ispops.db.server import open_server
from ispops.db.session import Database
from ispops.lifecycle import saga
from tests.lifecycle.saga_support import Mark, plan

db = Database(open_server(Settings()))
steps = [Mark("a"), Mark("b"), Mark("c", fail_always=sys.argv[3] == "fail")]
with plan(*steps):
    print(saga.advance(db, sys.argv[1], uuid.UUID(sys.argv[2])))
"""


def _killed_at(site: Site, order_id: uuid.UUID, label: str, mode: str = "ok") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISPOPS_")}
    env["ISPOPS_DATABASE_URL"] = site.db.server.admin_url.render_as_string(hide_password=False)
    env[crash.ENV] = label
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, site.tenant, str(order_id), mode],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("label", "mode", "logged", "undone"),
    [
        ("activate:b:run:before_commit", "ok", ["a"], []),
        ("activate:b:run:after_commit", "ok", ["a", "b"], []),
        ("activate:b:compensate:before_commit", "fail", ["a", "b"], []),
        ("activate:b:compensate:after_commit", "fail", ["a", "b"], ["b"]),
    ],
)
def test_a_process_killed_at_a_crash_point_leaves_an_order_that_resumes(
    site: Site, admin: psycopg.Connection[Any], label: str, mode: str, logged: list[str], undone: list[str]
) -> None:
    order_id = new_order(site.db, site.tenant, site.subscribers[0])
    killed = _killed_at(site, order_id, label, mode)
    assert killed.returncode == crash.EXIT_STATUS, killed.stdout + killed.stderr
    row = order_row(admin, order_id)
    assert [e["step"] for e in row["steps_completed"]] == logged
    assert [c["step"] for c in row["compensations"]] == undone
    # the log and the effects agree: what is logged (and not undone) is in the database, nothing else
    assert marks(admin) == sorted(number(n, order_id) for n in logged if n not in undone)
    with plan(Mark("a"), Mark("b"), Mark("c", fail_always=mode == "fail")) as steps:
        final = saga.advance(site.db, site.tenant, order_id)
    assert final == ("completed" if mode == "ok" else "rolled_back")
    row = order_row(admin, order_id)
    if mode == "ok":
        assert [e["step"] for e in row["steps_completed"]] == ["a", "b", "c"]
        assert marks(admin) == sorted(number(n, order_id) for n in "abc")
        assert [len(s.done) for s in steps] == [0, 0 if "after" in label else 1, 1]  # nothing run twice
    else:
        assert [c["step"] for c in row["compensations"]] == ["b", "a"] and marks(admin) == []


def test_stalled_orders_are_found_and_queued_again(site: Site, admin: psycopg.Connection[Any]) -> None:
    lost, waiting, running = (new_order(site.db, site.tenant, sub) for sub in site.subscribers)
    on_dead_worker = new_order(site.db, site.other_tenant, site.other_subscriber)
    admin.execute("update service_activations set workflow_status = 'in_progress', next_attempt_at = now()")
    admin.execute("delete from procrastinate.procrastinate_jobs where args->>'order_id' = %s", (str(lost),))
    live = admin.execute("insert into procrastinate.procrastinate_workers default values returning id").fetchone()
    dead = admin.execute(
        "insert into procrastinate.procrastinate_workers (last_heartbeat) values (now() - interval '10 minutes') "
        "returning id"
    ).fetchone()
    assert live is not None and dead is not None
    doing = "update procrastinate.procrastinate_jobs set status = 'doing', worker_id = %s where args->>'order_id' = %s"
    admin.execute(doing, (live[0], str(running)))
    admin.execute(doing, (dead[0], str(on_dead_worker)))

    assert jobs.resume_stalled(site.db, site.tenant, grace_seconds=3600)["resumed"] == 0  # not due long enough
    # lost has no job; waiting has a todo job; running is on a live worker
    assert jobs.resume_stalled(site.db, site.tenant, grace_seconds=0)["orders"] == [str(lost)]
    assert jobs.resume_stalled(site.db, site.tenant, grace_seconds=0)["resumed"] == 0  # now it has one
    assert jobs.resume_stalled(site.db, site.other_tenant, grace_seconds=0)["orders"] == [str(on_dead_worker)]
    with plan(Mark("a")):
        run_jobs(site.db)
    for order_id in (lost, waiting, on_dead_worker):
        assert order_row(admin, order_id)["workflow_status"] == "completed"
    assert order_row(admin, running)["workflow_status"] == "in_progress"  # its live worker has it
