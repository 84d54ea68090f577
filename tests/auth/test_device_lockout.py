"""Lockout without denial of service (issue 21, item 7): the account limit locks out clients that never
signed in as the user; a device token from an earlier sign-in gets through, and is locked on its own."""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi.testclient import TestClient

from ispops.auth import device
from tests.auth.conftest import CLIENT_IP, PASSWORD, SECRET, Admin, StaffFactory, login, scalar, set_settings

EMAIL = "ada@isp-a.net"
ATTACKERS = ("198.51.100.20", "198.51.100.21")


def from_address(client: TestClient, ip: str) -> TestClient:
    """Another client of the running app (own address, own cookie jar, no device token)."""
    other = TestClient(client.app, client=(ip, 40000))
    other.portal = client.portal  # the running app's event loop and lifespan state
    return other


def login_with(client: TestClient, token: str, password: str = PASSWORD, email: str = EMAIL) -> Any:
    body = {"tenant": "isp-a", "email": email, "password": password}
    return client.post("/api/v1/auth/login", json=body, headers={device.HEADER: token})


def lock_out(client: TestClient, email: str = EMAIL) -> None:
    """Three failures (the test limit) from attackers without a device token: the account lockout engages."""
    for n in range(3):
        attacker = from_address(client, ATTACKERS[n % 2])
        assert login(attacker, "isp-a", email, "wrong password!").status_code == 401
    refused = login(from_address(client, ATTACKERS[0]), "isp-a", email)
    assert refused.status_code == 429, refused.text


def lockout_events(admin: Admin) -> list[tuple[Any, ...]]:
    return admin.execute(
        "select entity, entity_id, actor_kind, actor_id, action, changes from audit_events "
        "where changes->>'action' = 'login_lockout' order by id"
    ).fetchall()


def test_a_client_that_signed_in_before_gets_through_the_lockout(
    client: TestClient, staff: StaffFactory, admin: Admin
) -> None:
    staff("isp-a", EMAIL)
    first = login(client, "isp-a", EMAIL)
    assert first.status_code == 200, first.text
    token = first.json()["device_token"]
    cookie = first.headers["set-cookie"]
    assert f"{device.COOKIE}={token}" in cookie and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert "Path=/api/v1/auth" in cookie
    api_client = from_address(client, "192.0.2.50")  # an API client that kept the token from the JSON

    lock_out(client)
    # Untrusted clients: refused even with the right password, as before (from a new address too).
    assert login(from_address(client, "192.0.2.99"), "isp-a", EMAIL).status_code == 429
    # The browser that signed in before (its cookie) and the API client (its header) get through.
    assert login(client, "isp-a", EMAIL).status_code == 200
    assert login_with(api_client, token).status_code == 200
    # The lockout still holds for everyone else.
    assert login(from_address(client, "192.0.2.99"), "isp-a", EMAIL).status_code == 429


def test_forged_expired_or_another_users_token_does_not_help(
    client: TestClient, staff: StaffFactory, admin: Admin
) -> None:
    ada = uuid.UUID(staff("isp-a", EMAIL))
    staff("isp-a", "bob@isp-a.net")
    bobs = login(client, "isp-a", "bob@isp-a.net").json()["device_token"]
    client.cookies.clear()
    lock_out(client)
    payload, _, mac = bobs.rpartition(".")
    parts = payload.split(".")
    parts[2] = str(ada)  # bob's token rewritten to name ada, with bob's signature
    forged = ".".join(parts) + "." + mac
    other_key = device.issue(jwt_secret="another-installation-" + "z" * 40, tenant_id="isp-a", user_id=ada)
    expired = device.issue(jwt_secret=SECRET, tenant_id="isp-a", user_id=ada, now=time.time() - 181 * 86400)
    other_tenant = device.issue(jwt_secret=SECRET, tenant_id="isp-b", user_id=ada)
    for token in (bobs, forged, other_key, expired, other_tenant, "garbage", "x" * 5000):
        refused = login_with(from_address(client, "192.0.2.60"), token)
        assert refused.status_code == 429, (token[:40], refused.text)
    # The same request with a token this installation issued to ada does get through.
    genuine = device.issue(jwt_secret=SECRET, tenant_id="isp-a", user_id=ada)
    assert login_with(from_address(client, "192.0.2.60"), genuine).status_code == 200


def test_failures_with_a_device_token_lock_that_token_only(
    client: TestClient, staff: StaffFactory, admin: Admin
) -> None:
    set_settings(client, login_failures_per_device_per_hour=2)
    staff("isp-a", EMAIL)
    mine = login(from_address(client, "192.0.2.70"), "isp-a", EMAIL).json()["device_token"]
    theirs = login(from_address(client, "192.0.2.71"), "isp-a", EMAIL).json()["device_token"]
    stolen = from_address(client, "192.0.2.66")
    for _ in range(2):
        assert login_with(stolen, theirs, "wrong password!").status_code == 401
    locked = login_with(stolen, theirs)
    assert locked.status_code == 429 and "device" in locked.json()["message"], locked.text
    # Counted against that token only: not the account, not the user's other device.
    assert scalar(admin, "select count(*) from login_failures where email = %s", EMAIL) == 0
    assert scalar(admin, "select count(*) from login_failures where email like 'device:%%'") == 2
    assert login_with(from_address(client, "192.0.2.70"), mine).status_code == 200
    assert login(from_address(client, "192.0.2.72"), "isp-a", EMAIL).status_code == 200
    assert lockout_events(admin) == []


def test_the_lockout_is_audited_and_shown_to_the_user(client: TestClient, staff: StaffFactory, admin: Admin) -> None:
    ada = staff("isp-a", EMAIL)
    first = login(client, "isp-a", EMAIL)
    assert first.json()["lockouts"] == []
    lock_out(client)
    for _ in range(2):  # refused attempts after the lockout add no event
        assert login(from_address(client, ATTACKERS[1]), "isp-a", EMAIL, "again").status_code == 429
    # Unknown accounts are locked out too, but there is nobody to tell.
    lock_out(client, "ghost@isp-a.net")

    events = lockout_events(admin)
    assert len(events) == 1, events
    entity, entity_id, actor_kind, actor_id, action, changes = events[0]
    assert (entity, entity_id, actor_kind, actor_id, action) == ("users", ada, "system", None, "action")
    assert changes["failures"] == 3 and changes["window_seconds"] == 3600
    assert sorted(changes["source_ips"]) == sorted(ATTACKERS)
    assert scalar(admin, "select tenant_id from audit_events where changes->>'action' = 'login_lockout'") == "isp-a"

    shown = login(client, "isp-a", EMAIL)  # the user's own browser: through, and told
    assert shown.status_code == 200, shown.text
    [notice] = shown.json()["lockouts"]
    assert notice["failures"] == 3 and sorted(notice["source_ips"]) == sorted(ATTACKERS)
    assert login(client, "isp-a", EMAIL).json()["lockouts"] == []  # told once: since the previous sign-in
    assert CLIENT_IP not in changes["source_ips"]
