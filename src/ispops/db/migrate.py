"""Programmatic Alembic: upgrade, downgrade, current revision.

Every revision runs in its own transaction (``migrations/env.py``), so a failure leaves the database at
the last revision that completed. ``upgrade`` and ``downgrade`` report such a failure as one
:class:`MigrationFailed` naming the revision that failed and the revision the database stayed at.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from ispops.config import OWNER_ROLE
from ispops.db.roles import ensure_roles, grant_database
from ispops.db.server import Server, create_database
from ispops.errors import IspopsError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class MigrationFailed(IspopsError):
    """A migration could not be applied or reverted; the database is at ``stayed_at``."""

    code = "migration_failed"

    def __init__(self, message: str, *, failed: str | None, stayed_at: str | None) -> None:
        super().__init__(message)
        self.failed = failed
        self.stayed_at = stayed_at


def alembic_config(url: URL, script_location: Path = MIGRATIONS_DIR) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["url"] = url.render_as_string(hide_password=False)
    return cfg


def _scripts(script_location: Path) -> ScriptDirectory:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    return ScriptDirectory.from_config(cfg)


def head_revision(script_location: Path = MIGRATIONS_DIR) -> str:
    head = _scripts(script_location).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


def current_revision(url: URL) -> str | None:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def prepare(server: Server) -> None:
    """Roles (created or corrected), the database itself on the embedded server, and its grants."""
    if server.embedded:
        ensure_roles(server.admin_url.set(database="postgres"), password=server.role_password)
        create_database(server.admin_url, server.database, owner=OWNER_ROLE)
    else:
        ensure_roles(server.admin_url, password=server.role_password)
    grant_database(server.admin_url)


def upgrade(server: Server, revision: str = "head", *, script_location: Path = MIGRATIONS_DIR) -> None:
    """Prepare roles and database, then migrate to ``revision`` as the owner role."""
    prepare(server)
    try:
        command.upgrade(alembic_config(server.admin_url, script_location), revision)
    except Exception as exc:
        raise _failure(server, script_location, revision, exc, upgrading=True) from exc


def downgrade(server: Server, revision: str, *, script_location: Path = MIGRATIONS_DIR) -> None:
    try:
        command.downgrade(alembic_config(server.admin_url, script_location), revision)
    except Exception as exc:
        raise _failure(server, script_location, revision, exc, upgrading=False) from exc


def describe(revision: str | None) -> str:
    return revision or "base (empty)"


def _reason(exc: Exception) -> str:
    """The first line of what went wrong: the server's message, not the driver's wrapping."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        text = str(exc.orig)
    elif isinstance(exc, CommandError):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    lines = text.strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _failure(server: Server, script_location: Path, target: str, exc: Exception, *, upgrading: bool) -> Exception:
    """Turn a failure into one message: which revision failed, which one the database is at now."""
    try:
        now = current_revision(server.admin_url)
    except Exception:
        return exc  # the database is gone as well: the original error says more
    stayed = f"the database stayed at revision {describe(now)}"
    if isinstance(exc, CommandError):  # refused before any migration ran (unknown or invalid target)
        return MigrationFailed(f"cannot migrate to {target!r}: {_reason(exc)}; {stayed}", failed=None, stayed_at=now)
    failed = _next_upgrade(script_location, target, now) if upgrading else now
    if failed is None:
        what = "a migration failed" if upgrading else "reverting a migration failed"
    else:
        script = _scripts(script_location).get_revision(failed)
        name = Path(script.path).stem.removeprefix(f"{failed}_") if script is not None else ""
        title = f" ({name})" if name and name != failed else ""
        what = f"migration {failed}{title} failed" if upgrading else f"reverting migration {failed}{title} failed"
    return MigrationFailed(f"{what}: {_reason(exc)}; {stayed}", failed=failed, stayed_at=now)


def _next_upgrade(script_location: Path, target: str, now: str | None) -> str | None:
    """The revision after ``now`` on the way to ``target``: the one that was running when it failed."""
    try:
        path = list(_scripts(script_location).iterate_revisions(target, now or "base"))
    except Exception:
        return None
    return path[-1].revision if path else None
