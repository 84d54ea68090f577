"""Billing cycles: the month a cycle starts in, the subscriber's billing day, the tenant's zone."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import text

from ispops.billing import cycles
from ispops.db.session import Database
from ispops.errors import NotFound, ValidationFailed
from tests.billing.conftest import make_isp, subscriber


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "26-11", "2026-11-01", "november", "", "1999-12", "2026-00"])
def test_a_cycle_that_is_not_a_month_is_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        cycles.parse_cycle(bad)
    assert err.value.field == "cycle"


def test_a_cycle_runs_from_the_billing_day_to_the_same_day_next_month_at_local_midnight() -> None:
    c = cycles.cycle_of(cycles.parse_cycle("2026-12"), 15, "Africa/Nairobi")
    assert (c.start_date, c.end_date) == (dt.date(2026, 12, 15), dt.date(2027, 1, 15))
    # Nairobi is UTC+3: local midnight is 21:00 UTC the day before.
    assert c.starts_at == dt.datetime(2026, 12, 14, 21, tzinfo=dt.UTC)
    assert c.ends_at == dt.datetime(2027, 1, 14, 21, tzinfo=dt.UTC)
    assert c.seconds == 31 * 86400 and c.label == "2026-12"


def test_a_month_with_a_clock_change_is_an_hour_longer() -> None:
    october = cycles.cycle_of(dt.date(2026, 10, 1), 1, "Europe/Berlin")  # summer time ends 25 Oct
    assert october.seconds == 31 * 86400 + 3600
    assert cycles.cycle_of(dt.date(2026, 10, 1), 1, "UTC").seconds == 31 * 86400


def test_the_cycle_for_a_date_depends_on_the_billing_day() -> None:
    assert cycles.cycle_for(dt.date(2026, 11, 14), 15, "UTC").label == "2026-10"
    assert cycles.cycle_for(dt.date(2026, 11, 15), 15, "UTC").label == "2026-11"
    assert cycles.cycle_for(dt.date(2026, 1, 3), 5, "UTC").label == "2025-12"
    with pytest.raises(ValidationFailed) as err:
        cycles.cycle_for(dt.date(2026, 1, 3), 29, "UTC")
    assert err.value.field == "billing_day"


def test_cycles_start_where_the_usage_caps_reset(db: Database) -> None:
    """The same period as ispops_billing_period_start, which the RADIUS usage caps use."""
    make_isp(db, "isp-a")
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(0, 400, 7)]
    with db.tenant("isp-a") as s:
        for billing_day in (1, 2, 15, 28):
            for day in days:
                expected = s.execute(
                    text("select ispops_billing_period_start(:d, :day)"), {"d": billing_day, "day": day}
                ).scalar_one()
                assert cycles.cycle_for(day, billing_day, "UTC").start_date == expected, (billing_day, day)


def test_a_subscribers_cycle_and_another_tenants_subscriber_is_not_found(db: Database) -> None:
    make_isp(db, "isp-a")
    make_isp(db, "isp-b")
    sub = subscriber(db, "isp-a", "A-1", None, activated=dt.datetime(2026, 10, 1, tzinfo=dt.UTC), billing_day=10)
    with db.tenant("isp-a") as s:
        c = cycles.subscriber_cycle(s, "isp-a", uuid.UUID(sub), on=dt.date(2026, 11, 9))
    assert (c.label, c.billing_day, c.start_date) == ("2026-10", 10, dt.date(2026, 10, 10))
    with pytest.raises(NotFound), db.tenant("isp-b") as s:
        cycles.subscriber_cycle(s, "isp-b", uuid.UUID(sub))
