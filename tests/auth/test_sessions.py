"""Refresh rotation, reuse detection, logout, MFA and operator accounts through the API."""

from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from ispops.auth import mfa
from ispops.auth.service import create_operator
from ispops.auth.tokens import decode_access_token
from ispops.db.async_session import AsyncDatabase
from ispops.db.session import Database
from tests.auth.conftest import PASSWORD, SECRET, Admin, StaffFactory, bearer, login, scalar

EMAIL = "ada@isp-a.net"
REFRESH = "/api/v1/auth/refresh"


def refresh(client: TestClient, token: str, path: str = REFRESH) -> Any:
    return client.post(path, json={"refresh_token": token})


def tokens(admin: Admin) -> list[tuple[str, str | None]]:
    return [
        (str(r[0]), r[1])
        for r in admin.execute("select family_id, revoked_reason from refresh_tokens order by issued_at, id")
    ]


def test_refresh_rotates_within_the_family(client: TestClient, staff: StaffFactory, admin: Admin) -> None:
    user_id = staff("isp-a", EMAIL)
    first = login(client, "isp-a", EMAIL).json()["refresh_token"]
    admin.execute("update users set roles = '[\"tenant_admin\"]'")  # roles are read again
    response = refresh(client, first)
    assert response.status_code == 200, response.text
    second = response.json()["refresh_token"]
    assert second != first and second.startswith("isp-a.")
    principal = decode_access_token(response.json()["access_token"], secret=SECRET)
    assert (principal.id, principal.roles) == (user_id, frozenset({"tenant_admin"}))
    family = {f for f, _ in tokens(admin)}
    assert len(family) == 1
    assert scalar(admin, "select revoked_reason from refresh_tokens where revoked_at is not null") == "rotated"
    assert refresh(client, second).status_code == 200


def test_reused_refresh_token_revokes_the_family(client: TestClient, staff: StaffFactory, admin: Admin) -> None:
    staff("isp-a", EMAIL)
    first = login(client, "isp-a", EMAIL).json()["refresh_token"]
    other_session = login(client, "isp-a", EMAIL).json()["refresh_token"]
    second = refresh(client, first).json()["refresh_token"]
    reused = refresh(client, first)
    assert reused.status_code == 401
    assert reused.json()["code"] == "unauthenticated"
    # The revocation was committed although the request failed.
    reasons = sorted(r for f, r in tokens(admin) if r is not None)
    assert reasons == ["reuse_detected", "rotated"]
    assert refresh(client, second).status_code == 401
    assert refresh(client, other_session).status_code == 200  # another login is another family


def test_logout_revokes_the_family_and_is_idempotent(client: TestClient, staff: StaffFactory, admin: Admin) -> None:
    staff("isp-a", EMAIL)
    first = login(client, "isp-a", EMAIL).json()["refresh_token"]
    second = refresh(client, first).json()["refresh_token"]
    for token in (second, second, first, "garbage", "isp-zz.unknown"):
        assert client.post("/api/v1/auth/logout", json={"refresh_token": token}).status_code == 204
    assert sorted(str(r) for _, r in tokens(admin)) == ["logout", "rotated"]
    assert refresh(client, second).status_code == 401


def test_refresh_refused_when_expired_deactivated_or_suspended(
    client: TestClient, staff: StaffFactory, admin: Admin
) -> None:
    staff("isp-a", EMAIL)
    for change, undo in [
        ("update refresh_tokens set expires_at = now() - interval '1 second'", None),
        ("update users set is_active = false", "update users set is_active = true"),
        ("update users set deleted_at = now()", "update users set deleted_at = null"),
        ("update tenants set status = 'suspended'", "update tenants set status = 'active'"),
    ]:
        token = login(client, "isp-a", EMAIL).json()["refresh_token"]
        admin.execute(change)
        assert refresh(client, token).status_code == 401, change
        if undo:
            admin.execute(undo)


def test_tampered_tenant_prefix_fails(client: TestClient, staff: StaffFactory) -> None:
    staff("isp-a", EMAIL)
    staff("isp-b", "bob@isp-b.net")
    token_a = login(client, "isp-a", EMAIL).json()["refresh_token"]
    tampered = "isp-b" + token_a[len("isp-a") :]
    assert refresh(client, tampered).status_code == 401
    assert refresh(client, token_a.split(".", 1)[1]).status_code == 401  # no prefix at all
    assert refresh(client, token_a).status_code == 200  # the genuine token was not disturbed


# The TOTP clock stands still at the middle of a 30-second step for these tests: which codes are valid
# must not depend on when the test runs (a step boundary crossed between two requests turned a replayed
# code into a fresh one under load).
FROZEN_STEP = 59_000_000


@pytest.fixture(autouse=True)
def frozen_totp_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mfa, "time", SimpleNamespace(time=lambda: FROZEN_STEP * 30 + 15.0))


def code(secret: str, offset: int) -> str:
    """The code of the step ``offset`` away from the current one (-1, 0, +1 are all accepted, each once)."""
    return pyotp.TOTP(secret).at((FROZEN_STEP + offset) * 30)


def not_a_code(secret: str) -> str:
    """Six digits that are none of the codes accepted now (a fixed guess could be one, once in 300,000)."""
    valid = {code(secret, offset) for offset in (-1, 0, 1)}
    return next(guess for guess in ("000000", "123456", "999999", "424242") if guess not in valid)


def _enrol(client: TestClient, access: str) -> tuple[str, list[str]]:
    enrol = client.post("/api/v1/auth/mfa/enrol", headers=bearer(access))
    assert enrol.status_code == 200, enrol.text
    secret = enrol.json()["secret"]
    assert enrol.json()["provisioning_uri"].startswith("otpauth://totp/ispops:")
    wrong = client.post("/api/v1/auth/mfa/confirm", json={"otp": not_a_code(secret)}, headers=bearer(access))
    assert wrong.status_code == 422
    # Confirming uses the previous step's code: each code is accepted once, so the test keeps the current
    # and the next step for the logins that follow.
    confirm = client.post("/api/v1/auth/mfa/confirm", json={"otp": code(secret, -1)}, headers=bearer(access))
    assert confirm.status_code == 200, confirm.text
    return secret, confirm.json()["recovery_codes"]


def test_mfa_enrolment_and_login(client: TestClient, staff: StaffFactory, admin: Admin) -> None:
    staff("isp-a", EMAIL)
    access = login(client, "isp-a", EMAIL).json()["access_token"]
    assert client.post("/api/v1/auth/mfa/enrol").status_code == 401
    secret, codes = _enrol(client, access)
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}", c) for c in codes)
    stored = scalar(admin, "select mfa_recovery_codes from users")
    assert len(stored) == 10 and not set(codes) & set(stored)
    assert client.post("/api/v1/auth/mfa/enrol", headers=bearer(access)).status_code == 409

    missing = login(client, "isp-a", EMAIL)
    assert (missing.status_code, missing.json()["code"]) == (401, "mfa_required")
    wrong = login(client, "isp-a", EMAIL, otp=not_a_code(secret))
    assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_otp")
    assert scalar(admin, "select count(*) from login_failures") == 1  # a wrong code is a failure
    assert login(client, "isp-a", EMAIL, "wrong password!", otp=code(secret, 0)).status_code == 401
    assert login(client, "isp-a", EMAIL, otp=code(secret, 0)).status_code == 200
    replay = login(client, "isp-a", EMAIL, otp=code(secret, 0))  # the same code again
    assert (replay.status_code, replay.json()["code"]) == (401, "invalid_otp")
    admin.execute("delete from login_failures")

    assert login(client, "isp-a", EMAIL, otp=codes[0].upper()).status_code == 200
    assert len(scalar(admin, "select mfa_recovery_codes from users")) == 9
    admin.execute("delete from login_failures")
    reused = login(client, "isp-a", EMAIL, otp=codes[0])
    assert (reused.status_code, reused.json()["code"]) == (401, "invalid_otp")


def test_mfa_disable_needs_password_and_code(client: TestClient, staff: StaffFactory, admin: Admin) -> None:
    staff("isp-a", EMAIL)
    access = login(client, "isp-a", EMAIL).json()["access_token"]
    secret, _ = _enrol(client, access)
    path = "/api/v1/auth/mfa/disable"
    now = code(secret, 0)
    assert client.post(path, json={"password": "wrong!", "otp": now}, headers=bearer(access)).status_code == 403
    wrong_code = {"password": PASSWORD, "otp": not_a_code(secret)}
    assert client.post(path, json=wrong_code, headers=bearer(access)).status_code == 403
    assert scalar(admin, "select count(*) from login_failures") == 2
    assert client.post(path, json={"password": PASSWORD, "otp": now}, headers=bearer(access)).status_code == 204
    assert scalar(admin, "select mfa_enabled or mfa_secret is not null from users") is False
    assert login(client, "isp-a", EMAIL).status_code == 200


def test_tenant_requiring_mfa_issues_restricted_tokens_until_enrolled(
    client: TestClient, staff: StaffFactory, admin: Admin
) -> None:
    staff("isp-a", EMAIL)
    admin.execute("""update tenants set settings = '{"require_mfa": true}'""")
    body = login(client, "isp-a", EMAIL).json()
    assert body["mfa_enrolment_required"] is True
    assert decode_access_token(body["access_token"], secret=SECRET).mfa_satisfied is False
    denied = client.get("/whoami", headers=bearer(body["access_token"]))
    assert (denied.status_code, denied.json()["message"]) == (403, "MFA enrolment required")
    assert (
        decode_access_token(refresh(client, body["refresh_token"]).json()["access_token"], secret=SECRET).mfa_satisfied
        is False
    )

    secret, _ = _enrol(client, body["access_token"])
    full = login(client, "isp-a", EMAIL, otp=code(secret, 0)).json()
    assert full["mfa_enrolment_required"] is False
    assert client.get("/whoami", headers=bearer(full["access_token"])).json()["tenant"] == "isp-a"


def _make_operator(db: Database, email: str = "root@ispops.example") -> str:
    async def create() -> str:
        database = AsyncDatabase(db.server, pool_size=1)
        try:
            async with database.platform() as session:
                return str((await create_operator(session, email=email, password=PASSWORD, full_name="Root")).id)
        finally:
            await database.dispose()

    return asyncio.run(create())


def test_operator_login_refresh_logout(client: TestClient, db: Database, admin: Admin) -> None:
    operator_id = _make_operator(db)
    assert scalar(admin, "select password_hash from platform_operators").startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    path = "/api/v1/auth/operator"
    wrong = client.post(f"{path}/login", json={"email": "root@ispops.example", "password": "nope"})
    unknown = client.post(f"{path}/login", json={"email": "who@ispops.example", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401 and wrong.json() == unknown.json()
    assert scalar(admin, "select count(*) from ip_login_failures") == 2

    body = client.post(f"{path}/login", json={"email": "Root@ispops.example", "password": PASSWORD}).json()
    principal = decode_access_token(body["access_token"], secret=SECRET)
    assert (principal.kind, principal.id, principal.tenant_id) == ("operator", operator_id, None)
    first = body["refresh_token"]
    assert first.startswith("op.")
    assert refresh(client, first).status_code == 401  # not a tenant user's token
    second = refresh(client, first, f"{path}/refresh").json()["refresh_token"]
    assert refresh(client, first, f"{path}/refresh").status_code == 401  # reuse
    assert refresh(client, second, f"{path}/refresh").status_code == 401  # ... revoked the family
    reasons = sorted(r[0] for r in admin.execute("select revoked_reason from operator_refresh_tokens"))
    assert reasons == ["reuse_detected", "rotated"]

    third = client.post(f"{path}/login", json={"email": "root@ispops.example", "password": PASSWORD}).json()
    assert client.post(f"{path}/logout", json={"refresh_token": third["refresh_token"]}).status_code == 204
    assert client.post(f"{path}/logout", json={"refresh_token": third["refresh_token"]}).status_code == 204
    assert refresh(client, third["refresh_token"], f"{path}/refresh").status_code == 401


def test_operator_mfa(client: TestClient, db: Database) -> None:
    _make_operator(db)
    path = "/api/v1/auth/operator/login"
    access = client.post(path, json={"email": "root@ispops.example", "password": PASSWORD}).json()["access_token"]
    secret, _ = _enrol(client, access)
    creds = {"email": "root@ispops.example", "password": PASSWORD}
    assert client.post(path, json=creds).json()["code"] == "mfa_required"
    assert client.post(path, json=creds | {"otp": code(secret, 0)}).status_code == 200
    assert client.post(path, json=creds | {"otp": code(secret, 0)}).json()["code"] == "invalid_otp"  # once


@pytest.mark.parametrize("header", ["", "Bearer", "Basic abc", "Bearer not-a-token"])
def test_bearer_required(client: TestClient, header: str) -> None:
    response = client.post("/api/v1/auth/mfa/enrol", headers={"Authorization": header} if header else {})
    assert (response.status_code, response.json()["code"]) == (401, "unauthenticated")
