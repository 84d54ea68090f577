"""Billing cycles: monthly, starting on the subscriber's billing day, at local midnight in the tenant's zone.

A cycle is named by the month it starts in (``"2026-11"``). For a subscriber whose ``billing_cycle_day`` is
15, cycle ``2026-11`` runs from 2026-11-15 00:00 to 2026-12-15 00:00 in the tenant's time zone (the end is
exclusive); with the default day 1 it is the calendar month. The database allows billing days 1-28
(``ck_subscribers__billing_cycle_day``), so every month has the day. This is the period the RADIUS usage
caps use (``ispops_billing_period_start``, ispops.radius.usage) and usage days are the tenant's local days,
so a cycle holds whole usage days.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import text
from sqlalchemy.orm import Session

from ispops.errors import NotFound, ValidationFailed

CYCLE_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
MIN_DAY, MAX_DAY = 1, 28


def parse_cycle(value: str, *, field: str = "cycle") -> dt.date:
    """``"2026-11"`` -> 2026-11-01; anything else is a 422 naming ``field``."""
    match = CYCLE_PATTERN.match(value)
    if match is None or not 2000 <= int(match.group(1)) <= 2999:
        raise ValidationFailed(f"{field}: expected a month as YYYY-MM (e.g. 2026-11), got {value!r}", field=field)
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def label(month: dt.date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def previous_month(month: dt.date) -> dt.date:
    return dt.date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True)
class Cycle:
    """One billing cycle: local dates ``[start_date, end_date)`` and the instants they begin at."""

    month: dt.date  # first day of the month the cycle starts in
    billing_day: int
    start_date: dt.date
    end_date: dt.date  # exclusive: the first day of the next cycle
    starts_at: dt.datetime
    ends_at: dt.datetime

    @property
    def label(self) -> str:
        return label(self.month)

    @property
    def seconds(self) -> int:
        """The cycle's length in seconds (a month with a DST change is an hour longer or shorter)."""
        return int((self.ends_at - self.starts_at).total_seconds())

    def previous(self, tz: str) -> Cycle:
        return cycle_of(previous_month(self.month), self.billing_day, tz)


def _check_day(billing_day: int) -> None:
    if not MIN_DAY <= billing_day <= MAX_DAY:
        raise ValidationFailed(f"billing_day: must be between {MIN_DAY} and {MAX_DAY}", field="billing_day")


def _midnight(day: dt.date, tz: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=zone(tz)).astimezone(dt.UTC)


def cycle_of(month: dt.date, billing_day: int, tz: str) -> Cycle:
    """Cycle ``month`` (any day of it) for subscribers billed on ``billing_day``, in zone ``tz``."""
    _check_day(billing_day)
    first = month.replace(day=1)
    start = first.replace(day=billing_day)
    end = next_month(first).replace(day=billing_day)
    return Cycle(first, billing_day, start, end, _midnight(start, tz), _midnight(end, tz))


def cycle_for(day: dt.date, billing_day: int, tz: str) -> Cycle:
    """The cycle the local date ``day`` belongs to."""
    _check_day(billing_day)
    month = day.replace(day=1)
    return cycle_of(month if day.day >= billing_day else previous_month(month), billing_day, tz)


def tenant_timezone(session: Session, tenant_id: str) -> str:
    tz = session.execute(text("select timezone from tenants where id = :t"), {"t": tenant_id}).scalar_one_or_none()
    return str(tz or "UTC")


def local_date(at: dt.datetime, tz: str) -> dt.date:
    return at.astimezone(zone(tz)).date()


def subscriber_cycle(session: Session, tenant_id: str, subscriber_id: uuid.UUID, *, on: dt.date | None = None) -> Cycle:
    """The cycle of one subscriber (soft-deleted ones too: billing still needs them) that contains the local
    date ``on`` (default: today in the tenant's zone). Another tenant's subscriber is a 404."""
    day = session.execute(
        text("select billing_cycle_day from subscribers where tenant_id = :t and id = :id"),
        {"t": tenant_id, "id": subscriber_id},
    ).scalar_one_or_none()
    if day is None:
        raise NotFound(f"subscribers: no subscriber {subscriber_id}", table="subscribers")
    tz = tenant_timezone(session, tenant_id)
    return cycle_for(on or local_date(dt.datetime.now(dt.UTC), tz), int(day), tz)
