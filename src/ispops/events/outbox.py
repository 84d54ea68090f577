"""The transactional outbox.

``emit(session, event_type=..., payload=..., subject=...)`` adds one domain event on the caller's unit of
work: it exists if and only if the caller's transaction commits. Never commits. The tenant is the unit of
work's own (``app.current_tenant_id``).

The first event of a transaction also queues one ``events.dispatch`` job in that transaction (so the event
is fanned out to webhook endpoints as soon as it commits); the job every minute is the safety net. The job
is not ``unique`` on purpose: a queueing lock would make concurrent emitters of one tenant wait for each
other's commit (and could deadlock them); a dispatch that finds nothing to do costs one query.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from ispops.events.types import EVENT_TYPES

DISPATCH_JOB = "events.dispatch"
_DEFERRED = "ispops.events.dispatch_deferred_in"

_INSERT = text(
    "INSERT INTO event_outbox (tenant_id, event_type, subject, payload, dedupe_key) "
    "VALUES (nullif(current_setting('app.current_tenant_id', true), ''), :event_type, :subject, "
    "CAST(:payload AS jsonb), :dedupe_key) "
    "ON CONFLICT (tenant_id, dedupe_key) DO NOTHING RETURNING id"
)


def _json_default(value: Any) -> Any:
    if isinstance(value, (uuid.UUID, Decimal)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"event payload: {type(value).__name__} is not JSON serialisable")


def encode_payload(payload: dict[str, Any]) -> str:
    """The payload as JSON text (UUIDs, Decimals, datetimes and enums become strings)."""
    if not isinstance(payload, dict):
        raise TypeError("event payload must be a dict")
    return json.dumps(payload, default=_json_default, separators=(",", ":"))


def _check_type(event_type: str) -> None:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}: add it to ispops.events.types.EVENT_TYPES")


def _wake_dispatcher(session: Session | Connection) -> None:
    """Queue one ``events.dispatch`` per transaction (on the same transaction)."""
    txn = session.get_transaction()
    if txn is None:  # pragma: no cover - emit always runs inside a unit of work
        return
    if session.info.get(_DEFERRED) is txn:
        return
    from ispops.jobs import defer_in  # a late import: the jobs package imports the domains' modules lazily

    defer_in(session, DISPATCH_JOB)
    session.info[_DEFERRED] = txn


def _insert(
    session: Session | Connection,
    event_type: str,
    payload: dict[str, Any],
    subject: str | None,
    dedupe_key: str | None,
    wake: bool,
) -> uuid.UUID | None:
    _check_type(event_type)
    if subject is not None and len(subject) > 255:
        raise ValueError("event subject: at most 255 characters")
    params = {
        "event_type": event_type,
        "subject": subject,
        "payload": encode_payload(payload),
        "dedupe_key": dedupe_key,
    }
    event_id = session.execute(_INSERT, params).scalar_one_or_none()
    if event_id is not None and wake:
        _wake_dispatcher(session)
    return event_id


def emit(
    session: Session | Connection,
    *,
    event_type: str,
    payload: dict[str, Any],
    subject: str | None = None,
) -> None:
    """Record ``event_type`` (e.g. ``subscriber.activated``) with a JSON ``payload`` about ``subject``
    (e.g. ``subscribers/<id>``) in the caller's transaction."""
    _insert(session, event_type, payload, subject, None, wake=True)


def emit_once(
    session: Session | Connection,
    *,
    event_type: str,
    payload: dict[str, Any],
    dedupe_key: str,
    subject: str | None = None,
    wake: bool = True,
) -> bool:
    """``emit`` unless an event with ``dedupe_key`` already exists for the tenant (then nothing): for jobs
    that may see the same fact twice (at-least-once). True when the event was written."""
    return _insert(session, event_type, payload, subject, dedupe_key, wake=wake) is not None
