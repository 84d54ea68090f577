"""Test plans for the saga engine: steps whose effect is a real row (a ``customers`` row named after the
step and the order), so idempotency and compensation show in the database; and the fixtures around them.

A ``Mark`` step inserts its row if missing (idempotent on the order and step), can fail a number of times
(retryable) or always (not retryable, after writing a second row that must vanish with the attempt), can
ask to wait, can block on an event (races), and deletes its row when compensated.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from ispops.db.session import Database
from ispops.jobs import defer_in
from ispops.lifecycle import saga
from ispops.lifecycle.steps import Done, StepContext, StepFailed, Wait
from ispops.models.automation import ServiceActivation
from tests.factories import make_tenant

QUEUE_TABLES = ", ".join(f"procrastinate.procrastinate_{t}" for t in ("jobs", "workers", "periodic_defers", "events"))
_INSERT = text(
    "insert into customers (tenant_id, customer_number, name) select cast(:t as text), cast(:n as text), :name "
    "where not exists (select 1 from customers where tenant_id = cast(:t as text) "
    "and customer_number = cast(:n as text))"
)


def number(step: str, order_id: uuid.UUID) -> str:
    return f"{step}:{order_id.hex[:12]}"


@dataclass
class Mark:
    name: str
    pivot: bool = False
    fail_times: int = 0  # the first N tries raise a retryable StepFailed (after writing)
    fail_always: bool = False  # every try raises a non-retryable StepFailed (after writing)
    crash: bool = False  # every try raises an unexpected error
    waits: int = 0  # the first N runs write, then ask to wait
    compensate_fails: int = 0  # the first N compensations raise
    gate: threading.Event | None = None  # run blocks until it is set …
    entered: threading.Event | None = None  # … after setting this
    calls: int = 0
    done: list[str] = field(default_factory=list)  # keys of the runs that returned Done
    undone: list[str] = field(default_factory=list)  # keys of the compensations that returned
    waited: int = 0
    compensate_calls: int = 0

    def run(self, ctx: StepContext) -> Done | Wait:
        self.calls += 1
        if self.entered is not None:
            self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30), "the test never opened the gate"
        n = number(self.name, ctx.order_id)
        ctx.session.execute(_INSERT, {"t": ctx.tenant_id, "n": n, "name": self.name})
        if self.crash:
            raise RuntimeError(f"{self.name} crashed")
        if self.fail_always:
            ctx.session.execute(_INSERT, {"t": ctx.tenant_id, "n": n + "!", "name": "half-done"})
            raise StepFailed(f"{self.name} cannot be done", retryable=False)
        if ctx.attempt <= self.fail_times:
            raise StepFailed(f"{self.name} failed on try {ctx.attempt}", retryable=True)
        if self.waited < self.waits:
            self.waited += 1
            return Wait(0, reason=f"{self.name} waits")
        self.done.append(ctx.key)
        return Done({"customer_number": n, "seen": sorted(ctx.state)})

    def compensate(self, ctx: StepContext) -> None:
        self.compensate_calls += 1
        if self.compensate_calls <= self.compensate_fails:
            raise StepFailed(f"{self.name} cannot be undone yet", retryable=True)
        ctx.session.execute(
            text("delete from customers where tenant_id = :t and customer_number like :n"),
            {"t": ctx.tenant_id, "n": number(self.name, ctx.order_id) + "%"},
        )
        self.undone.append(ctx.key)


@dataclass
class Site:
    db: Database
    tenant: str
    subscribers: list[uuid.UUID]
    other_tenant: str
    other_subscriber: uuid.UUID


def add_subscriber(db: Database, tenant: str, n: int, *, status: str = "active") -> uuid.UUID:
    with db.tenant(tenant) as s:
        value = s.execute(
            text(
                "insert into subscribers (tenant_id, subscriber_number, service_type, status) "
                "values (:t, :n, 'ftth', :s) returning id"
            ),
            {"t": tenant, "n": f"SUB-{n}", "s": status},
        ).scalar_one()
    assert isinstance(value, uuid.UUID)
    return value


@pytest.fixture(name="site")
def site_fixture(db: Database, admin: psycopg.Connection[Any]) -> Site:
    admin.execute(f"truncate {QUEUE_TABLES} restart identity cascade")
    make_tenant(db, "isp-a")
    make_tenant(db, "isp-b")
    subs = [add_subscriber(db, "isp-a", n) for n in range(1, 4)]
    return Site(db, "isp-a", subs, "isp-b", add_subscriber(db, "isp-b", 9))


@pytest.fixture(name="fast_retries")
def fast_retries_fixture(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries are due at once (the backoff's shape is tested on its own)."""
    monkeypatch.setattr(saga, "BACKOFF_SECONDS", 0.0)


@contextmanager
def plan(*steps: Mark, activation_type: str = "new_service") -> Iterator[list[Mark]]:
    """Orders of ``activation_type`` run ``steps`` (others have no plan)."""

    def resolve(kind: str) -> list[Mark]:
        if kind != activation_type:
            raise LookupError(f"no test plan for {kind}")
        return list(steps)

    with saga.using_plans(resolve):
        yield list(steps)


def new_order(
    db: Database,
    tenant: str,
    subscriber_id: uuid.UUID,
    *,
    activation_type: str = "new_service",
    params: dict[str, Any] | None = None,
) -> uuid.UUID:
    """An order as ``orders.submit`` stores it (the row and its job in one transaction), without the
    real plans' parameter checks."""
    order_id = uuid.uuid4()
    with db.tenant(tenant) as s:
        s.add(
            ServiceActivation(
                id=order_id,
                tenant_id=tenant,
                subscriber_id=subscriber_id,
                activation_type=activation_type,
                params=params or {},
            )
        )
        s.flush()
        defer_in(s, saga.ADVANCE_JOB, order_id=str(order_id))
    return order_id


def order_row(admin: psycopg.Connection[Any], order_id: uuid.UUID) -> dict[str, Any]:
    cur = admin.execute("select * from service_activations where id = %s", (order_id,))
    names = [d.name for d in cur.description or []]
    found = cur.fetchone()
    assert found is not None
    return dict(zip(names, found, strict=True))


def marks(admin: psycopg.Connection[Any], tenant: str = "isp-a") -> list[str]:
    """The customer numbers the test steps left, sorted."""
    rows = admin.execute(
        "select customer_number from customers where tenant_id = %s and customer_number like '%%:%%' order by 1",
        (tenant,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def advance_jobs(admin: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """(status, order_id, scheduled_at) of every lifecycle.advance job, oldest first."""
    return [
        tuple(r)
        for r in admin.execute(
            "select status::text, args->>'order_id', scheduled_at from procrastinate.procrastinate_jobs "
            "where task_name = 'lifecycle.advance' order by id"
        )
    ]
