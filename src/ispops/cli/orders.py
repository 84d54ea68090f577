"""``ispops orders …``: submit, show, list, retry and cancel service orders (docs/lifecycle.md).

The same services as ``/api/v1/orders``: submitting stores the order and queues its job in one
transaction; ``--wait`` then runs the order's job in this process (no worker needed), as far as it goes now.
"""

from __future__ import annotations

import getpass
import json
import uuid
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Column, Table

from ispops.cli.common import console, fail, friendly_errors, open_database
from ispops.lifecycle import orders, saga
from ispops.lifecycle.schemas import OrderOut, full, summary

app = typer.Typer(help="Service orders: activate, change plan, suspend, resume, terminate.", no_args_is_help=True)

Tenant = Annotated[str, typer.Option("--tenant", help="The tenant the order belongs to.")]
OrderId = Annotated[str, typer.Argument(help="The order's id.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the order as JSON.")]


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise fail(f"{what}: not an id") from None


def _params(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"--params: not JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise fail("--params: must be a JSON object")
    return value


def _print(out: OrderOut, as_json: bool) -> None:
    if as_json:
        console.print_json(out.model_dump_json())
        return
    console.print(f"order {out.id}: {out.type} ({out.activation_type}) of subscriber {out.subscriber_id}")
    console.print(f"status {out.status}" + (f", step {out.current_step}" if out.current_step else ""))
    if out.scheduled_for:
        console.print(f"scheduled for {out.scheduled_for.isoformat()}")
    done = {e.step for e in out.steps_completed}
    undone = {c.step for c in out.compensations}
    for name in out.plan or [e.step for e in out.steps_completed]:
        mark = "undone" if name in undone else "done" if name in done else "-"
        console.print(f"  {mark:>6}  {escape(name)}", highlight=False)
    if out.error_message:
        console.print(f"error at {out.error_step}: {escape(out.error_message)}", highlight=False)


def _run_now(db: Any, tenant: str, order_id: uuid.UUID) -> None:
    saga.advance(db, tenant, order_id)


@app.command()
@friendly_errors
def submit(
    order_type: Annotated[str, typer.Argument(help="activate, plan_change, suspend, resume or terminate.")],
    subscriber: Annotated[str, typer.Argument(help="The subscriber's id.")],
    tenant: Tenant,
    kind: Annotated[str | None, typer.Option(help="activate only: new_service, reactivation, relocation.")] = None,
    params: Annotated[str | None, typer.Option("--params", "-p", help="The parameters, a JSON object.")] = None,
    at: Annotated[str | None, typer.Option(help="now (default), next_cycle, or an ISO 8601 time.")] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Run it here now, or leave it to the workers.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Submit an order; it is queued for the workers (or, with --wait, run here as far as it goes now)."""
    request = orders.Submission(
        order_type=order_type,
        subscriber_id=_uuid(subscriber, "subscriber"),
        params=_params(params),
        kind=kind,
        at=at,
    )
    with open_database() as db:
        with db.tenant(tenant, enforce_status=False) as s:
            order_id = orders.submit(s, tenant, request, requested_by=f"cli:{getpass.getuser()}").id
        if wait:
            _run_now(db, tenant, order_id)
        with db.tenant(tenant, enforce_status=False) as s:
            _print(full(orders.get(s, tenant, order_id)), as_json)


@app.command()
@friendly_errors
def show(order: OrderId, tenant: Tenant, as_json: AsJson = False) -> None:
    """An order with its steps, compensations and error."""
    with open_database() as db, db.tenant(tenant, enforce_status=False) as s:
        _print(full(orders.get(s, tenant, _uuid(order, "order"))), as_json)


@app.command(name="list")
@friendly_errors
def list_orders(
    tenant: Tenant,
    subscriber: Annotated[str | None, typer.Option(help="Only this subscriber's orders.")] = None,
    status: Annotated[str | None, typer.Option(help="Only orders with this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """The tenant's orders, newest first."""
    sub = _uuid(subscriber, "--subscriber") if subscriber else None
    with open_database() as db, db.tenant(tenant, enforce_status=False) as s:
        rows, total = orders.listing(s, tenant, subscriber_id=sub, status=status, limit=limit)
        items = [summary(r) for r in rows]
    # The order id whole (it is what `show`, `retry` and `cancel` take), whatever the terminal's width.
    table = Table(
        Column("id", no_wrap=True, min_width=36),
        "type",
        Column("subscriber", overflow="fold"),
        "status",
        "step",
        Column("requested", overflow="fold"),
    )
    for o in items:
        table.add_row(
            str(o.id), o.type, str(o.subscriber_id), o.status, o.current_step or "", o.requested_at.isoformat()
        )
    console.print(table)
    console.print(f"{len(items)} of {total}")


@app.command()
@friendly_errors
def retry(
    order: OrderId,
    tenant: Tenant,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Run it here now.")] = False,
    as_json: AsJson = False,
) -> None:
    """Run a failed order on from where it stopped."""
    order_id = _uuid(order, "order")
    with open_database() as db:
        with db.tenant(tenant, enforce_status=False) as s:
            orders.retry(s, tenant, order_id)
        if wait:
            _run_now(db, tenant, order_id)
        with db.tenant(tenant, enforce_status=False) as s:
            _print(full(orders.get(s, tenant, order_id)), as_json)


@app.command()
@friendly_errors
def cancel(
    order: OrderId,
    tenant: Tenant,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Undo its steps here now.")] = False,
    as_json: AsJson = False,
) -> None:
    """Cancel an order before its pivot (a running one has its completed steps undone)."""
    order_id = _uuid(order, "order")
    with open_database() as db:
        with db.tenant(tenant, enforce_status=False) as s:
            orders.cancel(s, tenant, order_id)
        if wait:
            _run_now(db, tenant, order_id)
        with db.tenant(tenant, enforce_status=False) as s:
            _print(full(orders.get(s, tenant, order_id)), as_json)
