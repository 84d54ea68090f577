"""`ispops orders`: service orders and their step logs (stub; its owner replaces it)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Service orders: activate, change plan, suspend, resume, terminate.", no_args_is_help=True)
