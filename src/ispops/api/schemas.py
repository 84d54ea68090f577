"""API schemas derived from the ORM models: one Read, Create and Update model per resource.

The columns (types, lengths, nullability, server defaults) already say what is valid; deriving the
schemas from them keeps 20+ resources consistent and the OpenAPI document exact. What a column cannot
say — hidden fields, read-only counters, enumerations — comes from the resource's spec.
"""

from __future__ import annotations

import datetime as dt
import decimal
import ipaddress
import re
import uuid
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any, Literal, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model
from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, Integer, Numeric, String, Table, Text
from sqlalchemy.dialects.postgresql import CIDR, INET, JSONB, UUID

from ispops.db import checks
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


def python_type(table: str, column: Column[Any], *, mode: str = "read") -> Any:
    """The pydantic type of a column's value (without optionality).

    ``mode`` is ``read`` (a row as stored), ``filter`` (a query parameter) or ``write`` (a request body).
    Filters and writes carry the database's named rules (ispops.db.checks), so the OpenAPI document states
    the bounds the database enforces; writes also refuse blank names and numbers. Reads stay as wide as
    the column: a row is shown as it is.
    """
    enum: type[StrEnum] | None = COLUMN_ENUMS.get((table, column.name))
    if enum is not None:
        return enum
    rule = checks.rule_for(table, column.name) if mode != "read" else None
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
    if isinstance(t, Integer):  # BigInteger too
        limit = INT64 if isinstance(t, BigInteger) else INT32
        return Annotated[int, Field(**_type_range(rule, ge=-limit, le=limit)), *_ranged(rule)]
    if isinstance(t, Numeric):
        digits = (t.precision or 30) - (t.scale or 0)
        bound = decimal.Decimal(10) ** digits
        return Annotated[
            decimal.Decimal,
            Field(**_type_range(rule, gt=-bound, lt=bound), decimal_places=t.scale, allow_inf_nan=False),
            *_ranged(rule),
        ]
    if isinstance(t, DateTime):
        return dt.datetime
    if isinstance(t, Date):
        return dt.date
    if isinstance(t, String | Text):
        length = t.length if isinstance(t, String) and not isinstance(t, Text) and t.length else 65535
        if rule is not None and rule.values is not None:
            return Literal[rule.values]
        text: dict[str, Any] = {"max_length": length}
        if rule is not None:
            if rule.max_length is not None:
                text["max_length"] = min(length, rule.max_length)
            if rule.min_length is not None:
                text["min_length"] = rule.min_length
            if (pattern := rule.json_pattern()) is not None:
                text["pattern"] = pattern
        if mode == "write" and is_name(column.name):
            text["pattern"] = _not_blank(text.get("pattern"))
        return Annotated[str, Field(**text), AfterValidator(_no_nul)]  # constraints first: in the schema
    raise TypeError(f"no API type for {table}.{column.name}: {t!r}")


def _type_range(rule: checks.Rule | None, **bounds: Any) -> dict[str, Any]:
    """The column type's range, less the sides the rule bounds more tightly (one bound per side)."""
    if rule is not None:
        if rule.ge is not None or rule.gt is not None:
            bounds = {k: v for k, v in bounds.items() if k not in ("ge", "gt")}
        if rule.le is not None or rule.lt is not None:
            bounds = {k: v for k, v in bounds.items() if k not in ("le", "lt")}
    return bounds


def _ranged(rule: checks.Rule | None) -> tuple[Any, ...]:
    """The rule's numeric bounds: checked with the rule's words ("must be between 1 and 28") and stated in the
    JSON schema (``minimum``/``maximum``/``exclusive…``), which then narrows the column type's range."""
    requirement = rule.range_requirement() if rule is not None else None
    if rule is None or requirement is None:
        return ()

    def check(value: Any) -> Any:
        if not rule.admits(value):
            raise ValueError(requirement)
        return value

    stated = {"minimum": rule.ge, "exclusiveMinimum": rule.gt, "maximum": rule.le, "exclusiveMaximum": rule.lt}
    return AfterValidator(check), Field(json_schema_extra={k: v for k, v in stated.items() if v is not None})


NOT_BLANK = r"\S"
_NAME_COLUMN = re.compile(r"^(?:name|\w+_name|\w*_number|\w*username|nasname|shortname)$")


def is_name(column: str) -> bool:
    """Names and numbers people type: never empty or only whitespace."""
    return _NAME_COLUMN.match(column) is not None


def _not_blank(pattern: str | None) -> str:
    """A pattern that also requires a character other than whitespace."""
    if pattern is None:
        return NOT_BLANK
    anything_but = re.fullmatch(r"\^\[\^(.+)\]\*\$", pattern)  # ^[^…]*$, from a forbidden class
    if anything_but:
        chars = anything_but.group(1)
        return f"^[^{chars}]*[^{chars}\\s][^{chars}]*$"
    return pattern  # the schema's other patterns are anchored and start with a visible character


# A name the database also keeps free of control characters (radcheck.username, pppoe_username).
VISIBLE_WITHOUT_CONTROL = _not_blank(checks.Rule(forbidden=checks.CONTROL_CHARACTERS).json_pattern())


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


def _write_schema(
    model: type[Base], suffix: str, exclude: Iterable[str], extra: dict[str, Any] | None, *, create: bool
) -> type[BaseModel]:
    """The body of a create (required: NOT NULL columns without a default) or update (nothing required)."""
    table = cast(Table, model.__table__)
    fields: dict[str, Any] = {}
    for column in writable_columns(model, exclude=exclude):
        typ = python_type(table.name, column, mode="write")
        required = create and not column.nullable and column.server_default is None
        fields[column.key] = (typ, ...) if required else ((typ | None) if column.nullable else typ, None)
    fields.update(extra or {})
    return create_model(_name(model, suffix), __base__=WriteBase, **fields)


def create_schema(
    model: type[Base], *, exclude: Iterable[str] = (), extra: dict[str, Any] | None = None
) -> type[BaseModel]:
    return _write_schema(model, "Create", exclude, extra, create=True)


def update_schema(
    model: type[Base], *, exclude: Iterable[str] = (), extra: dict[str, Any] | None = None
) -> type[BaseModel]:
    return _write_schema(model, "Update", exclude, extra, create=False)


def filter_type(table: str, column: Column[Any]) -> Any:
    """Type of an equality filter on ``column`` (a query parameter)."""
    return python_type(table, column, mode="filter")
