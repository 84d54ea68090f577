"""Scheduled orders: a time or the next billing cycle, the job queued for then, nothing done before, the
safety net for a due order whose job went missing, and cancelling before the time."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import pytest
from sqlalchemy import select

from ispops.errors import ValidationFailed
from ispops.lifecycle import jobs, orders, saga
from ispops.models import Subscriber
from tests.lifecycle.saga_support import (  # noqa: F401  (fixtures)
    Mark,
    Site,
    advance_jobs,
    order_row,
    plan,
    site_fixture,
)
from tests.lifecycle.test_saga_workers import run_jobs

UTC = dt.UTC


def _submit(site: Site, at: str | None, order_type: str = "suspend") -> Any:
    with site.db.tenant(site.tenant) as s:
        order = orders.submit(s, site.tenant, orders.Submission(order_type, site.subscribers[0], {}, at=at))
        return order.id


@pytest.mark.parametrize(
    ("now", "day", "zone", "expected"),
    [
        (dt.datetime(2027, 3, 10, 12, tzinfo=UTC), 15, "UTC", dt.datetime(2027, 3, 15, tzinfo=UTC)),
        (dt.datetime(2027, 3, 15, 0, 0, 1, tzinfo=UTC), 15, "UTC", dt.datetime(2027, 4, 15, tzinfo=UTC)),
        (dt.datetime(2027, 12, 20, tzinfo=UTC), 1, "UTC", dt.datetime(2028, 1, 1, tzinfo=UTC)),
        # midnight in Nairobi (UTC+3) is 21:00 UTC the day before; at 22:00 UTC on the 14th it has passed
        (dt.datetime(2027, 3, 14, 20, tzinfo=UTC), 15, "Africa/Nairobi", dt.datetime(2027, 3, 14, 21, tzinfo=UTC)),
        (dt.datetime(2027, 3, 14, 22, tzinfo=UTC), 15, "Africa/Nairobi", dt.datetime(2027, 4, 14, 21, tzinfo=UTC)),
    ],
)
def test_the_next_cycle_starts_at_midnight_of_the_billing_day_in_the_tenants_zone(
    site: Site, admin: psycopg.Connection[Any], now: dt.datetime, day: int, zone: str, expected: dt.datetime
) -> None:
    admin.execute("update tenants set timezone = %s where id = 'isp-a'", (zone,))
    admin.execute("update subscribers set billing_cycle_day = %s where id = %s", (day, site.subscribers[0]))
    with site.db.tenant(site.tenant) as s:
        sub = s.scalars(select(Subscriber).where(Subscriber.id == site.subscribers[0])).one()
        assert orders.next_cycle_start(s, site.tenant, sub, now) == expected


def test_a_scheduled_order_waits_for_its_time_with_its_job_queued_for_then(
    site: Site, admin: psycopg.Connection[Any]
) -> None:
    when = dt.datetime.now(UTC).replace(microsecond=0) + dt.timedelta(days=3)
    order_id = _submit(site, when.isoformat())
    row = order_row(admin, order_id)
    assert row["workflow_status"] == "scheduled" and row["scheduled_for"] == when == row["next_attempt_at"]
    assert advance_jobs(admin) == [("todo", str(order_id), when)]
    with plan(Mark("a"), activation_type="suspension") as steps:
        assert saga.advance(site.db, site.tenant, order_id) == "not_due"
        run_jobs(site.db)  # the worker does not take a job before its time
        assert steps[0].calls == 0 and order_row(admin, order_id)["workflow_status"] == "scheduled"
        # the time comes
        admin.execute("update procrastinate.procrastinate_jobs set scheduled_at = now() - interval '1 second'")
        admin.execute("update service_activations set next_attempt_at = now() - interval '1 second'")
        run_jobs(site.db)
    row = order_row(admin, order_id)
    assert row["workflow_status"] == "completed" and row["started_at"] >= row["requested_at"]


def test_next_cycle_orders_and_times_in_the_past_or_too_far(site: Site, admin: psycopg.Connection[Any]) -> None:
    order_id = _submit(site, "next_cycle", "suspend")
    row = order_row(admin, order_id)
    with site.db.tenant(site.tenant) as s:
        sub = s.scalars(select(Subscriber).where(Subscriber.id == site.subscribers[0])).one()
        expected = orders.next_cycle_start(s, site.tenant, sub, row["requested_at"])
    assert row["workflow_status"] == "scheduled" and row["scheduled_for"] == expected
    with site.db.tenant(site.tenant) as s:
        orders.cancel(s, site.tenant, order_id)  # before its time: cancelled at once
    assert order_row(admin, order_id)["workflow_status"] == "cancelled"
    past = _submit(site, "2020-01-01T00:00:00+00:00")  # a time gone by: now
    assert order_row(admin, past)["workflow_status"] == "pending"
    with site.db.tenant(site.tenant) as s:
        orders.cancel(s, site.tenant, past)
    for bad in ("2099-01-01T00:00:00+00:00", "2030-01-01T00:00:00", "tomorrow"):
        with pytest.raises(ValidationFailed) as refused:
            _submit(site, bad)
        assert refused.value.field == "at"


def test_a_due_scheduled_order_whose_job_went_missing_is_picked_up(site: Site, admin: psycopg.Connection[Any]) -> None:
    order_id = _submit(site, (dt.datetime.now(UTC) + dt.timedelta(hours=1)).isoformat())
    admin.execute("delete from procrastinate.procrastinate_jobs")
    assert jobs.resume_stalled(site.db, site.tenant, grace_seconds=0)["resumed"] == 0  # not due yet
    admin.execute("update service_activations set next_attempt_at = now() - interval '1 minute'")
    assert jobs.resume_stalled(site.db, site.tenant, grace_seconds=0)["orders"] == [str(order_id)]
    with plan(Mark("a"), activation_type="suspension"):
        run_jobs(site.db)
    assert order_row(admin, order_id)["workflow_status"] == "completed"
