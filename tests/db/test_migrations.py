"""Migrations: every revision reversible, the whole chain round-trips, a failure changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from ispops.db import migrate
from ispops.db.roles import require_server_version
from ispops.db.server import Server, libpq_dsn
from ispops.errors import ConfigurationError

# Seed phases 0001-0007, identity 0008, then one revision per capability (issues 4 and 5).
PHASES = [f"{n:04d}" for n in range(1, 18)]


def public_objects(server: Server) -> tuple[set[str], set[str]]:
    with psycopg.connect(libpq_dsn(server.admin_url)) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = 'public' and c.relkind in ('r', 'p')"
            )
        }
        functions = {
            r[0]
            for r in conn.execute(
                "select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
                "where n.nspname = 'public'"
            )
        }
    return tables, functions


def test_revisions_follow_the_seed_phases() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.MIGRATIONS_DIR))
    revisions = [s.revision for s in ScriptDirectory.from_config(cfg).walk_revisions()]
    assert list(reversed(revisions)) == PHASES
    assert migrate.head_revision() == PHASES[-1]


def test_upgrade_downgrade_upgrade_round_trip(empty_server: Server) -> None:
    migrate.upgrade(empty_server)
    assert migrate.current_revision(empty_server.admin_url) == PHASES[-1]
    full_tables, full_functions = public_objects(empty_server)
    assert {"tenants", "subscribers", "radacct", "radacct_default", "ansible_jobs"} <= full_tables

    migrate.downgrade(empty_server, "base")
    assert migrate.current_revision(empty_server.admin_url) is None
    tables, functions = public_objects(empty_server)
    assert tables == {"alembic_version"}
    assert functions == set()

    migrate.upgrade(empty_server)
    assert public_objects(empty_server) == (full_tables, full_functions)


def test_each_revision_steps_down_and_up(empty_server: Server) -> None:
    seen: list[set[str]] = []
    for revision in PHASES:
        migrate.upgrade(empty_server, revision)
        seen.append(public_objects(empty_server)[0])
    for index in range(len(PHASES) - 1, 0, -1):
        migrate.downgrade(empty_server, PHASES[index - 1])
        assert public_objects(empty_server)[0] == seen[index - 1], PHASES[index]
        migrate.upgrade(empty_server, PHASES[index])
        assert public_objects(empty_server)[0] == seen[index]
        migrate.downgrade(empty_server, PHASES[index - 1])


FAILING = '''"""A revision that fails half-way.

Revision ID: 0099
Revises: {down}
"""
from alembic import op

revision = "0099"
down_revision = "{down}"


def upgrade() -> None:
    op.execute("CREATE TABLE half_done (id int)")
    op.execute("ALTER TABLE tenants ADD COLUMN half_done int")
    op.execute("SELECT 1/0")


def downgrade() -> None:
    pass
'''


def test_failed_migration_leaves_previous_revision(empty_server: Server, tmp_path: Path) -> None:
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "0099_fails.py").write_text(FAILING.format(down=PHASES[-1]))
    migrate.upgrade(empty_server)
    before = public_objects(empty_server)

    with pytest.raises(migrate.MigrationFailed, match="division by zero") as failed:
        migrate.upgrade(empty_server, script_location=scripts)
    assert (failed.value.failed, failed.value.stayed_at) == ("0099", PHASES[-1])
    assert failed.value.message.startswith("migration 0099 (fails) failed: division by zero;")

    assert migrate.current_revision(empty_server.admin_url) == PHASES[-1]
    assert public_objects(empty_server) == before
    with psycopg.connect(libpq_dsn(empty_server.admin_url)) as conn:
        cols = conn.execute(
            "select 1 from information_schema.columns where table_name = 'tenants' and column_name = 'half_done'"
        ).fetchall()
    assert cols == []


def test_servers_older_than_15_are_refused_with_a_clear_message() -> None:
    require_server_version(150000)
    require_server_version(160002)
    with pytest.raises(ConfigurationError, match=r"PostgreSQL 15 or newer is required; this server is 14\.11"):
        require_server_version(140011)
