"""Queue a job inside the caller's own transaction: it exists if and only if the transaction commits.

``defer_in(session, "radius.drain_coa_queue")`` inserts the job on the session's connection, so a request
that rolls back leaves no job behind (the outbox comes for free). For a tenant job the tenant is the
session's own (``app.current_tenant_id``, set by ``db.tenant``); naming another tenant is refused.

A ``unique`` job (JobSpec) already waiting for the same tenant makes the call a no-op that returns None:
the waiting job will see this transaction's changes too, because it cannot start before it commits…
unless it is already running, so ``unique`` jobs must process "everything pending", not one item.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any

from procrastinate import PsycopgConnector, exceptions
from procrastinate.manager import JobManager
from procrastinate.tasks import configure_task
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session

from ispops.jobs.app import SCHEMA, job_options
from ispops.jobs.registry import JobSpec, get_spec

# procrastinate's SQL names its objects without a schema: put SCHEMA at the end of the path for the one
# statement that queues, then restore the path (all transaction-local, so a rollback restores it too).
_ADD_PATH = f"select current_setting('search_path'), set_config('search_path', current_setting('search_path') || ', {SCHEMA}', true)"  # noqa: E501
_RESTORE_PATH = "select set_config('search_path', %s, true)"


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
    session: Session | Connection, task_name: str, *, schedule_at: datetime | None = None, **args: Any
) -> int | None:
    """Queue job ``task_name`` with ``args`` on the session's connection; returns its id, or None when a
    ``unique`` job for the same tenant is already waiting. Nothing is committed here."""
    spec = get_spec(task_name)
    conn = session.connection() if isinstance(session, Session) else session
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        cur.execute("select current_setting('app.current_tenant_id', true)")
        row = cur.fetchone()
    job_args, options = _prepare(spec, row[0] if row else None, args, schedule_at)
    deferrer = configure_task(name=spec.name, job_manager=_manager(), connection=raw, **options)
    try:
        with _savepoint_if(session, options["queueing_lock"] is not None), _on_path(raw):
            return deferrer.defer(**job_args)
    except exceptions.AlreadyEnqueued:
        return None


async def defer_in_async(
    session: AsyncSession | AsyncConnection, task_name: str, *, schedule_at: datetime | None = None, **args: Any
) -> int | None:
    """``defer_in`` for the API's asynchronous sessions."""
    spec = get_spec(task_name)
    conn = await session.connection() if isinstance(session, AsyncSession) else session
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    async with raw.cursor() as cur:
        await cur.execute("select current_setting('app.current_tenant_id', true)")
        row = await cur.fetchone()
    job_args, options = _prepare(spec, row[0] if row else None, args, schedule_at)
    deferrer = configure_task(name=spec.name, job_manager=_manager(), connection=raw, **options)
    try:
        async with _savepoint_if_async(session, options["queueing_lock"] is not None), _on_path_async(raw):
            return await deferrer.defer_async(**job_args)
    except exceptions.AlreadyEnqueued:
        return None


@contextmanager
def _on_path(raw: Any) -> Iterator[None]:
    with raw.cursor() as cur:
        cur.execute(_ADD_PATH)
        previous = cur.fetchone()[0]
    yield
    with raw.cursor() as cur:
        cur.execute(_RESTORE_PATH, (previous,))


@asynccontextmanager
async def _on_path_async(raw: Any) -> AsyncIterator[None]:
    async with raw.cursor() as cur:
        await cur.execute(_ADD_PATH)
        previous = (await cur.fetchone())[0]
    yield
    async with raw.cursor() as cur:
        await cur.execute(_RESTORE_PATH, (previous,))


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


@asynccontextmanager
async def _savepoint_if_async(session: AsyncSession | AsyncConnection, needed: bool) -> AsyncIterator[None]:
    if not needed:
        yield
        return
    async with session.begin_nested():
        if isinstance(session, AsyncSession):
            await session.connection()
        yield
