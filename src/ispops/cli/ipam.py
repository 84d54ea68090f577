"""``ispops ipam …``: IP address management chores."""

from __future__ import annotations

import datetime as dt

import typer
from rich.markup import escape

from ispops.cli.common import console, friendly_errors, open_database
from ispops.ipam.jobs import reclaim_all

app = typer.Typer(help="IP address management: pools, allocations, leases.", no_args_is_help=True)


@app.command()
@friendly_errors
def reclaim() -> None:
    """Release every expired lease in every tenant (addresses go back to their pools).

    Idempotent and safe to run at any time; the job worker runs it periodically.
    """
    now = dt.datetime.now(dt.UTC)
    with open_database() as db:
        done = reclaim_all(db, now)
    for tenant_id, count in sorted(done.items()):
        console.print(f"{escape(tenant_id)}: {count} expired lease(s) released", highlight=False)
    console.print(f"Reclaimed {sum(done.values())} expired lease(s) in {len(done)} tenant(s).")
