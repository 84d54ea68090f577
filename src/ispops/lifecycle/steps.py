"""The shape of a lifecycle step (contract shared by the saga engine and the domain steps).

An order (a ``service_activations`` row) runs a plan: an ordered list of ``Step``. The engine
(``ispops.lifecycle.saga``) runs each step's ``run`` in its own transaction, in which it also records the
step as completed in the order's log: the step's effect and its log entry commit together, or neither does.
So a step must be idempotent on ``ctx.key`` (a crash after commit but before the engine moves on reruns
nothing: the log says it is done; a crash before commit leaves nothing to undo). A step that waits on
something outside (an OLT driver job, an Ansible run) returns ``Wait(seconds)``: the engine commits what the
step did and asks again later. On failure the engine compensates the completed steps in reverse order,
unless a ``pivot`` step has completed: then the order only retries forward.
Steps never commit; they call the domain's own services on ``ctx.session``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session


@dataclass
class StepContext:
    session: Session  # the job's unit of work for the order's tenant (db.tenant), never committed by a step
    tenant_id: str
    order_id: uuid.UUID
    order_type: str  # activate | plan_change | suspend | resume | terminate
    subscriber_id: uuid.UUID
    params: dict[str, Any]  # the order's parameters as submitted (validated)
    state: dict[str, Any]  # results of earlier steps (JSON values); a step may add its own under its name
    key: str  # idempotency key of this step of this order: "order:<order_id>:<step name>"
    attempt: int = 1  # 1 on the first try of this step


@dataclass(frozen=True)
class Done:
    """The step took effect; ``result`` (JSON) is stored in the log and in ``state[<step name>]``."""

    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Wait:
    """Not finished yet (waiting on another system): ask again in ``seconds``."""

    seconds: float
    reason: str = ""


class StepFailed(Exception):
    """A step that cannot succeed. ``retryable`` failures are retried with backoff up to the engine's bound;
    others start compensation at once (or, past the pivot, fail the order for an engineer to retry)."""

    def __init__(self, message: str, *, retryable: bool = False, field: str | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.field = field


class Step(Protocol):
    name: str  # unique within its plan, e.g. "allocate_ip"
    pivot: bool  # after this step completes, the order only goes forward

    def run(self, ctx: StepContext) -> Done | Wait: ...

    def compensate(self, ctx: StepContext) -> None:
        """Undo ``run``'s effect; idempotent (a compensation may run again after a crash)."""
        ...
