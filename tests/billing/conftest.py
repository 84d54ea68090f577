"""Billing test fixtures: the API fixtures, tenants with plans and subscribers, accounting rolled up for real,
and a billing system double: a real HTTP server on 127.0.0.1 that records what it accepted."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from ispops.db.session import Database
from ispops.radius.usage import rollup_tenant
from tests.api.conftest import TokenFor, api_settings, app_client, auth, client, secret_store  # noqa: F401
from tests.factories import make_tenant

UTC = dt.UTC


def at(text_: str) -> dt.datetime:
    """``"2026-11-11 00:00"`` in UTC."""
    return dt.datetime.fromisoformat(text_).replace(tzinfo=UTC)


def make_isp(db: Database, tenant: str, *, tz: str = "UTC") -> None:
    make_tenant(db, tenant)
    with db.platform() as s:
        s.execute(
            text("update tenants set max_subscribers = 1000, timezone = :tz where id = :t"), {"t": tenant, "tz": tz}
        )


def plan(db: Database, tenant: str, name: str, *, cap_gb: int | None = None) -> str:
    with db.tenant(tenant) as s:
        return str(
            s.execute(
                text(
                    "insert into bandwidth_profiles (tenant_id, name, download_mbps, upload_mbps, monthly_data_cap_gb) "
                    "values (:t, :n, 100, 20, :cap) returning id"
                ),
                {"t": tenant, "n": name, "cap": cap_gb},
            ).scalar_one()
        )


def subscriber(
    db: Database,
    tenant: str,
    number: str,
    plan_id: str | None,
    *,
    activated: dt.datetime,
    billing_day: int = 1,
    status: str = "active",
) -> str:
    with db.tenant(tenant) as s:
        return str(
            s.execute(
                text(
                    "insert into subscribers (tenant_id, subscriber_number, service_type, status, "
                    "bandwidth_profile_id, billing_cycle_day, service_activated_at) "
                    "values (:t, :n, 'ftth', :st, :p, :d, :a) returning id"
                ),
                {"t": tenant, "n": number, "st": status, "p": plan_id, "d": billing_day, "a": activated},
            ).scalar_one()
        )


def update_subscriber(db: Database, tenant: str, sub: str, **values: Any) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    with db.tenant(tenant) as s:
        s.execute(
            text(f"update subscribers set {sets} where tenant_id = :t and id = :id"), {"t": tenant, "id": sub, **values}
        )


def history(db: Database, tenant: str, sub: str) -> list[tuple[Any, ...]]:
    with db.tenant(tenant) as s:
        return [
            tuple(r)
            for r in s.execute(
                text(
                    "select bandwidth_profile_id::text, status, valid_from, valid_to from subscriber_plan_history "
                    "where subscriber_id = :id order by valid_from"
                ),
                {"id": sub},
            )
        ]


def move_changes(admin: psycopg.Connection[Any], sub: str, *instants: dt.datetime) -> None:
    """Date a subscriber's changes back: the n-th boundary between its periods (oldest first) becomes
    ``instants[n]``. The trigger wrote them at the test's wall-clock time; billing tests need fixed instants."""
    rows = admin.execute(
        "select id from subscriber_plan_history where subscriber_id = %s order by valid_from", (sub,)
    ).fetchall()
    assert len(rows) == len(instants) + 1, rows
    for (earlier,), (later,), instant in zip(rows[:-1], rows[1:], instants, strict=True):
        admin.execute("update subscriber_plan_history set valid_to = %s where id = %s", (instant, earlier))
        admin.execute("update subscriber_plan_history set valid_from = %s where id = %s", (instant, later))


def session(
    db: Database,
    tenant: str,
    sub: str,
    sid: str,
    *,
    start: dt.datetime,
    stop: dt.datetime | None,
    up: int,
    down: int,
    update: dt.datetime | None = None,
) -> None:
    """One accounting session, then the real usage roll-up (ispops.radius.usage) just after it was seen."""
    with db.tenant(tenant) as s:
        s.execute(
            text(
                "insert into radacct (tenant_id, subscriber_id, acctsessionid, acctuniqueid, username, nasipaddress, "
                "acctstarttime, acctupdatetime, acctstoptime, acctinputoctets, acctoutputoctets) "
                "values (:t, :sub, :sid, :sid, 'u', '192.0.2.1', :start, :upd, :stop, :up, :down)"
            ),
            {"t": tenant, "sub": sub, "sid": sid, "start": start, "upd": update, "stop": stop, "up": up, "down": down},
        )
    seen = (stop or update or start) + dt.timedelta(minutes=5)
    with db.tenant(tenant) as s:
        rollup_tenant(s, tenant, now=seen)


@dataclass
class Received:
    key: str
    authorization: str
    body: dict[str, Any]


@dataclass
class BillingDouble:
    """A billing system: accepts each idempotency key once (a repeat is answered 200 but not counted), and
    answers ``fail[key]`` (a list of statuses, consumed in order) before accepting."""

    url: str
    accepted: list[Received] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    fail: dict[str, list[int]] = field(default_factory=dict)
    refuse: Callable[[Received], int | None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted_keys(self) -> list[str]:
        return [r.key for r in self.accepted]


@pytest.fixture
def billing_system() -> Iterator[BillingDouble]:
    double: BillingDouble

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            got = Received(
                self.headers.get("idempotency-key", ""),
                self.headers.get("authorization", ""),
                json.loads(self.rfile.read(length)),
            )
            with double.lock:
                double.requests.append(got)
                queued = double.fail.get(got.key) or []
                status = queued.pop(0) if queued else None
                if status is None and double.refuse is not None:
                    status = double.refuse(got)
                if status is None:
                    status = 200
                    if got.key not in double.accepted_keys():
                        double.accepted.append(got)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    double = BillingDouble(f"http://127.0.0.1:{server.server_address[1]}/ingest")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield double
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def allow_private(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator allowance: the billing double listens on loopback over http."""
    monkeypatch.setenv("ISPOPS_BILLING_ALLOW_PRIVATE_ENDPOINTS", "1")
