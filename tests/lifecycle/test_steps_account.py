"""The account steps (status, plan, CoA, events) run and undone directly."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from ispops.db.session import Database
from ispops.lifecycle import plans
from ispops.lifecycle.steps import Done, StepFailed
from ispops.lifecycle.steps_account import ChangeStatus, Coa, Notify, SetPlan, StartBilling
from ispops.radius.provisioning import set_password
from tests.lifecycle.step_world import World, build, compensate_step, effects, run_step, subscriber


@pytest.fixture
def world(db: Database) -> World:
    return build(db, "acct-a")


def _live(db: Database, world: World, **extra: Any) -> uuid.UUID:
    """An active subscriber with credentials and one open session on a NAS."""
    sub = subscriber(db, world, status="active", bandwidth_profile_id=world.plan, **extra)
    with db.tenant(world.tenant) as s:
        username = f"u{uuid.uuid4().hex[:8]}"
        s.execute(text("update subscribers set pppoe_username = :u where id = :s"), {"u": username, "s": sub})
        set_password(s, tenant_id=world.tenant, subscriber_id=sub, password="pw-123456")
        s.execute(
            text(
                "insert into radacct (tenant_id, subscriber_id, acctsessionid, acctuniqueid, username, "
                "nasipaddress, acctstarttime) values (:t, :s, 'sess-1', :uq, :u, '127.10.0.1', now())"
            ),
            {"t": world.tenant, "s": sub, "uq": uuid.uuid4().hex, "u": username},
        )
    return sub


def _state(db: Database, world: World, sub: uuid.UUID, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    run_step(db, world, sub, plans.Validate(kind), params=params, state=state, order_id=uuid.uuid4())
    return state


def test_a_plan_change_queues_a_coa_for_the_live_session_and_its_undo_restores_the_plan(
    db: Database, world: World, admin: psycopg.Connection[Any]
) -> None:
    sub = _live(db, world)
    with db.tenant(world.tenant) as s:
        params = plans.validate(
            s,
            tenant_id=world.tenant,
            activation_type="plan_change",
            subscriber_id=sub,
            params={"bandwidth_profile_id": str(world.plan2)},
        )
    state = _state(db, world, sub, "plan_change", params)
    order = uuid.uuid4()
    for _ in range(2):
        done = run_step(db, world, sub, SetPlan(), params=params, state=state, order_id=order, order_type="plan_change")
        assert isinstance(done, Done) and done.result["to"] == str(world.plan2)
    rate = admin.execute(
        "select value from radreply where subscriber_id = %s and attribute = 'Mikrotik-Rate-Limit'", (sub,)
    ).fetchone()
    assert rate is not None and rate[0].startswith("20M/100M")
    coa = run_step(db, world, sub, Coa(), params=params, state=state, order_id=order, order_type="plan_change")
    assert coa == Done({"open_sessions": 1, "queued": ["coa/plan_change"]})
    compensate_step(db, world, sub, SetPlan(), params=params, state=state, order_id=order)
    compensate_step(db, world, sub, SetPlan(), params=params, state=state, order_id=order)
    assert admin.execute("select bandwidth_profile_id from subscribers where id = %s", (sub,)).fetchone() == (
        world.plan,
    )


@pytest.mark.parametrize(
    ("action", "start", "target", "queued"),
    [
        ("suspend", "active", "suspended", ["disconnect/suspend"]),
        ("terminate", "active", "terminated", ["disconnect/terminate"]),
        ("activate", "pending", "active", []),
    ],
)
def test_a_status_step_changes_it_once_audited_and_the_session_is_told(
    db: Database, world: World, admin: psycopg.Connection[Any], action: str, start: str, target: str, queued: list[str]
) -> None:
    sub = _live(db, world)
    with db.tenant(world.tenant) as s:
        if start == "pending":  # no session: nothing to tell
            s.execute(text("update radacct set acctstoptime = now() where subscriber_id = :s"), {"s": sub})
        s.execute(text("update subscribers set status = :st where id = :s"), {"st": start, "s": sub})
    order = uuid.uuid4()
    step = ChangeStatus(action)  # type: ignore[arg-type]
    first = run_step(db, world, sub, step, params={}, state={}, order_id=order)
    again = run_step(db, world, sub, step, params={}, state={}, order_id=order)
    assert isinstance(first, Done) and first.result["changed"] is True and first.result["from"] == start
    assert again == Done({"status": target, "changed": False})
    assert effects(admin, world.tenant, sub)["status_audits"] == 1
    coa = run_step(db, world, sub, Coa(), params={}, state={}, order_id=order)
    assert isinstance(coa, Done) and coa.result["queued"] == queued
    assert step.pivot


def test_a_status_the_subscriber_cannot_leave_fails_the_step_naming_status(db: Database, world: World) -> None:
    sub = subscriber(db, world, status="terminated")
    with pytest.raises(StepFailed) as caught:
        run_step(db, world, sub, ChangeStatus("resume"), params={}, state={}, order_id=uuid.uuid4())
    assert caught.value.field == "status" and not caught.value.retryable


def test_billing_and_notify_write_their_events_once(db: Database, world: World, admin: psycopg.Connection[Any]) -> None:
    sub = _live(db, world)
    order = uuid.uuid4()
    for _ in range(2):  # a rerun finds the event its key wrote
        billing = run_step(db, world, sub, StartBilling(), params={}, state={}, order_id=order)
        notify = run_step(db, world, sub, Notify("subscriber.plan_changed"), params={}, state={}, order_id=order)
    assert billing == Done({"event": "billing.service_started", "emitted": False})
    assert notify == Done({"event": "subscriber.plan_changed", "emitted": False})
    rows = admin.execute(
        "select event_type, payload->>'plan', payload->>'order_id' from event_outbox where subject = %s "
        "and event_type not like 'session.%%' order by event_type",  # radacct's own events (migration 0038)
        (f"subscribers/{sub}",),
    ).fetchall()
    assert rows == [("billing.service_started", "50M", str(order)), ("subscriber.plan_changed", "50M", str(order))]
    recorded = run_step(
        db,
        world,
        sub,
        Notify("subscriber.activated", emitted_by="activate_status"),
        params={},
        state={},
        order_id=order,
    )
    assert recorded == Done({"event": "subscriber.activated", "emitted_by": "activate_status"})
