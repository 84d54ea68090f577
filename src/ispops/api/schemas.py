"""API schemas derived from the ORM models: one Read, Create and Update model per resource.

The columns (types, lengths, nullability, server defaults) already say what is valid; deriving the
schemas from them keeps 20+ resources consistent and the OpenAPI document exact. What a column cannot
say — hidden fields, read-only counters, enumerations — comes from the resource's spec.
"""

from __future__ import annotations

import datetime as dt
import decimal
import ipaddress
import uuid
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model
from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, Integer, Numeric, String, Table, Text
from sqlalchemy.dialects.postgresql import CIDR, INET, JSONB, UUID

from ispops.models.base import Base
from ispops.models.enums import COLUMN_ENUMS

INT32 = 2**31 - 1
INT64 = 2**63 - 1
# Never accepted from clients: the database or the platform sets them.
SYSTEM_FIELDS = frozenset({"id", "tenant_id", "created_at", "updated_at", "created_by", "updated_by", "deleted_at"})


def _no_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL, and only valid UTF-8 can be stored at all."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


def _clean_json(value: Any) -> Any:
    """The same rule inside JSON documents, keys included."""
    if isinstance(value, str):
        _no_nul(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            _no_nul(str(k))
            _clean_json(v)
    elif isinstance(value, list):
        for item in value:
            _clean_json(item)
    return value


def _inet(value: str) -> str:
    try:
        return str(ipaddress.ip_interface(value)).removesuffix("/32").removesuffix("/128")
    except ValueError:
        raise ValueError("not an IP address") from None


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"not a network in CIDR notation ({exc})") from None


Str = Annotated[str, AfterValidator(_no_nul)]
Inet = Annotated[str, AfterValidator(_inet), Field(json_schema_extra={"format": "ip-address"})]
Cidr = Annotated[str, AfterValidator(_cidr), Field(json_schema_extra={"format": "cidr"})]


def python_type(table: str, column: Column[Any]) -> Any:
    """The pydantic type of a column's value (without optionality)."""
    enum: type[StrEnum] | None = COLUMN_ENUMS.get((table, column.name))
    if enum is not None:
        return enum
    t = column.type
    if isinstance(t, INET):
        return Inet
    if isinstance(t, CIDR):
        return Cidr
    if isinstance(t, UUID):
        return uuid.UUID
    if isinstance(t, JSONB):
        hint = str(getattr(column, "info", {}).get("json", ""))
        shape = list[Any] if hint == "list" or column.name in JSON_LISTS else dict[str, Any]
        return Annotated[shape, AfterValidator(_clean_json)]
    if isinstance(t, Boolean):
        return bool
    if isinstance(t, BigInteger):
        return Annotated[int, Field(ge=-INT64, le=INT64)]
    if isinstance(t, Integer):
        return Annotated[int, Field(ge=-INT32, le=INT32)]
    if isinstance(t, Numeric):
        digits = (t.precision or 30) - (t.scale or 0)
        bound = decimal.Decimal(10) ** digits
        return Annotated[decimal.Decimal, Field(gt=-bound, lt=bound, decimal_places=t.scale, allow_inf_nan=False)]
    if isinstance(t, DateTime):
        return dt.datetime
    if isinstance(t, Date):
        return dt.date
    if isinstance(t, String) and not isinstance(t, Text) and t.length:
        return Annotated[str, AfterValidator(_no_nul), Field(max_length=t.length)]
    if isinstance(t, String | Text):
        return Annotated[str, AfterValidator(_no_nul), Field(max_length=65535)]
    raise TypeError(f"no API type for {table}.{column.name}: {t!r}")


# JSONB columns that hold arrays.
JSON_LISTS = frozenset({"roles", "steps_completed", "mfa_recovery_codes"})


class ReadBase(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class WriteBase(BaseModel):
    # Enum members become their plain values: the database stores 'active', not 'ACTIVE'.
    model_config = ConfigDict(extra="forbid", use_enum_values=True)


def _name(model: type[Base], suffix: str) -> str:
    return "".join(part.capitalize() for part in str(model.__tablename__).split("_")) + suffix


def read_schema(model: type[Base], *, hidden: Iterable[str] = ()) -> type[BaseModel]:
    table = cast(Table, model.__table__)
    hide = set(hidden)
    fields: dict[str, Any] = {}
    for column in table.columns:
        if column.name in hide:
            continue
        typ = python_type(table.name, column)
        fields[column.key] = (typ | None, None) if column.nullable else (typ, ...)
    return create_model(_name(model, "Read"), __base__=ReadBase, **fields)


def writable_columns(model: type[Base], *, exclude: Iterable[str]) -> list[Column[Any]]:
    skip = SYSTEM_FIELDS | set(exclude)
    columns = cast(Table, model.__table__).columns
    return [c for c in columns if c.name not in skip and c.computed is None and c.identity is None]


def create_schema(
    model: type[Base], *, exclude: Iterable[str] = (), extra: dict[str, Any] | None = None
) -> type[BaseModel]:
    table = cast(Table, model.__table__)
    fields: dict[str, Any] = {}
    for column in writable_columns(model, exclude=exclude):
        typ = python_type(table.name, column)
        required = not column.nullable and column.server_default is None
        fields[column.key] = (typ, ...) if required else ((typ | None) if column.nullable else typ, None)
    fields.update(extra or {})
    return create_model(_name(model, "Create"), __base__=WriteBase, **fields)


def update_schema(
    model: type[Base], *, exclude: Iterable[str] = (), extra: dict[str, Any] | None = None
) -> type[BaseModel]:
    table = cast(Table, model.__table__)
    fields: dict[str, Any] = {}
    for column in writable_columns(model, exclude=exclude):
        typ = python_type(table.name, column)
        fields[column.key] = ((typ | None) if column.nullable else typ, None)
    fields.update(extra or {})
    return create_model(_name(model, "Update"), __base__=WriteBase, **fields)


def filter_type(table: str, column: Column[Any]) -> Any:
    """Type of an equality filter on ``column`` (a query parameter)."""
    return python_type(table, column)
