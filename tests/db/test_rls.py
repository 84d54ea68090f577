"""Tenant isolation in the database itself, for every tenant table (DESIGN.md, Tenancy 1-4)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ispops.db.schema_check import GLOBAL_TABLES
from ispops.db.session import Database
from ispops.errors import NotFound, ValidationFailed
from tests.factories import TENANT_TABLES, key_column, populate, snapshot


@pytest.fixture
def two_tenants(db: Database) -> tuple[dict[str, str], dict[str, str]]:
    return populate(db, "tenant-a", 1), populate(db, "tenant-b", 2)


def test_factory_covers_every_tenant_table(db: Database, admin: psycopg.Connection[Any]) -> None:
    parents = {
        r[0]
        for r in admin.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition"
        )
    }
    assert parents - GLOBAL_TABLES == set(TENANT_TABLES)


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_tenant_sees_only_its_own_rows(db: Database, two_tenants: Any, table: str) -> None:
    a, b = two_tenants
    key = key_column(table)
    with db.tenant("tenant-a") as s:
        visible = s.execute(text(f"select {key}::text, tenant_id from {table}")).all()
        assert visible == [(a[table], "tenant-a")]
        # Asking for B's row explicitly, by key or by tenant, finds nothing.
        assert s.execute(text(f"select count(*) from {table} where {key}::text = :k"), {"k": b[table]}).scalar() == 0
        assert s.execute(text(f"select count(*) from {table} where tenant_id = 'tenant-b'")).scalar() == 0


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_tenant_cannot_change_or_delete_other_tenants_rows(
    db: Database, two_tenants: Any, admin: psycopg.Connection[Any], table: str
) -> None:
    _, b = two_tenants
    key = key_column(table)
    before = snapshot(admin, "tenant-b")
    with db.tenant("tenant-a") as s:
        can_update = s.execute(text("select has_table_privilege(:t, 'UPDATE')"), {"t": table}).scalar()
        if can_update:
            updated = s.execute(
                text(f"update {table} set tenant_id = tenant_id where {key}::text = :k"), {"k": b[table]}
            )
            assert updated.rowcount == 0  # type: ignore[attr-defined]
        else:  # append-only for the app (radpostauth): refused outright
            with pytest.raises(DBAPIError), s.begin_nested():
                s.execute(text(f"update {table} set tenant_id = tenant_id where {key}::text = :k"), {"k": b[table]})
        if s.execute(text("select has_table_privilege(:t, 'DELETE')"), {"t": table}).scalar():
            deleted = s.execute(text(f"delete from {table} where {key}::text = :k"), {"k": b[table]})
            assert deleted.rowcount == 0  # type: ignore[attr-defined]
        else:  # append-only (audit_events)
            with pytest.raises(DBAPIError), s.begin_nested():
                s.execute(text(f"delete from {table} where {key}::text = :k"), {"k": b[table]})
    assert snapshot(admin, "tenant-b") == before


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_tenant_cannot_insert_or_move_rows_into_other_tenant(
    db: Database, two_tenants: Any, admin: psycopg.Connection[Any], table: str
) -> None:
    a, _ = two_tenants
    key = key_column(table)
    before = snapshot(admin, "tenant-b")
    # Re-insert a copy of A's row labelled as B: the policy's WITH CHECK refuses it.
    with pytest.raises(NotFound), db.tenant("tenant-a") as s:
        cols = list(
            s.execute(
                text(
                    "select column_name from information_schema.columns where table_name = :t "
                    "and is_generated = 'NEVER' and column_name not in ('tenant_id', :k) "
                    "and identity_generation is null order by ordinal_position"
                ),
                {"t": table, "k": key},
            ).scalars()
        )
        col_list = ", ".join(cols or [key])  # a table whose key is its only other column copies the key
        s.execute(
            text(
                f"insert into {table} (tenant_id, {col_list}) select 'tenant-b', {col_list} from {table} "
                f"where {key}::text = :k"
            ),
            {"k": a[table]},
        )
    # Moving A's own row to B is refused too (by the policy, or by having no UPDATE grant at all).
    can_update = admin.execute("select has_table_privilege('ispops_app', %s, 'UPDATE')", (table,)).fetchone()
    refusal: type[Exception] = NotFound if can_update and can_update[0] else DBAPIError
    with pytest.raises(refusal), db.tenant("tenant-a") as s:
        s.execute(text(f"update {table} set tenant_id = 'tenant-b' where {key}::text = :k"), {"k": a[table]})
    assert snapshot(admin, "tenant-b") == before


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_no_tenant_set_sees_nothing_and_writes_nothing(db: Database, two_tenants: Any, table: str) -> None:
    with db.app_engine.connect() as conn:
        assert conn.execute(text(f"select count(*) from {table}")).scalar() == 0
        conn.rollback()
        # A setting left empty by an earlier transaction on the same connection also fails closed.
        with conn.begin():
            conn.execute(text("select set_config('app.current_tenant_id', 'tenant-a', true)"))
            assert conn.execute(text(f"select count(*) from {table}")).scalar() == 1
        assert conn.execute(text(f"select count(*) from {table}")).scalar() == 0
        conn.rollback()
        if conn.execute(text("select has_table_privilege(:t, 'UPDATE')"), {"t": table}).scalar():
            assert conn.execute(text(f"update {table} set tenant_id = 'tenant-a'")).rowcount == 0
        with pytest.raises(DBAPIError) as err:
            conn.execute(text(f"insert into {table} (tenant_id) values ('tenant-a')"))
        assert isinstance(err.value.orig, psycopg.errors.InsufficientPrivilege), err.value
        conn.rollback()


def _composite_fks(admin: psycopg.Connection[Any]) -> list[tuple[str, str, str, str]]:
    rows = admin.execute(
        "select src.relname, dst.relname, a.attname, format_type(a.atttypid, a.atttypmod) from pg_constraint k "
        "join pg_class src on src.oid = k.conrelid join pg_class dst on dst.oid = k.confrelid "
        "join pg_attribute a on a.attrelid = k.conrelid and a.attnum = k.conkey[2] "
        "join pg_namespace n on n.oid = src.relnamespace "
        "where k.contype = 'f' and n.nspname = 'public' and not src.relispartition "
        "and dst.relname <> 'tenants' and k.conparentid = 0 order by 1, 3"
    ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


# Links the factory's single row per table cannot make within one tenant: a splice joins two different
# strands, and the factory's tenant has one strand (already the splice's strand_a_id).
ONE_ROW_TWICE = {("fiber_splices", "strand_b_id")}


def test_foreign_keys_cannot_point_at_another_tenants_row(
    db: Database, two_tenants: Any, admin: psycopg.Connection[Any]
) -> None:
    a, b = two_tenants
    fks = _composite_fks(admin)
    assert len(fks) >= 20  # every link in the schema, read from the catalog
    for source, target, column, coltype in fks:
        statement = _repoint(admin, source, column, coltype)
        with pytest.raises(ValidationFailed) as err, db.tenant("tenant-a") as s:
            s.execute(text(statement), {"to": b[target], "k": a[source]})
        assert err.value.field == column, (source, column)
        if source == target or (source, column) in ONE_ROW_TWICE or key_column(source) == column:
            # a self-reference to its own row is refused for another reason; a copy of an append-only row
            # whose link is its key would only repeat that row
            continue
        # Pointing at the same tenant's row is fine: the failure above is about the tenant. Undone at once,
        # so the next column starts from the row as the factory made it (a cable end is at one thing only).
        with db.tenant("tenant-a") as s:
            repointed = s.begin_nested()
            s.execute(text(statement), {"to": a[target], "k": a[source]})
            repointed.rollback()


def _repoint(admin: psycopg.Connection[Any], table: str, column: str, coltype: str) -> str:
    """SQL making row :k of ``table`` point ``column`` at :to; append-only tables get a copy instead."""
    key = key_column(table)
    if admin.execute("select has_table_privilege('ispops_app', %s, 'UPDATE')", (table,)).fetchone() == (True,):
        return f"update {table} set {column} = cast(:to as {coltype}) where {key}::text = :k"
    columns = [
        r[0]
        for r in admin.execute(
            "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 "
            "and not attisdropped and attname <> %s order by attnum",
            (table, key if key != column else ""),  # the key is left out, unless it is the link itself
        )
    ]
    values = [f"cast(:to as {coltype})" if c == column else c for c in columns]
    return f"insert into {table} ({', '.join(columns)}) select {', '.join(values)} from {table} where {key}::text = :k"
