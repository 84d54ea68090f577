"""FastAPI dependencies: the database, settings, request metadata, the authenticated principal, and the
tenant scope every route that acts on a tenant's data starts from (:class:`TenantScope`, ``Scope``).

All ``async def``: a plain ``def`` dependency is run in the thread pool, a hop that cost ~10% of a
read request in bench/api_read.py.

The application puts ``db`` (AsyncDatabase), ``settings`` and ``jwt_secret`` on ``app.state`` at startup.
"""

from __future__ import annotations

import ipaddress
import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ispops.audit.service import event
from ispops.auth.principal import Principal, RequestMeta
from ispops.auth.tokens import decode_access_token
from ispops.config import Settings
from ispops.db.async_session import AsyncDatabase
from ispops.errors import PermissionDenied, Unauthenticated

# auto_error=False: a missing or malformed header is reported by us, as a typed 401.
bearer = HTTPBearer(auto_error=False, description="The access_token from POST /api/v1/auth/login")


async def get_db(request: Request) -> AsyncDatabase:
    return cast(AsyncDatabase, request.app.state.db)


async def get_settings_dep(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def _address(host: str | None) -> str | None:
    """The client's IP address, or None when the transport reports a name (test clients, some proxies)."""
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None


async def get_meta(request: Request) -> RequestMeta:
    """Client address, request id (set by the request-id middleware, else a fresh one) and user agent."""
    request_id = getattr(request.state, "request_id", None)
    return RequestMeta(
        ip=_address(request.client.host if request.client else None),
        request_id=request_id if isinstance(request_id, str) and request_id else uuid.uuid4().hex,
        user_agent=request.headers.get("user-agent"),
    )


# The request's database and metadata, for routes that are not a tenant's (login, the operators' routes);
# a route on a tenant's data takes ``Scope``, which carries both.
Db = Annotated[AsyncDatabase, Depends(get_db)]
Meta = Annotated[RequestMeta, Depends(get_meta)]


async def get_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """The caller of a valid ``Authorization: Bearer`` access token; 401 otherwise."""
    if credentials is None or not credentials.credentials:
        raise Unauthenticated("an access token is required (Authorization: Bearer <token>)")
    return decode_access_token(credentials.credentials, secret=cast(str, request.app.state.jwt_secret))


async def get_full_principal(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    """As ``get_principal``, refusing tokens issued before a required MFA enrolment (403)."""
    if not principal.mfa_satisfied:
        raise PermissionDenied("MFA enrolment required")
    return principal


@dataclass(frozen=True, slots=True)
class TenantScope:
    """What a route acting on a tenant's data starts from: the caller, their tenant and the request.

    ``tenant_id`` is always a tenant's id (operators, who have none, are refused before the route runs).
    ``session()`` opens the route's unit of work as that tenant and user (``AsyncDatabase.tenant``);
    ``connection()`` the same without the ORM, for hot read paths.
    """

    principal: Principal
    tenant_id: str
    db: AsyncDatabase
    meta: RequestMeta

    def session(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self.db.tenant(self.tenant_id, user_id=self.principal.id)

    def connection(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return self.db.tenant_connection(self.tenant_id, user_id=self.principal.id)

    def audit(
        self, session: AsyncSession, entity: str, entity_id: object, action: str, changes: dict[str, Any] | None = None
    ) -> None:
        """Add the caller's audit event of a change to the route's unit of work (``audit.service.event``)."""
        session.add(
            event(
                principal=self.principal,
                meta=self.meta,
                entity=entity,
                entity_id=str(entity_id),
                action=action,
                changes=changes,
            )
        )


async def get_tenant_scope(
    principal: Annotated[Principal, Depends(get_full_principal)],
    db: Annotated[AsyncDatabase, Depends(get_db)],
    meta: Annotated[RequestMeta, Depends(get_meta)],
) -> TenantScope:
    """The caller's :class:`TenantScope`; 403 for a platform operator (operators act on tenants through
    ``/api/v1/tenants``, never on a tenant's data)."""
    if principal.is_operator or principal.tenant_id is None:
        raise PermissionDenied("tenant users only")
    return TenantScope(principal=principal, tenant_id=principal.tenant_id, db=db, meta=meta)


# The one dependency of every route on a tenant's data: ``async def route(..., scope: Scope)``.
Scope = Annotated[TenantScope, Depends(get_tenant_scope)]
