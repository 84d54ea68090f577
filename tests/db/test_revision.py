"""``ispops db revision`` end to end: change the canonical homes (a copy), write the migration, apply it,
revert it, and compare the database with the homes each time."""

from __future__ import annotations

import datetime as dt
import shutil
from enum import StrEnum
from pathlib import Path
from typing import Any

import psycopg
from typer.testing import CliRunner

from ispops.cli import app
from ispops.db import migrate, revision, rules
from ispops.db.server import Server, libpq_dsn
from ispops.models.enums import COLUMN_ENUMS
from ispops.models.radius import NasType
from tests.cli.test_cli import cli_pointed_at
from tests.db.test_rules import migration_imports


class NasTypeWithHuawei(StrEnum):
    """NasType and one more value: a CHECK list that changes."""

    OTHER = "other"
    CISCO = "cisco"
    MIKROTIK = "mikrotik"
    JUNIPER = "juniper"
    HUAWEI = "huawei"


NEW_RULES = """-- A new rule: a function only the application may call, and a trigger function with its trigger.
CREATE OR REPLACE FUNCTION public.ipam_pool_label(p_name text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
AS $function$ SELECT upper(p_name) || ' 100%' $function$;
REVOKE ALL ON FUNCTION public.ipam_pool_label(p_name text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.ipam_pool_label(p_name text) TO ispops_app;

CREATE OR REPLACE FUNCTION public.ipam_pool_trim()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    NEW.name := btrim(NEW.name);  -- a comment; with a semicolon and a :colon
    RETURN NEW;
END
$function$;

CREATE OR REPLACE TRIGGER ip_pools_trim
    BEFORE INSERT OR UPDATE OF name ON ip_pools
    FOR EACH ROW
    EXECUTE FUNCTION ipam_pool_trim();
"""


def copy_homes(root: Path) -> None:
    for path in rules.sql_files():
        target = root / path.relative_to(rules.PACKAGE_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def definition(conn: psycopg.Connection[Any], function: str) -> str:
    row = conn.execute("select pg_get_functiondef(%s::regproc)", (function,)).fetchone()
    assert row is not None
    return str(row[0])


def test_revision_writes_a_frozen_migration_that_applies_and_reverts(
    base_server: Server, empty_server: Server, tmp_path: Path
) -> None:
    assert [v.value for v in NasTypeWithHuawei][:-1] == [v.value for v in NasType]
    root, scripts = tmp_path / "ispops", tmp_path / "migrations"
    copy_homes(root)
    shutil.copytree(migrate.MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    # A changed function (a pool rule: a new pool type), new ones with grants and a trigger, a removed one,
    # and a changed CHECK list.
    guard = root / "ipam" / "sql" / "pool_guard.sql"
    edit(
        guard,
        "NEW.pool_type IN ('dynamic', 'static', 'reserved', 'vpn')",
        "NEW.pool_type IN ('dynamic', 'static', 'reserved', 'vpn', 'lab')",
    )
    (root / "ipam" / "sql" / "pool_labels.sql").write_text(NEW_RULES, encoding="utf-8")
    (root / "radius" / "sql" / "usage.sql").unlink()
    enums: dict[tuple[str, str], type[StrEnum]] = {**COLUMN_ENUMS, ("nas", "type"): NasTypeWithHuawei}

    written = revision.write_revision(
        base_server,
        "Lab pools and labels",
        root=root,
        script_location=scripts,
        enums=enums,
        today=dt.date(2027, 1, 4),
    )

    assert written is not None
    head = migrate.head_revision()  # the revision written comes right after today's head
    after = f"{int(head) + 1:04d}"
    assert (written.revision, written.path.name) == (after, f"{after}_lab_pools_and_labels.py")
    assert [c.what for c in written.changes] == [
        "function ipam_pool_guard (changed)",
        "function ipam_pool_label (new)",
        "function ipam_pool_trim (new)",
        "trigger ip_pools_trim on ip_pools (new)",
        "function ispops_billing_period_start (not in any canonical file)",
        "CHECK list nas.type (changed)",
    ]
    text = written.path.read_text(encoding="utf-8")
    assert migration_imports(written.path) == []
    assert f'down_revision = "{head}"' in text and "Create Date: 2027-01-04" in text

    with psycopg.connect(libpq_dsn(base_server.admin_url.set(database=empty_server.database))) as conn:
        migrate.upgrade(empty_server, head)
        before = definition(conn, "ipam_pool_guard")
        conn.rollback()

        migrate.upgrade(empty_server, script_location=scripts)
        assert migrate.current_revision(empty_server.admin_url) == after
        assert rules.compare(conn, rules.load_homes(root), enums, root=root) == []
        assert "'vpn', 'lab'" in definition(conn, "ipam_pool_guard")
        assert conn.execute("select ipam_pool_label('p')").fetchone() == ("P 100%",)
        assert conn.execute("select to_regproc('ispops_billing_period_start')").fetchone() == (None,)
        conn.rollback()

        migrate.downgrade(empty_server, head, script_location=scripts)
        assert rules.compare(conn, rules.load_homes(), COLUMN_ENUMS) == []  # the homes of today, exactly
        assert definition(conn, "ipam_pool_guard") == before
        assert conn.execute("select to_regproc('ipam_pool_label')").fetchone() == (None,)


def test_revision_command_writes_nothing_when_the_homes_match_head(empty_server: Server, base_server: Server) -> None:
    """``ispops db revision`` on today's tree: the canonical files are what the migrations made."""
    before = sorted(p.name for p in (migrate.MIGRATIONS_DIR / "versions").glob("*.py"))
    scratches_before = scratch_databases(base_server)
    with cli_pointed_at(empty_server, base_server):
        result = CliRunner().invoke(app, ["db", "revision", "no change"], catch_exceptions=False)
    written = sorted({p.name for p in (migrate.MIGRATIONS_DIR / "versions").glob("*.py")} - set(before))
    for name in written:  # never leave a file in the source tree, even when failing
        (migrate.MIGRATIONS_DIR / "versions" / name).unlink()
    assert written == []
    assert result.exit_code == 0, result.output
    assert "Nothing to write" in result.output
    assert scratch_databases(base_server) <= scratches_before  # its scratch database is gone


def scratch_databases(server: Server) -> set[str]:
    with psycopg.connect(libpq_dsn(server.admin_url.set(database="postgres"))) as conn:
        rows = conn.execute("select datname from pg_database where datname like 'ispops_revision_%'").fetchall()
    return {str(r[0]) for r in rows}
