"""Operators and tenants, staff users, subscriber lifecycle, quotas under parallel requests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import text

from ispops.db.session import Database
from tests.api.conftest import TokenFor
from tests.factories import make_tenant, populate

PASSWORD = "correct horse battery staple"


def test_operator_creates_lists_and_suspends_tenants(
    client: TestClient, db: Database, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    op = auth(None, operator=True, user_id="op-1")
    made = client.post("/api/v1/tenants", json={"name": "Acme Net", "slug": "acme", "max_subscribers": 50}, headers=op)
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "trial" and made.json()["trial_ends_at"]
    again = client.post("/api/v1/tenants", json={"name": "Acme 2", "slug": "acme"}, headers=op)
    assert again.status_code == 409 and again.json()["field"] == "slug"
    bad = client.post("/api/v1/tenants", json={"name": "x", "slug": "Not OK"}, headers=op)
    assert bad.status_code == 422 and bad.json()["field"] == "slug"
    listing = client.get("/api/v1/tenants", headers=op).json()
    assert [t["id"] for t in listing["items"]] == ["acme"] and listing["items"][0]["current_subscribers"] == 0
    suspended = client.patch("/api/v1/tenants/acme", json={"status": "suspended"}, headers=op)
    assert suspended.json()["status"] == "suspended"
    assert client.patch("/api/v1/tenants/nope", json={"status": "active"}, headers=op).status_code == 404
    events = admin.execute("select action, operator_id from platform_audit_events order by id").fetchall()
    assert events == [("create", "op-1"), ("update", "op-1")]
    # Tenant users cannot reach the operator endpoints; operators cannot reach tenant data.
    assert client.get("/api/v1/tenants", headers=auth("acme", "tenant_admin")).status_code == 403
    assert client.get("/api/v1/devices", headers=op).status_code == 403


def test_staff_user_created_through_the_api_can_sign_in(client: TestClient, db: Database, auth: TokenFor) -> None:
    make_tenant(db, "isp-a")
    admin_h = auth("isp-a", "tenant_admin")
    made = client.post(
        "/api/v1/users",
        json={"email": "Tech@ISP-A.example", "password": PASSWORD, "roles": ["field_tech"], "full_name": "Tess Tech"},
        headers=admin_h,
    )
    assert made.status_code == 201, made.text
    user = made.json()
    assert user["email"] == "tech@isp-a.example" and user["roles"] == ["field_tech"]
    assert "password_hash" not in user and "mfa_secret" not in user and "password" not in user
    weak = client.post(
        "/api/v1/users",
        json={"email": "x@isp-a.example", "password": "short", "roles": ["field_tech"]},
        headers=admin_h,
    )
    assert weak.status_code == 422 and weak.json()["field"] == "password"
    bogus = client.post(
        "/api/v1/users", json={"email": "y@isp-a.example", "password": PASSWORD, "roles": ["overlord"]}, headers=admin_h
    )
    assert bogus.status_code == 422 and bogus.json()["field"].startswith("roles")

    login = client.post(
        "/api/v1/auth/login", json={"tenant": "isp-a", "email": "tech@isp-a.example", "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    mine = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert client.get("/api/v1/onus", headers=mine).status_code == 200
    assert client.get("/api/v1/nas", headers=mine).status_code == 403  # field techs never see NAS secrets
    assert client.get("/api/v1/tenant", headers=mine).json()["current_users"] == 1


def test_subscriber_lifecycle_actions(client: TestClient, db: Database, auth: TokenFor) -> None:
    ids = populate(db, "isp-a", 1)
    sub = f"/api/v1/subscribers/{ids['subscribers']}"
    support = auth("isp-a", "support_agent")
    suspended = client.post(f"{sub}/suspend", json={"reason": "unpaid invoice"}, headers=support)
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == "suspended" and suspended.json()["suspension_reason"] == "unpaid invoice"
    twice = client.post(f"{sub}/suspend", headers=support)
    assert twice.status_code == 409 and twice.json()["field"] == "status"
    assert client.post(f"{sub}/resume", headers=support).json()["status"] == "active"
    assert client.post(f"{sub}/terminate", headers=support).status_code == 200  # support may update
    assert client.post(f"{sub}/resume", headers=support).status_code == 409

    field = auth("isp-a", "field_tech")
    fresh = populate(db, "isp-b", 2)["subscribers"]
    field_b = auth("isp-b", "field_tech")
    ok = client.patch(f"/api/v1/subscribers/{fresh}", json={"installation_status": "completed"}, headers=field_b)
    assert ok.status_code == 200 and ok.json()["installation_status"] == "completed"
    refused = client.patch(f"/api/v1/subscribers/{fresh}", json={"vlan_id": 12}, headers=field_b)
    assert refused.status_code == 403 and refused.json()["field"] == "vlan_id"
    assert client.post(f"{sub}/suspend", headers=field).status_code == 403
    status_patch = client.patch(sub, json={"status": "active"}, headers=auth("isp-a", "tenant_admin"))
    assert status_patch.status_code == 422 and status_patch.json()["field"] == "status"  # actions only
    devices = client.get("/api/v1/devices", headers=support).json()["items"]
    assert client.delete(f"/api/v1/devices/{devices[0]['id']}", headers=support).status_code == 403


def test_quota_is_exact_under_parallel_requests(
    live_url: str, db: Database, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    make_tenant(db, "isp-a")
    admin.execute("update tenants set max_subscribers = 25 where id = 'isp-a'")
    headers = auth("isp-a", "support_agent")

    def create(i: int) -> int:
        body = {"subscriber_number": f"S-{i:04d}", "service_type": "ftth"}
        return httpx.post(f"{live_url}/api/v1/subscribers", json=body, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(create, range(60)))
    assert codes.count(201) == 25 and codes.count(409) == 35, codes
    row = admin.execute("select current_subscribers, (select count(*) from subscribers) from tenants").fetchone()
    assert row == (25, 25)


def test_tenant_admin_requires_mfa_and_cannot_touch_limits(
    client: TestClient, db: Database, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    make_tenant(db, "isp-a")
    admin_h = auth("isp-a", "tenant_admin")
    changed = client.patch("/api/v1/tenant", json={"require_mfa": True, "phone": "+254700000000"}, headers=admin_h)
    assert changed.status_code == 200, changed.text
    assert changed.json()["settings"]["require_mfa"] is True
    assert client.patch("/api/v1/tenant", json={"max_subscribers": 10**6}, headers=admin_h).status_code == 422
    assert (
        client.patch("/api/v1/tenant", json={"require_mfa": False}, headers=auth("isp-a", "noc_engineer")).status_code
        == 403
    )
    # The database refuses too: the app role may not write quota or status columns at all.
    with db.tenant("isp-a") as s:
        ok = s.execute(
            text(
                "select has_column_privilege('tenants', 'max_subscribers', 'UPDATE'), "
                "has_column_privilege('tenants', 'settings', 'UPDATE')"
            )
        ).one()
    assert tuple(ok) == (False, True)
    # A user of that tenant now signs in with an MFA-pending token that only opens /auth/mfa/*.
    client.post(
        "/api/v1/users",
        json={"email": "n@isp-a.example", "password": PASSWORD, "roles": ["noc_engineer"]},
        headers=admin_h,
    )
    login = client.post(
        "/api/v1/auth/login", json={"tenant": "isp-a", "email": "n@isp-a.example", "password": PASSWORD}
    ).json()
    pending = {"Authorization": f"Bearer {login['access_token']}"}
    assert client.get("/api/v1/devices", headers=pending).status_code == 403
    assert client.post("/api/v1/auth/mfa/enrol", headers=pending).status_code == 200
    events = admin.execute("select entity, changes from audit_events where entity = 'tenants'").fetchall()
    assert events and events[0][1]["require_mfa"] == [False, True]
