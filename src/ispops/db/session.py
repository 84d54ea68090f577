"""Engines per role and the one way to open a unit of work.

Every unit of work is one transaction whose first statement sets the tenant (and the acting user)
transaction-locally (DESIGN.md Tenancy 3). The unit of work commits when its block ends normally and
rolls back on any error; services only ``flush``. Database errors leave as typed ``IspopsError``s.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, create_engine, func, pool, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ispops.config import APP_ROLE, OWNER_ROLE, PLATFORM_ROLE
from ispops.db.server import Server
from ispops.errors import translate


@contextmanager
def translated_errors() -> Iterator[None]:
    """Re-raise constraint violations and friends as typed platform errors."""
    try:
        yield
    except DBAPIError as exc:
        typed = translate(exc)
        if typed is None:
            raise
        raise typed from exc


def set_context(session: Session | Connection, tenant_id: str | None, user_id: str | None) -> None:
    session.execute(
        select(
            func.set_config("app.current_tenant_id", tenant_id or "", True),
            func.set_config("app.current_user_id", user_id or "", True),
        )
    )


class Database:
    """Connections to one ispops database, one engine per role. The app never uses the owner."""

    def __init__(self, server: Server, *, pool_size: int = 5) -> None:
        self.server = server
        self.app_engine: Engine = create_engine(
            server.url_for(APP_ROLE),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            native_inet_types=False,
        )
        self.platform_engine: Engine = create_engine(
            server.url_for(PLATFORM_ROLE), poolclass=pool.NullPool, native_inet_types=False
        )

    @contextmanager
    def tenant(self, tenant_id: str, *, user_id: str | None = None) -> Iterator[Session]:
        """A unit of work for one tenant, as the application role."""
        if not tenant_id:
            raise ValueError("tenant_id is required")
        with translated_errors(), Session(self.app_engine, expire_on_commit=False) as session, session.begin():
            set_context(session, tenant_id, user_id)
            yield session

    @contextmanager
    def platform(self, *, user_id: str | None = None) -> Iterator[Session]:
        """A unit of work for the platform operator: tenants only, no tenant data."""
        with translated_errors(), Session(self.platform_engine, expire_on_commit=False) as session, session.begin():
            set_context(session, None, user_id)
            yield session

    @contextmanager
    def owner(self) -> Iterator[Connection]:
        """Maintenance DDL (partitions) as the owner role, through the admin URL. Not for app code."""
        engine = create_engine(self.server.admin_url, poolclass=pool.NullPool)
        try:
            with translated_errors(), engine.connect() as conn, conn.begin():
                conn.execute(text(f"set local role {OWNER_ROLE}"))
                yield conn
        finally:
            engine.dispose()

    def dispose(self) -> None:
        self.app_engine.dispose()
        self.platform_engine.dispose()
