"""Who emits what: subscriber status changes (API and service), sessions from radacct, and the wake-up job
that a real worker runs to deliver an emitted event."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook

from ispops.db.session import Database
from ispops.jobs.registry import get_spec
from ispops.secrets.file import FileSecretStore
from tests.api.conftest import TokenFor
from tests.events import world
from tests.events.receiver import Receiver
from tests.factories import make_tenant
from tests.jobs.conftest import QUEUE_TABLES, run_jobs

Admin = psycopg.Connection[tuple[Any, ...]]


def _subscriber(db: Database, tenant: str, status: str) -> uuid.UUID:
    with db.tenant(tenant) as s:
        customer = s.execute(
            text("insert into customers (tenant_id, customer_number, name) values (:t, 'C-1', 'Ada') returning id"),
            {"t": tenant},
        ).scalar_one()
        sid = s.execute(
            text(
                "insert into subscribers (tenant_id, customer_id, subscriber_number, service_type, status) "
                "values (:t, :c, 'SUB-1', 'ftth', :s) returning id"
            ),
            {"t": tenant, "c": customer, "s": status},
        ).scalar_one()
    return uuid.UUID(str(sid))


def _events(admin: Admin, event_type: str | None = None) -> list[tuple[Any, ...]]:
    rows = admin.execute(
        "select event_type, subject, payload from event_outbox where %s::text is null or event_type = %s order by seq",
        (event_type, event_type),
    ).fetchall()
    return list(rows)


def test_status_actions_through_the_api_emit_once(
    db: Database, client: TestClient, auth: TokenFor, admin: Admin
) -> None:
    make_tenant(db, "isp-a")
    sid = _subscriber(db, "isp-a", "active")
    a = auth("isp-a", "tenant_admin")
    r = client.post(f"/api/v1/subscribers/{sid}/suspend", json={"reason": "unpaid"}, headers=a)
    assert r.status_code == 200, r.text
    assert client.post(f"/api/v1/subscribers/{sid}/resume", headers=a).status_code == 200
    assert client.post(f"/api/v1/subscribers/{sid}/terminate", headers=a).status_code == 200
    assert client.post(f"/api/v1/subscribers/{sid}/resume", headers=a).status_code == 409  # no event for a refusal
    got = _events(admin)
    assert [e[0] for e in got] == ["subscriber.suspended", "subscriber.resumed", "subscriber.terminated"]
    assert {e[1] for e in got} == {f"subscribers/{sid}"}
    assert got[0][2]["status"] == ["active", "suspended"] and got[0][2]["reason"] == "unpaid"


def _radacct(db: Database, tenant: str, unique: str) -> None:
    with db.tenant(tenant) as s:
        s.execute(
            text(
                "insert into radacct (tenant_id, acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime) "
                "values (:t, 's-' || cast(:u as text), :u, 'user1', '192.0.2.1', now() - interval '1 minute')"
            ),
            {"t": tenant, "u": unique},
        )


def test_session_started_and_stopped_once_each(db: Database, admin: Admin) -> None:
    from ispops.events.jobs import session_events

    make_tenant(db, "isp-a")
    make_tenant(db, "isp-b")
    _radacct(db, "isp-a", "u-1")
    _radacct(db, "isp-b", "u-9")
    assert session_events(db, "isp-a") == {"started": 1, "stopped": 0}
    assert session_events(db, "isp-a") == {"started": 0, "stopped": 0}  # the overlapping window: no repeat
    with db.tenant("isp-a") as s:
        s.execute(
            text(
                "update radacct set acctstoptime = now(), acctterminatecause = 'User-Request', acctsessiontime = 60 "
                "where acctuniqueid = 'u-1'"
            )
        )
    assert session_events(db, "isp-a") == {"started": 0, "stopped": 1}
    assert session_events(db, "isp-a") == {"started": 0, "stopped": 0}
    got = _events(admin)
    assert [e[0] for e in got] == ["session.started", "session.stopped"]
    assert got[1][2]["acct_unique_id"] == "u-1" and got[1][2]["terminate_cause"] == "User-Request"
    tenants = admin.execute("select distinct tenant_id from event_outbox").fetchall()
    assert tenants == [("isp-a",)]


@pytest.mark.usefixtures("allow_local")
def test_a_worker_delivers_what_emit_queued(
    db: Database, store: FileSecretStore, receiver: Receiver, admin: Admin
) -> None:
    admin.execute(f"truncate {QUEUE_TABLES} restart identity cascade")
    make_tenant(db, "isp-a")
    _, secret = world.endpoint(db, store, "isp-a", receiver.url, ["order.failed"])
    world.event(db, "isp-a", "order.failed", order_id="o-7")
    queued = admin.execute("select task_name, args->>'tenant_id' from procrastinate.procrastinate_jobs").fetchall()
    assert queued == [("events.dispatch", "isp-a")]
    run_jobs(db, [get_spec("events.dispatch")])
    [got] = receiver.wait_for(1)
    assert Webhook(secret).verify(got.body, got.headers)["data"] == {"order_id": "o-7"}
    status = admin.execute("select status::text from procrastinate.procrastinate_jobs").fetchall()
    assert status == [("succeeded",)]


def test_onu_link_alarm_raised_and_cleared_once(db: Database, admin: Admin) -> None:
    from ispops.ftth.alarms import reconcile_link_alarms
    from tests.ftth import onu_world

    w = onu_world.build(db, "isp-a")
    with db.tenant("isp-a") as s:
        onu = s.execute(
            text(
                "insert into onus (tenant_id, olt_id, pon_port_id, onu_id, serial_number, status, last_down_cause) "
                "values (:t, :olt, :port, 1, 'HWTC00000001', 'offline', 'los') returning id"
            ),
            {"t": "isp-a", "olt": w.olt, "port": w.port},
        ).scalar_one()
    for _ in range(2):  # idempotent: the second run changes nothing, so emits nothing
        with db.tenant("isp-a") as s:
            reconcile_link_alarms(s, "isp-a")
    with db.tenant("isp-a") as s:
        s.execute(text("update onus set status = 'online' where id = :id"), {"id": onu})
        reconcile_link_alarms(s, "isp-a")
    got = _events(admin)
    assert [(e[0], e[2]["kind"]) for e in got] == [("onu.alarm_raised", "los"), ("onu.alarm_cleared", "los")]
    assert {e[1] for e in got} == {f"onus/{onu}"}
    alarm = admin.execute("select id::text from ftth_alarms").fetchone()
    assert alarm is not None and got[0][2]["alarm_id"] == got[1][2]["alarm_id"] == alarm[0]


def test_cpe_signal_alarm_on_change_only(db: Database, client: TestClient, auth: TokenFor, admin: Admin) -> None:
    from tests.wireless.conftest import HILL, make_isp

    isp = make_isp(db, client, auth, "wisp-a")
    tower = isp.tower()
    east = isp.sector(tower, "East", radio_mac="0a:00:00:00:00:01")
    cpe = isp.cpe(east, "02:00:00:00:05:01", HILL[0], 36.82, plan=isp.plan("Home 50", 50))
    p = float(cpe["predicted_signal_dbm"])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def push(minute: int, signal: float) -> None:
        at = (now + dt.timedelta(minutes=minute)).isoformat()
        reading = {"wireless_subscriber_id": cpe["id"], "read_at": at, "signal_dbm": signal, "noise_dbm": -95}
        isp.post("wireless/cpe-readings", {"readings": [reading]}, status=200)

    push(0, p - 8)  # drift: raised
    push(1, p - 9)  # still drifting: refreshed, no new event
    push(2, p)  # back: cleared
    got = [e for e in _events(admin) if e[0] == "cpe.signal_alarm"]
    assert [(e[2]["state"], e[2]["kind"]) for e in got] == [("raised", "signal_drift"), ("cleared", "signal_drift")]
    assert {e[1] for e in got} == {f"wireless_subscribers/{cpe['id']}"}


def test_usage_cap_events_from_the_rollup(db: Database, admin: Admin) -> None:
    from ispops.radius.usage import GB
    from tests.radius.test_usage import NOW, run, session, setup_subscriber

    make_tenant(db, "acme")
    sub = setup_subscriber(db, "acme", monthly=1, action="suspend", cycle_day=1)
    session(db, "acme", sub, "s1", start=NOW, up=0, down=2 * GB, update=NOW, stop=NOW)
    run(db, "acme")
    run(db, "acme")  # nothing new: no second event
    run(db, "acme", now=NOW.replace(year=2026, month=12, day=1, hour=1))  # a new period resumes
    got = [(e[0], e[2].get("action")) for e in _events(admin) if not e[0].startswith("session.")]
    assert got == [("usage.cap_reached", "suspend"), ("subscriber.suspended", None), ("subscriber.resumed", None)]
    assert {e[1] for e in _events(admin)} == {f"subscribers/{sub}"}
