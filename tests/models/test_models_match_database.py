"""The ORM models and the migrated database agree: same tables, columns, types, nullability."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import BigInteger, Boolean, Date, DateTime, Integer, Numeric, String, Text
from sqlalchemy.dialects.postgresql import CIDR, INET, JSONB, UUID
from sqlalchemy.types import TypeEngine

from ispops.models import Base

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
