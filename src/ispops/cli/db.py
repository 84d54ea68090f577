"""``ispops db …``: migrations, partition maintenance, consistency checks."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from ispops.cli.common import console, fail, friendly_errors, open_database, open_server_ctx
from ispops.config import get_settings
from ispops.db import migrate
from ispops.db.counters import check_counters
from ispops.db.partitions import maintain as maintain_partitions
from ispops.db.revision import write_revision
from ispops.db.schema_check import check_schema

app = typer.Typer(help="Database: migrations, radacct partitions, consistency checks.", no_args_is_help=True)


@app.command()
@friendly_errors
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision; default: the newest.")] = "head",
) -> None:
    """Create or correct the database roles, then apply migrations up to REVISION.

    Each migration runs in its own transaction: if one fails, the command names it and the revision
    the database stayed at (the one before it), and exits 1. Safe to run repeatedly.
    """
    with open_server_ctx() as server:
        console.print(f"Database: {server.description}")
        migrate.upgrade(server, revision)
        console.print(f"Database is at revision {migrate.describe(migrate.current_revision(server.admin_url))}.")


@app.command()
@friendly_errors
def downgrade(
    revision: Annotated[str, typer.Argument(help="Revision to go back to, e.g. 0014 ('base' removes everything).")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Revert migrations down to REVISION. Dropping a phase drops its tables and their data.

    Asks for confirmation unless --yes is given; `ispops db current` shows the revisions. Each revert
    runs in its own transaction: if one fails, the command names it and the revision the database
    stayed at, and exits 1.
    """
    with open_server_ctx() as server:
        console.print(f"Database: {server.description}")
        current = migrate.describe(migrate.current_revision(server.admin_url))
        if not yes:
            typer.confirm(
                f"Revert {server.database} from {current} to {revision}? Data in dropped tables is lost", abort=True
            )
        migrate.downgrade(server, revision)
        console.print(f"Database is at revision {migrate.describe(migrate.current_revision(server.admin_url))}.")


@app.command()
@friendly_errors
def current() -> None:
    """Show the database's migration revision and the newest one this code knows."""
    with open_server_ctx() as server:
        console.print(f"Database: {server.description}")
        console.print(f"Revision: {migrate.current_revision(server.admin_url) or 'none'}")
        console.print(f"Newest:   {migrate.head_revision()}")


@app.command()
@friendly_errors
def revision(
    message: Annotated[str, typer.Argument(help="What the change does, in a few words (also the file's name).")],
) -> None:
    """Write the next migration from the canonical SQL files and enumerations.

    Migrates a scratch database to head on the configured server (dropped afterwards), compares it with
    src/ispops/<domain>/sql/*.sql and the CHECK enumerations, and writes versions/00NN_<slug>.py with the
    new texts and, for its downgrade, the ones they replace. Review it, then run the tests
    (docs/architecture.md, "Changing a rule").
    """
    with open_server_ctx() as server:
        console.print(f"Database server: {server.description} (scratch database at head)")
        written = write_revision(server, message)
    if written is None:
        console.print("Nothing to write: the canonical files match the migrations up to head.")
        return
    for change in written.changes:
        console.print(f"  {escape(change.what)}", highlight=False)
    console.print(f"Wrote {written.path} (revision {written.revision}). Review it, then run the tests.")


@app.command()
@friendly_errors
def maintain(
    months_ahead: Annotated[
        int | None, typer.Option(help="Monthly radacct partitions to keep ready ahead (default 3).", min=1, max=24)
    ] = None,
    retention_months: Annotated[
        int | None,
        typer.Option(help="Drop radacct partitions older than this many months (default 24).", min=1, max=240),
    ] = None,
) -> None:
    """Keep radacct partitions ready ahead, drop those past retention, report rows in DEFAULT.

    Idempotent; run it daily (cron or the worker). Exits 1 if something needs a person's attention.
    """
    settings = get_settings()
    with open_database() as db:
        report = maintain_partitions(
            db,
            months_ahead=settings.radacct_months_ahead if months_ahead is None else months_ahead,
            retention_months=settings.radacct_retention_months if retention_months is None else retention_months,
        )
    console.print(f"Created: {', '.join(report.created) or 'none'}")
    console.print(f"Dropped: {', '.join(report.dropped) or 'none'}")
    console.print(f"Partitions: {len(report.existing)} monthly + default")
    for problem in report.problems:
        console.print(f"[bold yellow]problem:[/] {escape(problem)}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
@friendly_errors
def check() -> None:
    """Verify the tenancy rules in pg_catalog and recompute every counter; exit 1 on any problem."""
    with open_database() as db:
        with db.owner() as conn:
            problems = check_schema(conn)
        sources, drifts = check_counters(db)
    for problem in problems:
        console.print(f"[bold red]schema:[/] {escape(problem)}", highlight=False)
    console.print(f"Schema rules: {'ok' if not problems else f'{len(problems)} problem(s)'}")
    for drift in drifts:
        console.print(f"[bold red]drift:[/] {escape(str(drift))}", highlight=False)
    console.print(f"Counters: {len(sources)} checked, {len(drifts)} drifted")
    if problems or drifts:
        raise fail("the database is not consistent (see above)")
