"""The procrastinate App: a connector as the application role, one task per ``JobSpec``, the schedule.

Every task receives the worker's ``Database`` (``ispops.db.session``) through the job context and does
its work in ``db.tenant(tid)`` units (``db.platform()`` only to list tenants); nothing here connects as a
superuser or as the owner. Internal tasks:

- ``jobs.fan_out``: the scheduled half of a tenant job: queues the job once per live tenant.
- ``jobs.retry_stalled``: every minute, puts back in the queue the jobs of workers that stopped sending
  heartbeats (killed, out of memory, host lost), and forgets those workers. At-least-once: the job runs
  again from the start, which is why every task is idempotent.
- ``jobs.remove_old``: daily, deletes finished jobs (succeeded after 3 days, others after 30).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any, cast

from procrastinate import App, JobContext, PsycopgConnector, RetryStrategy, exceptions, tasks
from procrastinate.connector import BaseConnector
from procrastinate.jobs import Status
from sqlalchemy import text

from ispops.config import APP_ROLE
from ispops.db.server import Server, libpq_dsn
from ispops.db.session import Database
from ispops.jobs.registry import JobSpec, all_specs

log = logging.getLogger("ispops.jobs")

SCHEMA = "procrastinate"  # where migration 0015 put procrastinate's tables and functions
HEARTBEAT_SECONDS = 10.0  # how often a worker says it is alive
STALLED_AFTER_SECONDS = 60.0  # a worker silent this long is dead; its running jobs are retried
MAX_STALLED_RUNS = 5  # a job that keeps killing its worker is failed after this many starts
FAN_OUT = "jobs.fan_out"
RETRY_STALLED = "jobs.retry_stalled"
REMOVE_OLD = "jobs.remove_old"


def connector_for(server: Server, *, max_connections: int = 4) -> PsycopgConnector:
    """A pooled psycopg connector as ``ispops_app``, with procrastinate's schema on the search path."""
    return PsycopgConnector(
        conninfo=libpq_dsn(server.url_for(APP_ROLE)),
        kwargs={"options": f"-c search_path={SCHEMA}"},
        min_size=1,
        max_size=max(2, max_connections),
    )


def job_options(spec: JobSpec, tenant_id: str | None) -> dict[str, Any]:
    """Queue, priority and locks for one job of ``spec`` (shared by ``defer_in`` and the fan-out)."""
    lock = spec.lock_for(tenant_id)
    return {
        "queue": spec.queue,
        "priority": spec.priority,
        "lock": lock,
        "queueing_lock": lock if spec.unique else None,
    }


def database(context: JobContext) -> Database:
    db = context.additional_context.get("db")
    if not isinstance(db, Database):
        raise RuntimeError("the worker was started without a Database in its context (use ispops.jobs.worker)")
    return db


def _runner(spec: JobSpec) -> Callable[..., Any]:
    """The task body: import the function now, call it with the worker's Database."""

    def run(context: JobContext, **args: Any) -> Any:
        args.pop("timestamp", None)  # added by the scheduler to scheduled jobs
        func = spec.resolve()
        if spec.scope == "platform":
            return func(database(context), **args)
        tenant_id = args.pop("tenant_id", None)
        if not isinstance(tenant_id, str) or not tenant_id:
            raise ValueError(f"job {spec.name} needs a tenant_id argument")
        return func(database(context), tenant_id, **args)

    run.__name__ = run.__qualname__ = spec.name.replace(".", "_")
    run.__doc__ = spec.description or None
    return run


def _retry(spec: JobSpec) -> RetryStrategy | bool:
    if spec.retries == 0:
        return False
    return RetryStrategy(max_attempts=spec.retries, exponential_wait=spec.backoff)


def live_tenant_ids(db: Database) -> list[str]:
    """Tenants that scheduled work is for: not soft-deleted, not cancelled."""
    with db.platform() as session:
        rows = session.execute(
            text("select id from tenants where deleted_at is null and status <> 'cancelled' order by id")
        )
        return [str(r[0]) for r in rows]


async def fan_out(context: JobContext, job: str, timestamp: int | None = None) -> int:
    """Queue ``job`` once per live tenant; a tenant whose job still waits is skipped. Returns how many."""
    specs: dict[str, JobSpec] = context.additional_context.get("specs", {})
    spec = specs.get(job)
    if spec is None:
        raise exceptions.TaskNotFound(f"fan-out of unknown job {job!r}")
    tenant_ids = await asyncio.to_thread(live_tenant_ids, database(context))
    queued = 0
    for tenant_id in tenant_ids:
        try:
            await context.app.configure_task(spec.name, **job_options(spec, tenant_id)).defer_async(tenant_id=tenant_id)
            queued += 1
        except exceptions.AlreadyEnqueued:
            continue
    return queued


async def sweep_stalled_jobs(
    app: App, *, stalled_after: float = STALLED_AFTER_SECONDS, max_runs: int = MAX_STALLED_RUNS
) -> dict[str, int]:
    """Retry the running jobs of workers silent for ``stalled_after`` seconds, then forget those workers.

    A job already started ``max_runs`` times is failed instead (it probably kills its worker).
    """
    manager = app.job_manager
    retried = failed = 0
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
        assert job.id is not None
        try:
            if job.attempts + 1 >= max_runs:
                await manager.finish_job_by_id_async(job.id, status=Status.FAILED, delete_job=False)
                failed += 1
                log.error("job %s[%s] failed: its worker died %s times", job.task_name, job.id, job.attempts + 1)
            else:
                await manager.retry_job(job)
                retried += 1
                log.warning("job %s[%s] retried: its worker stopped responding", job.task_name, job.id)
        except exceptions.ConnectorException:  # finished or retried meanwhile (another sweep)
            continue
    pruned = await manager.prune_stalled_workers(stalled_after)
    return {"retried": retried, "failed": failed, "workers_removed": len(pruned)}


async def retry_stalled(context: JobContext, timestamp: int | None = None) -> dict[str, int]:
    return await sweep_stalled_jobs(context.app)


async def remove_old(context: JobContext, timestamp: int | None = None) -> None:
    manager = context.app.job_manager
    await manager.delete_old_jobs(nb_hours=72)
    await manager.delete_old_jobs(nb_hours=30 * 24, include_failed=True, include_cancelled=True, include_aborted=True)


def _schedule(app: App, task: tasks.Task[Any, Any, Any], cron: str, periodic_id: str, **options: Any) -> None:
    app.periodic_registry.register_task(
        task=task, cron=cron, periodic_id=periodic_id, configure_kwargs=cast(tasks.ConfigureTaskOptions, options)
    )


def create_app(
    connector: BaseConnector | None = None, *, specs: Iterable[JobSpec] | None = None, schedule: bool = True
) -> App:
    """An App with one task per job spec (default: every available job) and, with ``schedule``, the
    periodic schedule. Without a connector the App can only queue jobs on a caller's connection."""
    app = App(connector=connector or PsycopgConnector())
    chosen = {s.name: s for s in (all_specs() if specs is None else specs)}
    for spec in chosen.values():
        task = app.task(
            name=spec.name, pass_context=True, queue=spec.queue, priority=spec.priority, retry=_retry(spec)
        )(_runner(spec))
        if spec.cron and schedule:
            if spec.scope == "tenant":
                _schedule(
                    app,
                    fan_out_task(app),
                    spec.cron,
                    spec.name,
                    task_kwargs={"job": spec.name},
                    queueing_lock=f"{FAN_OUT}:{spec.name}",
                )
            else:
                _schedule(app, task, spec.cron, "", **job_options(spec, None))
    fan_out_task(app)
    stalled = app.task(name=RETRY_STALLED, pass_context=True, lock=RETRY_STALLED, queueing_lock=RETRY_STALLED)(
        retry_stalled
    )
    cleanup = app.task(name=REMOVE_OLD, pass_context=True, lock=REMOVE_OLD, queueing_lock=REMOVE_OLD)(remove_old)
    if schedule:
        _schedule(app, stalled, "* * * * *", "")
        _schedule(app, cleanup, "43 3 * * *", "")
    app.worker_defaults["additional_context"] = {"specs": chosen}
    return app


def fan_out_task(app: App) -> tasks.Task[Any, Any, Any]:
    if FAN_OUT not in app.tasks:
        app.task(name=FAN_OUT, pass_context=True, retry=RetryStrategy(max_attempts=3, exponential_wait=2))(fan_out)
    return app.tasks[FAN_OUT]
