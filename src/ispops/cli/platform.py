"""``ispops up`` and ``ispops seed``: run the platform, fill it with something to click through."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from types import FrameType
from typing import Annotated

import typer
import uvicorn
from rich.markup import escape

from ispops.app import create_app
from ispops.auth.tokens import jwt_secret_for
from ispops.cli.common import console, fail, friendly_errors, open_database, open_server_ctx
from ispops.config import Settings, get_settings
from ispops.db import migrate
from ispops.db.partitions import maintain
from ispops.db.server import Server
from ispops.db.session import Database
from ispops.demo.seed import seed_demo


def _print_seed(db: Database) -> None:
    with console.status("Creating demo data…"):
        summary = seed_demo(db)
    console.print(f"Demo data: {summary}")


def _connection_hint(server: Server) -> str:
    url = server.url_for("ispops_app")
    if server.embedded:
        host = url.query.get("host")
        return f"psql 'host={host} dbname={url.database} user=ispops_app'"
    # psql takes a libpq URI: postgresql://, not SQLAlchemy's postgresql+psycopg://
    return f"psql '{url.set(drivername='postgresql').render_as_string(hide_password=True)}'"


@friendly_errors
def up(
    demo: Annotated[bool, typer.Option(help="Create the demo tenants if missing (idempotent).")] = True,
    wait: Annotated[
        bool, typer.Option(help="Keep running until Ctrl-C / SIGTERM (--no-wait: start, report, exit).")
    ] = True,
    worker: Annotated[
        bool, typer.Option(help="Also run background jobs: an `ispops worker` process beside the API.")
    ] = True,
) -> None:
    """Start the platform: database (embedded unless ISPOPS_DATABASE_URL is set), migrations, demo data, API.

    The API listens on ISPOPS_API_HOST:ISPOPS_API_PORT (default 127.0.0.1:8000), e.g.
    ISPOPS_API_PORT=8080 ispops up. Behind a reverse proxy, list it in ISPOPS_TRUSTED_PROXIES so the
    client address comes from its X-Forwarded-For header (from no one else).
    """

    def _terminate(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)  # unwinds, so the embedded PostgreSQL is stopped, not orphaned

    signal.signal(signal.SIGTERM, _terminate)
    settings = get_settings()
    # Configuration the API needs is checked before anything starts: a missing ISPOPS_JWT_SECRET with
    # ISPOPS_DATABASE_URL is one clear line and a non-zero exit, not a traceback from inside uvicorn.
    # (--no-wait starts no API: migrations and demo data need no signing key.)
    if wait:
        jwt_secret_for(settings, settings.data_dir)
    with open_server_ctx(settings) as server:
        console.print(f"Database: {server.description}")
        with console.status("Applying migrations…"):
            migrate.upgrade(server)
        console.print(f"Migrations: at revision {migrate.current_revision(server.admin_url)} (newest)")
        db = Database(server)
        try:
            report = maintain(
                db,
                months_ahead=settings.radacct_months_ahead,
                retention_months=settings.radacct_retention_months,
            )
            console.print(f"radacct: {len(report.existing)} monthly partitions + default")
            for problem in report.problems:
                console.print(f"[bold yellow]problem:[/] {escape(problem)}", highlight=False)
            if demo:
                _print_seed(db)
        finally:
            db.dispose()
        console.print(f"Connect to the database as the application role: {_connection_hint(server)}")
        if not wait:
            return
        jobs = _start_worker() if worker else None
        try:
            _serve(settings, server)
        finally:
            _stop_worker(jobs)
        others = server.other_holders()  # processes that died without letting go are forgotten here
    if others:
        console.print(
            f"Stopped. The embedded PostgreSQL keeps running for other ispops processes using it "
            f"(pids {', '.join(map(str, others))}); it stops when the last of them ends."
        )
    else:
        console.print("Stopped.")


def _start_worker() -> subprocess.Popen[bytes]:
    """``ispops worker`` as a child in its own session (Ctrl-C reaches only us; we stop it in order)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ispops", "worker", "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    console.print(f"Jobs: worker process {proc.pid} (ispops worker)")
    return proc


def _stop_worker(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, let running jobs finish (the worker allows them 60 s), before the database stops."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=75)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _serve(settings: Settings, server: Server) -> None:
    """Serve the API until SIGINT/SIGTERM; uvicorn shuts down gracefully, then the database stops.

    ``proxy_headers=False``: uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1, i.e. from any
    local process. The app reads those headers itself, only from ISPOPS_TRUSTED_PROXIES (ispops.api.proxies).
    """
    host, port = settings.api_host, settings.api_port
    if settings.api_workers > 1:
        # Each worker process builds the app from the same settings and attaches to the same database.
        console.print(f"API: http://{host}:{port} (OpenAPI at /docs), {settings.api_workers} workers")
        console.print(f"Console: http://{host}:{port}/console/")
        console.print("Running. Press Ctrl-C (or send SIGTERM) to stop.")
        uvicorn.run(
            "ispops.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=settings.api_workers,
            log_level="warning",
            proxy_headers=False,
        )
        return
    config = uvicorn.Config(
        create_app(settings, server=server),
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        proxy_headers=False,
    )
    api = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(api.serve())
        while not api.started and not task.done():
            await asyncio.sleep(0.05)
        if api.started:  # uvicorn's own signal handlers are in place from here on
            what = "the API and the embedded PostgreSQL" if server.embedded else "the API"
            console.print(f"API: http://{host}:{port} (OpenAPI at http://{host}:{port}/docs)")
            console.print(f"Console: http://{host}:{port}/console/")
            console.print(f"Running. Press Ctrl-C (or send SIGTERM) to stop {what}.")
        await task

    # uvicorn re-raises the signal it caught once it has shut down; by then we only want to finish.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    asyncio.run(run())
    if not api.started:
        raise fail(f"the API could not start on {host}:{port} (is the port in use? set ISPOPS_API_PORT)")
    console.print("Stopping…")


@friendly_errors
def seed(
    demo: Annotated[bool, typer.Option("--demo", help="Create the two demo tenants and their plant.")] = False,
) -> None:
    """Fill the database with demo data: pass --demo (idempotent: running it again changes nothing)."""
    if not demo:
        raise fail("nothing to do: pass --demo", code=2)
    with open_database() as db:
        _print_seed(db)
