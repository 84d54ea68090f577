"""Auth test fixtures: the auth router alone on a tiny app over the session's test database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import psycopg
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from ispops.auth.api import router
from ispops.auth.deps import get_full_principal
from ispops.auth.principal import Principal
from ispops.config import Settings
from ispops.db.async_session import AsyncDatabase
from ispops.db.server import Server
from ispops.db.session import Database
from ispops.errors import IspopsError
from ispops.tenancy.service import create_user
from tests.factories import make_tenant

SECRET = "auth-test-secret-" + "k" * 48
PASSWORD = "correct horse battery"
CLIENT_IP = "203.0.113.7"
Admin = psycopg.Connection[tuple[Any, ...]]


def auth_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "jwt_secret": SECRET,
        "login_failures_per_account_per_hour": 3,
        "login_failures_per_ip_per_minute": 1000,
    }
    return Settings(**(values | overrides))


def build_app(server: Server) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = AsyncDatabase(server, pool_size=2)
        app.state.settings = auth_settings()
        app.state.jwt_secret = SECRET
        yield
        await app.state.db.dispose()

    app = FastAPI(lifespan=lifespan)
    app.include_router(router)

    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, IspopsError)
        return JSONResponse(exc.as_dict(), status_code=exc.status)

    app.add_exception_handler(IspopsError, on_error)

    @app.get("/whoami")
    async def whoami(principal: Annotated[Principal, Depends(get_full_principal)]) -> dict[str, Any]:
        return {"id": principal.id, "tenant": principal.tenant_id, "kind": principal.kind}

    return app


@pytest.fixture(scope="module")
def auth_app(server: Server) -> FastAPI:
    return build_app(server)


@pytest.fixture
def client(db: Database, auth_app: FastAPI) -> Iterator[TestClient]:
    """A client from a fixed public address, on emptied tables, with default test settings."""
    with TestClient(auth_app, client=(CLIENT_IP, 50000)) as test_client:
        yield test_client


def set_settings(client: TestClient, **overrides: Any) -> None:
    client.app.state.settings = auth_settings(**overrides)  # type: ignore[attr-defined]


StaffFactory = Callable[..., str]


@pytest.fixture
def staff(db: Database) -> StaffFactory:
    """``staff("isp-a", "ada@isp-a.net")`` creates the tenant once and a user; returns the user id."""
    made: set[str] = set()

    def make(
        tenant: str,
        email: str,
        *,
        roles: tuple[str, ...] = ("noc_engineer",),
        status: str = "active",
        password: str = PASSWORD,
    ) -> str:
        if tenant not in made:
            make_tenant(db, tenant, status=status)
            made.add(tenant)
        with db.tenant(tenant, enforce_status=False) as session:  # set up as an operator would, any status
            return str(create_user(session, tenant_id=tenant, email=email, password=password, roles=list(roles)).id)

    return make


def login(client: TestClient, tenant: str, email: str, password: str = PASSWORD, otp: str | None = None) -> Any:
    body = {"tenant": tenant, "email": email, "password": password}
    if otp is not None:
        body["otp"] = otp
    return client.post("/api/v1/auth/login", json=body)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def scalar(admin: Admin, sql: str, *params: Any) -> Any:
    row = admin.execute(sql, params).fetchone()
    return None if row is None else row[0]
