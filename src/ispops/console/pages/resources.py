"""Generic list, detail, create, edit and delete pages for every resource of the API (``ispops.app.RESOURCES``).

``/console/r/{name}`` lists (search, filters, sort, keyset pages, CSV export of what is filtered),
``/console/r/{name}/{key}`` shows one record, ``.../edit`` and ``/console/r/{name}/new`` change them. Writes go
through the API's own route functions (``ispops.api.crud.build``) on the request's unit of work, in a
savepoint: the same validation, hooks, reference checks and audit events as ``POST``/``PATCH``/``DELETE
/api/v1/<name>``, and a refused write leaves nothing behind.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from sqlalchemy import select

from ispops.api import crud
from ispops.api.crud import Resource
from ispops.console import forms, listing, render
from ispops.console.context import Console, ConsoleDep
from ispops.console.nav import NavItem
from ispops.db.session import translated_errors
from ispops.errors import IspopsError, NotFound, PermissionDenied

router = APIRouter()
NAV: list[NavItem] = []
SPECS: dict[str, Resource] = {}
SECTIONS: dict[str, str] = {
    "users": "Administration",
    "audit_events": "Administration",
    "customers": "Subscribers",
    "subscribers": "Subscribers",
    "bandwidth_profiles": "Subscribers",
    "subscriber_usage_daily": "Subscribers",
    "subscriber_plan_history": "Subscribers",
    "service_activations": "Subscribers",
    "billing_cycles": "Subscribers",
    "billing_pushes": "Subscribers",
    "ip_pools": "IP addresses",
    "ip_allocations": "IP addresses",
    "devices": "Devices",
    "vpn_tunnels": "Devices",
}
PREFIX_SECTIONS = (
    ("rad", "RADIUS"),
    ("nas", "RADIUS"),
    ("olt", "FTTH"),
    ("onu", "FTTH"),
    ("splitter", "FTTH"),
    ("fiber", "FTTH"),
    ("wireless", "Wireless"),
    ("ansible", "Automation"),
    ("automation", "Automation"),
    ("netbox", "Automation"),
)
TITLES = {
    "nas": "NAS",
    "radcheck": "RADIUS check items",
    "radreply": "RADIUS reply items",
    "radacct": "RADIUS sessions",
    "radius_coa_attempts": "CoA attempts",
    "ip_pools": "IP pools",
    "ip_allocations": "IP allocations",
    "olts": "OLTs",
    "olt_pon_ports": "PON ports",
    "onus": "ONUs",
    "vpn_tunnels": "VPN tunnels",
    "subscriber_usage_daily": "Daily usage",
    "service_activations": "Orders",
    "wireless_cpe_readings": "CPE readings",
    "wireless_cpe_alarms": "CPE alarms",
    "ansible_jobs": "Automation jobs",
    "netbox_syncs": "NetBox syncs",
    "netbox_mappings": "NetBox mappings",
}


# Records with a page of their own (another area's): the list links there instead of the generic page.
DETAIL_PAGES = {"subscribers": "/console/subscribers/{key}"}


def detail_url(name: str, key: object) -> str:
    return DETAIL_PAGES.get(name, "/console/r/" + name + "/{key}").format(key=key)


def section_of(name: str) -> str:
    if name in SECTIONS:
        return SECTIONS[name]
    return next((section for prefix, section in PREFIX_SECTIONS if name.startswith(prefix)), "Records")


def title_of(name: str) -> str:
    return TITLES.get(name) or listing.label(name)


def configure(specs: Sequence[Resource]) -> None:
    """Register the application's resources (called by ``ispops.console.app.mount``)."""
    for spec in specs:
        SPECS[spec.name] = spec
    NAV[:] = [
        NavItem(title_of(spec.name), f"/console/r/{spec.name}", spec.name, "read", section_of(spec.name))
        for spec in sorted(specs, key=lambda s: section_of(s.name))
        if "list" in spec.verbs
    ]


# The API's own route functions of each resource, built once on first use.
_ENDPOINTS: dict[str, dict[str, Callable[..., Awaitable[Any]]]] = {}


def endpoint(spec: Resource, verb: str) -> Callable[..., Awaitable[Any]]:
    if spec.name not in _ENDPOINTS:
        api = APIRouter()
        crud.build(api, spec)
        found = {}
        for route in api.routes:
            if isinstance(route, APIRoute) and route.operation_id:
                found[route.operation_id.removesuffix(f"_{spec.name}")] = route.endpoint
        _ENDPOINTS[spec.name] = found
    return _ENDPOINTS[spec.name][verb]


def _spec(con: Console, name: str, verb: str) -> Resource:
    """The resource, if the role may ``verb`` it; another name is the 404 page."""
    spec = SPECS.get(name)
    if spec is None or ("list" not in spec.verbs and verb == "read"):
        raise NotFound("no such page")
    con.require(name, verb)
    return spec


def _key(spec: Resource, raw: str) -> Any:
    try:
        return spec.key_type(raw)
    except (ValueError, TypeError):
        raise NotFound(f"{spec.name}: no such record", table=spec.name) from None


async def _load(con: Console, spec: Resource, key: Any) -> dict[str, Any]:
    table = listing.table_of(spec)
    stmt = listing.base(spec, con.tenant_id, listing.Filters()).where(table.c[spec.key_column] == key)
    row = (await con.session.execute(stmt)).first()
    if row is None:
        raise NotFound(f"{spec.name}: no such record", table=spec.name)
    return dict(row._mapping)


def _list_context(con: Console, spec: Resource, filters: listing.Filters) -> dict[str, Any]:
    refs = listing.references(spec)
    columns = [(name, listing.label(name, reference=name in refs)) for name in listing.list_columns(spec)]
    controls = [
        forms.Control(name, listing.label(name), "select" if opts else "text", options=opts)
        for name in (*spec.filters, *spec.extra_query)
        for opts in [listing.enum_options(spec, name)]
    ]
    return {"spec": spec, "title": title_of(spec.name), "columns": columns, "filters": filters, "controls": controls}


@router.get("/console/r")
async def index(con: ConsoleDep) -> Response:
    items = [item for item in NAV if con.can(item.resource, "read")]
    return render.page(con, "resources/index.html", title="All records", items=items)


@router.get("/console/r/{name}")
async def list_page(con: ConsoleDep, name: str) -> Response:
    spec = _spec(con, name, "read")
    filters = listing.parse(spec, con.request.query_params)
    page = await listing.fetch(con.session, spec, con.tenant_id, filters)
    key_name = spec.column(spec.key_column).key
    shown_rows = [listing.shown(spec, row) for row in page.rows]
    refs = await _references(con, spec, shown_rows, listing.list_columns(spec))
    rows = [
        {
            "key": row[key_name],
            "href": detail_url(spec.name, row[key_name]),
            "cells": {k: listing.display(v) for k, v in shown.items()},
            "refs": {k: refs[(k, str(v))] for k, v in shown.items() if (k, str(v)) in refs},
        }
        for row, shown in zip(page.rows, shown_rows, strict=True)
    ]
    request = con.request
    pager = {
        "first_url": render.query_string(request, after=None, before=None) if page.prev_cursor else None,
        "prev_url": render.query_string(request, before=page.prev_cursor, after=None) if page.prev_cursor else None,
        "next_url": render.query_string(request, after=page.next_cursor, before=None) if page.next_cursor else None,
        "summary": f"more than {listing.COUNT_CAP:,} records" if page.capped else f"{page.count:,} records",
    }
    export = f"/console/r/{spec.name}/export.csv" + render.query_string(request, after=None, before=None)
    return render.page(
        con,
        "resources/list.html",
        **_list_context(con, spec, filters),
        rows=rows,
        page=pager,
        export_url=export.removesuffix("?"),
        can_create="create" in spec.verbs and con.can(spec.name, "create"),
    )


@router.get("/console/r/{name}/export.csv")
async def export(con: ConsoleDep, name: str) -> Response:
    """Every row the list's filters match, as CSV, streamed in its own unit of work."""
    spec = _spec(con, name, "read")
    filters = listing.parse(spec, con.request.query_params)
    stmt = listing.base(spec, con.tenant_id, filters).order_by(*listing.ordering(spec, filters.sort))
    names = [c.key for c in listing.read_columns(spec)]
    db, tenant_id, user_id = con.db, con.tenant_id, con.principal.id

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(names)
        async with db.tenant(tenant_id, user_id=user_id) as session:
            result = await session.stream(stmt.execution_options(yield_per=2000))
            async for chunk in result.partitions(2000):
                for row in chunk:
                    shown = listing.shown(spec, dict(row._mapping))
                    writer.writerow([listing.csv_value(shown.get(n)) for n in names])
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    headers = {"Content-Disposition": f'attachment; filename="{spec.name}.csv"', "Cache-Control": "no-store"}
    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/console/r/{name}/new")
async def new_form(con: ConsoleDep, name: str) -> Response:
    spec = _writable(con, name, "create")
    items = forms.controls(spec, spec.create_model)
    return _form_page(con, spec, items, values={}, errors={}, record=None)


@router.post("/console/r/{name}/new")
async def create(con: ConsoleDep, name: str) -> Response:
    spec = _writable(con, name, "create")
    items = forms.controls(spec, spec.create_model)
    form = await _form(con.request)
    try:
        body = spec.create_model(**forms.body_of(form, items, creating=True))
        created = await _call(con, endpoint(spec, "create"), body=body, scope=con.scope())
    except (ValidationError, IspopsError, forms.FormError) as exc:
        return _form_page(con, spec, items, values=form, errors=_errors(exc), record=None, status_code=_status(exc))
    key = getattr(created, spec.column(spec.key_column).key)
    return render.flash(render.redirect(con, f"/console/r/{spec.name}/{key}"), f"{title_of(spec.name)}: created.")


@router.get("/console/r/{name}/{key}")
async def detail(con: ConsoleDep, name: str, key: str) -> Response:
    spec = _spec(con, name, "read")
    row = await _load(con, spec, _key(spec, key))
    shown = listing.shown(spec, row)
    refs = await _references(con, spec, [shown], list(shown))
    fields = []
    for k, v in shown.items():
        ref = refs.get((k, str(v)))
        name = listing.label(k, reference=ref is not None)
        fields.append((k, name, ref[0] if ref else listing.display(v), ref[1] if ref else None))
    return render.page(
        con,
        "resources/detail.html",
        spec=spec,
        title=title_of(spec.name),
        record_key=key,
        record_title=_record_title(spec, shown),
        fields=fields,
        can_edit=forms.may_edit(spec, con.principal),
        can_delete="delete" in spec.verbs and con.can(spec.name, "delete"),
    )


@router.get("/console/r/{name}/{key}/edit")
async def edit_form(con: ConsoleDep, name: str, key: str) -> Response:
    spec, items = _editable(con, name)
    row = await _load(con, spec, _key(spec, key))
    values = {c.name: forms.form_value(row.get(c.name), c.kind) for c in items if c.kind != "password"}
    title = _record_title(spec, listing.shown(spec, row))
    return _form_page(con, spec, items, values=values, errors={}, record=key, record_title=title)


@router.post("/console/r/{name}/{key}/edit")
async def update(con: ConsoleDep, name: str, key: str) -> Response:
    spec, items = _editable(con, name)
    typed_key = _key(spec, key)
    current = await _load(con, spec, typed_key)
    form = await _form(con.request)
    try:
        parsed = spec.update_model(**forms.body_of(form, items, creating=False)).model_dump(exclude_unset=True)
        body = spec.update_model(**forms.changed(current, parsed))
        if body.model_fields_set:
            await _call(con, endpoint(spec, "update"), key=typed_key, body=body, scope=con.scope())
    except (ValidationError, IspopsError, forms.FormError) as exc:
        return _form_page(con, spec, items, values=form, errors=_errors(exc), record=key, status_code=_status(exc))
    message = "saved." if body.model_fields_set else "nothing changed."
    return render.flash(render.redirect(con, f"/console/r/{spec.name}/{key}"), f"{title_of(spec.name)}: {message}")


@router.post("/console/r/{name}/{key}/delete")
async def delete(con: ConsoleDep, name: str, key: str) -> Response:
    spec = _writable(con, name, "delete")
    typed_key = _key(spec, key)
    try:
        await _call(con, endpoint(spec, "delete"), key=typed_key, scope=con.scope())
    except IspopsError as exc:
        if exc.status in (403, 404):
            raise
        response = render.redirect(con, f"/console/r/{spec.name}/{key}")
        return render.flash(response, f"Not deleted: {exc.message}", "error")
    return render.flash(render.redirect(con, f"/console/r/{spec.name}"), f"{title_of(spec.name)}: deleted.")


# --- helpers ----------------------------------------------------------------------------------------


def _writable(con: Console, name: str, verb: str) -> Resource:
    spec = SPECS.get(name)
    if spec is None or verb not in spec.verbs:
        raise NotFound("no such page")
    con.require(name, verb)
    return spec


def _editable(con: Console, name: str) -> tuple[Resource, list[forms.Control]]:
    spec = SPECS.get(name)
    if spec is None or "update" not in spec.verbs:
        raise NotFound("no such page")
    only = forms.editable_fields(spec, con.principal)
    if only is not None and not only:
        raise PermissionDenied(f"your role may not update {spec.name}")
    return spec, forms.controls(spec, spec.update_model, only=only)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


async def _call(con: Console, fn: Callable[..., Awaitable[Any]], **kwargs: Any) -> Any:
    """Run one of the API's route functions on the request's unit of work (a savepoint: ``Console.scope``),
    with database errors typed as the API types them."""
    with translated_errors():
        return await fn(**kwargs)


def _errors(exc: Exception) -> dict[str, str]:
    if isinstance(exc, forms.FormError):
        return exc.errors
    if isinstance(exc, IspopsError) and exc.status in (403, 404) and exc.field is None:
        raise exc
    return render.form_errors(exc)


def _status(exc: Exception) -> int:
    return exc.status if isinstance(exc, IspopsError) else 422


def _form_page(
    con: Console,
    spec: Resource,
    items: list[forms.Control],
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    record: str | None,
    status_code: int = 200,
    record_title: str = "",
) -> Response:
    known = {c.name for c in items}
    stray = {k: v for k, v in errors.items() if k not in known and k != "__all__"}
    if stray:  # an error about a field the form does not show: say it at the top, with its name
        errors = dict(errors)
        errors["__all__"] = "; ".join(f"{k}: {v}" for k, v in stray.items())
    return render.page(
        con,
        "resources/form.html",
        status_code=status_code,
        spec=spec,
        title=title_of(spec.name),
        controls=items,
        values={k: v for k, v in values.items() if k in known},
        errors=errors,
        record_key=record,
        record_title=record_title,
        action=f"/console/r/{spec.name}/{record}/edit" if record else f"/console/r/{spec.name}/new",
    )


def _record_title(spec: Resource, shown: dict[str, Any]) -> str:
    first = listing.list_columns(spec)[0]
    return listing.display(shown.get(first)) or listing.display(shown.get(spec.key_column))


async def _references(
    con: Console, spec: Resource, rows: list[dict[str, Any]], columns: list[str]
) -> dict[tuple[str, str], tuple[str, str]]:
    """(column, value) -> (the referenced record's title, its page) for the reference columns shown, one query
    per referenced table (only tables the role may read)."""
    by_table = {s.model.__tablename__: s for s in SPECS.values()}
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for column in listing.read_columns(spec):
        if column.key not in columns or column.name == "tenant_id" or not column.foreign_keys:
            continue
        values = {row.get(column.key) for row in rows} - {None}  # reference keys: uuids and integers
        for fk in column.foreign_keys:
            target = by_table.get(fk.column.table.name)
            if target is None or not values or fk.column.name != target.key_column or not con.can(target.name, "read"):
                continue
            table = listing.table_of(target)
            title = table.columns[listing.list_columns(target)[0]]
            key = table.columns[target.key_column]
            found = await con.session.execute(
                select(key, title).where(table.c.tenant_id == con.tenant_id, key.in_(values))
            )
            for value, name in found.all():
                out[(column.key, str(value))] = (listing.display(name) or str(value), detail_url(target.name, value))
    return out
