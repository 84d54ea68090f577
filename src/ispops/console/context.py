"""What every console handler starts from: ``con: ConsoleDep``.

The dependency reads the session cookie, checks CSRF on unsafe methods, opens the request's unit of work
as the user's tenant (``AsyncDatabase.tenant``: RLS plus the tenant-status check), looks the session up in
it and yields a :class:`Console`. The unit of work commits when the handler has returned (before the
response is sent: ``scope="function"``) and rolls back when it raises. No cookie, or a dead session: a
redirect to ``/console/login`` (:class:`LoginRequired`). Sync domain services run on the same unit of work
with ``await con.session.run_sync(lambda s: service.fn(s, ...))``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ispops.api import permissions
from ispops.audit.service import event
from ispops.auth.deps import TenantScope, get_meta
from ispops.auth.principal import Principal, RequestMeta
from ispops.auth.refresh import act_as
from ispops.config import Settings
from ispops.console import sessions
from ispops.db.async_session import AsyncDatabase
from ispops.errors import PermissionDenied

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MFA_PATHS = ("/console/mfa", "/console/logout")


class LoginRequired(Exception):
    """No valid console session: answered with a redirect to the login page (``ispops.console.errors``)."""


class MfaEnrolmentRequired(Exception):
    """The tenant requires MFA and the user has not enrolled: answered with a redirect to /console/mfa."""


class CsrfFailed(PermissionDenied):
    code = "csrf_failed"


@dataclass(eq=False)
class Console:
    """The signed-in user's request: who, which tenant, its unit of work and its CSRF token."""

    request: Request
    principal: Principal
    tenant_id: str
    session: AsyncSession
    csrf_token: str
    db: AsyncDatabase
    settings: Settings
    meta: RequestMeta
    email: str = ""
    tenant_name: str = ""
    mfa_enabled: bool = False

    def can(self, resource: str, verb: str) -> bool:
        """May the user's role do ``verb`` on ``resource`` (``ispops.api.permissions``)."""
        return permissions.allowed(self.principal, resource, verb)

    def require(self, resource: str, verb: str) -> None:
        """403 unless the role may (the console's 403 page)."""
        permissions.require(self.principal, resource, verb)

    @property
    def htmx(self) -> bool:
        """An htmx request that wants a fragment (not a boosted navigation, which wants the page)."""
        return self.request.headers.get("HX-Request") == "true" and self.request.headers.get("HX-Boosted") != "true"

    def audit(self, entity: str, entity_id: object, action: str, changes: dict[str, Any] | None = None) -> None:
        """Add the user's audit event to the request's unit of work."""
        self.session.add(
            event(
                principal=self.principal,
                meta=self.meta,
                entity=entity,
                entity_id=str(entity_id),
                action=action,
                changes=changes,
            )
        )

    def scope(self) -> TenantScope:
        """A ``TenantScope`` whose units of work are this request's own (savepoints inside it), for calling
        the API's own route functions and scope-taking services without a second transaction."""
        return TenantScope(
            principal=self.principal, tenant_id=self.tenant_id, db=cast(AsyncDatabase, _Shared(self)), meta=self.meta
        )


class _Shared:
    """Stands in for ``AsyncDatabase`` in :meth:`Console.scope`: ``tenant()`` is a savepoint of the request's
    unit of work, so a failing call leaves nothing behind and the page can still show its errors."""

    def __init__(self, con: Console) -> None:
        self._con = con

    @asynccontextmanager
    async def _nested(self) -> AsyncIterator[AsyncSession]:
        async with self._con.session.begin_nested():
            yield self._con.session

    def tenant(self, tenant_id: str, **_: Any) -> AbstractAsyncContextManager[AsyncSession]:
        assert tenant_id == self._con.tenant_id
        return self._nested()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        async with self._con.session.begin_nested():
            yield await self._con.session.connection()

    def tenant_connection(self, tenant_id: str, **_: Any) -> AbstractAsyncContextManager[AsyncConnection]:
        assert tenant_id == self._con.tenant_id
        return self._connection()


async def _presented_csrf(request: Request) -> str | None:
    header = request.headers.get(sessions.CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(sessions.CSRF_FIELD)  # cached: the handler's Form() reads the same
        return value if isinstance(value, str) else None
    return None


async def console(request: Request) -> AsyncIterator[Console]:
    token = request.cookies.get(sessions.COOKIE)
    tenant_id = sessions.tenant_of(token)
    if token is None or tenant_id is None:
        raise LoginRequired
    secret = cast(str, request.app.state.jwt_secret)
    csrf = sessions.csrf_token(secret, token)
    if request.method not in SAFE_METHODS and not sessions.csrf_ok(csrf, await _presented_csrf(request)):
        raise CsrfFailed("the form has expired or did not come from this console; reload the page and try again")
    db = cast(AsyncDatabase, request.app.state.db)
    async with db.tenant(tenant_id) as session:
        found = await sessions.lookup(session, tenant_id, token)
        if found is None:
            raise LoginRequired
        await act_as(session, found.user_id)
        principal = Principal(
            kind="user",
            id=str(found.user_id),
            tenant_id=tenant_id,
            roles=found.roles,
            mfa_satisfied=found.mfa_enabled or not found.require_mfa,
        )
        if not principal.mfa_satisfied and not request.url.path.startswith(MFA_PATHS):
            raise MfaEnrolmentRequired
        con = Console(
            request=request,
            principal=principal,
            tenant_id=tenant_id,
            session=session,
            csrf_token=csrf,
            db=db,
            settings=cast(Settings, request.app.state.settings),
            meta=await get_meta(request),
            email=found.email,
            tenant_name=found.tenant_name,
            mfa_enabled=found.mfa_enabled,
        )
        request.state.console = con  # for the error pages' menu
        yield con


ConsoleDep = Annotated[Console, Depends(console, scope="function")]
Can = Callable[[str, str], bool]
