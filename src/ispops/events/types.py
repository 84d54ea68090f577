"""The domain event types (issue 18): the one list every emitter and every webhook endpoint is checked against.

There is no CHECK on ``event_outbox.event_type`` on purpose: a domain adds its types here (a one-line
``str_replace`` in ``EVENT_TYPES``), with no migration. docs/events.md lists which module emits which type.
"""

from __future__ import annotations

import re

EVENT_TYPES: tuple[str, ...] = (
    "subscriber.activated",
    "subscriber.suspended",
    "subscriber.resumed",
    "subscriber.terminated",
    "subscriber.plan_changed",
    "usage.cap_reached",
    "session.started",
    "session.stopped",
    "onu.alarm_raised",
    "onu.alarm_cleared",
    "cpe.signal_alarm",
    "order.failed",
    "billing.service_started",  # lifecycle: an activation starts billing (plan, activation time, cycle day)
    # billing.* (the billing hand-off adds its types below this line)
    "billing.cycle_closed",
)

# The shape every type has (and the database's CHECK on event_outbox.event_type enforces).
TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def is_known(event_type: str) -> bool:
    return event_type in EVENT_TYPES
