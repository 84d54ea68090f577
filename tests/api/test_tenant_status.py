"""The tenant's status is checked on every request, not only at sign-in: a suspended tenant or an ended
trial loses the API at once, with a valid access token still in hand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from ispops.db.session import Database
from ispops.tenancy.service import create_user
from tests.api.conftest import TokenFor
from tests.factories import make_tenant, populate

PASSWORD = "correct horse battery staple"


def sign_in(client: TestClient, db: Database, tenant: str) -> dict[str, Any]:
    """A tenant admin of ``tenant``, signed in through the API (a real access and refresh token)."""
    with db.tenant(tenant) as s:
        create_user(s, tenant_id=tenant, email=f"boss@{tenant}.example", password=PASSWORD, roles=["tenant_admin"])
    login = client.post(
        "/api/v1/auth/login", json={"tenant": tenant, "email": f"boss@{tenant}.example", "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    return dict(login.json())


def refused(response: Any, detail: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == detail


def test_suspended_tenant_loses_access_with_a_valid_token(
    client: TestClient, db: Database, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    ids = populate(db, "isp-a", 1)
    populate(db, "isp-b", 2)
    tokens = sign_in(client, db, "isp-a")
    h = {"Authorization": f"Bearer {tokens['access_token']}"}
    one = f"/api/v1/subscribers/{ids['subscribers']}"
    assert client.get(one, headers=h).status_code == 200
    assert client.get("/api/v1/subscribers", headers=h).status_code == 200

    operator = auth(None, operator=True, user_id="op-1")
    assert client.patch("/api/v1/tenants/isp-a", json={"status": "suspended"}, headers=operator).status_code == 200
    before = admin.execute("select count(*) from customers").fetchone()
    for response in (
        client.get(one, headers=h),  # the hot read path (no ORM)
        client.get("/api/v1/subscribers", headers=h),
        client.post("/api/v1/customers", json={"customer_number": "C-9", "name": "Eve"}, headers=h),
        client.post(f"{one}/suspend", json={}, headers=h),
        client.get("/api/v1/tenant", headers=h),
    ):
        refused(response, "this ISP's account is suspended")
    assert admin.execute("select count(*) from customers").fetchone() == before
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401
    # Other tenants are unaffected; reactivated, the same token works again.
    assert client.get("/api/v1/subscribers", headers=auth("isp-b", "tenant_admin")).status_code == 200
    assert client.patch("/api/v1/tenants/isp-a", json={"status": "active"}, headers=operator).status_code == 200
    assert client.get(one, headers=h).status_code == 200


@pytest.mark.parametrize("status", ["cancelled", "inactive", "pending"])
def test_other_unusable_statuses_are_refused(
    status: str, client: TestClient, db: Database, admin: psycopg.Connection[Any]
) -> None:
    make_tenant(db, "isp-a")
    h = {"Authorization": f"Bearer {sign_in(client, db, 'isp-a')['access_token']}"}
    assert client.get("/api/v1/devices", headers=h).status_code == 200
    admin.execute("update tenants set status = %s where id = 'isp-a'", (status,))
    refused(client.get("/api/v1/devices", headers=h), "this ISP's account is suspended")


def test_trial_expiry_ends_access_and_refresh(client: TestClient, db: Database, admin: psycopg.Connection[Any]) -> None:
    ids = populate(db, "isp-a", 1)
    admin.execute("update tenants set status = 'trial', trial_ends_at = now() + interval '1 day' where id = 'isp-a'")
    tokens = sign_in(client, db, "isp-a")
    h = {"Authorization": f"Bearer {tokens['access_token']}"}
    one = f"/api/v1/devices/{ids['devices']}"
    assert client.get(one, headers=h).status_code == 200  # a running trial works

    admin.execute("update tenants set trial_ends_at = now() - interval '1 second' where id = 'isp-a'")
    refused(client.get(one, headers=h), "this ISP's trial has ended")
    refused(client.patch(one, json={"site_name": "x"}, headers=h), "this ISP's trial has ended")
    assert admin.execute("select site_name from devices").fetchone() == (None,)
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401 and "access_token" not in refresh.json()


def test_deleted_or_unknown_tenant_is_refused(
    client: TestClient, db: Database, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    make_tenant(db, "isp-a")
    h = auth("isp-a", "tenant_admin")
    assert client.get("/api/v1/devices", headers=h).status_code == 200
    admin.execute("update tenants set deleted_at = now() where id = 'isp-a'")
    refused(client.get("/api/v1/devices", headers=h), "this ISP's account is closed")
    refused(client.get("/api/v1/devices", headers=auth("no-such-isp", "tenant_admin")), "this ISP's account is closed")


@pytest.fixture
def statements(app_client: TestClient) -> Iterator[list[str]]:
    """Every SQL statement the app's tenant connections send while the test runs."""
    engine = app_client.app.state.db.app_engine.sync_engine  # type: ignore[attr-defined]
    sent: list[str] = []

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", on_execute)
    yield sent
    event.remove(engine, "before_cursor_execute", on_execute)


def test_the_check_costs_no_extra_round_trip(
    client: TestClient, db: Database, auth: TokenFor, statements: list[str]
) -> None:
    """GET one: one statement sets the tenant and user and reads the tenant's status; one reads the row."""
    ids = populate(db, "isp-a", 1)
    h = auth("isp-a", "tenant_admin")
    statements.clear()
    assert client.get(f"/api/v1/subscribers/{ids['subscribers']}", headers=h).status_code == 200
    assert len(statements) == 2, statements
    assert "set_config" in statements[0] and "tenants" in statements[0] and "status" in statements[0]
    assert "FROM subscribers" in statements[1]
