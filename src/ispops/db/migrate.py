"""Programmatic Alembic: upgrade, downgrade, current revision."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import URL

from ispops.config import OWNER_ROLE
from ispops.db.roles import ensure_roles, grant_database
from ispops.db.server import Server, create_database

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: URL, script_location: Path = MIGRATIONS_DIR) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["url"] = url.render_as_string(hide_password=False)
    return cfg


def head_revision(script_location: Path = MIGRATIONS_DIR) -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    head = ScriptDirectory.from_config(cfg).get_current_head()
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
    command.upgrade(alembic_config(server.admin_url, script_location), revision)


def downgrade(server: Server, revision: str, *, script_location: Path = MIGRATIONS_DIR) -> None:
    command.downgrade(alembic_config(server.admin_url, script_location), revision)
