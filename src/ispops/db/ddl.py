"""SQL building blocks the migrations share.

Migrations are history: once a revision has shipped, the SQL these helpers emit for it must not
change. Add a new helper (or a parameter with the old default) rather than editing one in place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from alembic import op

TENANT_SETTING = "current_setting('app.current_tenant_id', true)"
USER_SETTING = "current_setting('app.current_user_id', true)"

# Columns every managed table carries (seed, "Audit Columns").
AUDIT_COLUMNS = """
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    created_by varchar(255),
    updated_by varchar(255)"""

# Same without soft delete, for history-like tables.
AUDIT_COLUMNS_NO_DELETE = """
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    created_by varchar(255),
    updated_by varchar(255)"""

TENANT_COLUMN = "tenant_id varchar(255) NOT NULL REFERENCES tenants(id) ON DELETE RESTRICT"


def q(value: str) -> str:
    """Quote a SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def one_of(table: str, column: str, values: Iterable[str]) -> str:
    """A named CHECK constraint for an enumeration (``ck_<table>__<column>`` names the field)."""
    listed = ", ".join(q(v) for v in values)
    return f"CONSTRAINT ck_{table}__{column} CHECK ({column} IN ({listed}))"


def check(table: str, column: str, expr: str) -> str:
    return f"CONSTRAINT ck_{table}__{column} CHECK ({expr})"


def named_checks(create_sql: str, table: str) -> dict[str, str]:
    """The named CHECKs of a ``create_table`` statement: ``{"ck_<table>__<column>": expression}``."""
    return dict(re.findall(rf"^\s*CONSTRAINT (ck_{table}__\w+) CHECK \((.*)\),?$", create_sql, re.MULTILINE))


def check_rule(table: str, column: str, condition: str, message: str) -> str:
    """A CHECK as a PL/pgSQL rule (for a trigger): raises what the CHECK would (SQLSTATE, table, column and
    ``ck_<table>__<column>``), so errors still name the field. ``message`` is the RAISE arguments. Like a
    CHECK it passes when ``condition`` is true or NULL (``IF NOT (NULL)`` does not raise)."""
    return f"""        IF NOT ({condition}) THEN
            RAISE EXCEPTION {message}
                USING ERRCODE = 'check_violation', TABLE = '{table}', COLUMN = '{column}',
                      CONSTRAINT = 'ck_{table}__{column}';
        END IF;
"""


def lat_lng_checks(table: str, lat: str, lng: str) -> list[str]:
    return [
        check(table, lat, f"{lat} BETWEEN -90 AND 90"),
        check(table, lng, f"{lng} BETWEEN -180 AND 180"),
    ]


def create_table(name: str, body: Iterable[str]) -> str:
    return f"CREATE TABLE {name} (\n    " + ",\n    ".join(b.strip() for b in body) + "\n)"


def tenant_fk(table: str, column: str, target: str, *, on_delete: str = "SET NULL") -> str:
    """Composite, tenant-safe foreign key (DESIGN.md Tenancy 4)."""
    action = f"SET NULL ({column})" if on_delete == "SET NULL" else on_delete
    return (
        f"CONSTRAINT fk_{table}__{column} FOREIGN KEY (tenant_id, {column}) "
        f"REFERENCES {target} (tenant_id, id) ON DELETE {action}"
    )


def tenant_key(table: str) -> str:
    """``UNIQUE (tenant_id, id)``: what composite foreign keys point at."""
    return f"CONSTRAINT uq_{table}__tenant_id__id UNIQUE (tenant_id, id)"


def enable_tenant_rls(table: str) -> list[str]:
    """ENABLE + FORCE row level security with the fail-closed tenant policy."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} "
        f"USING (tenant_id = {TENANT_SETTING}) WITH CHECK (tenant_id = {TENANT_SETTING})",
    ]


def tenant_table(
    table: str, *, audit: bool = True, app_privileges: str = "SELECT, INSERT, UPDATE, DELETE"
) -> list[str]:
    """Everything that makes ``table`` a tenant table: RLS, app grants, audit trigger."""
    stmts = enable_tenant_rls(table)
    stmts.append(f"GRANT {app_privileges} ON {table} TO ispops_app")
    if audit:
        stmts.append(
            f"CREATE TRIGGER {table}_audit BEFORE INSERT OR UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ispops_audit_columns()"
        )
    return stmts


def counter(source: str, target: str, fk: str, column: str, predicate: str) -> str:
    """Keep ``target.column`` equal to the number of ``source`` rows matching ``predicate``.

    ``fk`` is the column of ``source`` naming the target row (``tenant_id`` when the target is
    ``tenants``). ``ispops db check`` reads these triggers back from pg_catalog to recompute them.
    """
    args = ", ".join(q(a) for a in (target, fk, column, predicate))
    return (
        f"CREATE TRIGGER {source}_count_{column} AFTER INSERT OR UPDATE OR DELETE ON {source} "
        f"FOR EACH ROW EXECUTE FUNCTION ispops_bump_counter({args})"
    )


def live_index(name: str, table: str, columns: str, *, unique: bool = False, using: str = "") -> str:
    """An index over live rows only (``WHERE deleted_at IS NULL``, errata 7)."""
    kind = "UNIQUE INDEX" if unique else "INDEX"
    method = f" USING {using}" if using else ""
    return f"CREATE {kind} {name} ON {table}{method} ({columns}) WHERE deleted_at IS NULL"


def geo_index(name: str, table: str, lng: str, lat: str, *, live: bool = True) -> str:
    """GiST index on ``point(lng, lat)`` for map lookups (core PostgreSQL, no PostGIS)."""
    where = " WHERE deleted_at IS NULL" if live else ""
    return f"CREATE INDEX {name} ON {table} USING gist (point({lng}, {lat})){where}"


def each_tenant(body: str) -> str:
    """A ``DO`` block running ``body`` once per tenant with ``t.id`` set as the current tenant: under FORCE
    RLS even the owner sees one tenant at a time, so data moves in migrations run tenant by tenant."""
    statements = body.strip("\n").rstrip()
    return (
        "\nDO $$\nDECLARE t record;\nBEGIN\n  FOR t IN SELECT id FROM tenants LOOP\n"
        "    PERFORM set_config('app.current_tenant_id', t.id, true);\n"
        f"{statements}\n"
        "  END LOOP;\n  PERFORM set_config('app.current_tenant_id', '', true);\nEND $$\n"
    )


def run(statements: Iterable[str]) -> None:
    for statement in statements:
        op.execute(statement)


def steps(upgrade: Sequence[str], downgrade: Sequence[str]) -> tuple[Callable[[], None], Callable[[], None]]:
    """The ``upgrade`` and ``downgrade`` of a migration that is two lists of statements, each run in order:
    ``upgrade, downgrade = steps(UPGRADE, DOWNGRADE)`` at the end of the revision's module."""

    def run_upgrade() -> None:
        run(upgrade)

    def run_downgrade() -> None:
        run(downgrade)

    return run_upgrade, run_downgrade
