"""The saga engine: runs an order's steps forward, or compensates them backward, one transaction per step.

``advance(db, tenant_id, order_id)`` is the body of the ``lifecycle.advance`` job. Each *tick* is one unit
of work for the order's tenant (``db.tenant(..., enforce_status=False)``) that locks the order row
(``FOR UPDATE``), works out from the row alone what comes next, and does exactly that:

- forward: the next step not in ``steps_completed``. Its ``run`` goes in a savepoint; ``Done`` appends
  the step to the log (and its result to ``state``) in the same transaction as the step's own writes.
  ``Wait(s)`` keeps the step's writes, sets ``next_attempt_at`` and queues the job again for then.
  ``StepFailed`` or any other exception rolls the savepoint back (nothing of the attempt survives) and
  records the error; retryable failures are retried with exponential backoff up to ``MAX_ATTEMPTS``,
  then (or at once for a non-retryable one) the order compensates — unless a pivot step has completed:
  then it is ``failed`` and waits for an engineer's retry.
- compensating: the next completed step (newest first) not yet in ``compensations``; its ``compensate``
  and the log entry commit together. When none is left the order is ``rolled_back`` (``cancelled`` if a
  cancel asked for it).

Two workers on one order: the row lock makes one wait for the other, and the one that waited reads the
row again and finds the step done, so it moves to the next one or, when the order is not due, leaves.
A tick that dies before its commit leaves nothing (the step's writes and its log entry go together), so
a rerun of the job — the stalled-job sweep, or ``lifecycle.resume_stalled`` — resumes where the log says.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ispops.db.session import Database
from ispops.jobs import defer_in
from ispops.lifecycle import plans
from ispops.lifecycle.crash import crash_point, label
from ispops.lifecycle.steps import Done, Step, StepContext, StepFailed, Wait
from ispops.models.automation import OrderPhase, ServiceActivation, WorkflowStatus

log = logging.getLogger("ispops.lifecycle")

ADVANCE_JOB = "lifecycle.advance"
MAX_ATTEMPTS = 5  # tries of one step (or one compensation) before the order gives up on it
BACKOFF_SECONDS = 2.0  # the first retry's delay; doubled each time
MAX_BACKOFF_SECONDS = 300.0
MAX_TICKS = 1000  # steps one job runs before it queues itself again (a guard against a runaway plan)

# activation_type -> the order type people submit (the StepContext's order_type, the crash labels' prefix)
ORDER_TYPES: dict[str, str] = {
    "new_service": "activate",
    "reactivation": "activate",
    "relocation": "activate",
    "plan_change": "plan_change",
    "suspension": "suspend",
    "resumption": "resume",
    "termination": "terminate",
}
FINISHED = frozenset({WorkflowStatus.COMPLETED, WorkflowStatus.ROLLED_BACK, WorkflowStatus.CANCELLED})
OPEN = frozenset(
    {
        WorkflowStatus.PENDING,
        WorkflowStatus.SCHEDULED,
        WorkflowStatus.IN_PROGRESS,
        WorkflowStatus.COMPENSATING,
        WorkflowStatus.FAILED,
    }
)
RUNNABLE = OPEN - {WorkflowStatus.FAILED}  # statuses the engine moves on by itself

Outcome = Literal["continue", "waiting", "retrying", "not_due", "completed", "rolled_back", "failed", "finished"]
STOP: frozenset[str] = frozenset({"waiting", "retrying", "not_due", "completed", "rolled_back", "failed", "finished"})

PlanResolver = Callable[[str], Sequence[Step]]
_resolver: list[PlanResolver] = []


def resolve_plan(activation_type: str) -> Sequence[Step]:
    """The steps of an order of ``activation_type``: ``lifecycle.plans.plan_for`` unless a test installed
    another resolver (``using_plans``)."""
    plan = (_resolver[-1] if _resolver else plans.plan_for)(activation_type)
    names = [s.name for s in plan]
    if len(set(names)) != len(names):
        raise ValueError(f"plan of {activation_type}: step names must be unique ({names})")
    return plan


@contextmanager
def using_plans(resolver: PlanResolver) -> Iterator[None]:
    """Run orders with ``resolver``'s plans instead of ``plan_for`` (tests; in-process workers)."""
    _resolver.append(resolver)
    try:
        yield
    finally:
        _resolver.remove(resolver)


def backoff(attempt: int) -> float:
    """Seconds before try ``attempt + 1`` after ``attempt`` failed: 2, 4, 8, … capped at 5 minutes."""
    return float(min(BACKOFF_SECONDS * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))


def db_now(session: Session) -> dt.datetime:
    """The database's clock (the one procrastinate schedules jobs by), not the transaction's start."""
    now = session.scalar(select(func.clock_timestamp()))
    assert isinstance(now, dt.datetime)
    return now


def advance(db: Database, tenant_id: str, order_id: uuid.UUID, *, max_ticks: int = MAX_TICKS) -> str:
    """Move the order on as far as it goes now (one transaction per step); returns the last outcome."""
    outcome: str = "continue"
    for _ in range(max_ticks):
        outcome = tick(db, tenant_id, order_id)
        if outcome in STOP:
            return outcome
    with db.tenant(tenant_id, enforce_status=False) as s:  # a plan that never ends: come back later
        defer_in(s, ADVANCE_JOB, order_id=str(order_id))
    return outcome


def tick(db: Database, tenant_id: str, order_id: uuid.UUID) -> Outcome:
    """One step, one compensation or one change of status, in one transaction."""
    after: str | None = None
    with db.tenant(tenant_id, enforce_status=False) as s:
        order = s.scalars(
            select(ServiceActivation)
            .where(ServiceActivation.tenant_id == tenant_id, ServiceActivation.id == order_id)
            .with_for_update()
        ).first()
        if order is None:
            return "finished"
        if order.workflow_status in FINISHED:
            return "finished"
        if order.workflow_status == WorkflowStatus.FAILED:
            return "failed"
        now = db_now(s)
        if order.next_attempt_at is not None and order.next_attempt_at > now:
            return "not_due"
        if order.workflow_status in (WorkflowStatus.PENDING, WorkflowStatus.SCHEDULED):
            order.workflow_status = WorkflowStatus.IN_PROGRESS
            order.started_at = order.started_at or now
        try:
            plan = resolve_plan(order.activation_type)
        except Exception as exc:  # no plan: the order cannot run at all
            _fail(s, order, now, step=None, message=f"no plan for {order.activation_type}: {exc}")
            return "failed"
        if order.phase == OrderPhase.FORWARD:
            outcome, after = _forward(s, order, plan, now)
        else:
            outcome, after = _compensate(s, order, plan, now)
    if after is not None:
        crash_point(after)
    return outcome


def _context(s: Session, order: ServiceActivation, step_name: str, attempt: int) -> StepContext:
    return StepContext(
        session=s,
        tenant_id=order.tenant_id,
        order_id=order.id,
        order_type=ORDER_TYPES[order.activation_type],
        subscriber_id=order.subscriber_id,
        params=dict(order.params or {}),
        state=dict(order.state or {}),
        key=f"order:{order.id}:{step_name}",
        attempt=attempt,
    )


def _completed(order: ServiceActivation) -> list[str]:
    return [str(entry["step"]) for entry in order.steps_completed or []]


def _forward(
    s: Session, order: ServiceActivation, plan: Sequence[Step], now: dt.datetime
) -> tuple[Outcome, str | None]:
    if order.cancel_requested_at is not None and not order.pivot_passed:
        _start_compensating(order)
        return "continue", None
    done = set(_completed(order))
    step = next((st for st in plan if st.name not in done), None)
    if step is None:
        _complete(order, now)
        return "completed", None
    attempts = dict(order.attempts or {})
    attempt = int(attempts.get(step.name, 0)) + 1
    order.current_step = step.name
    ctx = _context(s, order, step.name, attempt)
    try:
        with s.begin_nested():
            result = step.run(ctx)
            if not isinstance(result, (Done, Wait)):
                raise TypeError(f"step {step.name} returned {result!r}, not Done or Wait")
    except Exception as exc:  # every failure of a step is the order's
        return _failed_attempt(s, order, step.name, attempt, exc, now), None
    order_type = ORDER_TYPES[order.activation_type]
    if isinstance(result, Wait):
        waited = dict(order.attempts or {})
        waited[f"{step.name}:waits"] = int(waited.get(f"{step.name}:waits", 0)) + 1
        order.attempts = waited
        order.waiting_reason = result.reason or None
        _later(s, order, now + dt.timedelta(seconds=max(0.0, result.seconds)))
        return "waiting", None
    state = dict(ctx.state)
    state[step.name] = result.result
    order.state = state
    order.steps_completed = [
        *(order.steps_completed or []),
        {"step": step.name, "result": result.result, "attempt": attempt, "completed_at": now.isoformat()},
    ]
    order.waiting_reason = None
    if step.pivot:
        order.pivot_passed = True
    order.next_attempt_at = None
    s.flush()
    crash_point(label(order_type, step.name, "run", "before_commit"))
    return "continue", label(order_type, step.name, "run", "after_commit")


def _failed_attempt(
    s: Session, order: ServiceActivation, name: str, attempt: int, exc: Exception, now: dt.datetime, *, key: str = ""
) -> Outcome:
    """Record a failed try of step ``name`` (``key``: its attempts entry); retry later, compensate or fail."""
    attempts = dict(order.attempts or {})
    attempts[key or name] = attempt
    order.attempts = attempts
    order.retry_count = (order.retry_count or 0) + 1
    order.error_step = name
    order.error_message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, StepFailed) else str(exc)
    order.last_error_at = now
    retryable = not isinstance(exc, StepFailed) or exc.retryable
    log.warning("order %s: step %s failed (attempt %s): %s", order.id, name, attempt, order.error_message)
    if retryable and attempt < MAX_ATTEMPTS:
        _later(s, order, now + dt.timedelta(seconds=backoff(attempt)))
        return "retrying"
    if order.phase == OrderPhase.COMPENSATING or order.pivot_passed:
        _fail(s, order, now, step=name, message=order.error_message)
        return "failed"
    _start_compensating(order)
    return "continue"


def _compensate(
    s: Session, order: ServiceActivation, plan: Sequence[Step], now: dt.datetime
) -> tuple[Outcome, str | None]:
    by_name = {st.name: st for st in plan}
    undone = {str(entry["step"]) for entry in order.compensations or []}
    todo = [n for n in reversed(_to_compensate(order)) if n not in undone]
    if not todo:
        _rolled_back(s, order, now)
        return "rolled_back", None
    name = todo[0]
    key = f"compensate:{name}"
    attempt = int(dict(order.attempts or {}).get(key, 0)) + 1
    order.current_step = name
    step = by_name.get(name)
    try:
        if step is None:
            raise StepFailed(f"step {name} is no longer in the plan of {order.activation_type}: undo it by hand")
        with s.begin_nested():
            step.compensate(_context(s, order, name, attempt))
    except Exception as exc:  # a compensation that fails is retried, then the order fails
        return _failed_attempt(s, order, name, attempt, exc, now, key=key), None
    order.compensations = [*(order.compensations or []), {"step": name, "attempt": attempt, "at": now.isoformat()}]
    order.next_attempt_at = None
    s.flush()
    order_type = ORDER_TYPES[order.activation_type]
    crash_point(label(order_type, name, "compensate", "before_commit"))
    return "continue", label(order_type, name, "compensate", "after_commit")


def _to_compensate(order: ServiceActivation) -> list[str]:
    """Completed steps in plan order, plus the current step when it has run and waited (its writes
    committed without completing): it is undone first."""
    names = _completed(order)
    current = order.current_step
    if current and current not in names and int(dict(order.attempts or {}).get(f"{current}:waits", 0)) > 0:
        names.append(current)
    return names


def _start_compensating(order: ServiceActivation) -> None:
    order.phase = OrderPhase.COMPENSATING
    order.workflow_status = WorkflowStatus.COMPENSATING
    order.next_attempt_at = None
    order.waiting_reason = None


def _later(s: Session, order: ServiceActivation, when: dt.datetime) -> None:
    """Look at the order again at ``when``: the job is queued for then in this transaction."""
    order.next_attempt_at = when
    s.flush()
    order.queue_job_id = defer_in(s, ADVANCE_JOB, schedule_at=when, order_id=str(order.id))


def _finish(order: ServiceActivation, status: str, now: dt.datetime) -> None:
    order.workflow_status = status
    order.current_step = None
    order.next_attempt_at = None
    order.waiting_reason = None
    if order.started_at is not None:
        order.duration_seconds = max(0, int((now - order.started_at).total_seconds()))


def _complete(order: ServiceActivation, now: dt.datetime) -> None:
    _finish(order, WorkflowStatus.COMPLETED, now)
    order.completed_at = now


def _rolled_back(s: Session, order: ServiceActivation, now: dt.datetime) -> None:
    if order.cancel_requested_at is not None:
        _finish(order, WorkflowStatus.CANCELLED, now)
        order.completed_at = now
        return
    _finish(order, WorkflowStatus.ROLLED_BACK, now)
    order.failed_at = now
    s.flush()
    emit_failed(s, order)


def _fail(s: Session, order: ServiceActivation, now: dt.datetime, *, step: str | None, message: str | None) -> None:
    """The order stops for an engineer (``POST /api/v1/orders/{id}/retry``)."""
    order.workflow_status = WorkflowStatus.FAILED
    order.failed_at = now
    order.next_attempt_at = None
    order.waiting_reason = None
    if step is not None:
        order.error_step = step
    order.error_message = message
    order.last_error_at = now
    s.flush()
    emit_failed(s, order)


def emit_failed(s: Session, order: ServiceActivation) -> None:
    """``order.failed`` in the outbox, in the transaction that records the failure or the rollback."""
    from ispops.events import outbox  # the events domain imports jobs; keep the import graph one-way

    payload: dict[str, Any] = {
        "order_id": str(order.id),
        "subscriber_id": str(order.subscriber_id),
        "order_type": ORDER_TYPES.get(order.activation_type, order.activation_type),
        "activation_type": order.activation_type,
        "status": order.workflow_status,
        "error_step": order.error_step,
        "error_message": order.error_message,
        "steps_completed": _completed(order),
        "compensated": [str(c["step"]) for c in order.compensations or []],
    }
    outbox.emit(s, event_type="order.failed", payload=payload, subject=f"subscribers/{order.subscriber_id}")
