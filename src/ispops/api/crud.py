"""One set of REST routes per resource: list, get, create, partial update, (soft) delete.

Conventions shared by every resource: ``/api/v1/<plural>``; list with equality filters on the fields
people search by, ``q`` for text search where the resource says what it searches, ``sort`` (``-field``
for descending), ``limit``/``offset`` and the ``total``; ``PATCH`` for partial updates; ``DELETE``
soft-deletes where the table has ``deleted_at``; ``include_deleted=true`` for tenant admins. Every query
filters on the caller's tenant explicitly, on top of row-level security; another tenant's object is a
404. Every change writes an audit event in the same transaction.

(No ``from __future__ import annotations`` here: the route functions are built at runtime and FastAPI
reads their annotations, which refer to per-resource classes.)
"""

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar, cast

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlalchemy import ColumnElement, Select, Table, bindparam, func, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.ext.asyncio import AsyncSession

from ispops.api import permissions, references
from ispops.api.schemas import INT64, Str, create_schema, filter_type, read_schema, update_schema
from ispops.auth.deps import Scope, TenantScope
from ispops.errors import NotFound, PermissionDenied, ValidationFailed
from ispops.models.base import Base

T = TypeVar("T")
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="rows matching the filters, across all pages")
    limit: int
    offset: int


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0, le=10_000_000)
    sort: str | None = Field(None, max_length=64, description="field, or -field for descending")
    include_deleted: bool = Field(False, description="also soft-deleted rows (tenant admins only)")


class SearchQuery(ListQuery):
    """A list that offers text search (only resources that say what ``q`` searches: ``Resource.search``)."""

    q: Str | None = Field(None, min_length=1, max_length=100, description="text search")


# Makes the row for a POST (session, tenant id, body): validation, defaults, rows of the domain's own.
CreateHook = Callable[[AsyncSession, str, BaseModel], Awaitable[Base]]
# More of the text search: (model, LIKE pattern) -> a condition OR-ed with the searched columns.
SearchWith = Callable[[Any, str], ColumnElement[bool]]
ExtraFilters = Callable[[Any, BaseModel], Sequence[ColumnElement[bool]]]
# Runs on a row about to be written, before the flush (session, tenant id, row, the fields a PATCH changes
# or None for a POST): the domain's derived columns and rules that need the database; raise to refuse.
BeforeWrite = Callable[[AsyncSession, str, Any, frozenset[str] | None], Awaitable[None]]


@dataclass
class Resource:
    """How one table is exposed. Everything not said here comes from the model's columns."""

    name: str
    model: type[Base]
    filters: tuple[str, ...] = ()
    # What ``q`` searches (case-insensitive substring); a list without either does not offer ``q``.
    search: tuple[str, ...] = ()
    search_with: SearchWith | None = None
    sort: tuple[str, ...] = ("created_at",)
    default_sort: str = "-created_at"
    hidden: frozenset[str] = frozenset()
    read_only: frozenset[str] = frozenset()
    create_only: frozenset[str] = frozenset()
    limited_update: dict[str, frozenset[str]] = field(default_factory=dict)
    verbs: frozenset[str] = frozenset({"list", "get", "create", "update", "delete"})
    create_hook: CreateHook | None = None
    # Called with the row and the requested changes before they are applied; raise to refuse.
    update_check: Callable[[Any, dict[str, Any]], None] | None = None
    before_write: BeforeWrite | None = None
    # Adjusts a row ({column: value}) before it becomes the response, e.g. to mask a value.
    serialize: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    create_extra: dict[str, Any] = field(default_factory=dict)
    update_extra: dict[str, Any] = field(default_factory=dict)
    extra_query: dict[str, Any] = field(default_factory=dict)
    extra_filters: ExtraFilters | None = None
    key_type: type = uuid.UUID
    key_column: str = "id"
    tag: str = ""
    # Write-only credential columns (hidden from reads) that ``POST /api/v1/<name>/{id}/reveal-secret``
    # shows (ispops.api.reveal).
    reveal: tuple[str, ...] = ()
    # The schemas, made from the model when the resource is declared, so that a domain's own routes can
    # answer with them whatever order the routes are registered in.
    read_model: type[BaseModel] = field(init=False)
    create_model: type[BaseModel] = field(init=False)
    update_model: type[BaseModel] = field(init=False)

    def __post_init__(self) -> None:
        not_writable = self.hidden | self.read_only
        self.read_model = read_schema(self.model, hidden=self.hidden)
        self.create_model = create_schema(self.model, exclude=not_writable, extra=self.create_extra)
        self.update_model = update_schema(self.model, exclude=not_writable | self.create_only, extra=self.update_extra)

    @property
    def soft_delete(self) -> bool:
        return "deleted_at" in self.model.__table__.columns

    def column(self, name: str) -> Any:
        return getattr(self.model, name)

    @property
    def searchable(self) -> bool:
        return bool(self.search) or self.search_with is not None

    def search_clause(self, text: str) -> ColumnElement[bool]:
        pattern = _like(text)
        clauses = [_as_text(self.column(f)).ilike(pattern, escape="\\") for f in self.search]
        if self.search_with is not None:
            clauses.append(self.search_with(self.model, pattern))
        return or_(*clauses)


def _as_text(column: Any) -> Any:
    """A column as the text people type: an address without its /32."""
    return func.host(column) if isinstance(column.type, INET) else column


def _not_found(spec: Resource) -> NotFound:
    return NotFound(f"{spec.name}: no such record", table=spec.name)


def base_query(spec: Resource, tenant_id: str, *, include_deleted: bool = False) -> Select[Any]:
    stmt = select(spec.model).where(spec.column("tenant_id") == tenant_id)
    if spec.soft_delete and not include_deleted:
        stmt = stmt.where(spec.column("deleted_at").is_(None))
    return stmt


async def load(
    session: AsyncSession,
    spec: Resource,
    tenant_id: str,
    key: Any,
    *,
    include_deleted: bool = False,
    for_update: bool = False,
) -> Any:
    stmt = base_query(spec, tenant_id, include_deleted=include_deleted).where(spec.column(spec.key_column) == key)
    if for_update:
        stmt = stmt.with_for_update()
    obj = (await session.scalars(stmt)).first()
    if obj is None:
        raise _not_found(spec)
    return obj


def _order(spec: Resource, sort: str | None) -> list[Any]:
    raw = sort or spec.default_sort
    desc = raw.startswith("-")
    name = raw.removeprefix("-")
    if name not in spec.sort:
        raise ValidationFailed(f"sort: one of {', '.join(spec.sort)} (prefix - for descending)", field="sort")
    col = spec.column(name)
    key = spec.column(spec.key_column)
    return [col.desc().nulls_last() if desc else col.asc().nulls_last(), key.desc() if desc else key.asc()]


def row_of(obj: Any) -> dict[str, Any]:
    """An ORM object as {column name: value} (column names, not attribute names: radacct.class)."""
    mapper = sa_inspect(obj).mapper
    return {attr.columns[0].name: getattr(obj, attr.key) for attr in mapper.column_attrs}


def serialize_row(spec: Resource, row: dict[str, Any]) -> dict[str, Any]:
    return spec.serialize(row) if spec.serialize is not None else row


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def write_audit(
    session: AsyncSession, spec: Resource, scope: TenantScope, obj: Any, action: str, changes: dict[str, Any]
) -> None:
    scope.audit(session, spec.name, getattr(obj, spec.key_column), action, changes)


def build(router: APIRouter, spec: Resource) -> None:
    """Register the resource's routes on ``router``."""
    table = cast(Table, spec.model.__table__)
    Read: Any = spec.read_model
    PageOf: Any = Page[Read]
    filter_fields: dict[str, Any] = {
        name: (filter_type(table.name, table.columns[name]) | None, None) for name in spec.filters
    }
    filter_fields.update(spec.extra_query)
    # The sort keys this list knows, stated in the document (a str with an enum: _order words the refusal).
    sorts: list[Any] = [k for name in spec.sort for k in (name, f"-{name}")]
    filter_fields["sort"] = (
        str | None,
        Field(None, max_length=64, description="field, or -field for descending", json_schema_extra={"enum": sorts}),
    )
    query_base: type[ListQuery] = SearchQuery if spec.searchable else ListQuery
    Query_: Any = create_model(
        "".join(p.capitalize() for p in spec.name.split("_")) + "Query", __base__=query_base, **filter_fields
    )
    Create: Any = spec.create_model
    Update: Any = spec.update_model
    # Who may still use a row of this table, and which references its rows make: from the foreign keys,
    # once, at start-up (ispops.api.references).
    users = references.users_of(table)
    references.parent_checks(table)
    tags: list[str | Any] = [spec.tag or spec.name]
    path = f"/api/v1/{spec.name}"
    # An integer key is a bigint: say so, so that a larger number is refused as input, not by the database.
    key_path = (
        Path(description="the record's id", ge=-INT64, le=INT64)
        if spec.key_type is int
        else Path(description="the record's id")
    )
    Key: Any = Annotated[spec.key_type, key_path]

    def to_read(obj: Any) -> Any:
        return Read.model_validate(serialize_row(spec, row_of(obj)))

    if "list" in spec.verbs:

        async def list_items(params: Annotated[Query_, Query()], scope: Scope) -> Any:
            permissions.require(scope.principal, spec.name, "read")
            if params.include_deleted:
                permissions.require(scope.principal, spec.name, "include_deleted")
            stmt = base_query(spec, scope.tenant_id, include_deleted=params.include_deleted)
            for name in spec.filters:
                value = getattr(params, name)
                if value is not None:
                    stmt = stmt.where(spec.column(name) == value)
            if spec.extra_filters is not None:
                for clause in spec.extra_filters(spec.model, params):
                    stmt = stmt.where(clause)
            text = getattr(params, "q", None)  # only a searchable resource's query has q
            if text:
                stmt = stmt.where(spec.search_clause(text))
            order = _order(spec, params.sort)
            async with scope.session() as s:
                total = await s.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
                rows = (await s.scalars(stmt.order_by(*order).limit(params.limit).offset(params.offset))).all()
                items = [to_read(r) for r in rows]
            return PageOf(items=items, total=int(total or 0), limit=params.limit, offset=params.offset)

        router.add_api_route(
            path,
            list_items,
            methods=["GET"],
            response_model=PageOf,
            tags=tags,
            summary=f"List {spec.name.replace('_', ' ')}",
            operation_id=f"list_{spec.name}",
        )

    if "get" in spec.verbs:
        get_any = select(*table.columns).where(
            table.c.tenant_id == bindparam("tenant"), table.c[spec.key_column] == bindparam("key")
        )
        get_live = get_any.where(table.c.deleted_at.is_(None)) if spec.soft_delete else get_any

        async def get_item(
            key: Key,
            scope: Scope,
            include_deleted: Annotated[bool, Query(description="tenant admins only")] = False,
        ) -> Any:
            permissions.require(scope.principal, spec.name, "read")
            if include_deleted:
                permissions.require(scope.principal, spec.name, "include_deleted")
            # The hot read path: Core, not the ORM, a statement built once, and the JSON written directly
            # (no second validation of the response).
            stmt = get_any if include_deleted else get_live
            params = {"tenant": scope.tenant_id, "key": key}
            async with scope.connection() as conn:
                row = (await conn.execute(stmt, params)).mappings().first()
            if row is None:
                raise _not_found(spec)
            body = Read.model_validate(serialize_row(spec, dict(row))).model_dump_json()
            return Response(content=body, media_type="application/json")

        router.add_api_route(
            f"{path}/{{key}}",
            get_item,
            methods=["GET"],
            response_model=Read,
            tags=tags,
            summary=f"Get one of {spec.name.replace('_', ' ')}",
            operation_id=f"get_{spec.name}",
            responses={404: {"description": "not found (or another tenant's)"}},
        )

    if "create" in spec.verbs:

        async def create_item(body: Create, scope: Scope) -> Any:
            permissions.require(scope.principal, spec.name, "create")
            async with scope.session() as s:
                await references.require_live_parents(s, table, scope.tenant_id, body.model_dump(exclude_unset=True))
                if spec.create_hook is not None:
                    obj = await spec.create_hook(s, scope.tenant_id, body)
                else:
                    obj = spec.model(**body.model_dump(exclude_unset=True), tenant_id=scope.tenant_id)
                    s.add(obj)
                if spec.before_write is not None:
                    await spec.before_write(s, scope.tenant_id, obj, None)
                await s.flush()
                await s.refresh(obj)
                data = body.model_dump(exclude_unset=True)
                await write_audit(s, spec, scope, obj, "create", data)
                return to_read(obj)

        router.add_api_route(
            path,
            create_item,
            methods=["POST"],
            response_model=Read,
            status_code=201,
            tags=tags,
            summary=f"Create one of {spec.name.replace('_', ' ')}",
            operation_id=f"create_{spec.name}",
            responses={
                409: {"description": "duplicate or quota exceeded"},
                422: {"description": "invalid input, or a reference to a missing or deleted record"},
            },
        )

    if "update" in spec.verbs:

        async def update_item(key: Key, body: Update, scope: Scope) -> Any:
            data = body.model_dump(exclude_unset=True)
            principal = scope.principal
            if not permissions.allowed(principal, spec.name, "update"):
                limited = [a for a in spec.limited_update if permissions.allowed(principal, spec.name, a)]
                if not limited:
                    raise PermissionDenied(f"your role may not update {spec.name}")
                fields = frozenset().union(*(spec.limited_update[a] for a in limited))
                outside = sorted(set(data) - fields)
                if outside:
                    raise PermissionDenied(
                        f"your role may only change {', '.join(sorted(fields))} of {spec.name}", field=outside[0]
                    )
            async with scope.session() as s:
                obj = await load(s, spec, scope.tenant_id, key, for_update=True)
                if spec.update_check is not None:
                    spec.update_check(obj, data)
                changes = {k: [getattr(obj, k), v] for k, v in data.items() if getattr(obj, k) != v}
                await references.require_live_parents(
                    s, table, scope.tenant_id, {k: new for k, (_, new) in changes.items()}
                )
                for k, v in data.items():
                    setattr(obj, k, v)
                if spec.before_write is not None and changes:
                    await spec.before_write(s, scope.tenant_id, obj, frozenset(changes))
                await s.flush()
                await s.refresh(obj)
                if changes:
                    await write_audit(s, spec, scope, obj, "update", changes)
                return to_read(obj)

        router.add_api_route(
            f"{path}/{{key}}",
            update_item,
            methods=["PATCH"],
            response_model=Read,
            tags=tags,
            summary=f"Change some fields of one of {spec.name.replace('_', ' ')}",
            operation_id=f"update_{spec.name}",
        )

    if "delete" in spec.verbs:

        async def delete_item(key: Key, scope: Scope) -> Response:
            permissions.require(scope.principal, spec.name, "delete")
            async with scope.session() as s:
                obj = await load(s, spec, scope.tenant_id, key, for_update=True)  # locked before counting its users
                if spec.soft_delete:
                    await users.refuse_if_used(s, row_of(obj))
                    obj.deleted_at = dt.datetime.now(dt.UTC)
                else:
                    await s.delete(obj)
                await s.flush()
                await write_audit(s, spec, scope, obj, "delete", {})
            return Response(status_code=204)

        router.add_api_route(
            f"{path}/{{key}}",
            delete_item,
            methods=["DELETE"],
            status_code=204,
            tags=tags,
            summary=f"Delete one of {spec.name.replace('_', ' ')}",
            operation_id=f"delete_{spec.name}",
            response_class=Response,
            responses={409: {"description": "still used by live records (code in_use; used_by counts them)"}},
        )
