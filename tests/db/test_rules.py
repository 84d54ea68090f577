"""The canonical homes of the database rules are true: a database migrated to head is exactly what they say.

``src/ispops/<domain>/sql/*.sql`` hold every function, trigger and EXECUTE grant the application relies
on; ``ispops.models.enums.COLUMN_ENUMS`` holds every enumerated CHECK list. These tests compare them with
pg_catalog (normalised the way PostgreSQL prints definitions), and keep later migrations from importing
earlier ones (docs/architecture.md, "Where the database rules live").
"""

from __future__ import annotations

import ast
import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ispops.db import migrate, rules
from ispops.db.server import Server, libpq_dsn
from ispops.models import tenancy
from ispops.models.enums import COLUMN_ENUMS

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = migrate.MIGRATIONS_DIR / "versions"
# Migrations up to this one were written before the canonical homes and may import each other (they stay
# as they are); every later one is a frozen snapshot that imports no migration.
LAST_IMPORTING_REVISION = 26


@pytest.fixture
def conn(server: Server) -> Iterator[psycopg.Connection[Any]]:
    """The session database (fresh, migrated to head), as the migrator."""
    with psycopg.connect(libpq_dsn(server.admin_url)) as connection:
        yield connection


def test_canonical_homes_match_the_database_at_head(conn: psycopg.Connection[Any]) -> None:
    """Every registered function, trigger, EXECUTE grant and CHECK list is what the migrations made."""
    changes = rules.compare(conn, rules.load_homes(), COLUMN_ENUMS)
    assert [f"{c.what} {c.source}" for c in changes] == []


def test_every_application_function_and_trigger_has_a_home(conn: psycopg.Connection[Any]) -> None:
    homes = rules.load_homes()
    live = rules.read_functions(conn)
    assert set(live) - set(homes.functions) - rules.GENERATED_FUNCTIONS == set()
    assert set(live) >= rules.GENERATED_FUNCTIONS  # the exclusions name real functions, none stale
    assert not set(homes.functions) & rules.GENERATED_FUNCTIONS
    unregistered = {
        key
        for key, trigger in rules.read_triggers(conn).items()
        if key not in homes.triggers and trigger.function not in rules.PER_TABLE_TRIGGER_FUNCTIONS
    }
    assert unregistered == set()


def test_each_home_holds_its_domains_rules() -> None:
    """A newcomer finds a rule by its domain: ipam_* under ipam/, RADIUS under radius/, shared under db/."""
    homes = rules.load_homes()
    domain = {name: f.source.parent.parent.name for name, f in homes.functions.items()}
    assert {d for n, d in domain.items() if n.startswith("ipam_")} == {"ipam"}
    assert {d for n, d in domain.items() if n.startswith(("ispops_radius_", "ispops_radacct_", "ispops_coa_"))} == {
        "radius"
    }
    assert domain["ispops_audit_columns"] == domain["ispops_bump_counter"] == "db"
    assert all(f.source.parent.name == "sql" for f in homes.functions.values())


def test_enumerations_match_the_check_lists(conn: psycopg.Connection[Any]) -> None:
    """Each enumeration in COLUMN_ENUMS is its column's CHECK list, or the list its trigger rule checks."""
    checks = {key: c.values for key, c in rules.read_check_lists(conn).items()}
    guards = rules.guard_lists(s[0].definition for s in rules.read_functions(conn).values())
    assert not set(checks) & set(guards), "one list, one place"
    # e.g. ip_pools.pool_type and ip_allocations.status: checked by ipam_pool_guard / ipam_allocation_guard.
    assert set(guards) == {("ip_pools", "pool_type"), ("ip_allocations", "status")}
    lists = checks | guards
    for (table, column), enum in COLUMN_ENUMS.items():
        assert lists.get((table, column)) == tuple(v.value for v in enum), f"{table}.{column} vs {enum.__name__}"
    assert set(lists) == set(COLUMN_ENUMS), "every enumerated CHECK list has its enumeration"


def test_user_roles_match_the_roles_check(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute(
        "select pg_get_constraintdef(oid) from pg_constraint where conname = 'ck_users__roles'"
    ).fetchone()
    assert row is not None
    (listed,) = re.findall(r"roles <@ '(\[[^']*\])'::jsonb", row[0])
    assert json.loads(listed) == [r.value for r in tenancy.UserRole]


def test_canonical_files_are_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "*/sql/*.sql" in pyproject["tool"]["setuptools"]["package-data"]["ispops"]
    assert len(rules.sql_files()) >= 19


def test_statements_split_where_postgresql_ends_them() -> None:
    text = """-- a comment; not a statement
CREATE OR REPLACE FUNCTION f() RETURNS text LANGUAGE sql AS $body$ SELECT 'a;b' || $$;$$ $body$;
/* block; comment */ GRANT EXECUTE ON FUNCTION f() TO "x;y";
SELECT 'it''s; fine'"""
    assert rules.split_statements(text) == [
        "CREATE OR REPLACE FUNCTION f() RETURNS text LANGUAGE sql AS $body$ SELECT 'a;b' || $$;$$ $body$",
        '/* block; comment */ GRANT EXECUTE ON FUNCTION f() TO "x;y"',
        "SELECT 'it''s; fine'",
    ]


def test_a_canonical_file_holds_only_rules(tmp_path: Path) -> None:
    (tmp_path / "x" / "sql").mkdir(parents=True)
    (tmp_path / "x" / "sql" / "bad.sql").write_text("CREATE TABLE t (id int);")
    with pytest.raises(rules.RulesError, match=r"x/sql/bad.sql: CREATE TABLE t .*holds only"):
        rules.load_homes(tmp_path)
    (tmp_path / "x" / "sql" / "bad.sql").write_text("GRANT EXECUTE ON FUNCTION elsewhere() TO ispops_app;")
    with pytest.raises(rules.RulesError, match="a function this file does not define"):
        rules.load_homes(tmp_path)


def migration_imports(path: Path) -> list[str]:
    """Where a migration file reaches another migration: imports of ``ispops.migrations`` or ``importlib``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith(("ispops.migrations", "importlib"))]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(("ispops.migrations", "importlib")):
            found.append(node.module or "")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "ispops.migrations" in node.value:
            found.append(node.value)
    return found


def test_migrations_after_0026_import_no_migration() -> None:
    later = [p for p in VERSIONS.glob("[0-9]*.py") if int(p.name[:4]) > LAST_IMPORTING_REVISION]
    assert {p.name: migration_imports(p) for p in later} == {p.name: [] for p in later}
    # The check sees the way 0023 reached 0018 and 0020 (importlib.import_module on a module path).
    assert "ispops.migrations.versions.0018_ipam_hot_path" in migration_imports(VERSIONS / "0023_ipam_vpn_pools.py")
