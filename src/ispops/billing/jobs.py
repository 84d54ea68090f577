"""Billing work for the workers: closing cycles (hourly) and pushing them to the billing system (on demand).

``close_cycles`` (``billing.close_cycles``): for each billing day the tenant's subscribers are on, the latest
cycle that ended at least ``close_after_hours`` ago is recorded in ``billing_cycles`` with its totals and a
``billing.cycle_closed`` event is written to the outbox — both in one transaction, once (the cycle's unique
key makes a second run a no-op). With ``push_on_close`` and an endpoint configured, a ``billing.push_cycle``
job is queued in the same transaction. A cycle the job never saw (the platform was down for a whole cycle)
is not closed by the job: only the latest ended cycle of each billing day is looked at
(``ispops billing close --cycle YYYY-MM`` closes an ended month's cycles by hand).

``push_cycle`` (``billing.push_cycle``): ispops.billing.push.push_cycle for one tenant's closed cycle.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from sqlalchemy import select

from ispops.billing import cycles, push, service
from ispops.db.session import Database
from ispops.events.outbox import emit
from ispops.jobs import defer_in
from ispops.models import BillingCycle

log = structlog.get_logger(__name__)

PUSH_JOB = "billing.push_cycle"


def close_due(
    db: Database, tenant_id: str, *, now: dt.datetime | None = None, month: dt.date | None = None
) -> list[BillingCycle]:
    """Close the tenant's due cycles (see the module docstring), or with ``month`` that month's cycles that
    have ended (for a cycle the job missed); the cycles this run closed."""
    now = now or dt.datetime.now(dt.UTC)
    closed: list[BillingCycle] = []
    with db.tenant(tenant_id, enforce_status=False) as s:
        settings = service.get_settings(s, tenant_id)
        if month is None:
            due = service.due_cycles(s, tenant_id, now, int(settings["close_after_hours"]))
        else:
            tz = cycles.tenant_timezone(s, tenant_id)
            every = (cycles.cycle_of(month, day, tz) for day in service.billing_days(s, tenant_id))
            due = [c for c in every if c.ends_at <= now]
        for cycle in due:
            result = service.close_cycle(s, tenant_id, cycle)
            if result is None:
                continue
            row = s.execute(select(BillingCycle).where(BillingCycle.id == result[0].cycle_id)).scalar_one()
            emit(s, event_type=push.CLOSED_TYPE, payload=push.event_payload(row), subject=f"billing_cycles/{row.id}")
            if settings["push_on_close"] and settings["endpoint_vault_path"]:
                defer_in(s, PUSH_JOB, cycle=cycle.label, billing_day=cycle.billing_day)
            closed.append(row)
    return closed


def close_cycles(db: Database, tenant_id: str) -> dict[str, Any]:
    """The ``billing.close_cycles`` job."""
    closed = close_due(db, tenant_id)
    return {"closed": [f"{cycles.label(c.cycle)}/day {c.billing_day}" for c in closed]}


def push_cycle(db: Database, tenant_id: str, *, cycle: str, billing_day: int | None = None) -> dict[str, Any]:
    """The ``billing.push_cycle`` job: a failure raises, and the queue retries it (already delivered records
    are skipped then)."""
    report = push.push_cycle(db, tenant_id, cycles.parse_cycle(cycle), billing_day=billing_day)
    log.info("billing push", tenant=tenant_id, cycle=cycle, pushed=report.pushed, skipped=report.skipped)
    return {"pushed": report.pushed, "skipped": report.skipped, "events": report.events}
