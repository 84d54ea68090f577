"""Service orders: submit, cancel, retry, read (functions on the caller's unit of work; they never commit).

An order is a ``service_activations`` row run by the saga engine (``ispops.lifecycle.saga``). Submitting
inserts the row and queues its ``lifecycle.advance`` job in the caller's transaction, so the job exists if
and only if the order does. One open order per subscriber: the subscriber row is locked while the order is
checked and inserted (a second submission waits, then sees the first), and a partial UNIQUE index on the
open statuses is the last word (two submissions can never both commit); either way the answer is a 409
naming the open order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ispops.errors import Conflict, NotFound, ValidationFailed
from ispops.jobs import defer_in
from ispops.lifecycle import plans, saga
from ispops.models import Subscriber, Tenant
from ispops.models.automation import OrderPhase, ServiceActivation, WorkflowStatus

OrderType = Literal["activate", "plan_change", "suspend", "resume", "terminate"]
ActivateKind = Literal["new_service", "reactivation", "relocation"]
# the order type people submit -> service_activations.activation_type (activate: its kind)
ACTIVATION_TYPES: dict[str, str] = {
    "plan_change": "plan_change",
    "suspend": "suspension",
    "resume": "resumption",
    "terminate": "termination",
}
KINDS = ("new_service", "reactivation", "relocation")
OPEN_INDEX = "uq_service_activations__subscriber_id"
MAX_AHEAD = dt.timedelta(days=400)  # how far ahead an order may be scheduled
_USER = text("select current_setting('app.current_user_id', true)")


class OpenOrderExists(Conflict):
    """The subscriber already has an open order (409); ``open_order_id`` names it in the problem."""

    def __init__(self, order: ServiceActivation | uuid.UUID | None) -> None:
        order_id = order.id if isinstance(order, ServiceActivation) else order
        status = f" ({order.workflow_status})" if isinstance(order, ServiceActivation) else ""
        super().__init__(
            f"service_activations: the subscriber already has an open order {order_id}{status}; "
            "wait for it, cancel it or retry it",
            table="service_activations",
            field="subscriber_id",
        )
        self.extra = {"open_order_id": str(order_id) if order_id else None}


@dataclass(frozen=True)
class Submission:
    order_type: str
    subscriber_id: uuid.UUID
    params: dict[str, Any]
    kind: str | None = None  # activate only: new_service (default), reactivation, relocation
    at: str | dt.datetime | None = None  # None / "now", "next_cycle", or a time (timezone-aware)


def activation_type_of(order_type: str, kind: str | None) -> str:
    if order_type == "activate":
        chosen = kind or "new_service"
        if chosen not in KINDS:
            raise ValidationFailed(f"kind: one of {', '.join(KINDS)}", field="kind")
        return chosen
    if kind is not None:
        raise ValidationFailed("kind: only an activate order has a kind", field="kind")
    try:
        return ACTIVATION_TYPES[order_type]
    except KeyError:
        known = ", ".join(["activate", *ACTIVATION_TYPES])
        raise ValidationFailed(f"type: one of {known}", field="type") from None


def open_order(session: Session, tenant_id: str, subscriber_id: uuid.UUID) -> ServiceActivation | None:
    return session.scalars(
        select(ServiceActivation).where(
            ServiceActivation.tenant_id == tenant_id,
            ServiceActivation.subscriber_id == subscriber_id,
            ServiceActivation.workflow_status.in_(tuple(saga.OPEN)),
        )
    ).first()


def next_cycle_start(session: Session, tenant_id: str, sub: Subscriber, now: dt.datetime) -> dt.datetime:
    """Midnight (the tenant's time zone) of the subscriber's next ``billing_cycle_day`` after ``now``."""
    zone_name = session.scalar(select(Tenant.timezone).where(Tenant.id == tenant_id)) or "UTC"
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    day = sub.billing_cycle_day or 1
    year, month = local.year, local.month
    candidate = dt.datetime(year, month, day, tzinfo=zone)
    if candidate <= local:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        candidate = dt.datetime(year, month, day, tzinfo=zone)
    return candidate.astimezone(dt.UTC)


def _when(
    session: Session, tenant_id: str, sub: Subscriber, at: str | dt.datetime | None, now: dt.datetime
) -> dt.datetime | None:
    """The order's scheduled time, or None to run it now."""
    if at is None or at == "now":
        return None
    if at == "next_cycle":
        return next_cycle_start(session, tenant_id, sub, now)
    if isinstance(at, str):
        try:
            at = dt.datetime.fromisoformat(at)
        except ValueError:
            raise ValidationFailed(
                "at: 'now', 'next_cycle' or an ISO 8601 time with its UTC offset", field="at"
            ) from None
    if at.tzinfo is None:
        raise ValidationFailed("at: give the time with its UTC offset (e.g. 2027-01-01T00:00:00Z)", field="at")
    if at > now + MAX_AHEAD:
        raise ValidationFailed(f"at: at most {MAX_AHEAD.days} days ahead", field="at")
    return at if at > now else None


def submit(
    session: Session, tenant_id: str, request: Submission, *, requested_by: str | None = None
) -> ServiceActivation:
    """Check, store and queue an order. 404 for a missing or another tenant's subscriber, 409 (naming the
    open order) when the subscriber has one, 422 naming the field for bad parameters."""
    activation_type = activation_type_of(request.order_type, request.kind)
    sub = session.scalars(
        select(Subscriber)
        .where(
            Subscriber.tenant_id == tenant_id, Subscriber.id == request.subscriber_id, Subscriber.deleted_at.is_(None)
        )
        .with_for_update()
    ).first()
    if sub is None:
        raise NotFound("subscribers: no such record", table="subscribers", field="subscriber_id")
    existing = open_order(session, tenant_id, sub.id)
    if existing is not None:
        raise OpenOrderExists(existing)
    params = plans.validate(
        session, tenant_id=tenant_id, activation_type=activation_type, subscriber_id=sub.id, params=dict(request.params)
    )
    now = saga.db_now(session)
    scheduled_for = _when(session, tenant_id, sub, request.at, now)
    profile = params.get("bandwidth_profile_id") if activation_type == "plan_change" else None
    order = ServiceActivation(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        subscriber_id=sub.id,
        activation_type=activation_type,
        workflow_status=WorkflowStatus.SCHEDULED if scheduled_for else WorkflowStatus.PENDING,
        phase=OrderPhase.FORWARD,
        params=params,
        scheduled_for=scheduled_for,
        next_attempt_at=scheduled_for,
        bandwidth_profile_id=uuid.UUID(str(profile)) if profile else None,
        requested_by=requested_by or current_user(session),
    )
    try:
        with session.begin_nested():
            session.add(order)
            session.flush()
    except IntegrityError as exc:  # the index: another submission got in first (possible only without the lock)
        if OPEN_INDEX not in str(exc.orig):
            raise
        raise OpenOrderExists(_open_id(session, tenant_id, sub.id)) from None
    order.queue_job_id = defer_in(session, saga.ADVANCE_JOB, schedule_at=scheduled_for, order_id=str(order.id))
    session.flush()
    return order


def _open_id(session: Session, tenant_id: str, subscriber_id: uuid.UUID) -> uuid.UUID | None:
    found = open_order(session, tenant_id, subscriber_id)
    return found.id if found is not None else None


def current_user(session: Session) -> str | None:
    value = session.scalar(_USER)
    return str(value) if value else None


def get(session: Session, tenant_id: str, order_id: uuid.UUID, *, for_update: bool = False) -> ServiceActivation:
    stmt = select(ServiceActivation).where(ServiceActivation.tenant_id == tenant_id, ServiceActivation.id == order_id)
    order = session.scalars(stmt.with_for_update() if for_update else stmt).first()
    if order is None:
        raise NotFound("service_activations: no such order", table="service_activations")
    return order


def listing(
    session: Session,
    tenant_id: str,
    *,
    subscriber_id: uuid.UUID | None = None,
    status: str | None = None,
    order_type: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ServiceActivation], int]:
    """The tenant's orders, newest first, with the total that match."""
    stmt = select(ServiceActivation).where(ServiceActivation.tenant_id == tenant_id)
    if subscriber_id is not None:
        stmt = stmt.where(ServiceActivation.subscriber_id == subscriber_id)
    if status is not None:
        stmt = stmt.where(ServiceActivation.workflow_status == status)
    if order_type is not None:
        types = list(KINDS) if order_type == "activate" else [ACTIVATION_TYPES.get(order_type, order_type)]
        stmt = stmt.where(ServiceActivation.activation_type.in_(types))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(ServiceActivation.requested_at.desc(), ServiceActivation.id).limit(limit).offset(offset)
    ).all()
    return list(rows), int(total)


def cancel(session: Session, tenant_id: str, order_id: uuid.UUID) -> ServiceActivation:
    """Before the pivot: an order that has not started ends ``cancelled`` at once; a running one is asked
    to stop (its completed steps are compensated, then it ends ``cancelled``); one already compensating is
    left as it is (a failure's rollback stays ``rolled_back``). After the pivot, or once finished or
    failed: 409."""
    order = get(session, tenant_id, order_id, for_update=True)
    if order.workflow_status in saga.FINISHED:
        raise Conflict(f"service_activations: the order has already ended ({order.workflow_status})", field="status")
    if order.pivot_passed:
        raise Conflict(
            "service_activations: the order is past its point of no return: it can only go forward (retry it)",
            field="status",
        )
    if order.workflow_status == WorkflowStatus.FAILED:
        raise Conflict("service_activations: the order failed while undoing its steps: retry it", field="status")
    if order.workflow_status == WorkflowStatus.COMPENSATING:
        return order  # already being undone (a failure, or an earlier cancel): it ends on its own
    now = saga.db_now(session)
    order.cancel_requested_at = order.cancel_requested_at or now
    if order.workflow_status in (WorkflowStatus.PENDING, WorkflowStatus.SCHEDULED) and not order.steps_completed:
        order.workflow_status = WorkflowStatus.CANCELLED
        order.completed_at = now
        order.next_attempt_at = None
    elif order.workflow_status == WorkflowStatus.IN_PROGRESS:
        order.next_attempt_at = now
        order.queue_job_id = defer_in(session, saga.ADVANCE_JOB, order_id=str(order.id))
    session.flush()
    return order


def retry(session: Session, tenant_id: str, order_id: uuid.UUID) -> ServiceActivation:
    """A failed order runs again from where it stopped (forward, or on with its compensations), with a
    fresh count of tries for the step that failed. Anything else: 409."""
    order = get(session, tenant_id, order_id, for_update=True)
    if order.workflow_status != WorkflowStatus.FAILED:
        raise Conflict(f"service_activations: only a failed order is retried ({order.workflow_status})", field="status")
    attempts = dict(order.attempts or {})
    if order.error_step:
        attempts.pop(order.error_step, None)
        attempts.pop(f"compensate:{order.error_step}", None)
    order.attempts = attempts
    compensating = order.phase == OrderPhase.COMPENSATING
    order.workflow_status = WorkflowStatus.COMPENSATING if compensating else WorkflowStatus.IN_PROGRESS
    order.failed_at = None
    now = saga.db_now(session)
    order.next_attempt_at = now
    session.flush()
    order.queue_job_id = defer_in(session, saga.ADVANCE_JOB, order_id=str(order.id))
    session.flush()
    return order


def plan_names(activation_type: str) -> list[str] | None:
    """The order's steps by name (None when its plan cannot be built)."""
    try:
        return [s.name for s in saga.resolve_plan(activation_type)]
    except Exception:  # a view: the order is still shown
        return None
