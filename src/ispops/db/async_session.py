"""The asynchronous unit of work the API uses; same rules as ``ispops.db.session``.

One transaction per request. Its first statement sets the tenant and the acting user
transaction-locally; it commits when the block ends and rolls back on any error. Database errors leave
as typed ``IspopsError``s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import String, bindparam, func, pool, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

from ispops.config import APP_ROLE, PLATFORM_ROLE
from ispops.db.server import Server
from ispops.db.session import translated_errors

# Built once: SQLAlchemy caches the compiled form of a statement object it has seen.
SET_CONTEXT = select(
    func.set_config("app.current_tenant_id", bindparam("tenant", type_=String), True),
    func.set_config("app.current_user_id", bindparam("user", type_=String), True),
)


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
    async def tenant(self, tenant_id: str, *, user_id: str | None = None) -> AsyncIterator[AsyncSession]:
        if not tenant_id:
            raise ValueError("tenant_id is required")
        with translated_errors():
            async with AsyncSession(self.app_engine, expire_on_commit=False) as session, session.begin():
                await session.execute(
                    select(
                        func.set_config("app.current_tenant_id", tenant_id, True),
                        func.set_config("app.current_user_id", user_id or "", True),
                    )
                )
                yield session

    @asynccontextmanager
    async def platform(self, *, user_id: str | None = None) -> AsyncIterator[AsyncSession]:
        with translated_errors():
            async with AsyncSession(self.platform_engine, expire_on_commit=False) as session, session.begin():
                await session.execute(
                    select(
                        func.set_config("app.current_tenant_id", "", True),
                        func.set_config("app.current_user_id", user_id or "", True),
                    )
                )
                yield session

    @asynccontextmanager
    async def tenant_connection(self, tenant_id: str, *, user_id: str | None = None) -> AsyncIterator[AsyncConnection]:
        """The same unit of work without the ORM: for hot read paths that map rows straight to schemas."""
        if not tenant_id:
            raise ValueError("tenant_id is required")
        with translated_errors():
            async with self.app_engine.begin() as conn:
                await conn.execute(SET_CONTEXT, {"tenant": tenant_id, "user": user_id or ""})
                yield conn

    async def ping(self) -> str | None:
        """The migration revision the database is at (raises if unreachable)."""
        async with self.app_engine.connect() as conn:
            return (await conn.execute(text("select version_num from alembic_version"))).scalar()

    async def dispose(self) -> None:
        await self.app_engine.dispose()
        await self.platform_engine.dispose()
