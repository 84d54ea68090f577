"""A real worker (procrastinate, in this process) runs queued jobs against the test database."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from ispops.db.session import Database, set_context
from ispops.jobs import defer_in
from tests.jobs import sample
from tests.jobs.conftest import customers, queue, run_jobs


def test_a_deferred_job_is_run_by_a_worker_in_its_tenant(
    jobs_db: Database, tenants: list[str], admin: psycopg.Connection[Any]
) -> None:
    with jobs_db.tenant("isp-a") as s:
        defer_in(s, "tests.record", note="from-a")
    with jobs_db.tenant("isp-b") as s:
        defer_in(s, "tests.record_unique")
    run_jobs(jobs_db)
    assert [(r[0], r[1]) for r in queue(admin)] == [("tests.record", "succeeded"), ("tests.record_unique", "succeeded")]
    assert customers(admin, "isp-a") == ["from-a"]
    assert customers(admin, "isp-b") == ["ran"]


def test_a_failing_job_is_retried_until_it_succeeds(
    jobs_db: Database, tenants: list[str], admin: psycopg.Connection[Any]
) -> None:
    sample.ATTEMPTS.clear()
    with jobs_db.tenant("isp-a") as s:
        defer_in(s, "tests.flaky", key="twice", failures=2)  # spec: 2 retries, no backoff
    run_jobs(jobs_db)
    assert sample.ATTEMPTS["twice"] == 3
    assert [(r[0], r[1], r[2]) for r in queue(admin)] == [("tests.flaky", "succeeded", 3)]
    assert customers(admin, "isp-a") == ["twice"]
    events = admin.execute("select type::text from procrastinate.procrastinate_events order by id").fetchall()
    assert [e[0] for e in events].count("deferred_for_retry") == 2


def test_a_job_failing_past_its_retries_is_failed(
    jobs_db: Database, tenants: list[str], admin: psycopg.Connection[Any]
) -> None:
    sample.ATTEMPTS.clear()
    with jobs_db.tenant("isp-a") as s:
        defer_in(s, "tests.flaky", key="always", failures=99)
    run_jobs(jobs_db)
    assert sample.ATTEMPTS["always"] == 3  # the first run and 2 retries
    assert [(r[1], r[2]) for r in queue(admin)] == [("failed", 3)]
    assert customers(admin, "isp-a") == []


def test_a_platform_job_lists_tenants_and_works_in_each(
    jobs_db: Database, tenants: list[str], admin: psycopg.Connection[Any]
) -> None:
    with jobs_db.app_engine.begin() as conn:
        set_context(conn, None, None)
        defer_in(conn, "tests.platform_note", note="everyone")
    run_jobs(jobs_db)
    assert [r[1] for r in queue(admin)] == ["succeeded"]
    assert customers(admin, "isp-a") == customers(admin, "isp-b") == ["everyone"]


def test_inside_a_task_the_app_role_cannot_get_past_row_level_security(
    jobs_db: Database, tenants: list[str], admin: psycopg.Connection[Any]
) -> None:
    for tenant in tenants:
        admin.execute(
            "insert into customers (tenant_id, customer_number, name) values (%s, 'C-1', 'x'), (%s, 'C-2', 'y')",
            (tenant, tenant),
        )
    admin.execute("insert into customers (tenant_id, customer_number, name) values ('isp-b', 'C-3', 'z')")
    with jobs_db.tenant("isp-a") as s:
        defer_in(s, "tests.rls_probe", other="isp-b")
    run_jobs(jobs_db)
    assert [r[1] for r in queue(admin)] == ["succeeded"]
    seen = sample.PROBES["isp-a"]
    assert (seen["user"], seen["super"], seen["bypass"]) == ("ispops_app", False, False)
    assert seen["mine"] == 2  # isp-b has 3
    assert seen["other_filtered"] == 0
    assert seen["no_tenant"] == 0
    assert seen["row_security_off"] != "allowed"  # "query would be affected by row-level security policy"
    assert seen["owner"] != "allowed"
    assert seen["superuser"] != "allowed"


def test_the_worker_connects_as_the_app_role_with_only_queue_rights(
    jobs_db: Database, admin: psycopg.Connection[Any]
) -> None:
    grants = admin.execute(
        "select grantee, table_name, string_agg(privilege_type, ',' order by privilege_type) "
        "from information_schema.role_table_grants where table_schema = 'procrastinate' "
        "and grantee <> 'ispops_owner' group by 1, 2 order by 1, 2"
    ).fetchall()
    assert grants == [
        ("ispops_app", "procrastinate_events", "INSERT,SELECT"),
        ("ispops_app", "procrastinate_jobs", "DELETE,INSERT,SELECT,UPDATE"),
        ("ispops_app", "procrastinate_periodic_defers", "DELETE,INSERT,SELECT,UPDATE"),
        ("ispops_app", "procrastinate_workers", "DELETE,INSERT,SELECT,UPDATE"),
    ]
    for role in ("ispops_platform", "ispops_radius"):
        usage = admin.execute("select has_schema_privilege(%s, 'procrastinate', 'USAGE')", (role,)).fetchone()
        assert usage == (False,)
    # A job cannot be made to run as anyone else: there is no role column, and the worker's connection
    # is the app role's (its URL is built from the server's app URL).
    with jobs_db.app_engine.connect() as conn:
        assert conn.execute(text("select current_user")).scalar_one() == "ispops_app"


@pytest.mark.parametrize("bad", ["", "Upper.case", "nodot"])
def test_job_names_are_checked(bad: str) -> None:
    from ispops.jobs.registry import JobSpec

    with pytest.raises(ValueError, match="job name"):
        JobSpec(bad, "tests.jobs.sample:record")
