"""``ispops db upgrade`` / ``ispops db downgrade`` for real, on a scratch database of their own.

These tests move a database up and down, so they never use the session database the other tests
share: each gets a fresh, unmigrated one (``empty_server``) and points the CLI at it the way a user would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from ispops.cli import app
from ispops.db import migrate
from ispops.db.server import Server, libpq_dsn
from tests.cli.test_cli import cli_pointed_at
from tests.db.test_migrations import public_objects


def newest_revisions() -> list[str]:
    """The revisions this code knows, newest first (from the migration scripts, not from a database)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.MIGRATIONS_DIR))
    return [s.revision for s in ScriptDirectory.from_config(cfg).walk_revisions()]


HEAD, BEFORE_HEAD, TARGET = newest_revisions()[:3]  # TARGET: a downgrade that reverts two steps


@pytest.fixture
def scratch(empty_server: Server, base_server: Server) -> Iterator[Server]:
    """A fresh, unmigrated database, with the CLI pointed at it."""
    with cli_pointed_at(empty_server, base_server):
        yield empty_server


def invoke(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(app, list(args), input=input, env={"COLUMNS": "200"}, catch_exceptions=False)


def stored_revision(server: Server) -> str | None:
    """What alembic_version itself holds (None: no row, i.e. base)."""
    with psycopg.connect(libpq_dsn(server.admin_url)) as conn:
        rows = conn.execute("select version_num from alembic_version").fetchall()
    assert len(rows) <= 1, rows
    return str(rows[0][0]) if rows else None


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "error:" in line]


def test_downgrade_asks_reverts_and_upgrade_returns_to_head(scratch: Server) -> None:
    to_target = invoke("db", "upgrade", TARGET)
    assert to_target.exit_code == 0, to_target.output
    assert f"Database is at revision {TARGET}." in to_target.output
    at_target = public_objects(scratch)
    to_head = invoke("db", "upgrade")
    assert to_head.exit_code == 0, to_head.output
    assert f"Database is at revision {HEAD}." in to_head.output
    at_head = public_objects(scratch)
    assert at_head != at_target

    # Without --yes it asks; "no" (or just Enter) changes nothing.
    for answer in ("n\n", "\n"):
        refused = invoke("db", "downgrade", TARGET, input=answer)
        assert refused.exit_code == 1, refused.output
        assert f"from {HEAD} to {TARGET}?" in refused.output and "Data in dropped tables is lost" in refused.output
        assert "Aborted" in refused.output
        assert stored_revision(scratch) == HEAD
        assert public_objects(scratch) == at_head

    reverted = invoke("db", "downgrade", TARGET, "--yes")
    assert reverted.exit_code == 0, reverted.output
    assert f"Database is at revision {TARGET}." in reverted.output
    assert stored_revision(scratch) == TARGET
    assert public_objects(scratch) == at_target  # the reverted phases' tables and functions are gone

    # Answering "y" works as well as --yes: down to base removes everything but alembic_version.
    emptied = invoke("db", "downgrade", "base", input="y\n")
    assert emptied.exit_code == 0, emptied.output
    assert "Database is at revision base (empty)." in emptied.output
    assert stored_revision(scratch) is None
    assert public_objects(scratch) == ({"alembic_version"}, set())

    back = invoke("db", "upgrade")
    assert back.exit_code == 0, back.output
    assert f"Database is at revision {HEAD}." in back.output
    assert stored_revision(scratch) == HEAD
    assert public_objects(scratch) == at_head


def test_unknown_revision_is_one_clear_line(scratch: Server) -> None:
    assert invoke("db", "upgrade").exit_code == 0
    for args in (["db", "upgrade", "9999"], ["db", "downgrade", "nonsense", "--yes"]):
        result = invoke(*args)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        [line] = error_lines(result.output)
        assert f"cannot migrate to '{args[2]}'" in line and f"the database stayed at revision {HEAD}" in line
        assert stored_revision(scratch) == HEAD


# Makes the second DDL statement of every migration transaction fail, whatever the migration is: the
# first one succeeds, so the failing revision has done part of its work when it is refused. The count is
# a transaction-local setting, and every revision runs in a transaction of its own.
REFUSE_SECOND_DDL = [
    """
    CREATE SCHEMA test_injection
    """,
    """
    CREATE FUNCTION test_injection.refuse_second_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
    DECLARE
      n int := coalesce(nullif(current_setting('test_injection.ddl', true), ''), '0')::int + 1;
    BEGIN
      PERFORM set_config('test_injection.ddl', n::text, true);
      IF n >= 2 THEN
        RAISE EXCEPTION 'refused by the test (%)', tg_tag;
      END IF;
    END $$
    """,
    "CREATE EVENT TRIGGER test_refuse_second_ddl ON ddl_command_end "
    "EXECUTE FUNCTION test_injection.refuse_second_ddl()",
]


def refuse_ddl(server: Server, *, on: bool) -> None:
    with psycopg.connect(libpq_dsn(server.admin_url), autocommit=True) as conn:
        row = conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()
        if not (row and row[0]):
            pytest.skip("injecting a failure needs an event trigger, which needs a superuser")
        if on:
            for statement in REFUSE_SECOND_DDL:
                conn.execute(statement)
        else:
            conn.execute("DROP EVENT TRIGGER test_refuse_second_ddl")
            conn.execute("DROP SCHEMA test_injection CASCADE")


def test_failed_migration_names_the_revisions_and_changes_nothing(scratch: Server) -> None:
    assert invoke("db", "upgrade", BEFORE_HEAD).exit_code == 0
    before = public_objects(scratch)
    refuse_ddl(scratch, on=True)

    failed = invoke("db", "upgrade")
    assert failed.exit_code == 1, failed.output
    assert "Traceback" not in failed.output
    [line] = error_lines(failed.output)
    assert f"migration {HEAD} (" in line and " failed: refused by the test (" in line, line
    assert line.endswith(f"the database stayed at revision {BEFORE_HEAD}"), line
    assert stored_revision(scratch) == BEFORE_HEAD
    assert public_objects(scratch) == before  # the first statement of the failed revision was rolled back

    refuse_ddl(scratch, on=False)
    fixed = invoke("db", "upgrade")
    assert fixed.exit_code == 0, fixed.output
    assert stored_revision(scratch) == HEAD
    at_head = public_objects(scratch)

    # Reverting fails the same way: the database stays at the revision it could not revert.
    refuse_ddl(scratch, on=True)
    failed_down = invoke("db", "downgrade", BEFORE_HEAD, "--yes")
    assert failed_down.exit_code == 1, failed_down.output
    assert "Traceback" not in failed_down.output
    [line] = error_lines(failed_down.output)
    assert f"reverting migration {HEAD} (" in line and line.endswith(f"the database stayed at revision {HEAD}")
    assert stored_revision(scratch) == HEAD
    assert public_objects(scratch) == at_head
