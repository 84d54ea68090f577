"""Lists of a resource for the console: the API's filters, search and sort keys, keyset pagination.

The rows are those ``GET /api/v1/<name>`` returns for the same filters (same tenant filter, same soft
delete rule, same ``q`` search, same sort keys), read with Core. Pages are keyset pages on (sort column,
key), so the 10,000th page costs what the first does; the count is capped (``COUNT_CAP``): no
``count(*)`` over a million rows on every page view.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Boolean, Column, ColumnElement, Select, Table, Text, and_, func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from ispops.api.crud import Resource, serialize_row
from ispops.api.schemas import filter_type, python_type
from ispops.models.enums import COLUMN_ENUMS

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = 50
COUNT_CAP = 1000
# Shown in a list when present, in this order, after the searched columns and before the rest.
PREFERRED = ("name", "status", "workflow_status", "email", "username", "serial_number", "subscriber_number")
TITLES = (
    "name",
    "subscriber_number",
    "serial_number",
    "email",
    "username",
    "nasname",
    "tunnel_name",
    "cable_name",
    "job_name",
)
ACRONYMS = {
    w.lower(): w
    for w in (
        "IP",
        "MAC",
        "PPPoE",
        "NAS",
        "ONU",
        "OLT",
        "PON",
        "CPE",
        "VLAN",
        "SNMP",
        "ID",
        "CIDR",
        "MTU",
        "URL",
        "VPN",
        "MFA",
        "TR069",
        "LOID",
        "GPS",
        "SSID",
        "API",
        "CoA",
        "NetBox",
        "IPv4",
        "IPv6",
    )
}
LABELS = {
    "active": "Online now",
    "started_after": "Started after",
    "started_before": "Started before",
    "acctstarttime": "Started",
    "acctstoptime": "Stopped",
    "acctupdatetime": "Last update",
    "acctsessionid": "Session id",
    "nasipaddress": "NAS address",
    "framedipaddress": "IP address",
    "radacctid": "ID",
}
SKIP_IN_LIST = frozenset({"tenant_id", "created_by", "updated_by", "deleted_at", "updated_at"})
MAX_LIST_COLUMNS = 7


def table_of(spec: Resource) -> Table:
    return cast(Table, spec.model.__table__)


def references(spec: Resource) -> frozenset[str]:
    """The read columns that point at another record (shown by that record's name)."""
    return frozenset(c.key for c in read_columns(spec) if c.foreign_keys and c.name != "tenant_id")


def read_columns(spec: Resource) -> list[Column[Any]]:
    """The columns a reader sees: the API's read schema (hidden ones left out)."""
    return [c for c in table_of(spec).columns if c.name not in spec.hidden]


def list_columns(spec: Resource) -> list[str]:
    """The few columns a list shows: a title column first (the link to the record), then names, statuses,
    what is filtered on, and the default sort column."""
    wanted = {*TITLES, *spec.search, *spec.filters}
    columns = [c for c in read_columns(spec) if c.name not in SKIP_IN_LIST and (c.name in wanted or not _is_blob(c))]
    names = [c.key for c in columns]
    title = next((n for n in (*TITLES, *spec.search) if n in names), spec.column(spec.key_column).key)
    chosen = [title]
    for name in (*PREFERRED, *spec.filters, *names):
        if name in names and name not in chosen and name != "id" and len(chosen) < MAX_LIST_COLUMNS - 1:
            chosen.append(name)
    sort_default = spec.default_sort.removeprefix("-")
    if sort_default in names and sort_default not in chosen:
        chosen.append(sort_default)
    return chosen


def _is_blob(column: Column[Any]) -> bool:
    """Documents and free text: too wide for a list unless searched or filtered on."""
    return isinstance(column.type, JSONB | Text)


def label(name: str, *, reference: bool = False) -> str:
    """A column's name for people: "download_mbps" -> "Download (Mbps)"; a ``reference`` shown by the name of
    the record it points at loses its "ID" ("customer_id" -> "Customer")."""
    if name in LABELS:
        return LABELS[name]
    words = name.split("_")
    if reference and len(words) > 1 and words[-1] == "id":
        words = words[:-1]
    units = {"mbps": "(Mbps)", "dbm": "(dBm)", "db": "(dB)", "km": "(km)", "meters": "(m)", "percent": "(%)"}
    out = [ACRONYMS.get(w, units.get(w, w)) if i or w not in units else w for i, w in enumerate(words)]
    text = " ".join(out)
    return text[:1].upper() + text[1:]


def enum_options(spec: Resource, name: str) -> list[tuple[str, str]] | None:
    """The allowed values of an enumerated column or a yes/no filter (for a select), or None."""
    table = table_of(spec)
    column = table.columns.get(name)
    if column is None:
        extra = spec.extra_query.get(name)
        if extra is not None and bool in getattr(extra[0], "__args__", (extra[0],)):
            return [("true", "yes"), ("false", "no")]
        return None
    enum = COLUMN_ENUMS.get((table.name, column.name))
    if enum is not None:
        return [(m.value, m.value) for m in enum]
    kind = python_type(table.name, column, mode="filter")
    values = getattr(kind, "__args__", None)
    if getattr(kind, "__origin__", None) is not None and values and all(isinstance(v, str) for v in values):
        return [(v, v) for v in values]  # Literal[...] from a CHECK ... IN list
    if isinstance(column.type, Boolean):
        return [("true", "yes"), ("false", "no")]
    return None


@dataclass
class Filters:
    """The list's query, parsed: equality filters, text search, sort, page size and cursor."""

    values: dict[str, str] = field(default_factory=dict)
    clauses: list[ColumnElement[bool]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    q: str = ""
    sort: str = ""
    per_page: int = DEFAULT_PAGE_SIZE
    after: str | None = None
    before: str | None = None


def parse(spec: Resource, params: Mapping[str, str]) -> Filters:
    """Filters from a query string; a bad value is reported beside its field and not applied."""
    out = Filters()
    table = table_of(spec)
    for name in spec.filters:
        raw = (params.get(name) or "").strip()
        if not raw:
            continue
        out.values[name] = raw
        column = table.columns.get(name)
        if column is None:
            continue
        try:
            value = TypeAdapter(filter_type(table.name, column)).validate_python(raw)
        except ValidationError as exc:
            out.errors[name] = exc.errors()[0].get("msg", "invalid value")
            continue
        out.clauses.append(spec.column(name) == value)
    extra: dict[str, Any] = {}
    for name, (kind, default) in spec.extra_query.items():  # the API's own extra filters (radacct: active)
        raw = (params.get(name) or "").strip()
        extra[name] = default
        if not raw:
            continue
        out.values[name] = raw
        try:
            extra[name] = TypeAdapter(kind).validate_python(raw)
        except ValidationError as exc:
            out.errors[name] = exc.errors()[0].get("msg", "invalid value")
    if spec.extra_filters is not None:
        out.clauses.extend(spec.extra_filters(spec.model, cast(Any, SimpleNamespace(**extra))))
    q = (params.get("q") or "").strip()[:100]
    if q and spec.searchable:
        out.q = q
        out.clauses.append(spec.search_clause(q))
    sort = params.get("sort") or spec.default_sort
    out.sort = sort if sort.removeprefix("-") in spec.sort else spec.default_sort
    try:
        out.per_page = int(params.get("per_page") or DEFAULT_PAGE_SIZE)
    except ValueError:
        out.per_page = DEFAULT_PAGE_SIZE
    if out.per_page not in PAGE_SIZES:
        out.per_page = DEFAULT_PAGE_SIZE
    out.after = params.get("after") or None
    out.before = None if out.after else (params.get("before") or None)
    return out


def base(spec: Resource, tenant_id: str, filters: Filters) -> Select[Any]:
    """The filtered rows (every read column), not yet ordered: the list's and the CSV export's query."""
    table = table_of(spec)
    stmt = select(*read_columns(spec)).where(table.c.tenant_id == tenant_id)
    if spec.soft_delete:
        stmt = stmt.where(table.c.deleted_at.is_(None))
    for clause in filters.clauses:
        stmt = stmt.where(clause)
    return stmt


def ordering(spec: Resource, sort: str, *, reverse: bool = False) -> list[Any]:
    """ORDER BY of a sort key, as the API orders (nulls last, then the key); ``reverse`` for the page before."""
    desc = sort.startswith("-") != reverse
    col = spec.column(sort.removeprefix("-"))
    key = spec.column(spec.key_column)
    nulls_last = not reverse
    first = col.desc() if desc else col.asc()
    first = first.nulls_last() if nulls_last else first.nulls_first()
    return [first, key.desc() if desc else key.asc()]


def _encode(values: Sequence[Any]) -> str:
    def plain(v: Any) -> Any:
        if isinstance(v, dt.datetime | dt.date):
            return v.isoformat()
        if isinstance(v, uuid.UUID | decimal.Decimal):
            return str(v)
        return v

    raw = json.dumps([plain(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(spec: Resource, sort_name: str, cursor: str) -> tuple[Any, Any] | None:
    """(sort value, key) of a cursor, typed as the columns are; None when it is not one of ours."""
    table = table_of(spec)
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        value, key = raw
        col = table.columns[spec.column(sort_name).key]
        keycol = table.columns[spec.column(spec.key_column).key]
        typed = None if value is None else TypeAdapter(python_type(table.name, col)).validate_python(value)
        return typed, TypeAdapter(python_type(table.name, keycol)).validate_python(key)
    except (ValueError, TypeError, KeyError, binascii.Error, ValidationError):
        return None


def _beyond(spec: Resource, sort: str, cursor: tuple[Any, Any], *, after: bool) -> ColumnElement[bool]:
    """Rows after (or before) the cursor row in the list's order (nulls last, then the key)."""
    desc = sort.startswith("-")
    col = spec.column(sort.removeprefix("-"))
    key = spec.column(spec.key_column)
    value, k = cursor
    forward = after != desc  # ascending and after, or descending and before: larger values

    def past(a: Any, b: Any) -> ColumnElement[bool]:
        return cast(ColumnElement[bool], a > b if forward else a < b)

    nullable = getattr(getattr(col, "expression", col), "nullable", True)
    if not nullable and value is not None:  # a row comparison: an index range, however deep the page
        row, at = tuple_(col, key), tuple_(value, k)
        return row > at if forward else row < at
    if after:
        if value is None:
            return and_(col.is_(None), past(key, k))
        return or_(past(col, value), and_(col == value, past(key, k)), col.is_(None))
    if value is None:
        return or_(col.is_not(None), and_(col.is_(None), past(key, k)))
    return or_(past(col, value), and_(col == value, past(key, k)))


@dataclass
class Page:
    rows: list[dict[str, Any]]
    count: int
    capped: bool
    next_cursor: str | None
    prev_cursor: str | None


async def fetch(session: AsyncSession, spec: Resource, tenant_id: str, filters: Filters) -> Page:
    """One page of the list, its neighbours' cursors and the (capped) number of matching rows."""
    stmt = base(spec, tenant_id, filters)
    counting = stmt
    sort_name = filters.sort.removeprefix("-")
    cursor_text = filters.after or filters.before
    cursor = _decode(spec, sort_name, cursor_text) if cursor_text else None
    backwards = cursor is not None and filters.before is not None
    if cursor is not None:
        stmt = stmt.where(_beyond(spec, filters.sort, cursor, after=not backwards))
    stmt = stmt.order_by(*ordering(spec, filters.sort, reverse=backwards)).limit(filters.per_page + 1)
    found = [dict(r._mapping) for r in (await session.execute(stmt)).all()]
    more = len(found) > filters.per_page
    rows = found[: filters.per_page]
    if backwards:
        rows.reverse()
    if cursor is None and not more:
        count = len(rows)  # everything is on this one page: no second query
    else:
        counted = await session.scalar(select(func.count()).select_from(counting.limit(COUNT_CAP + 1).subquery()))
        count = int(counted or 0)
    sort_key = spec.column(sort_name).key
    key_key = spec.column(spec.key_column).key

    def cursor_of(row: dict[str, Any]) -> str:
        return _encode([row.get(sort_key), row.get(key_key)])

    has_next = more if not backwards else True
    has_prev = (cursor is not None) if not backwards else more
    return Page(
        rows=rows,
        count=count,
        capped=count > COUNT_CAP,
        next_cursor=cursor_of(rows[-1]) if rows and has_next else None,
        prev_cursor=cursor_of(rows[0]) if rows and has_prev else None,
    )


def shown(spec: Resource, row: dict[str, Any]) -> dict[str, Any]:
    """A row as a reader may see it (the resource's own masking: ``Resource.serialize``)."""
    table = table_of(spec)
    by_name = {table.columns[k].name if k in table.columns else k: v for k, v in row.items()}
    masked = serialize_row(spec, by_name)
    return {(c.key): masked.get(c.name) for c in read_columns(spec) if c.name in masked}


def display(value: Any) -> str:
    """A value as text in a table cell or on a detail page (times in UTC, to the minute)."""
    if isinstance(value, dt.datetime):
        moment = value.astimezone(dt.UTC) if value.tzinfo else value
        return moment.strftime("%Y-%m-%d %H:%M")
    return csv_value(value)


def csv_value(value: Any) -> str:
    """A value as a CSV field (times in full ISO 8601)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, separators=(", ", ": "))
    return str(value)
