"""``ispops worker``: run background jobs and the periodic schedule (docs/operations.md, "Workers")."""

from __future__ import annotations

import importlib
import logging
from typing import Annotated

import typer

from ispops.cli.common import console, friendly_errors, open_database
from ispops.jobs.registry import all_specs, names
from ispops.jobs.worker import run_worker


@friendly_errors
def worker(
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, max=64, help="Jobs this process runs at once.")
    ] = 4,
    queue: Annotated[
        list[str] | None, typer.Option("--queue", "-q", help="Only take jobs from this queue (repeatable).")
    ] = None,
    imports: Annotated[
        list[str] | None,
        typer.Option("--import", help="Import this module first; jobs it declares are added (repeatable)."),
    ] = None,
    shutdown_timeout: Annotated[
        float, typer.Option(min=0, help="On SIGTERM/Ctrl-C, seconds running jobs get to finish.")
    ] = 60.0,
    schedule: Annotated[
        bool, typer.Option(help="Also queue the periodic jobs when due (--no-schedule: only take jobs).")
    ] = True,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run background jobs as the application role until SIGTERM or Ctrl-C.

    Runs as many processes as you like, on any hosts: they share the queue in PostgreSQL. Every worker
    also keeps the periodic schedule (each run is queued once, whichever worker gets there first).
    """
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for module in imports or []:
        importlib.import_module(module)
    specs = all_specs()
    with open_database() as db:
        console.print(f"Database: {db.server.description}")
        console.print(f"Jobs: {', '.join(names(specs)) or 'none'}")
        console.print(f"Worker: concurrency {concurrency}; stop with Ctrl-C or SIGTERM.")
        run_worker(
            db.server,
            concurrency=concurrency,
            queues=queue,
            specs=specs,
            schedule=schedule,
            shutdown_timeout=shutdown_timeout,
        )
    console.print("Worker stopped.")
