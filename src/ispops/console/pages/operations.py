"""Operations: lifecycle orders, automation jobs with live output, webhooks and their delivery log, the
audit log, the tenant's users and settings — under ``/console/operations/``.

Reads of orders and jobs, and every action, go through the domains' own route functions on a savepoint
of the request's unit of work (``Console.scope()``): the same permission checks, services and audit events
as the API (``ispops.lifecycle.api``, ``ispops.automation.api``, ``ispops.tenancy.api``). The rest is read
by ``ispops.console.operations_data``. Live parts poll with htmx: an order's progress until it settles, a
job's output from the offset it has shown so far (``GET /api/v1/ansible_jobs/{id}/events``'s pattern).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import func, select

from ispops.api import permissions
from ispops.automation import api as automation_api
from ispops.console import operations_data as data
from ispops.console import render, subscriber_data
from ispops.console.context import Console, ConsoleDep
from ispops.console.nav import NavItem
from ispops.db.session import translated_errors
from ispops.errors import Conflict, IspopsError, NotFound, ValidationFailed
from ispops.lifecycle import api as lifecycle_api
from ispops.lifecycle.saga import FINISHED
from ispops.models import User
from ispops.models.automation import WorkflowStatus
from ispops.models.tenancy import UserRole
from ispops.tenancy import api as tenancy_api

router = APIRouter()
SECTION = "Operations"
ORDERS = lifecycle_api.PERMISSION  # the lifecycle orders' permission (read; create = submit, cancel, retry)
# Webhooks and events are for tenant admins (``ispops.events.api``, which checks the role itself: the matrix
# has no entry for them); the audit log's readers are that same set, unless the matrix gains its own entry.
WEBHOOKS = "webhook_endpoints" if "webhook_endpoints" in permissions.MATRIX else "audit_events"
NAV: list[NavItem] = [
    NavItem("Orders", "/console/operations/orders", ORDERS, section=SECTION),
    NavItem("Automation jobs", "/console/operations/jobs", "ansible_jobs", section=SECTION),
    NavItem("Webhooks", "/console/operations/webhooks", WEBHOOKS, section=SECTION),
    NavItem("Audit log", "/console/operations/audit", "audit_events", section=SECTION),
    NavItem("Users", "/console/operations/users", "users", section=SECTION),
    NavItem("Settings", "/console/operations/settings", "users", section=SECTION),
]
ORDER_TYPES = ("activate", "plan_change", "suspend", "resume", "terminate")
# Where an order's page stops polling: it ended, or it failed and waits for an engineer's retry.
SETTLED = frozenset({*FINISHED, WorkflowStatus.FAILED})
JOB_EVENTS_PER_POLL = 200
ROLES = [r.value for r in UserRole]


@dataclass
class Pager:
    """What ``_macros.pagination`` shows."""

    first_url: str | None
    prev_url: str | None
    next_url: str | None
    summary: str


def pager(request: Request, listing: data.Listing) -> Pager:
    def at(offset: int) -> str:
        params = {k: v for k, v in request.query_params.items() if k != "offset" and v}
        if offset:
            params["offset"] = str(offset)
        return request.url.path + ("?" + urlencode(params) if params else "")

    shown = len(listing.rows)
    total = f"more than {data.COUNT_CAP:,}" if listing.more_than_cap else f"{listing.total:,}"
    summary = f"{listing.offset + 1:,} to {listing.offset + shown:,} of {total}" if shown else "none"
    return Pager(
        first_url=at(0) if listing.offset > listing.limit else None,
        prev_url=at(max(0, listing.offset - listing.limit)) if listing.has_prev else None,
        next_url=at(listing.offset + listing.limit) if listing.has_next else None,
        summary=summary,
    )


def _offset(value: int) -> int:
    return max(0, min(value, 10_000_000))


@router.get("/console/operations")
async def operations_home(con: ConsoleDep) -> Response:
    for item in NAV:
        if con.can(item.resource, item.verb):
            return render.redirect(con, item.href)
    con.require(ORDERS, "read")  # nothing allowed: the 403 page
    raise AssertionError


# --- orders ---------------------------------------------------------------------------------------------


@router.get("/console/operations/orders")
async def orders_list(
    con: ConsoleDep,
    status: str = "",
    type: str = "",
    subscriber_id: str = "",
    offset: int = 0,
) -> Response:
    con.require(ORDERS, "read")
    errors: dict[str, str] = {}
    statuses = [s.value for s in WorkflowStatus]
    if status and status not in statuses:
        errors["status"] = "one of " + ", ".join(statuses)
    if type and type not in ORDER_TYPES:
        errors["type"] = "one of " + ", ".join(ORDER_TYPES)
    sub: uuid.UUID | None = None
    if subscriber_id:
        try:
            sub = uuid.UUID(subscriber_id)
        except ValueError:
            errors["subscriber_id"] = "not a subscriber id"
    rows: list[dict[str, Any]] = []
    listing = data.Listing([], 0, 0, data.PAGE)
    if not errors:
        page = await lifecycle_api.list_orders(
            con.scope(),
            subscriber_id=sub,
            status=WorkflowStatus(status) if status else None,
            type=type or None,  # type: ignore[arg-type]
            limit=data.PAGE,
            offset=_offset(offset),
        )
        numbers = await con.session.run_sync(
            lambda s: data.subscriber_numbers(s, con.tenant_id, [o.subscriber_id for o in page.items])
        )
        rows = [o.model_dump() | {"subscriber_number": numbers.get(o.subscriber_id)} for o in page.items]
        listing = data.Listing(rows, page.total, page.offset, page.limit)
    return render.page(
        con,
        "operations/orders.html",
        orders_resource=ORDERS,
        status_code=422 if errors else 200,
        title="Orders",
        rows=rows,
        pager=pager(con.request, listing),
        errors=errors,
        values={"status": status, "type": type, "subscriber_id": subscriber_id},
        statuses=statuses,
        types=ORDER_TYPES,
    )


async def _order(con: Console, order_id: uuid.UUID) -> Any:
    return await lifecycle_api.get_order(order_id, con.scope())


@router.get("/console/operations/orders/{order_id}")
async def order_detail(con: ConsoleDep, order_id: uuid.UUID) -> Response:
    con.require(ORDERS, "read")
    order = await _order(con, order_id)
    numbers = await con.session.run_sync(lambda s: data.subscriber_numbers(s, con.tenant_id, [order.subscriber_id]))
    return render.page(
        con,
        "operations/order.html",
        orders_resource=ORDERS,
        title=f"Order {order.type}",
        order=order,
        steps=data.step_log(order),
        settled=order.status in SETTLED,
        subscriber_number=numbers.get(order.subscriber_id),
    )


@router.get("/console/operations/orders/{order_id}/progress")
async def order_progress(con: ConsoleDep, order_id: uuid.UUID) -> Response:
    """The order's status and step log as a fragment that polls itself until the order settles."""
    con.require(ORDERS, "read")
    order = await _order(con, order_id)
    return render.fragment(
        con,
        "operations/_order_progress.html",
        order=order,
        steps=data.step_log(order),
        settled=order.status in SETTLED,
    )


async def _order_action(con: Console, order_id: uuid.UUID, action: str) -> Response:
    con.require(ORDERS, "create")
    response = render.redirect(con, f"/console/operations/orders/{order_id}")
    try:
        with translated_errors():
            if action == "cancel":
                await lifecycle_api.cancel_order(order_id, con.scope())
            else:
                await lifecycle_api.retry_order(order_id, con.scope())
    except Conflict as exc:
        return render.flash(response, exc.message, "error")
    return render.flash(response, "Cancel requested." if action == "cancel" else "The order runs again.")


@router.post("/console/operations/orders/{order_id}/cancel")
async def order_cancel(con: ConsoleDep, order_id: uuid.UUID) -> Response:
    return await _order_action(con, order_id, "cancel")


@router.post("/console/operations/orders/{order_id}/retry")
async def order_retry(con: ConsoleDep, order_id: uuid.UUID) -> Response:
    return await _order_action(con, order_id, "retry")


# --- automation jobs ------------------------------------------------------------------------------------


@router.get("/console/operations/jobs")
async def jobs_list(con: ConsoleDep, status: str = "", offset: int = 0) -> Response:
    con.require("ansible_jobs", "read")
    errors: dict[str, str] = {}
    listing = data.Listing([], 0, 0, data.PAGE)
    try:
        listing = await con.session.run_sync(
            lambda s: data.jobs(s, con.tenant_id, status=status, offset=_offset(offset))
        )
    except ValidationFailed as exc:
        errors = render.form_errors(exc)
    return render.page(
        con,
        "operations/jobs.html",
        status_code=422 if errors else 200,
        title="Automation jobs",
        rows=listing.rows,
        pager=pager(con.request, listing),
        errors=errors,
        values={"status": status},
        statuses=sorted(data.JOB_STATUSES),
    )


@router.get("/console/operations/jobs/{job_id}")
async def job_detail(con: ConsoleDep, job_id: uuid.UUID) -> Response:
    con.require("ansible_jobs", "read")
    job = await con.session.run_sync(lambda s: data.job(s, con.tenant_id, job_id))
    return render.page(con, "operations/job.html", title=f"Job {job['job_name']}", job=job)


@router.get("/console/operations/jobs/{job_id}/output")
async def job_output(con: ConsoleDep, job_id: uuid.UUID, offset: int = 0) -> Response:
    """The run's events from ``offset`` (the API's events page), as rows to append, and the poller for
    what comes next; once the run has finished and everything is shown, no poller."""
    page = await automation_api.job_events(job_id, con.scope(), offset=_offset(offset), limit=JOB_EVENTS_PER_POLL)
    return render.fragment(con, "operations/_job_output.html", job_id=job_id, page=page)


async def _job_action(con: Console, job_id: uuid.UUID, action: str) -> Response:
    con.require("ansible_jobs", "create")
    try:
        with translated_errors():
            if action == "cancel":
                job = await automation_api.cancel_job(job_id, con.scope())
            else:
                job = await automation_api.retry_job(job_id, con.scope())
    except Conflict as exc:
        return render.flash(render.redirect(con, f"/console/operations/jobs/{job_id}"), exc.message, "error")
    response = render.redirect(con, f"/console/operations/jobs/{job.id}")
    return render.flash(response, "Cancel requested." if action == "cancel" else "A new run was queued.")


@router.post("/console/operations/jobs/{job_id}/cancel")
async def job_cancel(con: ConsoleDep, job_id: uuid.UUID) -> Response:
    return await _job_action(con, job_id, "cancel")


@router.post("/console/operations/jobs/{job_id}/retry")
async def job_retry(con: ConsoleDep, job_id: uuid.UUID) -> Response:
    return await _job_action(con, job_id, "retry")


# --- webhooks -------------------------------------------------------------------------------------------


@router.get("/console/operations/webhooks")
async def webhooks(con: ConsoleDep) -> Response:
    con.require(WEBHOOKS, "read")
    rows = await con.session.run_sync(lambda s: data.endpoints(s, con.tenant_id))
    return render.page(con, "operations/webhooks.html", title="Webhooks", rows=rows)


@router.get("/console/operations/webhooks/{endpoint_id}")
async def webhook_detail(con: ConsoleDep, endpoint_id: uuid.UUID, status: str = "", offset: int = 0) -> Response:
    con.require(WEBHOOKS, "read")

    def run(s: Any) -> tuple[dict[str, Any], data.Listing]:
        endpoint = data.endpoint(s, con.tenant_id, endpoint_id)
        return endpoint, data.deliveries(s, con.tenant_id, endpoint_id, status=status, offset=_offset(offset))

    errors: dict[str, str] = {}
    try:
        endpoint, listing = await con.session.run_sync(run)
    except ValidationFailed as exc:
        errors = render.form_errors(exc)
        endpoint = await con.session.run_sync(lambda s: data.endpoint(s, con.tenant_id, endpoint_id))
        listing = data.Listing([], 0, 0, data.PAGE)
    return render.page(
        con,
        "operations/webhook.html",
        status_code=422 if errors else 200,
        title="Webhook deliveries",
        endpoint=endpoint,
        rows=listing.rows,
        pager=pager(con.request, listing),
        errors=errors,
        values={"status": status},
        statuses=sorted(data.DELIVERY_STATUSES),
    )


# --- audit log ------------------------------------------------------------------------------------------


def _day(value: str, field: str, errors: dict[str, str]) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors[field] = "a date like 2026-12-31"
        return None


@router.get("/console/operations/audit")
async def audit_log(
    con: ConsoleDep,
    entity: str = "",
    entity_id: str = "",
    action: str = "",
    actor: str = "",
    since: str = "",
    until: str = "",
    offset: int = 0,
) -> Response:
    con.require("audit_events", "read")
    errors: dict[str, str] = {}
    values = {
        "entity": entity,
        "entity_id": entity_id,
        "action": action,
        "actor": actor,
        "since": since,
        "until": until,
    }
    for name in ("entity", "entity_id", "action", "actor"):
        if len(values[name]) > 255:
            errors[name] = "at most 255 characters"
    first, last = _day(since, "since", errors), _day(until, "until", errors)
    listing = data.Listing([], 0, 0, data.PAGE)
    entities: list[str] = []
    if not errors:
        try:
            listing = await con.session.run_sync(
                lambda s: data.audit(
                    s,
                    con.tenant_id,
                    entity=entity or None,
                    entity_id=entity_id or None,
                    action=action or None,
                    actor=actor or None,
                    since=first,
                    until=last,
                    offset=_offset(offset),
                )
            )
        except ValidationFailed as exc:
            errors = render.form_errors(exc)
    entities = await con.session.run_sync(lambda s: data.audit_entities(s, con.tenant_id))
    return render.page(
        con,
        "operations/audit.html",
        status_code=422 if errors else 200,
        title="Audit log",
        rows=listing.rows,
        pager=pager(con.request, listing),
        errors=errors,
        values=values,
        entities=entities,
        actions=["create", "update", "delete", "action", "login", "logout"],
    )


# --- users ----------------------------------------------------------------------------------------------


async def _users_page(
    con: Console,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    created: dict[str, str] | None = None,
) -> Response:
    rows = await con.session.run_sync(lambda s: data.users(s, con.tenant_id))
    return render.page(
        con,
        "operations/users.html",
        status_code=status_code,
        title="Users",
        rows=rows,
        roles=ROLES,
        errors=errors or {},
        values=values or {},
        created=created,
    )


@router.get("/console/operations/users")
async def users(con: ConsoleDep) -> Response:
    con.require("users", "read")
    return await _users_page(con)


@router.post("/console/operations/users")
async def user_create(
    con: ConsoleDep,
    email: Annotated[str, Form()] = "",
    full_name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    roles: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Create a staff user (the API's own create: its validation, the password hashed off the event loop,
    the tenant's user quota); without a password one is generated and shown once."""
    con.require("users", "create")
    spec = tenancy_api.USERS
    generated = not password
    if generated:
        password = subscriber_data.new_password(20)  # above the 12 characters the API asks for
    values = {"email": email, "full_name": full_name, "roles": roles or []}
    try:
        body = spec.create_model(
            email=email.strip(), password=password, roles=roles or [], full_name=full_name.strip() or None
        )
        email_norm = str(getattr(body, "email", "")).strip().lower()
        taken = await con.session.scalar(
            select(User.id).where(
                User.tenant_id == con.tenant_id, func.lower(User.email) == email_norm, User.deleted_at.is_(None)
            )
        )
        if taken is not None:
            raise Conflict(f"users: {email_norm} already exists in this tenant", table="users", field="email")
        with translated_errors():
            async with con.session.begin_nested():
                assert spec.create_hook is not None
                user = cast(User, await spec.create_hook(con.session, con.tenant_id, body))
                await con.session.flush()
    except (IspopsError, ValidationError) as exc:
        status = exc.status if isinstance(exc, IspopsError) else 422
        return await _users_page(con, status_code=status, errors=render.form_errors(exc), values=values)
    con.audit("users", user.id, "create", {"email": user.email, "roles": user.roles})
    created = {"email": user.email, "password": password} if generated else {"email": user.email}
    return await _users_page(con, status_code=201, created=created)


@router.post("/console/operations/users/{user_id}/roles")
async def user_roles(
    con: ConsoleDep, user_id: uuid.UUID, roles: Annotated[list[str] | None, Form()] = None
) -> Response:
    """Change a user's roles (the API's update rule: one to four known roles)."""
    con.require("users", "update")
    chosen = sorted(set(roles or []))
    unknown = [r for r in chosen if r not in ROLES]
    response = render.redirect(con, "/console/operations/users")
    if not chosen or unknown:
        return render.flash(response, "Choose at least one role from the list.", "error")
    user = await con.session.scalar(
        select(User)
        .where(User.tenant_id == con.tenant_id, User.id == user_id, User.deleted_at.is_(None))
        .with_for_update()
    )
    if user is None:
        raise NotFound("users: no such record", table="users")
    if user.roles != chosen:
        if str(user.id) == con.principal.id and "tenant_admin" not in chosen:
            return render.flash(response, "You cannot take the tenant admin role from yourself.", "error")
        con.audit("users", user.id, "update", {"roles": [user.roles, chosen]})
        user.roles = chosen
        await con.session.flush()
    return render.flash(response, f"Roles of {user.email}: {', '.join(chosen)}.")


# --- tenant settings ------------------------------------------------------------------------------------

SETTINGS_FIELDS = ("email", "phone", "billing_email", "timezone")


async def _settings_page(
    con: Console, *, status_code: int = 200, errors: dict[str, str] | None = None, values: dict[str, Any] | None = None
) -> Response:
    tenant = await con.session.run_sync(lambda s: data.tenant(s, con.tenant_id))
    shown = {k: tenant.get(k) or "" for k in SETTINGS_FIELDS}
    shown["require_mfa"] = bool((tenant.get("settings") or {}).get("require_mfa"))
    return render.page(
        con,
        "operations/settings.html",
        status_code=status_code,
        title="Settings",
        tenant=tenant,
        values=shown | (values or {}),
        errors=errors or {},
        editable="tenant_admin" in con.principal.roles,
    )


@router.get("/console/operations/settings")
async def settings(con: ConsoleDep) -> Response:
    con.require("users", "read")
    return await _settings_page(con)


@router.post("/console/operations/settings")
async def settings_save(
    con: ConsoleDep,
    email: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    billing_email: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "",
    require_mfa: Annotated[str, Form()] = "false",
) -> Response:
    """What the API lets a tenant admin change (``PATCH /api/v1/tenant``), through the same route."""
    con.require("users", "update")
    values: dict[str, Any] = {"email": email, "phone": phone, "billing_email": billing_email, "timezone": timezone}
    body_values: dict[str, Any] = {k: v.strip() or None for k, v in values.items()}
    if body_values["timezone"] is None:
        body_values.pop("timezone")  # the column is NOT NULL: empty means unchanged
    body_values["require_mfa"] = require_mfa in ("true", "on", "1")
    values["require_mfa"] = body_values["require_mfa"]
    try:
        body = tenancy_api.TenantSelfUpdate(**body_values)
        with translated_errors():
            await tenancy_api.update_my_tenant(body, con.scope())
    except (IspopsError, ValidationError) as exc:
        status = exc.status if isinstance(exc, IspopsError) else 422
        return await _settings_page(con, status_code=status, errors=render.form_errors(exc), values=values)
    return render.flash(render.redirect(con, "/console/operations/settings"), "Settings saved.")
