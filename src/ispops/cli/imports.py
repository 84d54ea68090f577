"""`ispops imports`: Bulk import (subscribers from CSV) (stub; its owner replaces it)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Bulk import (subscribers from CSV).", no_args_is_help=True)
