"""From the outbox to the endpoints: fan-out, claim, record (sync, over a ``Session``; never commits).

1. ``fan_out``: new events (``dispatched_at IS NULL``, oldest first, claimed with ``SKIP LOCKED``) become one
   ``webhook_deliveries`` row per enabled endpoint subscribed to their type (unique per endpoint and event,
   so a rerun adds nothing), and are marked dispatched.
2. ``claim``: due deliveries are leased (``locked_until``) in a short transaction, with everything needed to
   send them; the HTTP happens outside any transaction (ispops.events.jobs).
3. ``record``: each attempt goes to the log (``webhook_delivery_attempts``) and updates its delivery:
   ``succeeded``; or ``pending`` again after the backoff; or ``dead`` after the last attempt.

A worker that dies between claim and record leaves a lease that expires: the delivery is sent again with the
same ``webhook-id`` (the event's id), which receivers use to drop duplicates (at-least-once).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ispops.events.delivery import Outcome
from ispops.events.settings import WebhookSettings

_CLAIM_EVENTS = text(
    "SELECT id, event_type FROM event_outbox WHERE tenant_id = :t AND dispatched_at IS NULL "
    "ORDER BY seq LIMIT :batch FOR UPDATE SKIP LOCKED"
)
_FAN_OUT = text(
    "INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, event_type) "
    "SELECT ev.tenant_id, e.id, ev.id, ev.event_type "
    "FROM event_outbox ev JOIN webhook_endpoints e ON e.tenant_id = ev.tenant_id "
    "  AND e.deleted_at IS NULL AND e.enabled AND e.event_types @> jsonb_build_array(ev.event_type) "
    "WHERE ev.tenant_id = :t AND ev.id = ANY(CAST(:ids AS uuid[])) "
    "ON CONFLICT (tenant_id, endpoint_id, event_id) DO NOTHING"
)
_MARK = text("UPDATE event_outbox SET dispatched_at = now() WHERE tenant_id = :t AND id = ANY(CAST(:ids AS uuid[]))")
_CLAIM = text(
    "UPDATE webhook_deliveries d SET locked_until = now() + make_interval(secs => :lease) "
    "FROM (SELECT d2.id FROM webhook_deliveries d2 "
    "      JOIN webhook_endpoints e ON e.tenant_id = d2.tenant_id AND e.id = d2.endpoint_id "
    "      WHERE d2.tenant_id = :t AND d2.status = 'pending' AND d2.next_attempt_at <= now() "
    "        AND (d2.locked_until IS NULL OR d2.locked_until < now()) AND e.deleted_at IS NULL AND e.enabled "
    "      ORDER BY d2.next_attempt_at LIMIT :batch FOR UPDATE OF d2 SKIP LOCKED) c "
    "WHERE d.tenant_id = :t AND d.id = c.id "
    "RETURNING d.id, d.endpoint_id, d.event_id, d.attempts"
)
_LOAD = text(
    "SELECT d.id AS delivery_id, ev.event_type, ev.subject, ev.payload, ev.occurred_at, e.url, "
    "       e.secret_vault_path, "
    "       CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret_vault_path END AS previous_path "
    "FROM webhook_deliveries d "
    "JOIN event_outbox ev ON ev.tenant_id = d.tenant_id AND ev.id = d.event_id "
    "JOIN webhook_endpoints e ON e.tenant_id = d.tenant_id AND e.id = d.endpoint_id "
    "WHERE d.tenant_id = :t AND d.id = ANY(CAST(:ids AS uuid[]))"
)
_LOG = text(
    "INSERT INTO webhook_delivery_attempts "
    "(tenant_id, delivery_id, endpoint_id, attempt, status_code, latency_ms, error, response_body) "
    "VALUES (:t, :id, :endpoint, :attempt, :code, :latency, :error, :body)"
)
_RESULT = text(
    "UPDATE webhook_deliveries SET "
    "  attempts = attempts + 1, "
    "  status = CASE WHEN :ok THEN 'succeeded' WHEN attempts + 1 >= :max THEN 'dead' ELSE 'pending' END, "
    "  delivered_at = CASE WHEN :ok THEN now() ELSE delivered_at END, "
    "  dead_at = CASE WHEN NOT :ok AND attempts + 1 >= :max THEN now() END, "
    "  next_attempt_at = CASE WHEN :ok THEN next_attempt_at ELSE now() + make_interval(secs => :delay) END, "
    "  locked_until = NULL, last_status_code = :code, last_error = :error, last_latency_ms = :latency, "
    "  last_response_body = :body "
    "WHERE tenant_id = :t AND id = :id AND status = 'pending'"
)
_NEXT_DUE = text("SELECT min(next_attempt_at) FROM webhook_deliveries WHERE tenant_id = :t AND status = 'pending'")
_EXPIRED_SECRETS = text(
    "WITH old AS (SELECT id, previous_secret_vault_path AS path FROM webhook_endpoints "
    "             WHERE tenant_id = :t AND previous_secret_expires_at <= now() FOR UPDATE) "
    "UPDATE webhook_endpoints e SET previous_secret_vault_path = NULL, previous_secret_expires_at = NULL "
    "FROM old WHERE e.tenant_id = :t AND e.id = old.id RETURNING old.path"
)


@dataclass(frozen=True)
class Work:
    """One claimed delivery, ready to send."""

    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    attempt: int
    url: str
    secret_paths: tuple[str, ...]
    body: bytes


def body_of(event_id: uuid.UUID, event_type: str, subject: str | None, payload: Any, occurred_at: datetime) -> bytes:
    """The JSON every endpoint receives for an event (Standard Webhooks' type / timestamp / data)."""
    doc = {
        "id": str(event_id),
        "type": event_type,
        "timestamp": occurred_at.isoformat().replace("+00:00", "Z"),
        "subject": subject,
        "data": payload,
    }
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")


def fan_out(s: Session, tenant_id: str, *, batch: int = 500) -> int:
    """Turn up to ``batch`` new events into deliveries; returns how many events were dispatched."""
    ids = [str(r.id) for r in s.execute(_CLAIM_EVENTS, {"t": tenant_id, "batch": batch})]
    if ids:
        s.execute(_FAN_OUT, {"t": tenant_id, "ids": ids})
        s.execute(_MARK, {"t": tenant_id, "ids": ids})
    return len(ids)


def claim(s: Session, tenant_id: str, *, batch: int, lease: float) -> list[Work]:
    """Lease up to ``batch`` due deliveries of live, enabled endpoints."""
    claimed = s.execute(_CLAIM, {"t": tenant_id, "batch": batch, "lease": lease}).all()
    if not claimed:
        return []
    loaded = {r.delivery_id: r for r in s.execute(_LOAD, {"t": tenant_id, "ids": [str(c.id) for c in claimed]})}
    out: list[Work] = []
    for c in claimed:
        row = loaded[c.id]
        paths = (row.secret_vault_path,) + ((row.previous_path,) if row.previous_path else ())
        out.append(
            Work(
                delivery_id=c.id,
                endpoint_id=c.endpoint_id,
                event_id=c.event_id,
                attempt=c.attempts + 1,
                url=row.url,
                secret_paths=paths,
                body=body_of(c.event_id, row.event_type, row.subject, row.payload, row.occurred_at),
            )
        )
    return out


def record(
    s: Session, tenant_id: str, results: Sequence[tuple[Work, Outcome]], settings: WebhookSettings
) -> dict[str, int]:
    """Log every attempt and move each delivery on; returns counts by outcome."""
    if not results:
        return {}
    logs: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    counts = {"succeeded": 0, "failed": 0, "dead": 0}
    for work, outcome in results:
        common = {
            "t": tenant_id,
            "id": work.delivery_id,
            "code": outcome.status_code,
            "latency": outcome.latency_ms,
            "error": outcome.error,
            "body": outcome.response_body,
        }
        logs.append({**common, "endpoint": work.endpoint_id, "attempt": work.attempt})
        updates.append(
            {**common, "ok": outcome.ok, "max": settings.max_attempts, "delay": settings.backoff(work.attempt)}
        )
        if outcome.ok:
            counts["succeeded"] += 1
        elif work.attempt >= settings.max_attempts:
            counts["dead"] += 1
        else:
            counts["failed"] += 1
    s.execute(_LOG, logs)
    s.execute(_RESULT, updates)
    return counts


def next_due(s: Session, tenant_id: str) -> datetime | None:
    """When the tenant's earliest pending delivery is due (None: none pending)."""
    value: datetime | None = s.execute(_NEXT_DUE, {"t": tenant_id}).scalar_one_or_none()
    return value


def end_expired_overlaps(s: Session, tenant_id: str) -> list[str]:
    """Forget previous secrets whose overlap has ended; returns their paths (to delete once committed)."""
    return [r[0] for r in s.execute(_EXPIRED_SECRETS, {"t": tenant_id}) if r[0]]
