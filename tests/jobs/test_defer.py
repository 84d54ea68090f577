"""defer_in: the job is part of the caller's transaction (the outbox), with the caller's tenant."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from ispops.db.async_session import AsyncDatabase
from ispops.db.session import Database, set_context
from ispops.jobs import defer_in
from tests.jobs.conftest import customers, queue

ADD_CUSTOMER = text("insert into customers (tenant_id, customer_number, name) values (:t, 'C-9', 'Grace')")


def test_a_committed_transaction_leaves_exactly_one_job(
    jobs_db: Database, tenants: list[str], admin: psycopg.Connection[Any]
) -> None:
    with jobs_db.tenant("isp-a") as s:
        s.execute(ADD_CUSTOMER, {"t": "isp-a"})
        job_id = defer_in(s, "tests.record", note="hello")
    assert isinstance(job_id, int)
    assert queue(admin) == [("tests.record", "todo", 0, {"tenant_id": "isp-a", "note": "hello"})]
    row = admin.execute("select queue_name, lock, queueing_lock from procrastinate.procrastinate_jobs").fetchone()
    assert row == ("default", "tests.record:isp-a", None)


def test_a_rolled_back_transaction_leaves_no_job(
    jobs_db: Database, tenants: list[str], admin: psycopg.Connection[Any]
) -> None:
    with pytest.raises(RuntimeError, match="request failed"), jobs_db.tenant("isp-a") as s:
        s.execute(ADD_CUSTOMER, {"t": "isp-a"})
        defer_in(s, "tests.record", note="never")
        raise RuntimeError("request failed")
    assert queue(admin) == []
    assert customers(admin, "isp-a") == []


def test_the_callers_search_path_is_left_as_it_was(jobs_db: Database, tenants: list[str]) -> None:
    with jobs_db.tenant("isp-a") as s:
        before = s.execute(text("show search_path")).scalar_one()
        defer_in(s, "tests.record")
        defer_in(s, "tests.record_unique")
        defer_in(s, "tests.record_unique")  # the no-op path (savepoint rolled back)
        assert s.execute(text("show search_path")).scalar_one() == before
        assert "procrastinate" not in before


def test_async_sessions_commit_and_roll_back_with_the_request(
    jobs_db: Database, tenants: list[str], admin: psycopg.Connection[Any]
) -> None:
    adb = AsyncDatabase(jobs_db.server, pool_size=2)

    async def requests() -> None:
        try:
            async with adb.tenant("isp-b") as s:
                await s.run_sync(defer_in, "tests.record", note="kept")
            with pytest.raises(RuntimeError):
                async with adb.tenant("isp-b") as s:
                    await s.run_sync(defer_in, "tests.record", note="dropped")
                    raise RuntimeError("rolled back")
            async with adb.tenant_connection("isp-b") as conn:
                await conn.run_sync(defer_in, "tests.record_unique")
                assert await conn.run_sync(defer_in, "tests.record_unique") is None
        finally:
            await adb.dispose()

    asyncio.run(requests())
    assert [(r[0], r[3]) for r in queue(admin)] == [
        ("tests.record", {"tenant_id": "isp-b", "note": "kept"}),
        ("tests.record_unique", {"tenant_id": "isp-b"}),
    ]


def test_a_unique_job_waits_once_per_tenant_and_the_transaction_carries_on(
    jobs_db: Database, tenants: list[str], admin: psycopg.Connection[Any]
) -> None:
    with jobs_db.tenant("isp-a") as s:
        first = defer_in(s, "tests.record_unique")
        again = defer_in(s, "tests.record_unique")
        s.execute(ADD_CUSTOMER, {"t": "isp-a"})  # the request goes on after the no-op
    with jobs_db.tenant("isp-a") as s:
        later = defer_in(s, "tests.record_unique")
    with jobs_db.tenant("isp-b") as s:
        other = defer_in(s, "tests.record_unique")
    with jobs_db.app_engine.begin() as conn:  # a plain Connection gets the same savepoint
        set_context(conn, "isp-b", None)
        assert defer_in(conn, "tests.record_unique") is None
        conn.execute(ADD_CUSTOMER, {"t": "isp-b"})
    assert first is not None and other is not None
    assert again is None and later is None
    assert customers(admin, "isp-a") == customers(admin, "isp-b") == ["C-9"]
    locks = admin.execute("select queueing_lock from procrastinate.procrastinate_jobs order by id").fetchall()
    assert locks == [("tests.record_unique:isp-a",), ("tests.record_unique:isp-b",)]


def test_a_tenant_job_is_for_the_unit_of_works_own_tenant(jobs_db: Database, tenants: list[str]) -> None:
    with jobs_db.tenant("isp-a") as s:
        with pytest.raises(ValueError, match="not this unit of work's tenant"):
            defer_in(s, "tests.record", tenant_id="isp-b")
        assert defer_in(s, "tests.record", tenant_id="isp-a") is not None
        with pytest.raises(KeyError, match="no job named"):
            defer_in(s, "tests.no_such_job")
    with jobs_db.app_engine.begin() as conn:
        set_context(conn, None, None)
        with pytest.raises(ValueError, match="tenant job"):
            defer_in(conn, "tests.record")
        assert defer_in(conn, "tests.platform_note", note="all") is not None  # platform jobs need none


def test_jobs_can_be_scheduled_for_later(jobs_db: Database, tenants: list[str], admin: psycopg.Connection[Any]) -> None:
    at = datetime.now(UTC) + timedelta(hours=1)
    with jobs_db.tenant("isp-a") as s:
        defer_in(s, "tests.record", schedule_at=at)
    row = admin.execute("select scheduled_at from procrastinate.procrastinate_jobs").fetchone()
    assert row is not None
    assert abs((row[0] - at).total_seconds()) < 1
