"""`ispops billing`: Billing hand-off: usage per cycle, plan history, export (stub; its owner replaces it)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Billing hand-off: usage per cycle, plan history, export.", no_args_is_help=True)
