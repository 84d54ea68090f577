"""``ispops import subscribers FILE --tenant T [--dry-run]``: bulk import of subscribers from CSV.

The same checks and the same all-or-nothing import as the console's (``ispops.subscribers.bulk_import``,
docs/import.md), run here in one unit of work with a progress bar. A file with any problem is refused
whole: every problem is listed (row, CSV column, message) and the exit status is 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ispops.cli.common import console, fail, friendly_errors, open_database
from ispops.subscribers import bulk_import
from ispops.subscribers.bulk_import_csv import COLUMNS

app = typer.Typer(help="Bulk import (subscribers from CSV).", no_args_is_help=True)


def _columns_help() -> str:
    return "; ".join(f"{c.name}{' (required)' if c.required else ''}" for c in COLUMNS)


@app.command()
@friendly_errors
def subscribers(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV file.")],
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant's id.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row, import nothing.")] = False,
) -> None:
    """Import subscribers from a CSV file with a header row: all rows, or none if any row has a problem.

    Columns: see docs/import.md."""
    content = file.read_bytes()
    with (
        open_database() as db,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar,
    ):
        checking = bar.add_task("checking", total=None)
        importing = bar.add_task("importing", total=None, visible=False)

        def progress(phase: str, done: int, total: int) -> None:
            if phase == "checking":
                bar.update(checking, completed=done, total=total or None)
            else:
                bar.update(importing, completed=done, total=total, visible=True)

        with db.tenant(tenant, enforce_status=False) as session:
            checked, imported = bulk_import.import_file(
                session, tenant_id=tenant, content=content, dry_run=dry_run, progress=progress
            )
    if not checked.ok:
        table = Table("row", "column", "problem", title=f"{escape(file.name)}: refused, nothing imported")
        for error in checked.errors:
            table.add_row("file" if error.row == 0 else str(error.row), escape(error.column), escape(error.message))
        console.print(table)
        more = checked.error_count - len(checked.errors)
        raise fail(
            f"{checked.error_count} problem(s) in {checked.total:,} rows"
            + (f" ({more} more not listed)" if more > 0 else "")
            + "; fix them and import the whole file again"
        )
    if imported is None:
        console.print(f"{escape(file.name)}: {checked.total:,} rows checked, no problems (dry run: nothing imported)")
        return
    console.print(
        f"{escape(file.name)}: imported {imported.subscribers:,} subscribers, {imported.radius_rows:,} RADIUS rows, "
        f"{imported.static_ips:,} static addresses in {imported.seconds:.1f} s",
        highlight=False,
    )


subscribers.__doc__ = (subscribers.__doc__ or "") + " " + _columns_help()
