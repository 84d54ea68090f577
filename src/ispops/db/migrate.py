"""Programmatic Alembic: upgrade, downgrade, current revision."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import URL

from ispops.db.roles import ensure_roles
from ispops.db.server import Server

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


def upgrade(server: Server, revision: str = "head", *, script_location: Path = MIGRATIONS_DIR) -> None:
    """Create/correct the roles, then migrate to ``revision`` as the owner role."""
    ensure_roles(server.admin_url, password=server.role_password)
    command.upgrade(alembic_config(server.admin_url, script_location), revision)


def downgrade(server: Server, revision: str, *, script_location: Path = MIGRATIONS_DIR) -> None:
    command.downgrade(alembic_config(server.admin_url, script_location), revision)
