"""What the lifecycle steps share: a base class, the subscriber, the order's actor, domain errors as step
failures, and events through the outbox (docs/lifecycle.md, "Steps").

Every step reads what the subscriber looked like when the order started from ``ctx.state["validate"]``
(the first step's result, committed with it): that snapshot is how a rerun tells its own earlier effect
(an allocation, an ONU, a CPE record made by this order) from what was there before, and what a
compensation restores.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from ispops.auth.principal import Principal, RequestMeta
from ispops.errors import IspopsError
from ispops.events import outbox
from ispops.lifecycle.steps import Done, StepContext, StepFailed, Wait
from ispops.models import ServiceActivation, Subscriber

log = structlog.get_logger(__name__)

VALIDATE = "validate"  # the first step of every plan; its result is the snapshot


class BaseStep:
    """A step with no effect to undo unless it says otherwise."""

    name: str = ""
    pivot: bool = False

    def run(self, ctx: StepContext) -> Done | Wait:  # pragma: no cover - every step overrides it
        raise NotImplementedError

    def compensate(self, ctx: StepContext) -> None:
        return None

    def __repr__(self) -> str:
        return f"<step {self.name}{' (pivot)' if self.pivot else ''}>"


def failed(exc: IspopsError, *, retryable: bool = False) -> StepFailed:
    """A domain refusal (404, 409, 422) as a step failure naming the same field."""
    return StepFailed(exc.message, retryable=retryable, field=exc.field)


def snapshot(ctx: StepContext) -> dict[str, Any]:
    """What the validate step recorded when the order started (empty when it did not run)."""
    value = ctx.state.get(VALIDATE) or {}
    return dict(value) if isinstance(value, dict) else {}


def result_of(ctx: StepContext, step: str) -> dict[str, Any]:
    value = ctx.state.get(step) or {}
    return dict(value) if isinstance(value, dict) else {}


def subscriber(ctx: StepContext, *, lock: bool = False) -> Subscriber:
    """The order's live subscriber; a step fails (not retried) when it is gone."""
    stmt = select(Subscriber).where(
        Subscriber.tenant_id == ctx.tenant_id, Subscriber.id == ctx.subscriber_id, Subscriber.deleted_at.is_(None)
    )
    sub = ctx.session.scalars(stmt.with_for_update() if lock else stmt).first()
    if sub is None:
        raise StepFailed("subscribers: no such record (deleted since the order was made)", field="subscriber_id")
    return sub


def actor(ctx: StepContext) -> tuple[Principal, RequestMeta]:
    """Who the domain services' audit events name: the user who made the order, else the order itself."""
    requested_by = ctx.session.scalar(
        select(ServiceActivation.requested_by).where(
            ServiceActivation.tenant_id == ctx.tenant_id, ServiceActivation.id == ctx.order_id
        )
    )
    who = requested_by or f"order:{ctx.order_id}"
    return (
        Principal(kind="user", id=str(who), tenant_id=ctx.tenant_id),
        RequestMeta(ip=None, request_id=f"order:{ctx.order_id}"[:64], user_agent="ispops-lifecycle"),
    )


def emit(session: Session, *, event_type: str, payload: dict[str, Any], subject: str, key: str) -> bool:
    """One event on the step's unit of work (it commits with the step, or not at all), at most once per
    ``key`` (the step's idempotency key). False when it was already written (a rerun), or while the outbox
    is not installed."""
    try:
        return outbox.emit_once(session, event_type=event_type, payload=payload, subject=subject, dedupe_key=key)
    except NotImplementedError:
        log.warning("lifecycle.event_not_emitted", event_type=event_type, reason="outbox not available")
        return False


def event_payload(ctx: StepContext, **extra: Any) -> dict[str, Any]:
    return {
        "subscriber_id": str(ctx.subscriber_id),
        "order_id": str(ctx.order_id),
        "order_type": ctx.order_type,
        **extra,
    }


def subject(subscriber_id: uuid.UUID) -> str:
    return f"subscribers/{subscriber_id}"


def as_uuid(value: Any) -> uuid.UUID | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
