"""Console test fixtures: the full app served by uvicorn in a thread on the test database, Playwright's
sync API driving Debian's chromium, sign-in helpers and tenants with one user per role.

Browser tests skip when /usr/bin/chromium is missing, unless CI=1 (then they fail). Playwright's sync API
runs in the test's own thread, where no event loop is running (the server's loop is in its own thread).
Run a file's tests in one xdist worker (``--dist loadfile``): the server and the browser are per worker.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pyotp
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text

from ispops.api.permissions import ROLES
from ispops.app import create_app
from ispops.config import Settings
from ispops.db.session import Database
from ispops.tenancy.service import create_user
from tests.factories import make_tenant

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

SECRET = "console-test-secret-" + "c" * 48
PASSWORD = "correct horse battery staple"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def console_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "jwt_secret": SECRET,
        "login_failures_per_ip_per_minute": 10_000,  # every test signs in from 127.0.0.1
        "login_failures_per_account_per_hour": 5,
    }
    return Settings(**(values | overrides))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveConsole:
    url: str
    app: FastAPI

    def set_settings(self, **overrides: Any) -> None:
        """Change the running app's settings (e.g. the throttling limits) for one test."""
        self.app.state.settings = console_settings(**overrides)


@pytest.fixture(scope="session")
def live_console(database: Database) -> Iterator[LiveConsole]:
    """The full app (API and console) served by uvicorn in a thread on 127.0.0.1:<free port>."""
    app = create_app(console_settings(), server=database.server)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="console-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the console server did not start")
        time.sleep(0.05)
    yield LiveConsole(url=f"http://127.0.0.1:{port}", app=app)
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture
def console_url(db: Database, live_console: LiveConsole) -> str:
    """The live server's base URL, on emptied tables, with the default test settings."""
    live_console.set_settings()
    return live_console.url


def _need_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "1":
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless chromium through Playwright's sync API, one per test module: Playwright's event loop runs in
    the main thread while it is open, so a session-wide one broke every later test of the same xdist worker
    that calls ``asyncio.run``."""
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, console_url: str) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page, with the live server as base URL."""
    context = browser.new_context(base_url=console_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    context.close()


# --- tenants and users -------------------------------------------------------------------------------


@dataclass
class StaffUser:
    tenant: str
    email: str
    role: str
    password: str = PASSWORD
    totp_secret: str | None = None
    last_step: int = -1

    def otp(self) -> str | None:
        """A TOTP code not used before (a code works once: a later step within the allowed drift)."""
        if self.totp_secret is None:
            return None
        totp = pyotp.TOTP(self.totp_secret)
        while True:
            now = int(time.time()) // 30
            step = max(now - 1, self.last_step + 1)
            if step <= now + 1:
                self.last_step = step
                return totp.at(step * 30)
            time.sleep(0.5)  # all allowed steps used: wait for the clock to move on


@dataclass
class StaffTenant:
    id: str
    users: dict[str, StaffUser] = field(default_factory=dict)

    def __getitem__(self, role: str) -> StaffUser:
        return self.users[role]


TenantFactory = Callable[..., StaffTenant]


@pytest.fixture
def console_tenant(db: Database) -> TenantFactory:
    """``console_tenant("isp-a")``: a tenant with one user per role (``<role>@<tenant>.example``);
    ``mfa=True`` turns TOTP on for each (secret in ``tenant[role].totp_secret``); ``exists=True`` adds the
    users to a tenant made already (e.g. by ``tests.factories.populate``)."""

    def make(tenant_id: str, *, roles: tuple[str, ...] = ROLES, mfa: bool = False, exists: bool = False) -> StaffTenant:
        if not exists:
            make_tenant(db, tenant_id)
        made = StaffTenant(tenant_id)
        with db.tenant(tenant_id) as session:
            for role in roles:
                email = f"{role.replace('_', '-')}@{tenant_id}.example"
                user = create_user(session, tenant_id=tenant_id, email=email, password=PASSWORD, roles=[role])
                staff = StaffUser(tenant_id, email, role)
                if mfa:
                    staff.totp_secret = pyotp.random_base32()
                    user.mfa_secret = staff.totp_secret
                    user.mfa_enabled = True
                made.users[role] = staff
        return made

    return make


def require_mfa(db: Database, tenant_id: str) -> None:
    """The tenant's setting that makes every user enrol in MFA."""
    with db.platform() as session:
        session.execute(
            text(
                "update tenants set settings = coalesce(settings, '{}'::jsonb) || '{\"require_mfa\": true}'"
                " where id = :t"
            ),
            {"t": tenant_id},
        )


# --- signing in ----------------------------------------------------------------------------------------


def console_login(page: Page, user: StaffUser, *, otp: str | None = None) -> None:
    """Sign in through the login form (with a fresh TOTP code when the user has MFA) and land on a page."""
    page.goto("/console/login")
    page.get_by_label("Organisation (tenant id)").fill(user.tenant)
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(user.password)
    code = otp if otp is not None else user.otp()
    if code:
        page.get_by_label("One-time code").fill(code)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/console/(?!login).*"))


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
LOGIN_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def http_login(base_url: str, user: StaffUser, *, otp: str | None = None) -> tuple[httpx.Client, httpx.Response]:
    """Sign in through the form with httpx; returns the client (cookies kept) and the login response."""
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
    form = client.get("/console/login")
    match = LOGIN_CSRF.search(form.text)
    assert match is not None
    code = otp if otp is not None else user.otp()
    data = {"tenant": user.tenant, "email": user.email, "password": user.password, "csrf_token": match.group(1)}
    if code:
        data["otp"] = code
    return client, client.post("/console/login", data=data)


def signed_in(base_url: str, user: StaffUser) -> httpx.Client:
    client, response = http_login(base_url, user)
    assert response.status_code == 303, response.text
    return client


def csrf_of(client: httpx.Client, path: str = "/console/") -> str:
    """The session's CSRF token, read from a page's <meta name="csrf-token">."""
    match = CSRF_META.search(client.get(path).text)
    assert match is not None and match.group(1)
    return match.group(1)
