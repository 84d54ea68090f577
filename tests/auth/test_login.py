"""Tenant-user login through the API: answers, tenant states, throttling, committed failures."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ispops.auth import service
from ispops.auth.principal import Principal, RequestMeta
from ispops.auth.tokens import decode_access_token
from ispops.config import Settings
from ispops.db.async_session import AsyncDatabase
from ispops.db.session import Database
from ispops.errors import Unauthenticated
from tests.auth.conftest import (
    CLIENT_IP,
    PASSWORD,
    SECRET,
    Admin,
    StaffFactory,
    auth_settings,
    login,
    scalar,
    set_settings,
)

EMAIL = "ada@isp-a.net"
INVALID = {"code": "unauthenticated", "message": "invalid credentials"}


def failures(admin: Admin, tenant: str = "isp-a", email: str = EMAIL) -> int:
    return int(scalar(admin, "select count(*) from login_failures where tenant_id = %s and email = %s", tenant, email))


def test_login_returns_tokens_for_the_user(client: TestClient, staff: StaffFactory, admin: Admin) -> None:
    user_id = staff("isp-a", EMAIL, roles=("noc_engineer", "support_agent"))
    response = login(client, "isp-a", "ADA@isp-a.net ")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["mfa_enrolment_required"] is False
    assert decode_access_token(body["access_token"], secret=SECRET) == Principal(
        kind="user", id=user_id, tenant_id="isp-a", roles=frozenset({"noc_engineer", "support_agent"})
    )
    refresh = body["refresh_token"]
    assert refresh.startswith("isp-a.")
    stored = admin.execute(
        "select token_hash, user_id::text, revoked_at, expires_at > now() + interval '29 days', created_ip::text "
        "from refresh_tokens"
    ).fetchall()
    assert stored == [(hashlib.sha256(refresh.encode()).hexdigest(), user_id, None, True, f"{CLIENT_IP}/32")]
    assert scalar(admin, "select last_login_at is not null from users where id = %s", user_id) is True
    assert scalar(admin, "select password_hash from users").startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_every_credential_failure_looks_the_same(client: TestClient, staff: StaffFactory, admin: Admin) -> None:
    staff("isp-a", EMAIL)
    staff("isp-a", "gone@isp-a.net")
    admin.execute("update users set is_active = false where email = 'gone@isp-a.net'")
    attempts = [
        login(client, "isp-a", EMAIL, "wrong password!"),
        login(client, "isp-a", "nobody@isp-a.net"),
        login(client, "no-such-isp", EMAIL),
        login(client, "isp-a", "gone@isp-a.net"),  # right password, inactive user
    ]
    assert {r.status_code for r in attempts} == {401}
    assert all(r.json() == INVALID for r in attempts)
    assert len({tuple(sorted(r.headers.items())) for r in attempts}) == 1
    # Each one was recorded although the request failed (unknown tenants only per address).
    assert failures(admin) == 1
    assert failures(admin, email="nobody@isp-a.net") == 1
    assert failures(admin, email="gone@isp-a.net") == 1
    assert scalar(admin, "select count(*) from ip_login_failures where ip = %s", CLIENT_IP) == 4


@pytest.mark.parametrize(
    ("status", "trial_ends", "message"),
    [
        ("suspended", None, "this ISP's account is suspended"),
        ("cancelled", None, "this ISP's account is suspended"),
        ("inactive", None, "this ISP's account is suspended"),
        ("trial", timedelta(days=-1), "this ISP's trial has ended"),
    ],
)
def test_refused_tenants(
    client: TestClient,
    staff: StaffFactory,
    admin: Admin,
    status: str,
    trial_ends: timedelta | None,
    message: str,
) -> None:
    staff("isp-a", EMAIL, status=status)
    if trial_ends is not None:
        admin.execute("update tenants set trial_ends_at = %s", (datetime.now(UTC) + trial_ends,))
    wrong = login(client, "isp-a", EMAIL, "wrong password!")
    assert (wrong.status_code, wrong.json()) == (401, INVALID)  # nothing revealed without the password
    right = login(client, "isp-a", EMAIL)
    assert (right.status_code, right.json()) == (403, {"code": "permission_denied", "message": message})
    assert scalar(admin, "select count(*) from refresh_tokens") == 0


def test_running_trial_may_log_in(client: TestClient, staff: StaffFactory, admin: Admin) -> None:
    staff("isp-a", EMAIL, status="trial")
    admin.execute("update tenants set trial_ends_at = now() + interval '3 days'")
    assert login(client, "isp-a", EMAIL).status_code == 200


def test_account_throttle_applies_even_to_the_right_password(
    client: TestClient, staff: StaffFactory, admin: Admin
) -> None:
    staff("isp-a", EMAIL)  # test settings: 3 failures per account per hour
    for _ in range(3):
        assert login(client, "isp-a", EMAIL, "wrong password!").status_code == 401
    locked = login(client, "isp-a", EMAIL)
    assert locked.status_code == 429
    assert locked.json()["code"] == "too_many_requests"
    assert failures(admin) == 3  # a throttled attempt is not counted again
    # The same for an account that does not exist, and per account: others are unaffected.
    for _ in range(3):
        assert login(client, "isp-a", "ghost@isp-a.net", "x").status_code == 401
    assert login(client, "isp-a", "GHOST@isp-a.net", "x").status_code == 429
    staff("isp-a", "bob@isp-a.net")
    assert login(client, "isp-a", "bob@isp-a.net").status_code == 200
    # Failures older than an hour no longer count.
    admin.execute("update login_failures set occurred_at = now() - interval '61 minutes'")
    assert login(client, "isp-a", EMAIL).status_code == 200


def test_default_account_limit_is_100(client: TestClient, staff: StaffFactory, admin: Admin) -> None:
    assert Settings.model_fields["login_failures_per_account_per_hour"].default == 100
    set_settings(client, login_failures_per_account_per_hour=100)
    staff("isp-a", EMAIL)
    admin.execute(
        "insert into login_failures (tenant_id, email) select 'isp-a', %s from generate_series(1, 99)", (EMAIL,)
    )
    assert login(client, "isp-a", EMAIL, "wrong password!").status_code == 401  # the 100th failure
    assert login(client, "isp-a", EMAIL).status_code == 429


def test_per_address_throttle(client: TestClient, staff: StaffFactory, auth_app: Any, admin: Admin) -> None:
    set_settings(client, login_failures_per_ip_per_minute=4, login_failures_per_account_per_hour=100)
    staff("isp-a", EMAIL)
    for n in range(4):  # different accounts and tenants: the address is what counts
        assert login(client, "isp-a" if n % 2 else "isp-b", f"user{n}@isp-a.net", "nope").status_code == 401
    assert login(client, "isp-a", EMAIL).status_code == 429
    with TestClient(auth_app, client=("198.51.100.9", 4000)) as other:
        set_settings(other, login_failures_per_ip_per_minute=4)
        assert login(other, "isp-a", EMAIL).status_code == 200
    admin.execute("update ip_login_failures set occurred_at = now() - interval '61 seconds'")
    assert login(client, "isp-a", EMAIL).status_code == 200


def test_old_hashes_are_upgraded_on_login(client: TestClient, staff: StaffFactory, admin: Admin) -> None:
    from argon2 import PasswordHasher

    staff("isp-a", EMAIL)
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    admin.execute("update users set password_hash = %s", (weak,))
    assert login(client, "isp-a", EMAIL).status_code == 200
    assert scalar(admin, "select password_hash from users").startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_service_failure_is_committed_by_the_unit_of_work(db: Database, staff: StaffFactory, admin: Admin) -> None:
    """The pattern the API follows: the unit of work ends normally, then the error is raised."""
    staff("isp-a", EMAIL)
    meta = RequestMeta(ip="192.0.2.10", request_id="r1")

    async def attempt(raise_inside: bool) -> None:
        database = AsyncDatabase(db.server, pool_size=1)
        try:
            async with database.tenant("isp-a") as session:
                outcome = await service.login_user(
                    session,
                    tenant_id="isp-a",
                    email=EMAIL,
                    password="wrong password!",
                    otp=None,
                    meta=meta,
                    settings=auth_settings(),
                    jwt_secret=SECRET,
                )
                assert outcome.failed
                if raise_inside:
                    outcome.unwrap()
            outcome.unwrap()
        finally:
            await database.dispose()

    with pytest.raises(Unauthenticated):
        asyncio.run(attempt(raise_inside=True))
    assert failures(admin) == 0  # raising inside the unit of work would lose the failure
    with pytest.raises(Unauthenticated):
        asyncio.run(attempt(raise_inside=False))
    assert failures(admin) == 1
    assert scalar(admin, "select count(*) from ip_login_failures where ip = '192.0.2.10'") == 1
