"""Request and response bodies of the order routes (``ispops.lifecycle.api``)."""

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ispops.api.schemas import Str, _clean_json
from ispops.lifecycle import orders, saga
from ispops.models.automation import ServiceActivation

Json = Annotated[dict[str, Any], AfterValidator(_clean_json)]


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["activate", "plan_change", "suspend", "resume", "terminate"] = Field(
        description="what the order does"
    )
    kind: Literal["new_service", "reactivation", "relocation"] | None = Field(
        None, description="activate only: new_service (default), reactivation or relocation"
    )
    subscriber_id: uuid.UUID
    params: Json = Field(default_factory=dict, description="the order type's parameters (docs/lifecycle.md)")
    at: Str | None = Field(
        None,
        max_length=64,
        description="when it runs: now (default), next_cycle (midnight, in the tenant's time zone, of the "
        "subscriber's next billing_cycle_day) or a time with its UTC offset",
    )


class StepEntry(BaseModel):
    step: str
    result: dict[str, Any] = Field(default_factory=dict)
    attempt: int | None = None
    completed_at: str | None = None


class CompensationEntry(BaseModel):
    step: str
    attempt: int | None = None
    at: str | None = None


class OrderOut(BaseModel):
    id: uuid.UUID
    subscriber_id: uuid.UUID
    type: str = Field(description="activate, plan_change, suspend, resume or terminate")
    activation_type: str = Field(description="service_activations.activation_type (activate: its kind)")
    status: str = Field(
        description="pending, scheduled, in_progress, compensating, completed, failed, rolled_back, cancelled"
    )
    phase: str = Field(description="forward, or compensating (undoing its completed steps, newest first)")
    params: dict[str, Any]
    plan: list[str] | None = Field(description="the order's steps by name")
    current_step: str | None
    steps_completed: list[StepEntry]
    compensations: list[CompensationEntry]
    pivot_passed: bool = Field(description="past the point of no return: the order only goes forward")
    waiting_reason: str | None
    scheduled_for: dt.datetime | None
    next_attempt_at: dt.datetime | None
    requested_at: dt.datetime
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    failed_at: dt.datetime | None
    cancel_requested_at: dt.datetime | None
    duration_seconds: int | None
    error_step: str | None
    error_message: str | None
    retry_count: int
    attempts: dict[str, Any]
    requested_by: str | None


class OrderSummary(BaseModel):
    id: uuid.UUID
    subscriber_id: uuid.UUID
    type: str
    activation_type: str
    status: str
    current_step: str | None
    steps_done: int
    scheduled_for: dt.datetime | None
    requested_at: dt.datetime
    completed_at: dt.datetime | None
    failed_at: dt.datetime | None
    error_step: str | None
    error_message: str | None


class OrderPage(BaseModel):
    items: list[OrderSummary]
    total: int
    limit: int
    offset: int


def order_type(order: ServiceActivation) -> str:
    return saga.ORDER_TYPES.get(order.activation_type, order.activation_type)


def full(order: ServiceActivation) -> OrderOut:
    return OrderOut(
        id=order.id,
        subscriber_id=order.subscriber_id,
        type=order_type(order),
        activation_type=order.activation_type,
        status=order.workflow_status,
        phase=order.phase,
        params=dict(order.params or {}),
        plan=orders.plan_names(order.activation_type),
        current_step=order.current_step,
        steps_completed=[StepEntry(**e) for e in order.steps_completed or []],
        compensations=[CompensationEntry(**e) for e in order.compensations or []],
        pivot_passed=order.pivot_passed,
        waiting_reason=order.waiting_reason,
        scheduled_for=order.scheduled_for,
        next_attempt_at=order.next_attempt_at,
        requested_at=order.requested_at,
        started_at=order.started_at,
        completed_at=order.completed_at,
        failed_at=order.failed_at,
        cancel_requested_at=order.cancel_requested_at,
        duration_seconds=order.duration_seconds,
        error_step=order.error_step,
        error_message=order.error_message,
        retry_count=order.retry_count,
        attempts=dict(order.attempts or {}),
        requested_by=order.requested_by,
    )


def summary(order: ServiceActivation) -> OrderSummary:
    return OrderSummary(
        id=order.id,
        subscriber_id=order.subscriber_id,
        type=order_type(order),
        activation_type=order.activation_type,
        status=order.workflow_status,
        current_step=order.current_step,
        steps_done=len(order.steps_completed or []),
        scheduled_for=order.scheduled_for,
        requested_at=order.requested_at,
        completed_at=order.completed_at,
        failed_at=order.failed_at,
        error_step=order.error_step,
        error_message=order.error_message,
    )
