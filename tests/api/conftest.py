"""API test fixtures: the real app on the session's test database, and tokens per role."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from ispops.app import create_app
from ispops.auth.principal import Principal
from ispops.auth.tokens import issue_access_token
from ispops.config import Settings
from ispops.db.session import Database

SECRET = "test-secret-" + "x" * 64


@pytest.fixture(scope="session")
def api_settings() -> Settings:
    return Settings(jwt_secret=SECRET, login_failures_per_ip_per_minute=10_000)


@pytest.fixture(scope="session")
def app_client(database: Database, api_settings: Settings) -> Iterator[TestClient]:
    app = create_app(api_settings, server=database.server)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def client(db: Database, app_client: TestClient) -> TestClient:
    """The app client, with the database emptied before the test (through ``db``)."""
    return app_client


TokenFor = Callable[..., dict[str, str]]


@pytest.fixture
def auth() -> TokenFor:
    """``auth("tenant-a", "noc_engineer")`` -> Authorization headers for such a user."""

    def make(tenant: str | None, *roles: str, user_id: str = "u-test", operator: bool = False) -> dict[str, str]:
        principal = Principal(
            kind="operator" if operator else "user",
            id=user_id,
            tenant_id=None if operator else tenant,
            roles=frozenset(roles),
        )
        token = issue_access_token(principal, secret=SECRET, ttl_seconds=600)
        return {"Authorization": f"Bearer {token}"}

    return make
