"""Control of runs: the tenant's concurrency limit, the time limit, cancel (the process tree ends), retry;
and the launch's own rules (one transaction with its queued job, the lifecycle trigger)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ispops.automation import jobs, service
from ispops.config import Settings
from ispops.db.session import Database
from ispops.errors import Conflict
from ispops.jobs.app import connector_for, create_app
from ispops.jobs.registry import get_spec
from ispops.jobs.worker import run_worker_async
from ispops.models.automation import AnsibleTriggerSource
from ispops.secrets.file import FileSecretStore
from tests.automation.conftest import write_playbook
from tests.automation.test_runs import launch, register, row

SLEEPER = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: a long task
      ansible.builtin.shell: "echo $$ > {{ pidfile }}; exec sleep 300"
"""


def ended(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in state  # killed, waiting for its parent to collect it


def wait_for(condition: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached")
        time.sleep(0.05)


def test_cancel_ends_the_ansible_process_tree(
    tenants: list[str],
    queue_db: Database,
    settings: Settings,
    store: FileSecretStore,
    playbook_root: Path,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
) -> None:
    write_playbook(playbook_root / "sleeper", "site.yml", SLEEPER)
    register(queue_db, "isp-a", "sleeper", playbook_root / "sleeper")
    pidfile = tmp_path / "task.pid"
    job_id = launch(queue_db, "isp-a", "sleeper", extra_vars={"pidfile": str(pidfile)})
    result: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: result.update(
            jobs.run_job(queue_db, "isp-a", ansible_job_id=str(job_id), settings=settings, store=store)
        )
    )
    worker.start()
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip().isdigit())
    pid = int(pidfile.read_text())
    assert not ended(pid)
    with queue_db.tenant("isp-a") as s:
        assert service.cancel(s, "isp-a", job_id).status == "running"  # asked; the runner stops it
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert result == {"started": True, "status": "cancelled"}
    job = row(admin, job_id)
    assert job["status"] == "cancelled" and job["error"] == "cancelled on request"
    assert ended(pid)
    with queue_db.tenant("isp-a") as s, pytest.raises(Conflict):
        service.cancel(s, "isp-a", job_id)  # finished


def test_a_run_over_its_time_limit_is_stopped(
    tenants: list[str],
    queue_db: Database,
    settings: Settings,
    store: FileSecretStore,
    playbook_root: Path,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
) -> None:
    write_playbook(playbook_root / "sleeper", "site.yml", SLEEPER)
    register(queue_db, "isp-a", "sleeper", playbook_root / "sleeper")
    pidfile = tmp_path / "task.pid"
    job_id = launch(queue_db, "isp-a", "sleeper", extra_vars={"pidfile": str(pidfile)}, timeout_seconds=3)
    jobs.run_job(queue_db, "isp-a", ansible_job_id=str(job_id), settings=settings, store=store)
    job = row(admin, job_id)
    assert job["status"] == "timed_out" and "time limit of 3 s" in job["error"]
    if pidfile.exists():  # the task may not even have started within the limit on a busy machine
        assert ended(int(pidfile.read_text()))


def test_a_pending_job_cancelled_before_it_starts_never_runs(
    tenants: list[str], queue_db: Database, settings: Settings, store: FileSecretStore, admin: psycopg.Connection[Any]
) -> None:
    job_id = launch(queue_db, "isp-a", "facts.yml")
    with queue_db.tenant("isp-a") as s:
        assert service.cancel(s, "isp-a", job_id).status == "cancelled"
    assert jobs.run_job(queue_db, "isp-a", ansible_job_id=str(job_id), settings=settings, store=store) == {
        "started": False,
        "reason": "already cancelled",
    }
    assert row(admin, job_id)["started_at"] is None


def test_the_tenant_concurrency_limit_holds_a_run_back(
    tenants: list[str], queue_db: Database, settings: Settings, store: FileSecretStore, admin: psycopg.Connection[Any]
) -> None:
    settings.automation_concurrency_per_tenant = 1
    busy = launch(queue_db, "isp-a", "facts.yml")
    waiting = launch(queue_db, "isp-a", "facts.yml")
    other = launch(queue_db, "isp-b", "facts.yml")
    admin.execute("update ansible_jobs set status = 'running' where id = %s", (busy,))
    queued_before = queue_count(admin)

    held = jobs.run_job(queue_db, "isp-a", ansible_job_id=str(waiting), settings=settings, store=store)

    assert held == {"started": False, "reason": "waiting: the tenant's concurrency limit is reached"}
    assert row(admin, waiting)["status"] == "pending"
    assert queue_count(admin) == queued_before + 1  # queued again, for a little later
    later = admin.execute(
        "select scheduled_at > now() from procrastinate.procrastinate_jobs where id = "
        "(select queue_job_id from ansible_jobs where id = %s)",
        (waiting,),
    ).fetchone()
    assert later == (True,)
    # Another tenant is not held back.
    assert jobs.run_job(queue_db, "isp-b", ansible_job_id=str(other), settings=settings, store=store)["started"]
    admin.execute("update ansible_jobs set status = 'success' where id = %s", (busy,))
    assert jobs.run_job(queue_db, "isp-a", ansible_job_id=str(waiting), settings=settings, store=store)["started"]


def test_a_run_whose_worker_died_is_failed_not_run_twice(
    tenants: list[str], queue_db: Database, settings: Settings, store: FileSecretStore, admin: psycopg.Connection[Any]
) -> None:
    job_id = launch(queue_db, "isp-a", "facts.yml")
    admin.execute("update ansible_jobs set status = 'running', started_at = now() where id = %s", (job_id,))
    assert jobs.run_job(queue_db, "isp-a", ansible_job_id=str(job_id), settings=settings, store=store) == {
        "started": False,
        "reason": "worker lost",
    }
    assert row(admin, job_id)["status"] == "failed"


def test_retry_makes_a_new_run_of_a_failed_one(
    tenants: list[str], queue_db: Database, settings: Settings, admin: psycopg.Connection[Any]
) -> None:
    job_id = launch(queue_db, "isp-a", "facts.yml", extra_vars={"x": 1}, check_mode=True)
    with queue_db.tenant("isp-a") as s, pytest.raises(Conflict):
        service.retry(s, "isp-a", job_id, trigger_source=AnsibleTriggerSource.API, triggered_by="u1")  # pending
    admin.execute("update ansible_jobs set status = 'failed' where id = %s", (job_id,))
    with queue_db.tenant("isp-a") as s:
        again = service.retry(s, "isp-a", job_id, trigger_source=AnsibleTriggerSource.API, triggered_by="u1").id
    new = row(admin, again)
    assert new["retry_of_id"] == str(job_id) and new["attempt"] == 2 and new["status"] == "pending"
    assert new["extra_vars"] == {"x": 1} and new["check_mode"] is True and new["triggered_by"] == "u1"
    assert new["queue_job_id"] is not None


def test_a_launch_and_its_queued_run_share_one_transaction(
    tenants: list[str], queue_db: Database, admin: psycopg.Connection[Any]
) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), queue_db.tenant("isp-a") as s:
        service.launch(
            s,
            "isp-a",
            service.LaunchRequest(playbook_name="facts.yml"),
            trigger_source=AnsibleTriggerSource.MANUAL,
            triggered_by=None,
        )
        raise Boom
    assert admin.execute("select count(*) from ansible_jobs").fetchone() == (0,)
    assert queue_count(admin) == 0


def test_a_lifecycle_step_launches_a_run_recorded_as_its_orders(
    tenants: list[str], queue_db: Database, admin: psycopg.Connection[Any]
) -> None:
    order = uuid.uuid4()
    with queue_db.tenant("isp-a") as s:
        job = service.launch_for_order(
            s, "isp-a", order_id=order, request=service.LaunchRequest(playbook_name="mikrotik_pppoe_radius.yml")
        )
        job_id = job.id
    new = row(admin, job_id)
    assert new["trigger_source"] == "lifecycle" and new["triggered_by"] == f"order:{order}"
    assert new["lifecycle_order_id"] == str(order)
    queued = admin.execute(
        "select task_name, args->>'ansible_job_id', args->>'tenant_id' from procrastinate.procrastinate_jobs"
    ).fetchall()
    assert queued == [("automation.run_job", str(job_id), "isp-a")]


def queue_count(admin: psycopg.Connection[Any]) -> int:
    found = admin.execute("select count(*) from procrastinate.procrastinate_jobs").fetchone()
    assert found is not None
    return int(found[0])


def test_the_runner_leaves_no_process_of_a_finished_run(
    tenants: list[str], queue_db: Database, settings: Settings, store: FileSecretStore, admin: psycopg.Connection[Any]
) -> None:
    job_id = launch(queue_db, "isp-a", "facts.yml")  # no device: only localhost's implicit host, nothing to do
    jobs.run_job(queue_db, "isp-a", ansible_job_id=str(job_id), settings=settings, store=store)
    assert row(admin, job_id)["status"] == "success"
    mine = [p for p in os.listdir("/proc") if p.isdigit() and _has_marker(int(p), str(job_id))]
    assert mine == []


def _has_marker(pid: int, job_id: str) -> bool:
    try:
        return f"ISPOPS_AUTOMATION_RUN={job_id}".encode() in Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False


def test_a_procrastinate_worker_runs_the_queued_job(
    tenants: list[str], queue_db: Database, settings: Settings, store: FileSecretStore, admin: psycopg.Connection[Any]
) -> None:
    job_id = launch(queue_db, "isp-a", "facts.yml")
    app = create_app(connector_for(queue_db.server), specs=[get_spec("automation.run_job")], schedule=False)
    asyncio.run(
        run_worker_async(app, queue_db, concurrency=1, wait=False, install_signal_handlers=False, listen_notify=False)
    )
    assert row(admin, job_id)["status"] == "success"
    done = admin.execute("select status::text from procrastinate.procrastinate_jobs").fetchall()
    assert done == [("succeeded",)]
