"""Usage and plan periods per subscriber per billing cycle, closing cycles, and the tenant's billing settings.

What a billing system gets for cycle ``2026-11`` (docs/billing.md):

- for every subscriber with a service period in its own window of that cycle (ispops.billing.cycles) or
  with usage in it — soft-deleted subscribers included: they were served —
- usage: octets in (upload) and out (download) from the RADIUS daily rollups (``subscriber_usage_daily``,
  local days ``[start_date, end_date)``), and session time from ``radacct`` (each session's overlap with
  the window; an open session counts up to its last interim update);
- the plan periods from ``subscriber_plan_history``, clipped to the window, each with its proration
  fraction = seconds in the period / seconds in the cycle (6 decimals). Only periods in service count:
  ``active``, ``suspended`` and ``on_hold`` (the billing system decides what a suspension costs);
  ``pending`` and ``terminated`` periods are left out;
- the data cap of the plan in force at the end of the window (``monthly_data_cap_gb``, GB = 10^9 bytes).

Usage figures are live: accounting that arrives after a cycle closed changes its export (the close waits
``close_after_hours`` for late accounting; docs/billing.md).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ispops.billing import cycles
from ispops.billing.cycles import Cycle
from ispops.models import BillingCycle, BillingSettings

GB = 1_000_000_000
IN_SERVICE = ("active", "suspended", "on_hold")
FRACTION = Decimal("0.000001")

DEFAULTS: dict[str, Any] = {"close_after_hours": 6, "push_on_close": False}


@dataclass(frozen=True)
class Period:
    bandwidth_profile_id: uuid.UUID | None
    plan_name: str | None
    status: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    seconds: int
    fraction: Decimal


@dataclass
class UsageLine:
    """One subscriber in one cycle."""

    subscriber_id: uuid.UUID
    subscriber_number: str
    customer_id: uuid.UUID | None
    billing_subscription_id: str | None
    cycle: Cycle
    input_octets: int = 0
    output_octets: int = 0
    session_seconds: int = 0
    periods: list[Period] = field(default_factory=list)
    bandwidth_profile_id: uuid.UUID | None = None
    plan_name: str | None = None
    data_cap_gb: int | None = None

    @property
    def total_octets(self) -> int:
        return self.input_octets + self.output_octets

    @property
    def over_cap(self) -> bool:
        return self.data_cap_gb is not None and self.total_octets >= self.data_cap_gb * GB


# Each subscriber's window of cycle :month, as local dates and as instants in the tenant's zone.
WINDOWS = """
  SELECT s.id, s.subscriber_number, s.customer_id, s.billing_subscription_id, s.billing_cycle_day AS billing_day,
         (cast(:month AS date) + (s.billing_cycle_day - 1)) AS start_date,
         ((cast(:month AS date) + interval '1 month')::date + (s.billing_cycle_day - 1)) AS end_date,
         ((cast(:month AS date) + (s.billing_cycle_day - 1))::timestamp AT TIME ZONE :tz) AS starts_at,
         (((cast(:month AS date) + interval '1 month')::date + (s.billing_cycle_day - 1))::timestamp
           AT TIME ZONE :tz) AS ends_at
    FROM subscribers s
   WHERE s.tenant_id = :t
     AND (cast(:day AS integer) IS NULL OR s.billing_cycle_day = :day)
     AND (cast(:sid AS uuid) IS NULL OR s.id = :sid)
"""

PERIODS = f"""
WITH w AS ({WINDOWS})
SELECT w.id, h.bandwidth_profile_id, b.name, b.monthly_data_cap_gb, h.status,
       greatest(h.valid_from, w.starts_at) AS p_from,
       least(coalesce(h.valid_to, w.ends_at), w.ends_at) AS p_to
  FROM w
  JOIN subscriber_plan_history h ON h.tenant_id = :t AND h.subscriber_id = w.id
   AND h.valid_from < w.ends_at AND (h.valid_to IS NULL OR h.valid_to > w.starts_at)
  LEFT JOIN bandwidth_profiles b ON b.tenant_id = :t AND b.id = h.bandwidth_profile_id
 WHERE h.status IN ({", ".join(f"'{s}'" for s in IN_SERVICE)})
 ORDER BY w.id, p_from
"""

OCTETS = f"""
WITH w AS ({WINDOWS})
SELECT u.subscriber_id, sum(u.input_octets)::bigint, sum(u.output_octets)::bigint
  FROM subscriber_usage_daily u JOIN w ON w.id = u.subscriber_id
 WHERE u.tenant_id = :t AND u.day >= w.start_date AND u.day < w.end_date
 GROUP BY u.subscriber_id
"""

# Sessions overlapping the window; an open session ends (for now) at its last update.
SESSIONS = f"""
WITH w AS ({WINDOWS})
SELECT a.subscriber_id,
       sum(greatest(0, extract(epoch FROM
             least(coalesce(a.acctstoptime, a.acctupdatetime, a.acctstarttime), w.ends_at)
             - greatest(a.acctstarttime, w.starts_at))))::bigint
  FROM radacct a JOIN w ON w.id = a.subscriber_id
 WHERE a.tenant_id = :t AND a.subscriber_id IS NOT NULL
   AND a.acctstarttime < :until AND (a.acctstoptime IS NULL OR a.acctstoptime > :since)
   AND a.acctstarttime < w.ends_at AND (a.acctstoptime IS NULL OR a.acctstoptime > w.starts_at)
 GROUP BY a.subscriber_id
"""


def usage(
    session: Session,
    tenant_id: str,
    month: dt.date,
    *,
    billing_day: int | None = None,
    subscriber_id: uuid.UUID | None = None,
) -> list[UsageLine]:
    """Every subscriber's usage and plan periods in cycle ``month`` (ordered by subscriber number)."""
    if billing_day is not None:
        cycles.cycle_of(month, billing_day, "UTC")  # 422 naming billing_day when out of range
    tz = cycles.tenant_timezone(session, tenant_id)
    # The widest window any billing day gives (day 1 .. day 28 of the next month), for partition pruning.
    params: dict[str, Any] = {
        "t": tenant_id,
        "month": month,
        "tz": tz,
        "day": billing_day,
        "sid": subscriber_id,
        "since": cycles.cycle_of(month, 1, tz).starts_at,
        "until": cycles.cycle_of(month, cycles.MAX_DAY, tz).ends_at,
    }
    lines: dict[uuid.UUID, UsageLine] = {}
    windows = {row.id: row for row in session.execute(text(WINDOWS), params)}

    def line(sid: uuid.UUID) -> UsageLine:
        if sid not in lines:
            w = windows[sid]
            cycle = Cycle(month, w.billing_day, w.start_date, w.end_date, w.starts_at, w.ends_at)
            lines[sid] = UsageLine(sid, w.subscriber_number, w.customer_id, w.billing_subscription_id, cycle)
        return lines[sid]

    for sid, profile_id, name, cap, status, p_from, p_to in session.execute(text(PERIODS), params):
        item = line(sid)
        seconds = int((p_to - p_from).total_seconds())
        fraction = (Decimal(seconds) / Decimal(item.cycle.seconds)).quantize(FRACTION)
        item.periods.append(Period(profile_id, name, status, p_from, p_to, seconds, fraction))
        item.bandwidth_profile_id, item.plan_name, item.data_cap_gb = profile_id, name, cap
    for sid, octets_in, octets_out in session.execute(text(OCTETS), params):
        item = line(sid)
        item.input_octets, item.output_octets = int(octets_in), int(octets_out)
    for sid, seconds in session.execute(text(SESSIONS), params):
        if sid in windows:
            line(sid).session_seconds = int(seconds)
    return sorted(lines.values(), key=lambda x: (x.subscriber_number, str(x.subscriber_id)))


@dataclass(frozen=True)
class CycleStatus:
    """Whether cycle ``month`` is closed, per billing day."""

    month: dt.date
    closed: dict[int, dt.datetime]

    def is_closed(self, billing_day: int) -> bool:
        return billing_day in self.closed


def status(session: Session, tenant_id: str, month: dt.date) -> CycleStatus:
    rows = session.execute(
        select(BillingCycle.billing_day, BillingCycle.closed_at).where(
            BillingCycle.tenant_id == tenant_id, BillingCycle.cycle == month
        )
    ).all()
    return CycleStatus(month, {int(day): closed_at for day, closed_at in rows})


# --- settings ---------------------------------------------------------------------------------------------


def get_settings(session: Session, tenant_id: str) -> dict[str, Any]:
    row = session.execute(select(BillingSettings).where(BillingSettings.tenant_id == tenant_id)).scalar_one_or_none()
    if row is None:
        return {**DEFAULTS, "endpoint_vault_path": None}
    return {
        "close_after_hours": row.close_after_hours,
        "push_on_close": row.push_on_close,
        "endpoint_vault_path": row.endpoint_vault_path,
    }


def put_settings(session: Session, tenant_id: str, **values: Any) -> dict[str, Any]:
    """Create or update the tenant's one settings row with ``values`` (columns of billing_settings)."""
    row = session.execute(
        select(BillingSettings).where(BillingSettings.tenant_id == tenant_id).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        row = BillingSettings(tenant_id=tenant_id, **{**DEFAULTS, **values})
        session.add(row)
    else:
        for key, value in values.items():
            setattr(row, key, value)
    session.flush()
    return get_settings(session, tenant_id)


# --- closing ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Closed:
    cycle_id: uuid.UUID
    month: dt.date
    billing_day: int
    subscribers: int


def billing_days(session: Session, tenant_id: str) -> list[int]:
    """The billing days the tenant's subscribers (any, soft-deleted too) are on."""
    return [
        int(d)
        for d in session.execute(
            text("select distinct billing_cycle_day from subscribers where tenant_id = :t order by 1"),
            {"t": tenant_id},
        ).scalars()
    ]


def close_cycle(session: Session, tenant_id: str, cycle: Cycle) -> tuple[Closed, list[UsageLine]] | None:
    """Record cycle ``cycle`` (one month, one billing day) as closed with its totals, in the caller's
    transaction. None when it was already closed (or has no subscribers to report). Emits nothing: the
    caller (ispops.billing.jobs) does, in the same transaction."""
    lines = usage(session, tenant_id, cycle.month, billing_day=cycle.billing_day)
    if not lines:
        return None
    inserted = session.execute(
        text(
            "insert into billing_cycles (tenant_id, cycle, billing_day, starts_at, ends_at, subscribers, "
            "input_octets, output_octets, session_seconds) values (:t, :m, :d, :s, :e, :n, :i, :o, :ss) "
            "on conflict (tenant_id, cycle, billing_day) do nothing returning id"
        ),
        {
            "t": tenant_id,
            "m": cycle.month,
            "d": cycle.billing_day,
            "s": cycle.starts_at,
            "e": cycle.ends_at,
            "n": len(lines),
            "i": sum(x.input_octets for x in lines),
            "o": sum(x.output_octets for x in lines),
            "ss": sum(x.session_seconds for x in lines),
        },
    ).scalar_one_or_none()
    if inserted is None:
        return None
    return Closed(inserted, cycle.month, cycle.billing_day, len(lines)), lines


def due_cycles(session: Session, tenant_id: str, now: dt.datetime, close_after_hours: int) -> list[Cycle]:
    """For each billing day in use, the latest cycle that ended at least ``close_after_hours`` ago."""
    tz = cycles.tenant_timezone(session, tenant_id)
    cutoff = cycles.local_date(now - dt.timedelta(hours=close_after_hours), tz)
    due = []
    for day in billing_days(session, tenant_id):
        latest_ended = cycles.cycle_for(cutoff, day, tz).previous(tz)
        if latest_ended.ends_at + dt.timedelta(hours=close_after_hours) <= now:
            due.append(latest_ended)
    return due
