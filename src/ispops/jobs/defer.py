"""Queue a job inside the caller's own transaction: it exists if and only if the transaction commits.

``defer_in(session, "radius.drain_coa_queue")`` inserts the job on the session's connection, so a request
that rolls back leaves no job behind (the outbox comes for free). One function for every unit of work: the
API calls it through ``AsyncSession.run_sync`` (or ``AsyncConnection.run_sync``), where the connection
underneath is psycopg's asynchronous one and procrastinate's own asynchronous deferral runs on the event
loop through SQLAlchemy's bridge. For a tenant job the tenant is the
session's own (``app.current_tenant_id``, set by ``db.tenant``); naming another tenant is refused.

A ``unique`` job (JobSpec) already waiting for the same tenant makes the call a no-op that returns None:
the waiting job will see this transaction's changes too, because it cannot start before it commits…
unless it is already running, so ``unique`` jobs must process "everything pending", not one item.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any

import psycopg
from procrastinate import PsycopgConnector, exceptions
from procrastinate.manager import JobManager
from procrastinate.tasks import configure_task
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only

from ispops.jobs.app import SCHEMA, job_options
from ispops.jobs.registry import JobSpec, get_spec

# procrastinate's SQL names its objects without a schema: put SCHEMA at the end of the path for the one
# statement that queues, then restore the path (all transaction-local, so a rollback restores it too).
_ADD_PATH = text(
    f"select current_setting('search_path'), set_config('search_path', current_setting('search_path') || ', {SCHEMA}', true)"  # noqa: E501
)
_RESTORE_PATH = text("select set_config('search_path', :previous, true)")
_TENANT = text("select current_setting('app.current_tenant_id', true)")


@lru_cache(maxsize=1)
def _manager() -> JobManager:
    # Never opened: every query it runs goes through the connection handed to it.
    return JobManager(PsycopgConnector())


def _prepare(
    spec: JobSpec, tenant: str | None, args: dict[str, Any], schedule_at: datetime | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The job's arguments and options, after checking the tenant."""
    session_tenant = tenant or None
    job_args = dict(args)
    if spec.scope == "tenant":
        named = job_args.get("tenant_id")
        if session_tenant is None:
            raise ValueError(f"job {spec.name} is a tenant job: defer it in a db.tenant(...) unit of work")
        if named is not None and named != session_tenant:
            raise ValueError(f"job {spec.name}: tenant_id {named!r} is not this unit of work's tenant")
        job_args["tenant_id"] = session_tenant
        options = job_options(spec, session_tenant)
    else:
        options = job_options(spec, None)
    if schedule_at is not None:
        options["schedule_at"] = schedule_at
    return job_args, options


def defer_in(
    session: Session | Connection, /, task_name: str, *, schedule_at: datetime | None = None, **args: Any
) -> int | None:
    """Queue job ``task_name`` with ``args`` on the session's connection; returns its id, or None when a
    ``unique`` job for the same tenant is already waiting. Nothing is committed here."""
    spec = get_spec(task_name)
    conn = session.connection() if isinstance(session, Session) else session
    job_args, options = _prepare(spec, conn.scalar(_TENANT), args, schedule_at)
    raw = conn.connection.driver_connection
    assert raw is not None
    deferrer = configure_task(name=spec.name, job_manager=_manager(), connection=raw, **options)
    try:
        with _savepoint_if(session, options["queueing_lock"] is not None), _on_path(conn):
            if isinstance(raw, psycopg.AsyncConnection):  # an AsyncSession's, under run_sync
                return await_only(deferrer.defer_async(**job_args))
            return deferrer.defer(**job_args)
    except exceptions.AlreadyEnqueued:
        return None


@contextmanager
def _on_path(conn: Connection) -> Iterator[None]:
    previous = conn.execute(_ADD_PATH).scalar()
    yield
    conn.execute(_RESTORE_PATH, {"previous": previous})


@contextmanager
def _savepoint_if(session: Session | Connection, needed: bool) -> Iterator[None]:
    """A queueing-lock conflict is an error in SQL: keep it from aborting the caller's transaction."""
    if not needed:
        yield
        return
    with session.begin_nested():  # rolled back to on any error, released otherwise
        if isinstance(session, Session):
            session.connection()  # a Session emits SAVEPOINT only when it next uses its connection
        yield
