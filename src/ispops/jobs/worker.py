"""Running a worker: the App, a Database for the tasks, heartbeats, graceful stop.

``ispops worker`` calls ``run_worker``; tests call ``run_worker_async`` with ``wait=False`` (process what
is queued, then return).

Beside the procrastinate worker runs the CoA listener (``ispops.radius.coa_follow``): a worker that would
run the ``radius.drain_coa_queue`` job also sends a tenant's CoA/Disconnect requests the moment their
``ispops_radius_coa`` notification arrives; the minute job stays the safety net. It stops with the worker.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from typing import Any

from procrastinate import App

from ispops.db.server import Server
from ispops.db.session import Database
from ispops.jobs.app import HEARTBEAT_SECONDS, STALLED_AFTER_SECONDS, connector_for, create_app
from ispops.jobs.registry import JobSpec

COA_JOB = "radius.drain_coa_queue"


def _wants_coa_listener(app: App, queues: Iterable[str] | None) -> bool:
    """Whether this worker takes the CoA drain job (so it should also answer the notifications)."""
    task = app.tasks.get(COA_JOB)
    return task is not None and (queues is None or task.queue in set(queues))


async def run_worker_async(
    app: App,
    db: Database,
    *,
    concurrency: int = 4,
    queues: Iterable[str] | None = None,
    wait: bool = True,
    install_signal_handlers: bool = True,
    shutdown_timeout: float | None = 60.0,
    name: str | None = None,
    coa_listener: bool | None = None,
    **options: Any,
) -> None:
    """Open the app's connector and run a worker until stopped (or, without ``wait``, until idle).

    SIGINT/SIGTERM stop it gracefully: no new job is taken, running ones get ``shutdown_timeout`` seconds
    to finish (then they are aborted and retried later), the worker unregisters and returns.
    ``coa_listener`` (default: when the worker takes the ``radius.drain_coa_queue`` job) runs the CoA
    listener beside it until it returns.
    """
    worker_options: dict[str, Any] = {
        "concurrency": concurrency,
        "wait": wait,
        "install_signal_handlers": install_signal_handlers,
        "additional_context": {**app.worker_defaults.get("additional_context", {}), "db": db},
        "update_heartbeat_interval": HEARTBEAT_SECONDS,
        "stalled_worker_timeout": STALLED_AFTER_SECONDS,
        "name": name or "ispops-worker",
        **options,
    }
    if queues:
        worker_options["queues"] = list(queues)
    if shutdown_timeout is not None:
        worker_options["shutdown_graceful_timeout"] = shutdown_timeout
    if coa_listener is None:
        coa_listener = _wants_coa_listener(app, queues)
    stopping = threading.Event()
    listener: asyncio.Task[None] | None = None
    if coa_listener:
        from ispops.radius.coa_follow import CoaFollower  # pyrad and the RADIUS code only when needed

        listener = asyncio.create_task(CoaFollower(db).run(stopping.is_set), name="ispops-coa-listener")
    try:
        async with app.open_async():
            await app.run_worker_async(**worker_options)
    finally:
        stopping.set()
        if listener is not None:
            await listener


def run_worker(
    server: Server,
    *,
    concurrency: int = 4,
    queues: Iterable[str] | None = None,
    specs: Iterable[JobSpec] | None = None,
    schedule: bool = True,
    shutdown_timeout: float | None = 60.0,
) -> None:
    """Build everything from ``server`` and run a worker in the foreground until SIGINT/SIGTERM."""
    db = Database(server, pool_size=concurrency + 1)
    app = create_app(connector_for(server, max_connections=concurrency + 2), specs=specs, schedule=schedule)
    try:
        asyncio.run(
            run_worker_async(app, db, concurrency=concurrency, queues=queues, shutdown_timeout=shutdown_timeout)
        )
    finally:
        db.dispose()
