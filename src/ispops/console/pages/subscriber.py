"""Subscriber 360: ``/console/subscribers/{id}`` and its actions.

The page reads everything through ``ispops.console.subscriber_data`` in the request's unit of work, each
part only when the user's role may read it. Its actions go through the domains' own services and routes:

- orders (activate, suspend, resume, change plan, terminate): ``POST /console/subscribers/{id}/orders``
  calls the API's own ``submit_order`` (``ispops.lifecycle.api``: ``orders.submit``, its job queued in the
  same transaction, the audit event) on a savepoint of the request's unit of work; the page then shows the
  order's progress, polled by htmx until it ends (``/console/operations/orders/{id}/progress``).
  A refused order re-renders the page with the errors beside the form's fields.
- disconnect a session: the API's ``disconnect_session`` (``ispops.radius.coa_api``) queues a
  Disconnect-Request in ``radius_coa_queue``; the CoA sender sends it.
- reset the PPPoE password: a new random password stored by ``radius.provisioning.set_password`` (the
  API's own path) and shown once, in the answer to the POST, never again.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response
from pydantic import ValidationError

from ispops.console import render, subscriber_data
from ispops.console.context import Console, ConsoleDep
from ispops.console.nav import NavItem
from ispops.errors import IspopsError, NotFound, ValidationFailed
from ispops.lifecycle import api as lifecycle_api
from ispops.lifecycle.plans import STARTS
from ispops.lifecycle.saga import FINISHED
from ispops.lifecycle.schemas import OrderIn
from ispops.radius import coa_api, provisioning

router = APIRouter()
ORDERS = lifecycle_api.PERMISSION  # the lifecycle orders' permission (create = submit)
NAV: list[NavItem] = []  # reached from the subscriber list and search, not from the menu

ORDER_TYPES = ("activate", "suspend", "resume", "plan_change", "terminate")
ORDER_LABELS = {
    "activate": "Activate",
    "suspend": "Suspend",
    "resume": "Resume",
    "plan_change": "Change plan",
    "terminate": "Terminate",
}
# The form fields of each order type, as ``params`` of the order (the rest of the form: kind, at).
ORDER_FIELDS: dict[str, tuple[str, ...]] = {
    "activate": (
        "bandwidth_profile_id",
        "ip_pool_id",
        "pppoe_username",
        "onu_id",
        "sector_id",
        "cpe_mac",
        "install_latitude",
        "install_longitude",
    ),
    "plan_change": ("bandwidth_profile_id",),
    "suspend": ("reason",),
    "resume": (),
    "terminate": ("reason",),
}
NUMBERS = frozenset({"install_latitude", "install_longitude"})
# Order statuses where the page stops polling: ended, or failed and waiting for an engineer's retry.
SETTLED = frozenset({*FINISHED, "failed"})


def _sections(con: Console) -> frozenset[str]:
    return frozenset(k for k, (resource, verb) in subscriber_data.SECTIONS.items() if con.can(resource, verb))


def allowed_orders(con: Console, status: str) -> list[str]:
    """The order types this user may submit for a subscriber in ``status``."""
    if not con.can(ORDERS, "create"):
        return []
    return [t for t in ORDER_TYPES if status in STARTS[t]]


async def _page(
    con: Console,
    subscriber_id: uuid.UUID,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    form: str | None = None,
    values: dict[str, str] | None = None,
    order_id: str | None = None,
) -> Response:
    sections = _sections(con)
    may_order = con.can(ORDERS, "create")
    view = await con.session.run_sync(
        lambda s: subscriber_data.load(s, con.tenant_id, subscriber_id, sections=sections, choices=may_order)
    )
    sub = view.subscriber
    orders_allowed = allowed_orders(con, sub["status"])
    choices = view.choices or {"plans": [], "pools": [], "onus": [], "sectors": []}
    open_order = next((o for o in view.orders if o["workflow_status"] not in SETTLED), None)
    watched = order_id or (str(open_order["id"]) if open_order else None)
    return render.page(
        con,
        "subscriber/detail.html",
        status_code=status_code,
        title=f"Subscriber {sub['subscriber_number']}",
        view=view,
        sub=sub,
        sections=sections,
        chart=view.usage.chart(),
        orders_allowed=orders_allowed,
        order_labels=ORDER_LABELS,
        choices=choices,
        errors=errors or {},
        form=form,
        values=values or {},
        watched=watched,
    )


@router.get("/console/subscribers/{subscriber_id}")
async def subscriber_360(con: ConsoleDep, subscriber_id: uuid.UUID, order: uuid.UUID | None = None) -> Response:
    con.require("subscribers", "read")
    return await _page(con, subscriber_id, order_id=str(order) if order else None)


def _order_params(order_type: str, form: dict[str, str]) -> dict[str, Any]:
    """The order's parameters from the form: empty fields left out, coordinates as numbers."""
    params: dict[str, Any] = {}
    for name in ORDER_FIELDS[order_type]:
        value = (form.get(name) or "").strip()
        if not value:
            continue
        if name in NUMBERS:
            try:
                params[name] = float(value)
            except ValueError:
                raise ValidationFailed(f"{name}: a number", field=name) from None
        else:
            params[name] = value
    return params


@router.post("/console/subscribers/{subscriber_id}/orders")
async def submit_order(
    con: ConsoleDep,
    subscriber_id: uuid.UUID,
    type: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
    at: Annotated[str, Form()] = "now",
    bandwidth_profile_id: Annotated[str, Form()] = "",
    ip_pool_id: Annotated[str, Form()] = "",
    pppoe_username: Annotated[str, Form()] = "",
    onu_id: Annotated[str, Form()] = "",
    sector_id: Annotated[str, Form()] = "",
    cpe_mac: Annotated[str, Form()] = "",
    install_latitude: Annotated[str, Form()] = "",
    install_longitude: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Submit a lifecycle order from the 360 page, then show the page with the order's progress."""
    con.require("subscribers", "read")
    con.require(ORDERS, "create")
    form = {
        "bandwidth_profile_id": bandwidth_profile_id,
        "ip_pool_id": ip_pool_id,
        "pppoe_username": pppoe_username,
        "onu_id": onu_id,
        "sector_id": sector_id,
        "cpe_mac": cpe_mac,
        "install_latitude": install_latitude,
        "install_longitude": install_longitude,
        "reason": reason,
        "kind": kind,
        "at": at,
    }
    if type not in ORDER_TYPES:
        raise NotFound("no such order type")
    try:
        body = OrderIn(
            type=type,
            kind=(kind or None) if type == "activate" else None,
            subscriber_id=subscriber_id,
            params=_order_params(type, form),
            at=at or None,
        )
        out = await lifecycle_api.submit_order(body, con.scope())
    except (IspopsError, ValidationError) as exc:
        if isinstance(exc, NotFound) and exc.table == "subscribers":
            raise
        errors = _order_errors(exc, type)
        status = exc.status if isinstance(exc, IspopsError) else 422
        return await _page(con, subscriber_id, status_code=status, errors=errors, form=type, values=form)
    response = render.redirect(con, f"/console/subscribers/{subscriber_id}?order={out.id}#orders")
    return render.flash(response, f"{ORDER_LABELS[type]} order submitted.")


def _order_errors(exc: IspopsError | ValidationError, order_type: str) -> dict[str, str]:
    """Errors beside the order form's fields; one that names no field of the form goes above it."""
    errors = render.form_errors(exc)
    shown = set(ORDER_FIELDS[order_type]) | {"kind", "at"}
    out: dict[str, str] = {}
    for name, message in errors.items():
        key = name.removeprefix("params.")
        if key in shown:
            out[key] = message
        else:  # e.g. status (409: not from this status) or subscriber_id (an open order exists)
            out["__all__"] = "; ".join(filter(None, [out.get("__all__"), message]))
    return out


@router.post("/console/subscribers/{subscriber_id}/sessions/{radacctid}/disconnect")
async def disconnect(con: ConsoleDep, subscriber_id: uuid.UUID, radacctid: int) -> Response:
    """Queue a Disconnect-Request for one of the subscriber's open sessions."""
    con.require("radacct", "disconnect")
    sessions = await con.session.run_sync(
        lambda s: subscriber_data.open_sessions(
            s, con.tenant_id, subscriber_data.subscriber_row(s, con.tenant_id, subscriber_id)["id"]
        )
    )
    if radacctid not in {r["radacctid"] for r in sessions}:
        raise NotFound("radacct: no such open session of this subscriber", table="radacct")
    response = render.redirect(con, f"/console/subscribers/{subscriber_id}#sessions")
    try:
        queued = await coa_api.disconnect_session(radacctid, con.scope())
    except IspopsError as exc:
        return render.flash(response, exc.message, "error")
    return render.flash(response, f"Disconnect queued (queue item {queued.queue_id}); the CoA log shows its outcome.")


@router.post("/console/subscribers/{subscriber_id}/password")
async def reset_password(con: ConsoleDep, subscriber_id: uuid.UUID) -> Response:
    """A new random PPPoE password, stored as RADIUS expects it and shown once on this answer only."""
    con.require("subscribers", "update")
    password = subscriber_data.new_password()

    def run(s: Any) -> tuple[dict[str, Any], str]:
        sub = subscriber_data.subscriber_row(s, con.tenant_id, subscriber_id)
        with s.begin_nested():
            attribute = provisioning.set_password(
                s, tenant_id=con.tenant_id, subscriber_id=sub["id"], password=password
            )
        return sub, attribute

    try:
        sub, attribute = await con.session.run_sync(run)
    except IspopsError as exc:
        if isinstance(exc, NotFound):
            raise
        response = render.redirect(con, f"/console/subscribers/{subscriber_id}")
        return render.flash(response, exc.message, "error")
    con.audit("subscribers", subscriber_id, "action", {"action": "password", "attribute": attribute})
    return render.page(con, "subscriber/password.html", title="New password", sub=sub, password=password)
