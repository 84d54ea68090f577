"""Jobs the tests run (declared on import, so ``ispops worker --import tests.jobs.sample`` knows them too)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from ispops.db.session import Database
from ispops.jobs.registry import JobSpec, declare
from ispops.tenancy.service import list_tenant_ids

# In-process runs only: how often each flaky key has been tried.
ATTEMPTS: dict[str, int] = {}
PROBES: dict[str, dict[str, Any]] = {}

INSERT = text("insert into customers (tenant_id, customer_number, name) values (:t, :n, :n) on conflict do nothing")


def record(db: Database, tenant_id: str, note: str = "ran") -> str:
    """Idempotent: leaves one customer named ``note`` in the tenant."""
    with db.tenant(tenant_id) as s:
        s.execute(INSERT, {"t": tenant_id, "n": note})
    return note


def flaky(db: Database, tenant_id: str, key: str, failures: int = 1) -> int:
    """Fails ``failures`` times, then records ``key``."""
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    if ATTEMPTS[key] <= failures:
        raise RuntimeError(f"{key}: failure {ATTEMPTS[key]}")
    record(db, tenant_id, key)
    return ATTEMPTS[key]


def block_once(db: Database, tenant_id: str) -> str:
    """First run: commits a marker and hangs (the test kills its worker). Later runs: record 'done'."""
    with db.tenant(tenant_id) as s:
        started = s.execute(
            text("select count(*) from customers where tenant_id = :t and customer_number = 'started'"),
            {"t": tenant_id},
        ).scalar_one()
    if not started:
        record(db, tenant_id, "started")
        time.sleep(300)
    return record(db, tenant_id, "done")


def platform_note(db: Database, note: str) -> int:
    """A platform job: lists the tenants, then works in each one's own unit of work."""
    tenants = list_tenant_ids(db)
    for tenant_id in tenants:
        record(db, tenant_id, note)
    return len(tenants)


def rls_probe(db: Database, tenant_id: str, other: str) -> None:
    """What the task can see and do, as the worker connects."""
    seen: dict[str, Any] = {}
    with db.tenant(tenant_id) as s:
        seen["user"], seen["super"], seen["bypass"] = s.execute(
            text("select current_user, rolsuper, rolbypassrls from pg_roles where rolname = current_user")
        ).one()
        seen["mine"] = s.execute(text("select count(*) from customers")).scalar_one()
        seen["other_filtered"] = s.execute(
            text("select count(*) from customers where tenant_id = :o"), {"o": other}
        ).scalar_one()
    # Turning row security off, or becoming the owner or a superuser, is refused.
    attempts = {
        "row_security_off": ["set local row_security = off", "select count(*) from customers"],
        "owner": ["set local role ispops_owner"],
        "superuser": ["set local session authorization postgres"],
    }
    for name, statements in attempts.items():
        try:
            with db.tenant(tenant_id) as s:
                for statement in statements:
                    s.execute(text(statement))
            seen[name] = "allowed"
        except Exception as exc:
            seen[name] = type(exc).__name__
    with db.app_engine.connect() as conn:  # no tenant at all: fails closed
        seen["no_tenant"] = conn.execute(text("select count(*) from customers")).scalar_one()
    PROBES[tenant_id] = seen


RECORD = declare(JobSpec("tests.record", "tests.jobs.sample:record", retries=0))
RECORD_UNIQUE = declare(JobSpec("tests.record_unique", "tests.jobs.sample:record", retries=0, unique=True))
FLAKY = declare(JobSpec("tests.flaky", "tests.jobs.sample:flaky", retries=2, backoff=0))
BLOCK_ONCE = declare(JobSpec("tests.block_once", "tests.jobs.sample:block_once", retries=0))
RLS_PROBE = declare(JobSpec("tests.rls_probe", "tests.jobs.sample:rls_probe", retries=0))
PLATFORM_NOTE = declare(JobSpec("tests.platform_note", "tests.jobs.sample:platform_note", scope="platform"))
SPECS = [RECORD, RECORD_UNIQUE, FLAKY, BLOCK_ONCE, RLS_PROBE, PLATFORM_NOTE]
