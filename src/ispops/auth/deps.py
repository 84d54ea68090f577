"""FastAPI dependencies: the database, settings, request metadata and the authenticated principal.

All ``async def``: a plain ``def`` dependency is run in the thread pool, a hop that cost ~10% of a
read request in bench/api_read.py.

The application puts ``db`` (AsyncDatabase), ``settings`` and ``jwt_secret`` on ``app.state`` at startup.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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
