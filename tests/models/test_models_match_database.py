"""The ORM models and the migrated database agree: same tables, columns, types, nullability, unique
constraints and composite tenant foreign keys (read from pg_catalog, not from the migration files)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import CIDR, INET, JSONB, UUID
from sqlalchemy.types import TypeEngine

from ispops.models import Base
from tests.models.test_metadata import MIGRATION_TABLES

UDT = {
    BigInteger: "int8",
    Integer: "int4",
    Boolean: "bool",
    Date: "date",
    DateTime: "timestamptz",
    Numeric: "numeric",
    String: "varchar",
    Text: "text",
    UUID: "uuid",
    INET: "inet",
    CIDR: "cidr",
    JSONB: "jsonb",
    LargeBinary: "bytea",
}


def udt_of(sa_type: TypeEngine[Any]) -> str:
    for cls in type(sa_type).__mro__:
        if cls in UDT:
            return UDT[cls]
    raise AssertionError(f"unmapped type {sa_type!r}")


@pytest.mark.parametrize("table", sorted(Base.metadata.tables))
def test_model_columns_match_the_database(table: str, admin: psycopg.Connection[Any]) -> None:
    rows = admin.execute(
        "select column_name, udt_name, is_nullable, character_maximum_length, numeric_precision, numeric_scale "
        "from information_schema.columns where table_schema = 'public' and table_name = %s",
        (table,),
    ).fetchall()
    in_db = {r[0]: r[1:] for r in rows}
    model = Base.metadata.tables[table]
    assert set(in_db) == {c.name for c in model.columns}, table
    for column in model.columns:
        udt, nullable, length, precision, scale = in_db[column.name]
        assert udt == udt_of(column.type), f"{table}.{column.name}: {udt} vs {column.type!r}"
        assert (nullable == "YES") == column.nullable, f"{table}.{column.name}: nullability"
        if isinstance(column.type, String) and not isinstance(column.type, Text):
            assert length == column.type.length, f"{table}.{column.name}: length"
        if isinstance(column.type, Numeric) and udt == "numeric":
            assert (precision, scale) == (column.type.precision, column.type.scale), f"{table}.{column.name}"


def test_every_database_table_has_a_model(admin: psycopg.Connection[Any]) -> None:
    parents = {
        r[0]
        for r in admin.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition "
            "and c.relname <> 'alembic_version'"
        )
    }
    assert parents == set(Base.metadata.tables)


def test_migrations_create_exactly_the_listed_tables(admin: psycopg.Connection[Any]) -> None:
    parents = {
        r[0]
        for r in admin.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition"
        )
    }
    assert parents - {"alembic_version"} == MIGRATION_TABLES


# Named constraints of a table (not a partition): name -> (kind, columns in order, ON DELETE, referenced table).
CONSTRAINTS = """
select c.conname, c.contype,
       array(select a.attname from unnest(c.conkey) with ordinality k(n, i)
             join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.n order by k.i)::text[],
       c.confdeltype, f.relname
  from pg_constraint c join pg_class r on r.oid = c.conrelid left join pg_class f on f.oid = c.confrelid
 where r.relname = %s and r.relnamespace = 'public'::regnamespace and c.contype in ('u', 'f')
"""
ON_DELETE = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


@pytest.mark.parametrize("table", sorted(MIGRATION_TABLES))
def test_unique_constraints_match_the_database(table: str, admin: psycopg.Connection[Any]) -> None:
    in_db = {name: list(cols) for name, kind, cols, _, _ in admin.execute(CONSTRAINTS, (table,)) if kind == "u"}
    declared = {
        str(c.name): [col.name for col in c.columns]
        for c in Base.metadata.tables[table].constraints
        if isinstance(c, UniqueConstraint)
    }
    assert declared == in_db


@pytest.mark.parametrize("table", sorted(MIGRATION_TABLES))
def test_composite_tenant_foreign_keys_match_the_database(table: str, admin: psycopg.Connection[Any]) -> None:
    in_db = {
        name: (cols[1], target, ON_DELETE[action])
        for name, kind, cols, action, target in admin.execute(CONSTRAINTS, (table,))
        if kind == "f" and len(cols) > 1
    }
    declared = {}
    for fk in Base.metadata.tables[table].foreign_key_constraints:
        if len(fk.columns) < 2:
            continue
        assert fk.column_keys[0] == "tenant_id"
        assert [e.column.name for e in fk.elements] == ["tenant_id", "id"]
        action = (fk.ondelete or "NO ACTION").split(" (")[0]
        declared[str(fk.name)] = (fk.column_keys[1], fk.referred_table.name, action)
    assert declared == in_db
