"""ISPOPS_DATABASE_URL: a separate PostgreSQL 15 over TCP with password auth, as in production.

The server is Debian's postgresql-15 (installed by .ci/run), started on a loopback port by the fixture.
Outside CI the test is skipped when no PostgreSQL 15 binaries are found; in CI their absence fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from ispops.cli import app
from ispops.config import get_settings
from tests.pgcluster import ADMIN_PASSWORD, new_cluster

ROLE_PASSWORD = "role-secret-for-tests"


@pytest.fixture(scope="module")
def pg15() -> Iterator[str]:
    cluster = new_cluster()
    yield cluster.url()
    cluster.destroy()


@pytest.fixture
def external_env(pg15: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith("ISPOPS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("ISPOPS_DATABASE_URL", pg15)
    monkeypatch.setenv("ISPOPS_DB_ROLE_PASSWORD", ROLE_PASSWORD)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_the_platform_runs_on_an_external_postgresql_15(external_env: None, pg15: str) -> None:
    up = run("up", "--no-wait")
    assert up.exit_code == 0, up.output
    first = up.output.splitlines()[0]
    assert first.startswith("Database: external PostgreSQL at 127.0.0.1:") and "(ISPOPS_DATABASE_URL)" in first
    assert "Demo data: tenants lakeside-fibre, ridgeline-wireless created" in up.output

    assert run("db", "upgrade").exit_code == 0  # idempotent, roles re-checked
    check = run("db", "check")
    assert check.exit_code == 0, check.output
    listing = run("tenant", "list")
    assert "lakeside-fibre" in listing.output and "12/1000" in listing.output

    # The login roles authenticate with the configured password over TCP and are not privileged.
    app_url = pg15.replace(f"admin:{ADMIN_PASSWORD}", f"ispops_app:{ROLE_PASSWORD}")
    with psycopg.connect(app_url) as conn:
        row = conn.execute("select rolsuper, rolbypassrls from pg_roles where rolname = current_user").fetchone()
        assert row == (False, False)
        assert conn.execute("select count(*) from subscribers").fetchone() == (0,)  # no tenant set
