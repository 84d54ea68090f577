"""The asynchronous unit of work the API uses; same rules as ``ispops.db.session``.

One transaction per request. Its first statement sets the tenant and the acting user
transaction-locally and, in the same round trip, reads the tenant's status and trial end: a suspended,
cancelled or deleted tenant, or an ended trial, is refused (403) on every request, whatever the access
token says (``ispops.tenancy.status``). The unit of work commits when the block ends and rolls back on any
error. Secret deletions that follow the commit or the rollback run in a worker thread once it has ended.
Database errors leave as typed ``IspopsError``s. The statements, the refusal and the deferral are those of
the sync ``Database`` (``ispops.db.session``): both units of work behave the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import func, pool, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

from ispops.config import APP_ROLE, PLATFORM_ROLE
from ispops.db.server import Server
from ispops.db.session import SET_CONTEXT, SET_CONTEXT_AND_CHECK, check_tenant, context_params, translated_errors
from ispops.secrets.txn import defer, take_deferred


async def _settle(session: AsyncSession) -> None:
    """Run the secret deletions collected while the transaction ran (``secrets.txn.defer``) in a worker
    thread, once it has ended. Shielded: a request cancelled meanwhile does not stop them."""
    deletions = take_deferred(session)
    if deletions is not None:
        await asyncio.shield(asyncio.to_thread(deletions))


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
        params = context_params(tenant_id, user_id)
        with translated_errors():
            async with AsyncSession(self.app_engine, expire_on_commit=False) as session:
                defer(session)  # secret deletions after the commit run off the event loop (_settle)
                try:
                    async with session.begin():
                        if enforce_status:
                            check_tenant((await session.execute(SET_CONTEXT_AND_CHECK, params)).one())
                        else:
                            await session.execute(SET_CONTEXT, params)
                        yield session
                finally:
                    await _settle(session)

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
                    await _settle(session)

    @asynccontextmanager
    async def tenant_connection(self, tenant_id: str, *, user_id: str | None = None) -> AsyncIterator[AsyncConnection]:
        """The same unit of work without the ORM: for hot read paths that map rows straight to schemas.
        Always checks the tenant's status, in the one statement that sets the context."""
        params = context_params(tenant_id, user_id)
        with translated_errors():
            async with self.app_engine.begin() as conn:
                check_tenant((await conn.execute(SET_CONTEXT_AND_CHECK, params)).one())
                yield conn

    async def ping(self) -> str | None:
        """The migration revision the database is at (raises if unreachable)."""
        async with self.app_engine.connect() as conn:
            return (await conn.execute(text("select version_num from alembic_version"))).scalar()

    async def dispose(self) -> None:
        await self.app_engine.dispose()
        await self.platform_engine.dispose()
