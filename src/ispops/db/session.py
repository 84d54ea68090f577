"""Engines per role and the one way to open a unit of work (jobs, CLI; the API's is ``db.async_session``).

Every unit of work is one transaction whose first statement sets the tenant (and the acting user)
transaction-locally (DESIGN.md Tenancy 3) and, in the same round trip, reads the tenant's status and trial
end: a suspended, cancelled or deleted tenant, or an ended trial, is refused with the error of
``ispops.tenancy.status.refusal`` unless the caller says ``enforce_status=False`` (work the platform does
for a tenant whatever its status: jobs, maintenance, operator commands). The unit of work commits when its
block ends normally and rolls back on any error; services only ``flush``. Secret deletions that follow the
commit or the rollback run once the transaction has ended (``ispops.secrets.txn.defer``). Database errors
leave as typed ``IspopsError``s. ``AsyncDatabase`` does all of this the same way, with the same statements.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Row, String, Table, bindparam, create_engine, func, pool, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ispops.config import APP_ROLE, OWNER_ROLE, PLATFORM_ROLE
from ispops.db.server import Server
from ispops.errors import translate
from ispops.models import Tenant
from ispops.secrets.txn import defer, take_deferred
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


def check_tenant(row: Row[Any]) -> None:
    """Raise the refusal for the status row ``SET_CONTEXT_AND_CHECK`` returned, if any."""
    refused = refusal(row.status, row.trial_ends_at)
    if refused is not None:
        raise refused


def context_params(tenant_id: str, user_id: str | None) -> dict[str, str]:
    if not tenant_id:
        raise ValueError("tenant_id is required")
    return {"tenant": tenant_id, "user": user_id or ""}


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
    def tenant(self, tenant_id: str, *, user_id: str | None = None, enforce_status: bool = True) -> Iterator[Session]:
        """A unit of work for one tenant, as the application role. ``enforce_status=False`` for work the
        platform does for the tenant whatever its status (jobs, maintenance, operator commands)."""
        params = context_params(tenant_id, user_id)
        with translated_errors(), self._deferring(self.app_engine) as session, session.begin():
            if enforce_status:
                check_tenant(session.execute(SET_CONTEXT_AND_CHECK, params).one())
            else:
                session.execute(SET_CONTEXT, params)
            yield session

    @contextmanager
    def platform(self, *, user_id: str | None = None) -> Iterator[Session]:
        """A unit of work for the platform operator: tenants only, no tenant data."""
        with translated_errors(), self._deferring(self.platform_engine) as session, session.begin():
            set_context(session, None, user_id)
            yield session

    @contextmanager
    def _deferring(self, engine: Engine) -> Iterator[Session]:
        """A session whose secret deletions run once its transaction has ended (``secrets.txn.defer``)."""
        with Session(engine, expire_on_commit=False) as session:
            defer(session)
            try:
                yield session
            finally:
                deletions = take_deferred(session)
                if deletions is not None:
                    deletions()

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
