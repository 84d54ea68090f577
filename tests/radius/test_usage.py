"""Usage roll-up from radacct and data caps (throttle, suspend, reset on the billing-cycle day)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from ispops.db.session import Database
from ispops.radius.usage import GB, rollup_all, rollup_job, rollup_tenant
from tests.factories import make_tenant

NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)


def setup_subscriber(
    db: Database,
    tenant: str,
    *,
    daily: int | None = None,
    monthly: int | None = None,
    action: str = "throttle",
    cycle_day: int = 1,
) -> str:
    with db.tenant(tenant) as s:
        plan = s.execute(
            text(
                "insert into bandwidth_profiles (tenant_id, name, download_mbps, upload_mbps, daily_data_cap_gb, "
                "monthly_data_cap_gb, cap_action, fup_download_mbps, fup_upload_mbps) "
                "values (:t, :n, 100, 20, :d, :m, :a, 2, 1) returning id"
            ),
            {"t": tenant, "n": f"plan-{uuid.uuid4().hex[:6]}", "d": daily, "m": monthly, "a": action},
        ).scalar_one()
        return str(
            s.execute(
                text(
                    "insert into subscribers (tenant_id, subscriber_number, service_type, status, pppoe_username, "
                    "bandwidth_profile_id, billing_cycle_day) values (:t, :n, 'ftth', 'active', :n, :p, :c) "
                    "returning id"
                ),
                {"t": tenant, "n": f"sub-{uuid.uuid4().hex[:6]}", "p": plan, "c": cycle_day},
            ).scalar_one()
        )


def session(
    db: Database,
    tenant: str,
    sub: str,
    sid: str,
    *,
    start: dt.datetime,
    up: int,
    down: int,
    update: dt.datetime | None = None,
    stop: dt.datetime | None = None,
) -> None:
    with db.tenant(tenant) as s:
        s.execute(
            text(
                "insert into radacct (tenant_id, subscriber_id, acctsessionid, acctuniqueid, username, nasipaddress, "
                "acctstarttime, acctupdatetime, acctstoptime, acctinputoctets, acctoutputoctets) "
                "values (:t, :sub, :sid, :sid, 'u', '192.0.2.1', :start, :upd, :stop, :up, :down) "
                "on conflict (tenant_id, acctuniqueid, acctstarttime) do update set "
                "acctinputoctets = excluded.acctinputoctets, acctoutputoctets = excluded.acctoutputoctets, "
                "acctupdatetime = excluded.acctupdatetime, acctstoptime = excluded.acctstoptime"
            ),
            {"t": tenant, "sub": sub, "sid": sid, "start": start, "upd": update, "stop": stop, "up": up, "down": down},
        )


def run(db: Database, tenant: str, now: dt.datetime = NOW) -> Any:
    with db.tenant(tenant) as s:
        return rollup_tenant(s, tenant, now=now)


def sub_row(db: Database, tenant: str, sub: str) -> Any:
    with db.tenant(tenant) as s:
        return s.execute(
            text(
                "select status, suspension_reason, throttled_until, monthly_data_usage_gb, "
                "last_usage_reset_date from subscribers where id = :id"
            ),
            {"id": sub},
        ).one()


def daily(db: Database, tenant: str, sub: str) -> dict[dt.date, tuple[int, int]]:
    with db.tenant(tenant) as s:
        rows = s.execute(
            text("select day, input_octets, output_octets from subscriber_usage_daily where subscriber_id = :id"),
            {"id": sub},
        ).all()
    return {day: (i, o) for day, i, o in rows}


def test_usage_is_counted_once_and_shared_across_sessions(db: Database) -> None:
    make_tenant(db, "acme")
    sub = setup_subscriber(db, "acme")
    t = NOW - dt.timedelta(hours=2)
    session(db, "acme", sub, "s1", start=t, up=100, down=1000, update=t + dt.timedelta(minutes=5))
    session(db, "acme", sub, "s2", start=t, up=10, down=20, update=t + dt.timedelta(minutes=5))
    assert run(db, "acme").sessions == 2
    assert daily(db, "acme", sub) == {NOW.date(): (110, 1020)}
    assert run(db, "acme").sessions == 0  # nothing new: nothing counted twice
    assert daily(db, "acme", sub) == {NOW.date(): (110, 1020)}
    session(db, "acme", sub, "s1", start=t, up=150, down=1500, update=t + dt.timedelta(minutes=10))
    run(db, "acme")
    assert daily(db, "acme", sub) == {NOW.date(): (160, 1520)}


def test_octets_go_to_the_day_of_the_update_in_the_tenants_time_zone(db: Database) -> None:
    make_tenant(db, "east")
    with db.platform() as s:
        s.execute(text("update tenants set timezone = 'Asia/Tokyo' where id = 'east'"))
    sub = setup_subscriber(db, "east")
    late = dt.datetime(2026, 11, 24, 16, 30, tzinfo=dt.UTC)  # 01:30 on the 25th in Tokyo
    session(db, "east", sub, "s1", start=late - dt.timedelta(hours=1), up=1, down=2, update=late)
    run(db, "east", now=late)
    assert daily(db, "east", sub) == {dt.date(2026, 11, 25): (1, 2)}


def test_monthly_usage_follows_the_billing_period(db: Database) -> None:
    make_tenant(db, "acme")
    sub = setup_subscriber(db, "acme", cycle_day=20)
    before = dt.datetime(2026, 11, 18, 12, tzinfo=dt.UTC)  # previous period (Oct 20 - Nov 19)
    session(db, "acme", sub, "old", start=before, up=2 * GB, down=0, update=before)
    run(db, "acme", now=before)
    assert sub_row(db, "acme", sub).monthly_data_usage_gb == 2
    assert sub_row(db, "acme", sub).last_usage_reset_date == dt.date(2026, 10, 20)
    session(db, "acme", sub, "new", start=NOW, up=GB // 2, down=GB, update=NOW)
    run(db, "acme")  # Nov 24: the period began on Nov 20, the old usage no longer counts
    row = sub_row(db, "acme", sub)
    assert row.monthly_data_usage_gb == pytest.approx(1.5)
    assert row.last_usage_reset_date == dt.date(2026, 11, 20)


def test_daily_cap_throttles_until_local_midnight_and_then_lifts(db: Database) -> None:
    make_tenant(db, "acme")
    sub = setup_subscriber(db, "acme", daily=1)
    other = setup_subscriber(db, "acme", daily=1)
    session(db, "acme", sub, "s1", start=NOW, up=GB // 2, down=GB // 2 + 1, update=NOW)
    session(db, "acme", other, "s2", start=NOW, up=10, down=10, update=NOW)
    result = run(db, "acme")
    assert result.throttled == 1
    assert sub_row(db, "acme", sub).throttled_until == dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    assert sub_row(db, "acme", other).throttled_until is None
    assert run(db, "acme").throttled == 0  # already throttled: no churn
    after = run(db, "acme", now=dt.datetime(2026, 11, 25, 0, 5, tzinfo=dt.UTC))
    assert after.unthrottled == 1 and after.throttled == 0
    assert sub_row(db, "acme", sub).throttled_until is None
    with db.tenant("acme") as s:
        actions = (
            s.execute(
                text(
                    "select changes->>'action' from audit_events where entity_id = :id "
                    "and actor_kind = 'system' order by id"
                ),
                {"id": sub},
            )
            .scalars()
            .all()
        )
    assert actions == ["throttle", "unthrottle"]


def test_monthly_cap_throttles_until_the_next_period(db: Database) -> None:
    make_tenant(db, "acme")
    sub = setup_subscriber(db, "acme", monthly=5, cycle_day=10)
    session(db, "acme", sub, "s1", start=NOW - dt.timedelta(days=3), up=GB, down=4 * GB, update=NOW)
    run(db, "acme")
    assert sub_row(db, "acme", sub).throttled_until == dt.datetime(2026, 12, 10, tzinfo=dt.UTC)


def test_monthly_cap_with_suspend_suspends_and_a_new_period_resumes(db: Database) -> None:
    make_tenant(db, "acme")
    sub = setup_subscriber(db, "acme", monthly=1, action="suspend", cycle_day=1)
    session(db, "acme", sub, "s1", start=NOW, up=0, down=2 * GB, update=NOW, stop=NOW)
    assert run(db, "acme").suspended == 1
    row = sub_row(db, "acme", sub)
    assert (row.status, row.suspension_reason, row.throttled_until) == ("suspended", "data_cap", None)
    assert run(db, "acme").suspended == 0
    resumed = run(db, "acme", now=dt.datetime(2026, 12, 1, 1, tzinfo=dt.UTC))
    assert resumed.resumed == 1
    assert sub_row(db, "acme", sub).status == "active"


def test_a_subscriber_suspended_by_staff_is_not_resumed_by_the_rollup(db: Database) -> None:
    make_tenant(db, "acme")
    sub = setup_subscriber(db, "acme", monthly=1, action="suspend")
    with db.tenant("acme") as s:
        s.execute(
            text("update subscribers set status = 'suspended', suspension_reason = 'unpaid' where id = :id"),
            {"id": sub},
        )
    assert run(db, "acme").resumed == 0
    assert sub_row(db, "acme", sub).status == "suspended"


def test_rollup_all_keeps_tenants_apart(db: Database, admin: psycopg.Connection[Any]) -> None:
    make_tenant(db, "acme")
    make_tenant(db, "beta")
    a = setup_subscriber(db, "acme", daily=1)
    b = setup_subscriber(db, "beta", daily=1)
    session(db, "acme", a, "same", start=NOW, up=2 * GB, down=0, update=NOW)
    session(db, "beta", b, "same", start=NOW, up=5, down=5, update=NOW)
    results = {r.tenant_id: r for r in rollup_all(db, now=NOW)}
    assert results["acme"].throttled == 1 and results["beta"].throttled == 0
    rows = admin.execute("select tenant_id, input_octets from subscriber_usage_daily order by tenant_id").fetchall()
    assert rows == [("acme", 2 * GB), ("beta", 5)]


def test_the_job_runs_one_tenant_in_its_own_transaction(db: Database) -> None:
    make_tenant(db, "acme")
    sub = setup_subscriber(db, "acme")
    now = dt.datetime.now(dt.UTC)
    session(db, "acme", sub, "job-1", start=now - dt.timedelta(minutes=5), up=7, down=9, update=now)
    rollup_job(db, "acme")
    assert daily(db, "acme", sub)[(now.astimezone(dt.UTC)).date()] == (7, 9)
