"""Which address a request came from: the TCP peer, unless it is a proxy named in ISPOPS_TRUSTED_PROXIES.

Served the way operators run it: ``ispops up`` on a loopback port, so uvicorn's own forwarded-header
handling (which trusts 127.0.0.1 out of the box) is what is being checked, with the app's on top.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import ValidationError

from ispops.api.proxies import client_address
from ispops.config import Settings, proxy_networks
from ispops.db.session import Database
from tests.api.conftest import TokenFor, env_for, free_port
from tests.factories import make_tenant

Admin = psycopg.Connection[Any]
PER_IP_LIMIT = 3


def start_up(database: Database, trusted: str | None) -> Iterator[str]:
    port = free_port()
    env = env_for(database.server) | {
        "ISPOPS_API_PORT": str(port),
        "ISPOPS_LOGIN_FAILURES_PER_IP_PER_MINUTE": str(PER_IP_LIMIT),
    }
    if trusted is not None:
        env["ISPOPS_TRUSTED_PROXIES"] = trusted
    proc = subprocess.Popen(
        [sys.executable, "-m", "ispops", "up", "--no-demo", "--no-worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"ispops up did not serve on {url} (exit code {proc.poll()})")
        time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=90)


@pytest.fixture(scope="module")
def default_url(database: Database) -> Iterator[str]:
    yield from start_up(database, None)


@pytest.fixture(scope="module")
def proxied_url(database: Database) -> Iterator[str]:
    yield from start_up(database, "127.0.0.1, 10.0.0.0/8")


def failed_login(url: str, forwarded_for: str) -> int:
    body = {"tenant": "no-such-isp", "email": "x@example.net", "password": "not the password"}
    return httpx.post(
        f"{url}/api/v1/auth/login", json=body, headers={"X-Forwarded-For": forwarded_for}, timeout=30
    ).status_code


def throttled_addresses(admin: Admin) -> set[str]:
    return {row[0] for row in admin.execute("select distinct host(ip) from ip_login_failures")}


def audited_address(url: str, db: Database, admin: Admin, auth: TokenFor, forwarded_for: str) -> str:
    make_tenant(db, "isp-a")
    headers = auth("isp-a", "tenant_admin") | {"X-Forwarded-For": forwarded_for}
    made = httpx.post(
        f"{url}/api/v1/customers", json={"customer_number": "C-1", "name": "Ada"}, headers=headers, timeout=30
    )
    assert made.status_code == 201, made.text
    row = admin.execute("select host(ip) from audit_events where entity = 'customers'").fetchone()
    assert row is not None
    return str(row[0])


def test_by_default_a_forwarded_for_header_changes_nothing(
    default_url: str, db: Database, admin: Admin, auth: TokenFor
) -> None:
    # A local client making up a new address per attempt is still one address to the throttle.
    statuses = [failed_login(default_url, f"203.0.113.{n}") for n in range(PER_IP_LIMIT + 1)]
    assert statuses == [401] * PER_IP_LIMIT + [429]
    assert throttled_addresses(admin) == {"127.0.0.1"}
    assert audited_address(default_url, db, admin, auth, "203.0.113.50") == "127.0.0.1"


def test_a_trusted_proxy_names_the_client(proxied_url: str, db: Database, admin: Admin, auth: TokenFor) -> None:
    # Each client behind the proxy has its own count: none of them reaches the limit.
    statuses = [failed_login(proxied_url, f"203.0.113.{n}") for n in range(PER_IP_LIMIT + 1)]
    assert statuses == [401] * (PER_IP_LIMIT + 1)
    # Read from the right: the first hop that is not a trusted proxy is the client; what it claims is not.
    assert failed_login(proxied_url, "198.51.100.9, 203.0.113.77") == 401
    assert failed_login(proxied_url, "203.0.113.78, 10.1.2.3") == 401
    assert throttled_addresses(admin) == {f"203.0.113.{n}" for n in [*range(PER_IP_LIMIT + 1), 77, 78]}
    assert audited_address(proxied_url, db, admin, auth, "203.0.113.50") == "203.0.113.50"


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        ("192.0.2.1", ["203.0.113.5"], "192.0.2.1"),  # not a proxy of ours: its header is ignored
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["203.0.113.5"], "203.0.113.5"),
        ("127.0.0.1", ["203.0.113.5:4711"], "203.0.113.5"),
        ("127.0.0.1", ["[2001:db8::5]:443"], "2001:db8::5"),
        ("127.0.0.1", ["198.51.100.1", "203.0.113.5, 10.0.0.2"], "203.0.113.5"),  # repeated headers, in order
        ("127.0.0.1", ["10.0.0.3, 10.0.0.2"], "10.0.0.3"),  # only proxies: the farthest one
        ("127.0.0.1", ["203.0.113.5, unknown"], "127.0.0.1"),  # garbage from our proxy: stop there
        ("127.0.0.1", ["203.0.113.5, unknown, 10.0.0.2"], "10.0.0.2"),
    ],
)
def test_client_address_reads_forwarded_for_from_the_right(peer: str, forwarded_for: list[str], expected: str) -> None:
    assert client_address(peer, forwarded_for, proxy_networks("127.0.0.1,10.0.0.0/8")) == expected


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert Settings(trusted_proxies="").trusted_proxy_networks == ()
    assert [str(n) for n in Settings(trusted_proxies=" 127.0.0.1 , 10.0.0.0/8,::1").trusted_proxy_networks] == [
        "127.0.0.1/32",
        "10.0.0.0/8",
        "::1/128",
    ]
    with pytest.raises(ValidationError, match=r"'proxy\.example' is not an IP address or network"):
        Settings(trusted_proxies="127.0.0.1,proxy.example")
