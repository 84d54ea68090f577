"""Jobs tests: the session database with procrastinate's queue emptied, two tenants, a worker to run."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import psycopg
import pytest

from ispops.db.session import Database
from ispops.jobs.app import connector_for, create_app
from ispops.jobs.registry import JobSpec
from ispops.jobs.worker import run_worker_async
from tests.factories import make_tenant
from tests.jobs.sample import SPECS

QUEUE_TABLES = ", ".join(f"procrastinate.procrastinate_{t}" for t in ("jobs", "workers", "periodic_defers", "events"))


@pytest.fixture
def jobs_db(db: Database, admin: psycopg.Connection[Any]) -> Database:
    """The database with empty tables and an empty job queue."""
    admin.execute(f"truncate {QUEUE_TABLES} restart identity cascade")
    return db


@pytest.fixture
def tenants(jobs_db: Database) -> list[str]:
    for tenant in ("isp-a", "isp-b"):
        make_tenant(jobs_db, tenant)
    return ["isp-a", "isp-b"]


def run_jobs(db: Database, specs: Iterable[JobSpec] = SPECS, **options: Any) -> None:
    """A real worker, in this process: takes jobs until the queue has nothing ready, then returns."""
    app = create_app(connector_for(db.server), specs=specs, schedule=False)
    asyncio.run(
        run_worker_async(
            app, db, concurrency=1, wait=False, install_signal_handlers=False, listen_notify=False, **options
        )
    )


def queue(admin: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """(task, status, attempts, args) of every job, oldest first."""
    return [
        tuple(r)
        for r in admin.execute(
            "select task_name, status::text, attempts, args from procrastinate.procrastinate_jobs order by id"
        )
    ]


def customers(admin: psycopg.Connection[Any], tenant: str) -> list[str]:
    rows = admin.execute("select customer_number from customers where tenant_id = %s order by 1", (tenant,)).fetchall()
    return [r[0] for r in rows]
