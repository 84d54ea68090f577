"""The transactional outbox (contract; the events owner implements it first).

``emit(session, event_type=..., payload=..., subject=...)`` adds one domain event on the caller's unit of
work: it exists if and only if the caller's transaction commits. Never commits. The tenant is the unit of
work's own (``app.current_tenant_id``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session


def emit(
    session: Session | Connection,
    *,
    event_type: str,
    payload: dict[str, Any],
    subject: str | None = None,
) -> None:
    """Record ``event_type`` (e.g. ``subscriber.activated``) with a JSON ``payload`` about ``subject``
    (e.g. ``subscribers/<id>``) in the caller's transaction."""
    raise NotImplementedError("events.outbox.emit: being written (issue 18)")
