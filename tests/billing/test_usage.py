"""A cycle's usage per subscriber (from the real RADIUS roll-up) and plan periods with proration."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import psycopg

from ispops.billing import cycles, service
from ispops.db.session import Database
from tests.billing.conftest import at, make_isp, move_changes, plan, session, subscriber, update_subscriber

NOV = cycles.parse_cycle("2026-11")
GB = 1_000_000_000


def usage(db: Database, tenant: str, **kw: Any) -> dict[str, service.UsageLine]:
    with db.tenant(tenant) as s:
        return {line.subscriber_number: line for line in service.usage(s, tenant, NOV, **kw)}


def test_a_mid_cycle_plan_change_prorates_both_plans_by_seconds(db: Database, admin: psycopg.Connection[Any]) -> None:
    make_isp(db, "isp-a")
    slow, fast = plan(db, "isp-a", "50M"), plan(db, "isp-a", "500M", cap_gb=100)
    sub = subscriber(db, "isp-a", "A-1", slow, activated=at("2026-10-20 00:00"))
    update_subscriber(db, "isp-a", sub, bandwidth_profile_id=fast)
    move_changes(admin, sub, at("2026-11-11 06:00"))

    line = usage(db, "isp-a")["A-1"]
    assert line.cycle.starts_at == at("2026-11-01 00:00") and line.cycle.ends_at == at("2026-12-01 00:00")
    first, second = line.periods
    assert (str(first.bandwidth_profile_id), first.plan_name) == (slow, "50M")
    assert (first.starts_at, first.ends_at) == (at("2026-11-01 00:00"), at("2026-11-11 06:00"))  # clipped
    assert first.seconds == 10 * 86400 + 6 * 3600
    assert first.fraction == Decimal("0.341667")  # 246 h / 720 h
    assert (str(second.bandwidth_profile_id), second.starts_at, second.ends_at) == (
        fast,
        at("2026-11-11 06:00"),
        at("2026-12-01 00:00"),
    )
    assert second.fraction == Decimal("0.658333")
    assert first.seconds + second.seconds == line.cycle.seconds
    # the plan in force at the end of the cycle gives the cap
    assert (str(line.bandwidth_profile_id), line.data_cap_gb) == (fast, 100)


def test_suspension_is_a_period_and_termination_ends_service(db: Database, admin: psycopg.Connection[Any]) -> None:
    make_isp(db, "isp-a")
    p = plan(db, "isp-a", "50M")
    sub = subscriber(db, "isp-a", "A-1", p, activated=at("2026-11-05 12:00"))
    update_subscriber(db, "isp-a", sub, status="suspended")
    update_subscriber(db, "isp-a", sub, status="terminated")
    move_changes(admin, sub, at("2026-11-20 00:00"), at("2026-11-25 00:00"))
    periods = usage(db, "isp-a")["A-1"].periods
    assert [(x.status, x.starts_at, x.ends_at) for x in periods] == [
        ("active", at("2026-11-05 12:00"), at("2026-11-20 00:00")),
        ("suspended", at("2026-11-20 00:00"), at("2026-11-25 00:00")),
    ]
    assert sum(x.fraction for x in periods) == Decimal("0.650000")  # 19.5 days of 30


def test_usage_sums_the_rollup_days_of_the_cycle_and_clips_session_time(db: Database) -> None:
    make_isp(db, "isp-a")
    p = plan(db, "isp-a", "50M", cap_gb=1)
    sub = subscriber(db, "isp-a", "A-1", p, activated=at("2026-10-01 00:00"))
    other = subscriber(db, "isp-a", "A-2", p, activated=at("2026-10-01 00:00"))
    # Oct 31 and Dec 1 are outside the cycle; the Oct 31 -> Nov 1 session's octets land on Nov 1 (its stop).
    session(db, "isp-a", sub, "s0", start=at("2026-10-31 10:00"), stop=at("2026-10-31 11:00"), up=1, down=2)
    session(db, "isp-a", sub, "s1", start=at("2026-10-31 23:00"), stop=at("2026-11-01 01:00"), up=10, down=20)
    session(db, "isp-a", sub, "s2", start=at("2026-11-15 08:00"), stop=at("2026-11-15 09:30"), up=300, down=GB)
    session(db, "isp-a", sub, "s3", start=at("2026-11-30 23:00"), stop=at("2026-12-01 00:30"), up=1000, down=2000)
    session(db, "isp-a", other, "s4", start=at("2026-11-02 00:00"), stop=at("2026-11-02 00:10"), up=7, down=8)
    lines = usage(db, "isp-a")
    a = lines["A-1"]
    # s3 stopped on Dec 1: the roll-up books its octets on Dec 1, so the next cycle has them.
    assert (a.input_octets, a.output_octets) == (10 + 300, 20 + GB)
    # session time: s1 from midnight (1 h), s2 (1.5 h), s3 until midnight (1 h); s0 not at all
    assert a.session_seconds == 3600 + 5400 + 3600
    assert a.total_octets == 310 + 20 + GB and a.over_cap
    assert (lines["A-2"].input_octets, lines["A-2"].output_octets, lines["A-2"].over_cap) == (7, 8, False)
    with db.tenant("isp-a") as s:
        only = service.usage(s, "isp-a", NOV, subscriber_id=uuid.UUID(other))
    assert [x.subscriber_number for x in only] == ["A-2"]


def test_each_subscriber_has_its_own_window_in_the_tenants_zone(db: Database) -> None:
    make_isp(db, "isp-a", tz="Africa/Nairobi")
    p = plan(db, "isp-a", "50M")
    sub = subscriber(db, "isp-a", "A-15", p, activated=at("2026-10-01 00:00"), billing_day=15)
    subscriber(db, "isp-a", "A-1", p, activated=at("2026-10-01 00:00"))
    # 22:00 UTC on Nov 14 is 01:00 on Nov 15 in Nairobi: inside A-15's cycle 2026-11
    session(db, "isp-a", sub, "n1", start=at("2026-11-14 21:30"), stop=at("2026-11-14 22:00"), up=5, down=6)
    session(db, "isp-a", sub, "n2", start=at("2026-11-14 20:00"), stop=at("2026-11-14 20:10"), up=50, down=60)
    lines = usage(db, "isp-a")
    a15 = lines["A-15"]
    assert (a15.cycle.start_date, a15.cycle.end_date) == (dt.date(2026, 11, 15), dt.date(2026, 12, 15))
    assert a15.cycle.starts_at == at("2026-11-14 21:00")
    assert (a15.input_octets, a15.output_octets) == (5, 6)
    assert a15.session_seconds == 1800
    assert lines["A-1"].cycle.starts_at == at("2026-10-31 21:00")
    with db.tenant("isp-a") as s:
        day15 = service.usage(s, "isp-a", NOV, billing_day=15)
    assert [x.subscriber_number for x in day15] == ["A-15"]


def test_subscribers_not_in_service_in_the_cycle_are_left_out(db: Database, admin: psycopg.Connection[Any]) -> None:
    make_isp(db, "isp-a")
    p = plan(db, "isp-a", "50M")
    subscriber(db, "isp-a", "LATER", p, activated=at("2026-12-03 00:00"))
    subscriber(db, "isp-a", "PENDING", p, activated=at("2026-10-01 00:00"), status="pending")
    gone = subscriber(db, "isp-a", "GONE", p, activated=at("2026-09-01 00:00"))
    update_subscriber(db, "isp-a", gone, status="terminated")
    move_changes(admin, gone, at("2026-10-15 00:00"))
    assert usage(db, "isp-a") == {}
