"""The periodic schedule: what is registered, one job per tick across workers, fan-out per tenant,
and the radacct maintenance job."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from procrastinate.periodic import PeriodicDeferrer

from ispops.db.session import Database, set_context
from ispops.jobs import defer_in
from ispops.jobs.app import FAN_OUT, REMOVE_OLD, RETRY_STALLED, connector_for, create_app
from ispops.jobs.maintenance import maintain_radacct_partitions
from ispops.jobs.registry import CATALOGUE, JobSpec, declare, forget, get_spec
from tests.factories import make_tenant
from tests.jobs.conftest import customers, queue, run_jobs

SCHEDULED = JobSpec("tests.scheduled_record", "tests.jobs.sample:record", cron="*/5 * * * *", unique=True)


@pytest.fixture
def scheduled() -> Iterator[JobSpec]:
    declare(SCHEDULED)
    yield SCHEDULED
    forget(SCHEDULED.name)


def test_the_schedule_holds_every_catalogued_job_whose_module_exists(caplog: pytest.LogCaptureFixture) -> None:
    missing = declare(JobSpec("tests.missing", "ispops.not_written_yet.jobs:run", cron="0 * * * *"))
    try:
        with caplog.at_level(logging.WARNING, logger="ispops.jobs"):
            app = create_app()
    finally:
        forget(missing.name)
    assert "tests.missing" not in app.tasks
    assert "job tests.missing left out: module ispops.not_written_yet.jobs does not exist" in caplog.text
    present = [s for s in CATALOGUE if s.available()]
    assert {"db.maintain_radacct_partitions", "devices.poll_tenant", "radius.drain_coa_queue"} <= {
        s.name for s in present
    }
    expected = {(FAN_OUT, s.name) for s in present if s.cron and s.scope == "tenant"}
    expected |= {(s.name, "") for s in present if s.cron and s.scope == "platform"}
    expected |= {(RETRY_STALLED, ""), (REMOVE_OLD, "")}
    assert set(app.periodic_registry.periodic_tasks) == expected
    for spec in present:
        assert spec.name in app.tasks
    assert set(create_app(schedule=False).periodic_registry.periodic_tasks) == set()


def test_each_tick_is_queued_once_whichever_worker_gets_there(
    jobs_db: Database, admin: psycopg.Connection[Any]
) -> None:
    tick = int(datetime(2030, 1, 1, 3, 0, tzinfo=UTC).timestamp())

    async def two_workers_defer() -> None:
        for _ in range(2):
            app = create_app(connector_for(jobs_db.server))
            async with app.open_async():
                deferrer = PeriodicDeferrer(registry=app.periodic_registry)
                await deferrer.defer_jobs([(pt, tick) for pt in app.periodic_registry.periodic_tasks.values()])

    asyncio.run(two_workers_defer())
    jobs = queue(admin)
    assert len(jobs) == len(create_app().periodic_registry.periodic_tasks)
    fanned = sorted(r[3]["job"] for r in jobs if r[0] == FAN_OUT)
    assert "radius.drain_coa_queue" in fanned and "devices.poll_tenant" in fanned


def test_a_scheduled_tenant_job_runs_once_for_each_live_tenant(
    jobs_db: Database, tenants: list[str], scheduled: JobSpec, admin: psycopg.Connection[Any]
) -> None:
    make_tenant(jobs_db, "isp-gone", status="cancelled")
    make_tenant(jobs_db, "isp-deleted")
    admin.execute("update tenants set deleted_at = now() where id = 'isp-deleted'")
    tick = int(datetime.now(UTC).timestamp())

    async def scheduler_ticks() -> None:
        app = create_app(connector_for(jobs_db.server), specs=[scheduled])
        fan_out = app.periodic_registry.periodic_tasks[(FAN_OUT, scheduled.name)]
        async with app.open_async():
            deferrer = PeriodicDeferrer(registry=app.periodic_registry)
            await deferrer.defer_jobs([(fan_out, tick)])

    asyncio.run(scheduler_ticks())
    with jobs_db.tenant("isp-a") as s:  # one already waits for isp-a: the fan-out skips it
        defer_in(s, "tests.scheduled_record")
    run_jobs(jobs_db, specs=[scheduled])
    jobs = queue(admin)
    assert [(r[0], r[1]) for r in jobs if r[0] == FAN_OUT] == [(FAN_OUT, "succeeded")]
    ran = sorted(r[3]["tenant_id"] for r in jobs if r[0] == scheduled.name)
    assert ran == ["isp-a", "isp-b"]
    assert all(r[1] == "succeeded" for r in jobs)
    assert customers(admin, "isp-a") == customers(admin, "isp-b") == ["ran"]
    assert customers(admin, "isp-gone") == customers(admin, "isp-deleted") == []


def test_radacct_maintenance_runs_as_the_app_role_and_drops_old_months(
    jobs_db: Database, admin: psycopg.Connection[Any]
) -> None:
    this_month = datetime.now(UTC).date().replace(day=1)  # before the run: the job may start a new month
    admin.execute("set role ispops_owner")
    admin.execute("select ispops_radacct_ensure_partition('2000-01-01')")
    admin.execute("reset role")
    with jobs_db.app_engine.begin() as conn:
        set_context(conn, None, None)
        defer_in(conn, "db.maintain_radacct_partitions")
    run_jobs(jobs_db, specs=[get_spec("db.maintain_radacct_partitions")])
    assert [(r[0], r[1]) for r in queue(admin)] == [("db.maintain_radacct_partitions", "succeeded")]
    assert admin.execute("select to_regclass('public.radacct_p200001')").fetchone() == (None,)
    assert admin.execute("select to_regclass(%s)", (f"public.radacct_p{this_month:%Y%m}",)).fetchone() != (None,)

    again = maintain_radacct_partitions(jobs_db)
    assert (again["created"], again["dropped"], again["problems"]) == ([], [], 0)
    # The worker's role may run this one function, not the partition maker itself, and only sane bounds.
    privilege = "select has_function_privilege('ispops_app', %s, 'EXECUTE')"
    assert admin.execute(privilege, ("ispops_radacct_ensure_partition(date)",)).fetchone() == (False,)
    assert admin.execute(privilege, ("ispops_radacct_maintain(integer, integer)",)).fetchone() == (True,)
    with pytest.raises(Exception, match="retention_months 1-240"):
        maintain_radacct_partitions(jobs_db, retention_months=0)
