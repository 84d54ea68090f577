"""Alembic environment: migrations run as the owner role, one transaction per migration.

The caller (``ispops.db.migrate``) passes the admin URL in ``config.attributes["url"]``. The session
switches to ``ispops_owner`` so every object is owned by it, takes an advisory lock so two processes
never migrate at once, and runs each revision in its own transaction: a failing revision leaves the
database at the previous one.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from ispops.config import OWNER_ROLE

MIGRATION_LOCK = 7_310_001  # pg_advisory_lock key shared by every ispops migrator

config = context.config


def run_migrations_online() -> None:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: run migrations through `ispops db upgrade`")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        conn.execute(text(f"set role {OWNER_ROLE}"))
        conn.execute(text("set lock_timeout = '30s'"))
        conn.execute(text("select pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
        conn.commit()
        try:
            context.configure(connection=conn, transaction_per_migration=True, target_metadata=None)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            conn.rollback()
            conn.execute(text("select pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
            conn.commit()
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
