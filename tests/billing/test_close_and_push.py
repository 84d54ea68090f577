"""Closing cycles (once, with a billing.cycle_closed event) and pushing them to a billing system double: a
real HTTP server on 127.0.0.1 — each record once, retried when the system is briefly down, and nothing
recorded for what it did not accept."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ispops.billing import adapter, cycles, jobs, push, service
from ispops.billing.adapter import Endpoint, HttpBillingAdapter, PushFailed
from ispops.db.session import Database
from ispops.errors import Conflict, ValidationFailed
from ispops.jobs.registry import CATALOGUE
from ispops.secrets import runtime
from ispops.secrets.file import FileSecretStore
from tests.billing.conftest import BillingDouble, at, make_isp, plan, session, subscriber
from tests.jobs.conftest import QUEUE_TABLES, run_jobs

NOV = cycles.parse_cycle("2026-11")
AFTER_NOV = at("2026-12-01 07:00")  # the default close delay is 6 h
TOKEN = "billing-token-123"


def tenant_with_usage(db: Database, tenant: str = "isp-a", n: int = 3) -> list[str]:
    make_isp(db, tenant)
    p = plan(db, tenant, "50M", cap_gb=10)
    subs = []
    for i in range(n):
        sub = subscriber(db, tenant, f"S-{i}", p, activated=at("2026-10-01 00:00"))
        session(
            db, tenant, sub, f"{tenant}-{i}", start=at("2026-11-10 10:00"), stop=at("2026-11-10 11:00"), up=i, down=10
        )
        subs.append(sub)
    return subs


def outbox(admin: psycopg.Connection[Any], tenant: str) -> list[tuple[str, str, Any]]:
    return [
        (r[0], r[1], r[2])
        for r in admin.execute(
            "select event_type, subject, payload from event_outbox where tenant_id = %s "
            "and event_type not like 'session.%%' order by seq",  # radacct's own events (migration 0038)
            (tenant,),
        ).fetchall()
    ]


def pushes(admin: psycopg.Connection[Any], tenant: str) -> list[tuple[str, str]]:
    return [
        (r[0], r[1])
        for r in admin.execute(
            "select kind, idempotency_key from billing_pushes where tenant_id = %s order by idempotency_key", (tenant,)
        ).fetchall()
    ]


def test_a_cycle_closes_once_after_the_delay_with_its_totals_and_event(
    db: Database, admin: psycopg.Connection[Any]
) -> None:
    tenant_with_usage(db)
    # Within November's 6 h delay the latest cycle that may close is October's (they were in service then).
    early = jobs.close_due(db, "isp-a", now=at("2026-12-01 05:59"))
    assert [(cycles.label(c.cycle), c.subscribers, c.input_octets) for c in early] == [("2026-10", 3, 0)]
    closed = jobs.close_due(db, "isp-a", now=AFTER_NOV)
    assert [(c.cycle, c.billing_day, c.subscribers) for c in closed] == [(NOV, 1, 3)]
    assert (closed[0].input_octets, closed[0].output_octets, closed[0].session_seconds) == (0 + 1 + 2, 30, 3 * 3600)
    events = outbox(admin, "isp-a")
    assert [(e[0], e[1]) for e in events] == [
        ("billing.cycle_closed", f"billing_cycles/{early[0].id}"),
        ("billing.cycle_closed", f"billing_cycles/{closed[0].id}"),
    ]
    payload = events[1][2]
    assert payload["cycle"] == "2026-11" and payload["subscribers"] == 3 and payload["billing_day"] == 1
    assert payload["exports"]["usage_csv"] == "/api/v1/billing/cycles/2026-11/usage.csv?billing_day=1"
    # at-least-once: a second run (or a second worker) closes nothing and emits nothing
    assert jobs.close_due(db, "isp-a", now=AFTER_NOV + dt.timedelta(hours=1)) == []
    assert len(outbox(admin, "isp-a")) == 2
    with db.tenant("isp-a") as s:
        assert service.status(s, "isp-a", NOV).is_closed(1)


def test_closing_with_push_on_close_queues_the_push_in_the_same_transaction(
    db: Database, admin: psycopg.Connection[Any]
) -> None:
    admin.execute(f"truncate {QUEUE_TABLES} restart identity cascade")  # the queue outlives other tests
    tenant_with_usage(db, n=1)
    with db.tenant("isp-a") as s:
        service.put_settings(s, "isp-a", push_on_close=True, endpoint_vault_path=adapter.endpoint_path("isp-a"))
    jobs.close_due(db, "isp-a", now=AFTER_NOV)
    queued = admin.execute(
        "select args from procrastinate.procrastinate_jobs where task_name = 'billing.push_cycle' "
        "and args->>'tenant_id' = 'isp-a'"
    ).fetchall()
    assert [q[0]["cycle"] for q in queued] == ["2026-11"]
    assert queued[0][0]["billing_day"] == 1


def no_sleep(seconds: float) -> None:
    pass


def http_adapter(double: BillingDouble, **kw: Any) -> HttpBillingAdapter:
    return HttpBillingAdapter(Endpoint(url=double.url, token=TOKEN), sleep=no_sleep, **kw)


@pytest.mark.usefixtures("allow_private")
def test_a_push_delivers_each_record_once_and_a_rerun_pushes_nothing(
    db: Database, admin: psycopg.Connection[Any], billing_system: BillingDouble
) -> None:
    subs = tenant_with_usage(db)
    jobs.close_due(db, "isp-a", now=AFTER_NOV)
    with http_adapter(billing_system) as a:
        report = push.push_cycle(db, "isp-a", NOV, adapter=a)
    assert (report.pushed, report.events, report.skipped) == (3, 1, 0)
    got = billing_system.accepted
    assert [r.body["type"] for r in got] == ["billing.usage"] * 3 + ["billing.cycle_closed"]
    assert {r.authorization for r in got} == {f"Bearer {TOKEN}"}
    usage_keys = [f"ispops:isp-a:billing.usage:2026-11:{s}" for s in subs]
    assert sorted(r.key for r in got[:3]) == sorted(usage_keys)
    assert got[3].key == "ispops:isp-a:billing.cycle_closed:2026-11:1"
    record = next(r.body for r in got if r.body["data"]["subscriber_number"] == "S-2")
    assert record["idempotency_key"] == f"ispops:isp-a:billing.usage:2026-11:{subs[2]}"
    assert (record["data"]["input_octets"], record["data"]["output_octets"]) == (2, 10)
    assert record["data"]["periods"][0]["fraction"] == "1.000000"
    # what was pushed is recorded with the body's digest
    assert [k for _, k in pushes(admin, "isp-a")] == sorted([*usage_keys, got[3].key])
    digest = admin.execute(
        "select payload_sha256 from billing_pushes where idempotency_key = %s", (got[3].key,)
    ).fetchone()
    body = {"type": got[3].body["type"], "idempotency_key": got[3].key, "data": got[3].body["data"]}
    assert digest == (hashlib.sha256(json.dumps(body, separators=(",", ":"), sort_keys=True).encode()).hexdigest(),)

    with http_adapter(billing_system) as a:
        again = push.push_cycle(db, "isp-a", NOV, adapter=a)
    assert (again.pushed, again.events, again.skipped) == (0, 0, 4)
    assert len(billing_system.requests) == 4  # nothing was sent the second time


@pytest.mark.usefixtures("allow_private")
def test_a_briefly_unavailable_billing_system_is_retried_with_the_same_key(
    db: Database, billing_system: BillingDouble
) -> None:
    (sub,) = tenant_with_usage(db, n=1)
    jobs.close_due(db, "isp-a", now=AFTER_NOV)
    key = f"ispops:isp-a:billing.usage:2026-11:{sub}"
    billing_system.fail[key] = [503, 429]
    with http_adapter(billing_system, retries=3) as a:
        report = push.push_cycle(db, "isp-a", NOV, adapter=a)
    assert report.pushed == 1
    assert [r.key for r in billing_system.requests].count(key) == 3
    assert billing_system.accepted_keys().count(key) == 1


@pytest.mark.usefixtures("allow_private")
def test_a_refused_record_is_not_recorded_and_the_rerun_delivers_the_rest_once(
    db: Database, admin: psycopg.Connection[Any], billing_system: BillingDouble
) -> None:
    subs = tenant_with_usage(db)
    jobs.close_due(db, "isp-a", now=AFTER_NOV)
    refused = f"ispops:isp-a:billing.usage:2026-11:{subs[1]}"
    billing_system.refuse = lambda r: 400 if r.key == refused else None
    with pytest.raises(PushFailed, match="HTTP 400"), http_adapter(billing_system) as a:
        push.push_cycle(db, "isp-a", NOV, adapter=a)
    recorded = {k for _, k in pushes(admin, "isp-a")}
    assert refused not in recorded
    assert recorded == set(billing_system.accepted_keys())  # exactly what the system accepted, nothing more
    assert not any("cycle_closed" in k for k in recorded)  # the event waits for every record

    billing_system.refuse = None
    with http_adapter(billing_system) as a:
        report = push.push_cycle(db, "isp-a", NOV, adapter=a)
    assert report.pushed == 3 - len(recorded) and report.events == 1
    assert sorted(billing_system.accepted_keys()) == sorted(k for _, k in pushes(admin, "isp-a"))
    assert len(billing_system.accepted_keys()) == len(set(billing_system.accepted_keys())) == 4


@pytest.mark.usefixtures("allow_private")
def test_an_unreachable_billing_system_fails_after_the_retries_and_records_nothing(
    db: Database, admin: psycopg.Connection[Any], billing_system: BillingDouble
) -> None:
    tenant_with_usage(db, n=1)
    jobs.close_due(db, "isp-a", now=AFTER_NOV)
    closed_port = HttpBillingAdapter(
        Endpoint(url="http://127.0.0.1:9/ingest", token=TOKEN), sleep=no_sleep, retries=2, timeout=2
    )
    with pytest.raises(PushFailed, match="ConnectError"), closed_port:
        push.push_cycle(db, "isp-a", NOV, adapter=closed_port)
    assert pushes(admin, "isp-a") == []


def test_the_url_is_checked_again_when_pushing(
    db: Database, admin: psycopg.Connection[Any], billing_system: BillingDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant_with_usage(db, n=1)
    jobs.close_due(db, "isp-a", now=AFTER_NOV)
    monkeypatch.setenv("ISPOPS_BILLING_ALLOW_PRIVATE_ENDPOINTS", "1")
    endpoint = Endpoint(url=billing_system.url, token=TOKEN)  # stored while the operator allowed it
    monkeypatch.delenv("ISPOPS_BILLING_ALLOW_PRIVATE_ENDPOINTS")
    with pytest.raises(ValidationFailed) as err, HttpBillingAdapter(endpoint, sleep=no_sleep) as a:
        push.push_cycle(db, "isp-a", NOV, adapter=a)
    assert err.value.field == "endpoint"
    assert billing_system.requests == [] and pushes(admin, "isp-a") == []


def test_only_a_closed_cycle_is_pushed(db: Database) -> None:
    tenant_with_usage(db, n=1)
    with pytest.raises(Conflict) as err:
        push.push_cycle(db, "isp-a", NOV, billing_day=1)
    assert err.value.field == "cycle"


@pytest.mark.usefixtures("allow_private")
def test_the_push_job_reads_the_endpoint_from_the_tenants_secret(
    db: Database, admin: psycopg.Connection[Any], billing_system: BillingDouble, tmp_path: Path
) -> None:
    tenant_with_usage(db, n=2)
    jobs.close_due(db, "isp-a", now=AFTER_NOV)
    store = FileSecretStore(tmp_path / "secrets", os.urandom(32))
    with runtime.installed(store):
        with pytest.raises(Conflict) as err:  # no endpoint yet
            jobs.push_cycle(db, "isp-a", cycle="2026-11")
        assert err.value.field == "endpoint"
        path = adapter.save_endpoint(store, "isp-a", Endpoint(url=billing_system.url, token=TOKEN))
        assert path == "tenants/isp-a/billing/endpoint"
        assert jobs.push_cycle(db, "isp-a", cycle="2026-11") == {"pushed": 2, "skipped": 0, "events": 1}
    assert len(billing_system.accepted) == 3


@pytest.mark.usefixtures("allow_private")
def test_a_cycle_closed_with_push_on_close_reaches_the_billing_system_through_a_real_worker(
    db: Database, admin: psycopg.Connection[Any], billing_system: BillingDouble, tmp_path: Path
) -> None:
    admin.execute(f"truncate {QUEUE_TABLES} restart identity cascade")
    tenant_with_usage(db, n=2)
    store = FileSecretStore(tmp_path / "secrets", os.urandom(32))
    with runtime.installed(store):
        path = adapter.save_endpoint(store, "isp-a", Endpoint(url=billing_system.url, token=TOKEN))
        with db.tenant("isp-a") as s:
            service.put_settings(s, "isp-a", push_on_close=True, endpoint_vault_path=path)
        jobs.close_due(db, "isp-a", now=AFTER_NOV)
        run_jobs(db, [spec for spec in CATALOGUE if spec.name in ("billing.push_cycle", "events.dispatch")])
    assert sorted(r.body["type"] for r in billing_system.accepted) == ["billing.cycle_closed"] + ["billing.usage"] * 2
    done = admin.execute(
        "select status::text from procrastinate.procrastinate_jobs where task_name = 'billing.push_cycle'"
    ).fetchall()
    assert done == [("succeeded",)]
    assert len(pushes(admin, "isp-a")) == 3
