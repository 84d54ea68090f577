"""The asynchronous unit of work the API uses; same rules as ``ispops.db.session``.

One transaction per request. Its first statement sets the tenant and the acting user
transaction-locally and, in the same round trip, reads the tenant's status and trial end: a suspended,
cancelled or deleted tenant, or an ended trial, is refused (403) on every request, whatever the access
token says (``ispops.tenancy.status``). The unit of work commits when the block ends and rolls back on any
error. Database errors leave as typed ``IspopsError``s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Row, String, Table, bindparam, func, pool, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

from ispops.config import APP_ROLE, PLATFORM_ROLE
from ispops.db.server import Server
from ispops.db.session import translated_errors
from ispops.models import Tenant
from ispops.secrets.txn import defer, settle
from ispops.tenancy.status import refusal

# Statements are built once: SQLAlchemy caches the compiled form of a statement object it has seen.
SET_CONTEXT = select(
    func.set_config("app.current_tenant_id", bindparam("tenant", type_=String), True).label("tenant_id"),
    func.set_config("app.current_user_id", bindparam("user", type_=String), True).label("user_id"),
)
# The same, returning the tenant's status and trial end. The tenants row is visible to the app role only
# once app.current_tenant_id is set (policy tenant_self), so the lookups must run after set_config: they
# are correlated to its result (the id it returns), and OFFSET 0 keeps the planner from flattening the
# subquery that calls it. No row (tenant deleted, or never existed): both are NULL.
_CONTEXT = SET_CONTEXT.offset(0).subquery("ctx")
_TENANTS: Table = Tenant.__table__  # type: ignore[assignment]


def _of_tenant(column: str) -> Any:
    return (
        select(_TENANTS.c[column])
        .where(_TENANTS.c.id == _CONTEXT.c.tenant_id, _TENANTS.c.deleted_at.is_(None))
        .scalar_subquery()
        .label(column)
    )


SET_CONTEXT_AND_CHECK = select(_of_tenant("status"), _of_tenant("trial_ends_at")).select_from(_CONTEXT)


def _check(row: Row[Any]) -> None:
    refused = refusal(row.status, row.trial_ends_at)
    if refused is not None:
        raise refused


class AsyncDatabase:
    """Async engines for the application and platform roles."""

    def __init__(self, server: Server, *, pool_size: int = 32) -> None:
        self.server = server
        self.app_engine: AsyncEngine = create_async_engine(
            server.url_for(APP_ROLE),
            pool_size=pool_size,
            max_overflow=max(4, pool_size // 4),
            pool_pre_ping=False,
            pool_recycle=1800,
            native_inet_types=False,
        )
        self.platform_engine: AsyncEngine = create_async_engine(
            server.url_for(PLATFORM_ROLE), poolclass=pool.AsyncAdaptedQueuePool, pool_size=2, native_inet_types=False
        )

    @asynccontextmanager
    async def tenant(
        self, tenant_id: str, *, user_id: str | None = None, enforce_status: bool = True
    ) -> AsyncIterator[AsyncSession]:
        """A unit of work for one tenant. ``enforce_status=False`` only for login, refresh and logout,
        which apply the tenant rule themselves once the caller has proven who they are."""
        if not tenant_id:
            raise ValueError("tenant_id is required")
        params = {"tenant": tenant_id, "user": user_id or ""}
        with translated_errors():
            async with AsyncSession(self.app_engine, expire_on_commit=False) as session:
                defer(session)  # secret deletions after the commit run off the event loop (settle)
                try:
                    async with session.begin():
                        if enforce_status:
                            _check((await session.execute(SET_CONTEXT_AND_CHECK, params)).one())
                        else:
                            await session.execute(SET_CONTEXT, params)
                        yield session
                finally:
                    await settle(session)

    @asynccontextmanager
    async def platform(self, *, user_id: str | None = None) -> AsyncIterator[AsyncSession]:
        with translated_errors():
            async with AsyncSession(self.platform_engine, expire_on_commit=False) as session:
                defer(session)
                try:
                    async with session.begin():
                        await session.execute(
                            select(
                                func.set_config("app.current_tenant_id", "", True),
                                func.set_config("app.current_user_id", user_id or "", True),
                            )
                        )
                        yield session
                finally:
                    await settle(session)

    @asynccontextmanager
    async def tenant_connection(self, tenant_id: str, *, user_id: str | None = None) -> AsyncIterator[AsyncConnection]:
        """The same unit of work without the ORM: for hot read paths that map rows straight to schemas.
        Always checks the tenant's status, in the one statement that sets the context."""
        if not tenant_id:
            raise ValueError("tenant_id is required")
        with translated_errors():
            async with self.app_engine.begin() as conn:
                params = {"tenant": tenant_id, "user": user_id or ""}
                _check((await conn.execute(SET_CONTEXT_AND_CHECK, params)).one())
                yield conn

    async def ping(self) -> str | None:
        """The migration revision the database is at (raises if unreachable)."""
        async with self.app_engine.connect() as conn:
            return (await conn.execute(text("select version_num from alembic_version"))).scalar()

    async def dispose(self) -> None:
        await self.app_engine.dispose()
        await self.platform_engine.dispose()
