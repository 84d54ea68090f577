"""Automation benchmark: what the platform adds to an Ansible run, per job and for 20 concurrent jobs.

    .venv/bin/python bench/automation.py [--jobs 20 --single 5]
    .venv/bin/python bench/automation.py --smoke   # 2 concurrent jobs, 1 single, in a scratch data dir

Opens the embedded PostgreSQL in ``.bench-data/`` (or ``ISPOPS_DATABASE_URL``) and builds a fresh database
``ispops_bench_automation`` from the migrations. One tenant registers a small playbook (localhost, no facts,
one ``debug`` task) from a scratch directory under the allowed roots.

Baseline, in the same run, on the same playbook: bare ``ansible_runner.run`` with a private directory of
its own, nothing else (no database, no queue). Measured:

- ``single``: ``--single`` runs one after the other. Bare: the wall time of ``ansible_runner.run``. Platform:
  from the commit of ``POST``'s unit of work (the row and its queued ``automation.run_job``, the service the
  API calls) to the finished row, with a real procrastinate worker (``ispops.jobs.worker``) taking the job.
  Split into queue -> ansible start (the run's first event), ansible's own time (first to last event), and
  last event -> row written. Overhead per job = platform - bare (median).
- ``concurrent``: ``--jobs`` jobs launched in one transaction, a worker with as many slots, the tenant's
  concurrency limit raised to match; total time from the commit to the last row written. Bare: the same
  number of ``ansible_runner.run`` at once (threads), total wall time.

The ratios platform / bare are the figures (printed first after the host). A measurement: exit 0 whatever the
figures; non-zero when a check fails (a job not ``success``, a run without events).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import ansible_runner
from proc_cpu import run_main
from sqlalchemy import text

from ispops.automation import runtime, service
from ispops.config import Settings
from ispops.db import migrate
from ispops.db.server import drop_database, open_server
from ispops.db.session import Database
from ispops.jobs.app import connector_for, create_app
from ispops.jobs.registry import get_spec
from ispops.jobs.worker import run_worker_async
from ispops.models.automation import AnsibleTriggerSource, AutomationPlaybook

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "ispops_bench_automation"
TENANT = "bench-isp"
SMOKE = {"jobs": 2, "single": 1}
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: small
      ansible.builtin.debug:
        msg: "{{ n | default(0) }}"
"""


def bare_run(project: Path, scratch: Path, splits: list[tuple[float, float, float]] | None = None) -> float:
    """One bare ansible-runner run; its wall time. With ``splits``, appends (start -> first event, first to
    last event, last event -> return), measured on the same clock as the platform's."""
    private = Path(tempfile.mkdtemp(prefix="bare-", dir=scratch))
    created: list[float] = []

    def seen(event: dict[str, object]) -> bool:
        stamp = event.get("created")
        if isinstance(stamp, str):
            created.append(dt.datetime.fromisoformat(stamp).timestamp())
        return True

    began, started = time.time(), time.perf_counter()
    result = ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(project),
        playbook="site.yml",
        quiet=True,
        event_handler=seen,
        envvars={"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"},
    )
    took, ended = time.perf_counter() - started, time.time()
    shutil.rmtree(private, ignore_errors=True)
    if result.status != "successful" or not created:
        raise SystemExit(f"check failed: the bare run ended {result.status} with {len(created)} events")
    if splits is not None:
        splits.append((min(created) - began, max(created) - min(created), ended - max(created)))
    return took


def bare_concurrent(project: Path, scratch: Path, n: int) -> float:
    started = time.perf_counter()
    threads = [threading.Thread(target=bare_run, args=(project, scratch)) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def launch(db: Database, n: int) -> tuple[list[uuid.UUID], float]:
    """``n`` jobs in one unit of work; their ids and the moment it committed."""
    with db.tenant(TENANT) as s:
        ids = [
            service.launch(
                s,
                TENANT,
                service.LaunchRequest(playbook_name="small", extra_vars={"n": i}),
                trigger_source=AnsibleTriggerSource.API,
                triggered_by="bench",
            ).id
            for i in range(n)
        ]
    return ids, time.time()


class Worker:
    """A real procrastinate worker in a thread of this process, started before the jobs are queued (it
    hears of them through LISTEN/NOTIFY, as a deployed worker does) and stopped afterwards."""

    def __init__(self, db: Database, slots: int) -> None:
        self.db, self.slots = db, slots
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self.loop, self.stop = asyncio.get_running_loop(), asyncio.Event()
        spec = get_spec("automation.run_job")
        app = create_app(connector_for(self.db.server, max_connections=self.slots + 2), specs=[spec], schedule=False)
        task = asyncio.create_task(
            run_worker_async(app, self.db, concurrency=self.slots, install_signal_handlers=False, shutdown_timeout=30)
        )
        await asyncio.sleep(1.0)  # connected and listening
        self.ready.set()
        await self.stop.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    def __enter__(self) -> Worker:
        self.thread.start()
        self.ready.wait(60)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.loop is not None and self.stop is not None
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(60)


def wait_done(db: Database, ids: list[uuid.UUID], limit: float = 600) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with db.tenant(TENANT) as s:
            left = s.execute(
                text("select count(*) from ansible_jobs where id = any(:ids) and status in ('pending', 'running')"),
                {"ids": ids},
            ).scalar_one()
        if left == 0:
            return
        time.sleep(0.05)
    raise SystemExit("check failed: jobs did not finish")


def timings(db: Database, ids: list[uuid.UUID]) -> list[dict[str, float]]:
    out = []
    with db.tenant(TENANT) as s:
        for job_id in ids:
            row = s.execute(
                text(
                    "select status, extract(epoch from created_at), extract(epoch from completed_at), "
                    "(select extract(epoch from min(occurred_at)) from ansible_job_events e where e.job_id = j.id), "
                    "(select extract(epoch from max(occurred_at)) from ansible_job_events e where e.job_id = j.id) "
                    "from ansible_jobs j where id = :id"
                ),
                {"id": job_id},
            ).one()
            status, _created, completed, first, last = row
            if status != "success" or first is None:
                raise SystemExit(f"check failed: job {job_id} ended {status} with events from {first}")
            out.append({"completed": float(completed), "first": float(first), "last": float(last)})
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    p.add_argument("--jobs", type=int, default=20, help="concurrent small jobs")
    p.add_argument("--single", type=int, default=5, help="sequential single jobs (median reported)")
    p.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    p.add_argument("--smoke", action="store_true", help="tiny run in a scratch data dir (removed): checks only")
    args = p.parse_args()
    return run_main(args, run, smoke=SMOKE, prefix="automation")


def run(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / ".gitignore").write_text("*\n")
    scratch = Path(tempfile.mkdtemp(prefix="automation-", dir=data_dir))
    project = scratch / "plays" / "small"
    project.mkdir(parents=True)
    (project / "site.yml").write_text(PLAYBOOK)
    settings = Settings(
        data_dir=data_dir,
        database_name=DATABASE,
        automation_run_dir=scratch / "runs",
        automation_playbook_roots=str(scratch / "plays"),
        automation_concurrency_per_tenant=max(args.jobs, 1),
    )
    server = open_server(settings)
    print(f"database: {server.description}, database {server.database} (fresh)")
    db: Database | None = None
    try:
        if server.embedded:
            drop_database(server.admin_url, server.database)
        migrate.upgrade(server)
        db = Database(server, pool_size=args.jobs + 4)
        with db.platform() as s:
            s.execute(text("insert into tenants (id, name, slug, status) values (:t, :t, :t, 'active')"), {"t": TENANT})
        with db.tenant(TENANT) as s:
            s.add(
                AutomationPlaybook(
                    tenant_id=TENANT,
                    name="small",
                    source_type="directory",
                    source=str(project),
                    playbook_file="site.yml",
                )
            )
        with runtime.installed(settings):
            bare_run(project, scratch)  # warm the disk caches for both sides
            bare_parts: list[tuple[float, float, float]] = []
            bare_single = [bare_run(project, scratch, bare_parts) for _ in range(args.single)]
            platform_single: list[float] = []
            parts: list[tuple[float, float, float]] = []
            with Worker(db, max(args.jobs, 1)):
                for _ in range(args.single):
                    ids, committed = launch(db, 1)
                    wait_done(db, ids)
                    t = timings(db, ids)[0]
                    platform_single.append(t["completed"] - committed)
                    parts.append((t["first"] - committed, t["last"] - t["first"], t["completed"] - t["last"]))
                bare_many = bare_concurrent(project, scratch, args.jobs)
                ids, committed = launch(db, args.jobs)
                wait_done(db, ids)
            many = timings(db, ids)
            platform_many = max(t["completed"] for t in many) - committed
    finally:
        if db is not None:
            db.dispose()
        server.close()
        shutil.rmtree(scratch, ignore_errors=True)

    b1, p1 = statistics.median(bare_single), statistics.median(platform_single)
    q, a, w = (statistics.median(x[i] for x in parts) for i in range(3))
    print(f"ratio single job: platform / bare ansible-runner = {p1:.2f} s / {b1:.2f} s = {p1 / b1:.2f}")
    many_ratio = platform_many / bare_many
    figures = f"{platform_many:.2f} s / {bare_many:.2f} s = {many_ratio:.2f}"
    print(f"ratio {args.jobs} concurrent jobs: platform / bare = {figures}")
    bq, ba, bw = (statistics.median(x[i] for x in bare_parts) for i in range(3))
    overhead = (q - bq) + (w - bw)
    print(
        f"overhead per job (median of {args.single}): {overhead * 1000:.0f} ms = "
        f"queue -> ansible start {q * 1000:.0f} ms (bare: start -> first event {bq * 1000:.0f} ms) + "
        f"last event -> row written {w * 1000:.0f} ms (bare: last event -> return {bw * 1000:.0f} ms)"
    )
    print(f"  ansible itself (first to last event): platform {a * 1000:.0f} ms, bare {ba * 1000:.0f} ms")
    when = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}"
    print(f"checks: {len(ids) + args.single} platform jobs success with events; at {when} UTC")
    return 0


if __name__ == "__main__":
    sys.exit(main())
