"""Who emits what: subscriber status changes (API and service), sessions from radacct (triggers), and the wake-up job
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

from ispops.config import OWNER_ROLE, RADIUS_ROLE
from ispops.db.server import libpq_dsn
from ispops.db.session import Database
from ispops.jobs.registry import get_spec
from ispops.secrets.file import FileSecretStore
from tests.api.conftest import TokenFor
from tests.events import world
from tests.events.receiver import Receiver
from tests.factories import make_tenant
from tests.jobs.conftest import QUEUE_TABLES, run_jobs
from tests.radius.conftest import acct

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


def _radius(db: Database, *, autocommit: bool = True) -> Admin:
    """A connection as FreeRADIUS has one: the RADIUS role, one statement per packet."""
    return psycopg.connect(libpq_dsn(db.server.url_for(RADIUS_ROLE)), autocommit=autocommit)


def _session_events(admin: Admin) -> list[tuple[Any, ...]]:
    rows = admin.execute(
        "select tenant_id, event_type, subject, payload, dedupe_key from event_outbox "
        "where event_type like 'session.%' order by seq"
    ).fetchall()
    return list(rows)


def _interim(conn: Admin, tenant: str, uid: str, event: dt.datetime, session_time: int) -> bool:
    """The fast path FreeRADIUS tries first for an Interim-Update (migration 0019)."""
    row = conn.execute(
        "select ispops_radius_interim(%s, %s, %s, 'bob', '127.0.0.2', '1', %s, %s, 5, 0, 5, 0, "
        "'100.64.1.9', '', '', '')",
        (tenant, uid, f"sid-{uid}", int(event.timestamp()), session_time),
    ).fetchone()
    assert row is not None
    return bool(row[0])


def _started_payload(uid: str, start: dt.datetime) -> dict[str, Any]:
    return {
        "acct_unique_id": uid,
        "acct_session_id": f"sid-{uid}",
        "username": "bob",
        "subscriber_id": None,
        "nas_ip": "127.0.0.2/32",
        "framed_ip": "100.64.1.9/32",
        "started_at": start.isoformat(),
    }


def test_accounting_writes_session_events_in_its_own_transaction(db: Database, admin: Admin) -> None:
    """As FreeRADIUS writes them: a Start and a Stop give one event each, interims none, duplicates none."""
    make_tenant(db, "isp-a")
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=20)
    with _radius(db) as radius:
        assert acct(radius, "start", "isp-a", "u-1", start, 0) == 1
        assert acct(radius, "start", "isp-a", "u-1", start, 0) == 1  # a repeated Start: no second event
        assert [(e[1], e[4]) for e in _session_events(admin)] == [("session.started", "radacct:u-1:start")]
        assert _interim(radius, "isp-a", "u-1", start + dt.timedelta(seconds=300), 300)
        assert acct(radius, "interim", "isp-a", "u-1", start + dt.timedelta(seconds=600), 600, octets=9) == 1
        assert len(_session_events(admin)) == 1  # interim updates emit nothing
        stop = start + dt.timedelta(seconds=900)
        assert acct(radius, "stop", "isp-a", "u-1", stop, 900, octets=2000, cause="User-Request") == 1
        assert acct(radius, "stop", "isp-a", "u-1", stop, 900, octets=2000, cause="User-Request") == 1  # repeated
        assert acct(radius, "interim", "isp-a", "u-1", start + dt.timedelta(seconds=800), 800) == 1  # late: nothing
    got = _session_events(admin)
    assert [(e[0], e[1], e[2], e[4]) for e in got] == [
        ("isp-a", "session.started", None, "radacct:u-1:start"),
        ("isp-a", "session.stopped", None, "radacct:u-1:stop"),
    ]
    assert got[0][3] == _started_payload("u-1", start)
    assert got[1][3] == {
        **_started_payload("u-1", start),
        "stopped_at": stop.isoformat(),
        "terminate_cause": "User-Request",
        "session_time": 900,
        "input_octets": 2000,
        "output_octets": 2000 + 4 * 2**30,
    }


def test_sessions_opened_without_a_start_and_closed_by_the_nas(db: Database, admin: Admin) -> None:
    """An Interim-Update or a Stop that opens a session never seen to start, and an Accounting-Off."""
    make_tenant(db, "isp-a")
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=30)
    with _radius(db) as radius:
        assert not _interim(radius, "isp-a", "u-2", start + dt.timedelta(seconds=300), 300)  # unknown: the full call
        assert acct(radius, "interim", "isp-a", "u-2", start + dt.timedelta(seconds=300), 300) == 1
        assert acct(radius, "stop", "isp-a", "u-3", start + dt.timedelta(seconds=60), 60, cause="Lost-Carrier") == 1
        assert [(e[1], e[4]) for e in _session_events(admin)] == [
            ("session.started", "radacct:u-2:start"),
            ("session.started", "radacct:u-3:start"),
            ("session.stopped", "radacct:u-3:stop"),
        ]
        off = int((start + dt.timedelta(seconds=400)).timestamp())
        radius.execute("select ispops_radius_acct_onoff('isp-a', '127.0.0.2', %s, '')", (off,))
    got = _session_events(admin)
    assert [(e[1], e[4]) for e in got[3:]] == [("session.stopped", "radacct:u-2:stop")]
    assert got[3][3]["terminate_cause"] == "NAS-Reboot"


def test_a_rolled_back_accounting_write_emits_nothing(db: Database, admin: Admin) -> None:
    make_tenant(db, "isp-a")
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    with _radius(db, autocommit=False) as radius:
        assert acct(radius, "start", "isp-a", "u-4", start, 0) == 1
        radius.rollback()
    assert admin.execute("select count(*) from radacct").fetchone() == (0,)
    assert _session_events(admin) == []
    with _radius(db) as radius:  # and a stop that rolls back
        assert acct(radius, "start", "isp-a", "u-4", start, 0) == 1
    with _radius(db, autocommit=False) as radius:
        assert acct(radius, "stop", "isp-a", "u-4", start + dt.timedelta(seconds=60), 60) == 1
        radius.rollback()
    assert [e[1] for e in _session_events(admin)] == ["session.started"]


def test_session_events_of_a_subscriber_stay_in_its_tenant(db: Database, admin: Admin) -> None:
    """A row written in a tenant unit of work (the platform's own closes): subject, RLS, no cross-tenant view."""
    make_tenant(db, "isp-a")
    make_tenant(db, "isp-b")
    sid = _subscriber(db, "isp-a", "active")
    with db.tenant("isp-a") as s:
        s.execute(
            text(
                "insert into radacct (tenant_id, subscriber_id, acctsessionid, acctuniqueid, username, nasipaddress, "
                "acctstarttime) values ('isp-a', :sid, 's-1', 'u-5', 'user1', '192.0.2.1', now() - interval '1 minute')"
            ),
            {"sid": sid},
        )
    with db.tenant("isp-a") as s:
        s.execute(text("update radacct set acctstoptime = now(), acctterminatecause = 'Admin-Reset'"))
    with _radius(db) as radius:
        acct(radius, "start", "isp-b", "u-9", dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1), 0)
    got = _session_events(admin)
    assert [(e[0], e[1], e[2]) for e in got] == [
        ("isp-a", "session.started", f"subscribers/{sid}"),
        ("isp-a", "session.stopped", f"subscribers/{sid}"),
        ("isp-b", "session.started", None),
    ]
    assert got[0][3]["subscriber_id"] == str(sid)
    for tenant, mine in (("isp-a", {"u-5"}), ("isp-b", {"u-9"})):
        with db.tenant(tenant) as s:
            seen = s.execute(text("select distinct payload->>'acct_unique_id' from event_outbox")).scalars().all()
        assert set(seen) == mine
    with admin.transaction():  # without a tenant (the owner): acts for the row's tenant, then restores the setting
        admin.execute(
            "insert into radacct (tenant_id, acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime) "
            "values ('isp-b', 's-2', 'u-10', 'user2', '192.0.2.2', now())"
        )
        assert admin.execute("select current_setting('app.current_tenant_id', true)").fetchone() in {(None,), ("",)}
    assert [(e[0], e[4]) for e in _session_events(admin)[3:]] == [("isp-b", "radacct:u-10:start")]


def test_a_partition_made_after_the_migration_emits_too(db: Database, admin: Admin) -> None:
    """Partition maintenance creates months later: the triggers are cloned onto them (radacct is partitioned)."""
    make_tenant(db, "isp-a")
    month = dt.date(2031, 3, 1)
    part = f"radacct_p{month:%Y%m}"
    admin.execute(f"set role {OWNER_ROLE}")
    try:
        assert admin.execute("select ispops_radacct_ensure_partition(%s)", (month,)).fetchone() == (part,)
        cloned = admin.execute(
            "select t.tgname from pg_trigger t "
            "where t.tgrelid = %s::regclass and t.tgparentid <> 0 and not t.tgisinternal order by 1",
            (part,),
        ).fetchall()
        assert cloned == [("radacct_session_started",), ("radacct_session_stopped",)]
        start = dt.datetime(2031, 3, 10, 12, 0, tzinfo=dt.UTC)
        with _radius(db) as radius:
            assert acct(radius, "start", "isp-a", "u-6", start, 0) == 1
            assert acct(radius, "stop", "isp-a", "u-6", start + dt.timedelta(seconds=60), 60) == 1
        admin.execute("reset role")
        where = admin.execute("select tableoid::regclass::text from radacct where acctuniqueid = 'u-6'").fetchall()
        assert where == [(part,)]
        assert [(e[1], e[4]) for e in _session_events(admin)] == [
            ("session.started", "radacct:u-6:start"),
            ("session.stopped", "radacct:u-6:stop"),
        ]
    finally:
        admin.execute("reset role")
        admin.execute(f"set role {OWNER_ROLE}")
        admin.execute(f"drop table if exists {part}")
        admin.execute("select ispops_radacct_build_router()")
        admin.execute("reset role")


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
