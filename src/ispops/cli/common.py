"""What every command shares: the console, opening the database, turning errors into messages."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import DBAPIError, OperationalError

from ispops.config import Settings, get_settings
from ispops.db import migrate
from ispops.db.server import Server, open_server
from ispops.db.session import Database
from ispops.errors import IspopsError

# Long lines stay whole (they end up in logs and terminals alike); tables still fit the width.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, *, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def friendly_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Report platform errors and unreachable databases as one clear line, never a traceback."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except IspopsError as exc:
            raise fail(exc.message) from None
        except OperationalError as exc:
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise fail(f"cannot reach the database: {first}") from None
        except DBAPIError as exc:
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise fail(f"database error: {first}") from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("ISPOPS_DEBUG"):
                raise
            raise fail(f"unexpected {type(exc).__name__}: {exc} (set ISPOPS_DEBUG=1 for the traceback)") from None

    return wrapper


@contextmanager
def open_server_ctx(settings: Settings | None = None) -> Iterator[Server]:
    server = open_server(settings or get_settings())
    try:
        yield server
    finally:
        server.close()


@contextmanager
def open_database(settings: Settings | None = None) -> Iterator[Database]:
    """The database at migration head, or a clear error telling how to get there."""
    with open_server_ctx(settings) as server:
        if server.embedded:
            migrate.prepare(server)
        current = migrate.current_revision(server.admin_url)
        head = migrate.head_revision()
        if current != head:
            raise fail(
                f"the database is at revision {current or 'none'}, the code expects {head}: run `ispops db upgrade`"
            )
        db = Database(server)
        try:
            yield db
        finally:
            db.dispose()
