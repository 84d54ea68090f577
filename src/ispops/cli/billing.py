"""``ispops billing …``: a cycle's usage and plan periods as CSV or JSON, closing cycles, pushing them."""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid
from pathlib import Path
from typing import Annotated, Literal

import typer

from ispops.billing import cycles, export, jobs, push, service
from ispops.cli.common import console, fail, friendly_errors, open_database

app = typer.Typer(help="Billing hand-off: usage per cycle, plan history, export, push.", no_args_is_help=True)

TenantOpt = Annotated[str, typer.Option("--tenant", help="The tenant.")]
CycleOpt = Annotated[str, typer.Option("--cycle", help="The cycle, as the month it starts in: YYYY-MM.")]
DayOpt = Annotated[
    int | None, typer.Option("--billing-day", min=1, max=28, help="Only subscribers billed on this day.")
]


@app.command("export")
@friendly_errors
def export_command(
    tenant: TenantOpt,
    cycle: CycleOpt,
    fmt: Annotated[Literal["csv", "json"], typer.Option("--format", help="csv or json.")] = "json",
    what: Annotated[
        Literal["usage", "plan-history"], typer.Option("--what", help="usage (per subscriber) or plan-history.")
    ] = "usage",
    billing_day: DayOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
) -> None:
    """Print (or write) a cycle's usage or plan periods, as the API's export gives them."""
    month = cycles.parse_cycle(cycle, field="--cycle")
    with open_database() as db, db.tenant(tenant, enforce_status=False) as s:
        lines = service.usage(s, tenant, month, billing_day=billing_day)
        state = service.status(s, tenant, month)
    if fmt == "csv":
        body = export.usage_csv(lines, state) if what == "usage" else export.plan_history_csv(lines)
    else:
        doc = (
            export.document(tenant, month, lines, state)
            if what == "usage"
            else export.plan_history_document(tenant, month, lines, state)
        )
        body = json.dumps(doc, indent=2) + "\n"
    if output is None:
        sys.stdout.write(body)
    else:
        output.write_text(body, encoding="utf-8")
        console.print(f"{len(lines)} subscribers written to {output}")


@app.command("close")
@friendly_errors
def close_command(
    tenant: TenantOpt,
    cycle: Annotated[
        str | None, typer.Option("--cycle", help="Close this month's ended cycles (default: the due ones).")
    ] = None,
) -> None:
    """Close the tenant's due cycles now (what the hourly billing.close_cycles job does), or the ended
    cycles of one month."""
    month = cycles.parse_cycle(cycle, field="--cycle") if cycle else None
    with open_database() as db:
        closed = jobs.close_due(db, tenant, month=month)
    if not closed:
        console.print("nothing to close")
    for row in closed:
        console.print(
            f"closed {cycles.label(row.cycle)} (billing day {row.billing_day}): {row.subscribers} subscribers"
        )


@app.command("push")
@friendly_errors
def push_command(tenant: TenantOpt, cycle: CycleOpt, billing_day: DayOpt = None) -> None:
    """Push a closed cycle to the tenant's billing endpoint here and now (records already delivered are
    skipped). Exit status 1 when a delivery fails."""
    month = cycles.parse_cycle(cycle, field="--cycle")
    with open_database() as db:
        report = push.push_cycle(db, tenant, month, billing_day=billing_day)
    console.print(f"{report.cycle}: {report.pushed} pushed, {report.events} events, {report.skipped} already pushed")


@app.command("cycle")
@friendly_errors
def cycle_command(
    tenant: TenantOpt,
    subscriber: Annotated[str, typer.Option("--subscriber", help="The subscriber's id.")],
    on: Annotated[str | None, typer.Option("--on", help="A date (YYYY-MM-DD); default today.")] = None,
) -> None:
    """Show a subscriber's billing cycle on a date."""
    try:
        subscriber_id = uuid.UUID(subscriber)
    except ValueError:
        raise fail("--subscriber: not a subscriber id") from None
    try:
        day = dt.date.fromisoformat(on) if on else None
    except ValueError:
        raise fail("--on: not a date (YYYY-MM-DD)") from None
    with open_database() as db, db.tenant(tenant, enforce_status=False) as s:
        c = cycles.subscriber_cycle(s, tenant, subscriber_id, on=day)
    console.print(
        f"cycle {c.label} (billing day {c.billing_day}): {c.start_date} to {c.end_date} "
        f"[{c.starts_at.isoformat()} .. {c.ends_at.isoformat()})",
        highlight=False,
        markup=False,
    )
