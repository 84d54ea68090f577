"""Two workers racing on one order of real steps: one wins each step, nothing is done twice."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from typing import Any

import psycopg
import pytest

from ispops.db.session import Database
from ispops.jobs import defer_in
from ispops.lifecycle import saga
from tests.lifecycle.crash_support import DEADLINE, ROOT, TASKS, WORKER, live_subscriber, submit
from tests.lifecycle.step_world import World, build, effects, serial, subscriber


@pytest.fixture
def world(db: Database) -> World:
    return build(db, "race-a")


def _second_job(db: Database, world: World, order_id: uuid.UUID) -> None:
    with db.tenant(world.tenant) as s:
        defer_in(s, saga.ADVANCE_JOB, order_id=str(order_id))


def test_two_worker_processes_on_one_activation_do_each_step_once(
    db: Database, world: World, admin: psycopg.Connection[Any]
) -> None:
    sub = subscriber(db, world)
    params = {
        "bandwidth_profile_id": str(world.plan),
        "olt_id": str(world.lab_olt),
        "pon_port_id": str(world.lab_port),
        "serial_number": serial(),
        "line_profile": "10",
        "service_profile": "FTTH",
    }
    order_id = submit(db, world, "activate", sub, params)
    _second_job(db, world, order_id)  # two jobs for one order, two workers to take them
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISPOPS_")}
    env["ISPOPS_DATABASE_URL"] = db.server.admin_url.render_as_string(hide_password=False)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, world.tenant, str(order_id), str(DEADLINE), *TASKS],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=DEADLINE + 60) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    assert all(out.strip().endswith("completed") for out, _ in outputs), outputs
    eff = effects(admin, world.tenant, sub)
    assert (eff["status"], eff["live_ips"], eff["all_ips"], eff["onu_ids"], eff["authorise_jobs"]) == (
        "active",
        1,
        1,
        1,
        1,
    )
    assert (eff["credentials"], eff["status_audits"]) == (1, 1)
    steps = admin.execute("select steps_completed from service_activations where id = %s", (order_id,)).fetchone()
    assert steps is not None
    names = [e["step"] for e in steps[0]]
    assert names == [s.name for s in saga.resolve_plan("new_service")]  # each step logged once, in order


def test_two_threads_advancing_one_termination_release_everything_once(
    db: Database, world: World, admin: psycopg.Connection[Any]
) -> None:
    sub = live_subscriber(db, world)
    order_id = submit(db, world, "terminate", sub, {})
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def advance() -> None:
        try:
            outcomes.append(saga.advance(db, world.tenant, order_id))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=advance) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    assert not errors and sorted(outcomes) == ["completed", "finished"], (
        outcomes,
        errors,
    )
    eff = effects(admin, world.tenant, sub)
    assert (eff["status"], eff["status_audits"], eff["all_ips"], eff["live_ips"]) == ("terminated", 1, 1, 0)
    queued = admin.execute("select count(*) from radius_coa_queue where subscriber_id = %s", (sub,)).fetchone()
    assert queued == (1,)
    jobs = admin.execute("select count(*) from onu_provisioning_jobs where action = 'deauthorise'").fetchone()
    assert jobs == (1,)
