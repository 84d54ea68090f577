"""Signing in to the console: the API's login rules (password, TOTP, throttling) with a cookie session,
CSRF on every form, logout that revokes the session."""

from __future__ import annotations

import re

import psycopg
from playwright.sync_api import Page, expect

from ispops.db.session import Database
from tests.console.conftest import (
    LiveConsole,
    TenantFactory,
    console_login,
    csrf_of,
    http_login,
    require_mfa,
    signed_in,
)


def test_no_session_redirects_to_login(console_url: str) -> None:
    import httpx

    response = httpx.get(f"{console_url}/console/mfa?q=x", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=%2Fconsole%2Fmfa%3Fq%3Dx"
    htmx = httpx.get(f"{console_url}/console/", headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.status_code == 204 and htmx.headers["HX-Redirect"].startswith("/console/login")


def test_login_sets_a_hardened_cookie_and_lands_on_next(console_url: str, console_tenant: TenantFactory) -> None:
    user = console_tenant("isp-a")["noc_engineer"]
    client, response = http_login(console_url, user)
    assert response.status_code == 303 and response.headers["location"] == "/console/"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("ispops_console="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    page = client.get("/console/")
    assert page.status_code == 200 and user.email in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


def test_wrong_password_is_refused_without_saying_why(console_url: str, console_tenant: TenantFactory) -> None:
    user = console_tenant("isp-a")["support_agent"]
    user.password = "not the password"
    _, response = http_login(console_url, user)
    assert response.status_code == 401
    assert "Wrong tenant, email or password." in response.text
    assert "ispops_console=" not in response.headers.get("set-cookie", "")


def test_login_form_needs_its_csrf_token(console_url: str, console_tenant: TenantFactory) -> None:
    import httpx

    user = console_tenant("isp-a")["noc_engineer"]
    data = {"tenant": user.tenant, "email": user.email, "password": user.password}
    response = httpx.post(f"{console_url}/console/login", data=data)
    assert response.status_code == 403 and "expired" in response.text


def test_post_without_csrf_is_403_and_changes_nothing(console_url: str, console_tenant: TenantFactory) -> None:
    client = signed_in(console_url, console_tenant("isp-a")["tenant_admin"])
    refused = client.post("/console/logout")
    assert refused.status_code == 403
    wrong = client.post("/console/logout", data={"csrf_token": "forged"})
    assert wrong.status_code == 403
    assert client.get("/console/").status_code == 200  # still signed in
    token = csrf_of(client)
    by_header = client.post("/console/logout", headers={"X-CSRF-Token": token})
    assert by_header.status_code == 303


def test_logout_revokes_the_session_server_side(
    console_url: str, console_tenant: TenantFactory, admin: psycopg.Connection[tuple[object, ...]]
) -> None:
    client = signed_in(console_url, console_tenant("isp-a")["tenant_admin"])
    stolen = client.cookies["ispops_console"]
    assert client.post("/console/logout", data={"csrf_token": csrf_of(client)}).status_code == 303
    import httpx

    replay = httpx.get(f"{console_url}/console/", cookies={"ispops_console": stolen}, follow_redirects=False)
    assert replay.status_code == 303 and replay.headers["location"].startswith("/console/login")
    row = admin.execute("select revoked_reason from refresh_tokens").fetchone()
    assert row == ("logout",)


def test_mfa_login_in_the_browser(page: Page, console_tenant: TenantFactory) -> None:
    user = console_tenant("isp-a", mfa=True)["noc_engineer"]
    # Without a code: asked for one, beside the code field.
    page.goto("/console/login")
    page.get_by_label("Organisation (tenant id)").fill(user.tenant)
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#f-otp-err")).to_contain_text("one-time code")
    # A wrong code: refused.
    page.get_by_label("Password").fill(user.password)
    page.get_by_label("One-time code").fill("000000" if user.otp() != "000000" else "111111")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#f-otp-err")).to_contain_text("invalid one-time code")
    assert "/console/login" in page.url
    # The right code: in.
    console_login(page, user)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator(".who .user")).to_have_text(user.email)


def test_throttling_applies_to_console_logins(
    console_url: str, live_console: LiveConsole, console_tenant: TenantFactory
) -> None:
    live_console.set_settings(login_failures_per_account_per_hour=3)
    user = console_tenant("isp-a", mfa=True)["support_agent"]
    for _ in range(3):
        _, response = http_login(console_url, user, otp="123456" if user.otp() != "123456" else "654321")
        assert response.status_code == 401
    _, locked = http_login(console_url, user)  # now even the right code is refused
    assert locked.status_code == 429
    assert "ispops_console=" not in locked.headers.get("set-cookie", "")


def test_required_mfa_sends_the_user_to_enrol(console_url: str, console_tenant: TenantFactory, db: Database) -> None:
    import pyotp

    user = console_tenant("isp-a")["field_tech"]
    require_mfa(db, "isp-a")
    client, response = http_login(console_url, user)
    assert response.status_code == 303 and response.headers["location"] == "/console/mfa"
    assert client.get("/console/").headers["location"] == "/console/mfa"  # nothing else until enrolled
    token = csrf_of(client, "/console/mfa")
    enrol = client.post("/console/mfa/enrol", data={"csrf_token": token})
    secret = re.search(r'id="mfa-secret" class="mono" readonly value="([A-Z2-7]+)"', enrol.text)
    assert secret is not None
    bad = client.post("/console/mfa/confirm", data={"csrf_token": token, "otp": "12345", "secret": secret.group(1)})
    assert bad.status_code == 422 and 'id="f-otp-err"' in bad.text
    good = client.post(
        "/console/mfa/confirm", data={"csrf_token": token, "otp": pyotp.TOTP(secret.group(1)).now(), "secret": ""}
    )
    assert good.status_code == 200 and "recovery codes" in good.text
    assert client.get("/console/").status_code == 200
