"""The network steps (IPAM address, RADIUS credentials and plan) run and undone directly, as the engine
would: each in its own unit of work, rerun to prove idempotency, compensated twice to prove that too."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from ispops.db.session import Database
from ispops.ipam import service as ipam
from ispops.lifecycle import plans
from ispops.lifecycle.steps import StepFailed
from ispops.lifecycle.steps_network import AllocateIp, ProvisionRadius, ReleaseIp, RemoveRadius
from ispops.radius.provisioning import set_password
from tests.lifecycle.step_world import World, build, compensate_step, effects, run_step, subscriber


@pytest.fixture
def world(db: Database) -> World:
    return build(db, "net-a", pool_size=3)


def _start(db: Database, world: World, sub: uuid.UUID, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Submission's checks, then the validate step (the snapshot)."""
    with db.tenant(world.tenant) as s:
        normal = plans.validate(
            s, tenant_id=world.tenant, activation_type="new_service", subscriber_id=sub, params=params
        )
    state: dict[str, Any] = {}
    run_step(db, world, sub, plans.Validate("new_service"), params=normal, state=state, order_id=uuid.uuid4())
    return normal, state


def test_allocate_ip_is_idempotent_and_its_compensation_releases_it(
    db: Database, world: World, admin: psycopg.Connection[Any]
) -> None:
    sub = subscriber(db, world)
    params, state = _start(db, world, sub, bandwidth_profile_id=str(world.plan))
    order = uuid.uuid4()
    first = run_step(db, world, sub, AllocateIp(), params=params, state=state, order_id=order)
    again = run_step(db, world, sub, AllocateIp(), params=params, state=state, order_id=order)
    assert first == again and first.result["ip_address"] == "10.20.0.10"  # type: ignore[union-attr]
    assert effects(admin, world.tenant, sub)["all_ips"] == 1
    compensate_step(db, world, sub, AllocateIp(), params=params, state=state, order_id=order)
    compensate_step(db, world, sub, AllocateIp(), params=params, state=state, order_id=order)
    assert effects(admin, world.tenant, sub)["live_ips"] == 0


def test_an_address_the_subscriber_had_before_is_kept_by_the_rollback(
    db: Database, world: World, admin: psycopg.Connection[Any]
) -> None:
    sub = subscriber(db, world)
    with db.tenant(world.tenant) as s:
        ipam.allocate(s, tenant_id=world.tenant, pool_id=world.pool, subscriber_id=sub)
    params, state = _start(db, world, sub, bandwidth_profile_id=str(world.plan))
    order = uuid.uuid4()
    done = run_step(db, world, sub, AllocateIp(), params=params, state=state, order_id=order)
    assert done.result["reused"] is True  # type: ignore[union-attr]
    compensate_step(db, world, sub, AllocateIp(), params=params, state=state, order_id=order)
    assert effects(admin, world.tenant, sub)["live_ips"] == 1


def test_an_exhausted_pool_fails_the_step_naming_the_pool(db: Database, world: World) -> None:
    for _ in range(3):
        other = subscriber(db, world)
        with db.tenant(world.tenant) as s:
            ipam.allocate(s, tenant_id=world.tenant, pool_id=world.pool, subscriber_id=other)
    sub = subscriber(db, world)
    params, state = _start(db, world, sub, ip_pool_id=str(world.pool), bandwidth_profile_id=str(world.plan))
    with pytest.raises(StepFailed) as caught:
        run_step(db, world, sub, AllocateIp(), params=params, state=state, order_id=uuid.uuid4())
    assert caught.value.field == "ip_pool_id" and not caught.value.retryable


def test_provision_radius_renders_rows_and_its_compensation_leaves_none(
    db: Database, world: World, admin: psycopg.Connection[Any]
) -> None:
    sub = subscriber(db, world)
    params, state = _start(db, world, sub, bandwidth_profile_id=str(world.plan), pppoe_username="ada@net-a")
    order = uuid.uuid4()
    run_step(db, world, sub, AllocateIp(), params=params, state=state, order_id=order)
    done = run_step(db, world, sub, ProvisionRadius(), params=params, state=state, order_id=order)
    assert done.result["credential_written"] is True  # type: ignore[union-attr]
    rows = admin.execute(
        "select attribute, value from radcheck where subscriber_id = %s order by attribute", (sub,)
    ).fetchall()
    # Pending: the credential and a Reject until the activation step makes the subscriber active.
    assert [r[0] for r in rows] == ["Auth-Type", "Cleartext-Password"] and rows[0][1] == "Reject"
    run_step(db, world, sub, ProvisionRadius(), params=params, state=state, order_id=order)
    assert effects(admin, world.tenant, sub)["credentials"] == 1
    with db.tenant(world.tenant) as s:  # as if active: the plan's rows are rendered, with the address
        s.execute(text("update subscribers set status = 'active' where id = :s"), {"s": sub})
    framed = admin.execute(
        "select value from radreply where subscriber_id = %s and attribute = 'Framed-IP-Address'", (sub,)
    ).fetchall()
    assert framed == [("10.20.0.10",)]
    with db.tenant(world.tenant) as s:
        s.execute(text("update subscribers set status = 'pending' where id = :s"), {"s": sub})
    for _ in range(2):
        compensate_step(db, world, sub, ProvisionRadius(), params=params, state=state, order_id=order)
    compensate_step(db, world, sub, AllocateIp(), params=params, state=state, order_id=order)
    after = effects(admin, world.tenant, sub)
    assert (after["radcheck"], after["radreply"], after["live_ips"]) == (0, 0, 0)
    row = admin.execute(
        "select pppoe_username, bandwidth_profile_id, static_ip_address from subscribers where id = %s", (sub,)
    ).fetchone()
    assert row == (None, None, None)


def test_a_subscriber_with_credentials_keeps_them_after_a_rollback(
    db: Database, world: World, admin: psycopg.Connection[Any]
) -> None:
    sub = subscriber(db, world, pppoe_username="bob@net-a", bandwidth_profile_id=world.plan)
    with db.tenant(world.tenant) as s:
        set_password(s, tenant_id=world.tenant, subscriber_id=sub, password="s3cret-pw")
    before = admin.execute(
        "select attribute, op, value from radcheck where subscriber_id = %s order by attribute", (sub,)
    ).fetchall()
    params, state = _start(db, world, sub, bandwidth_profile_id=str(world.plan2))
    order = uuid.uuid4()
    run_step(db, world, sub, AllocateIp(), params=params, state=state, order_id=order)
    done = run_step(db, world, sub, ProvisionRadius(), params=params, state=state, order_id=order)
    assert done.result["credential_written"] is False  # type: ignore[union-attr]
    compensate_step(db, world, sub, ProvisionRadius(), params=params, state=state, order_id=order)
    compensate_step(db, world, sub, AllocateIp(), params=params, state=state, order_id=order)
    after = admin.execute(
        "select attribute, op, value from radcheck where subscriber_id = %s order by attribute", (sub,)
    ).fetchall()
    assert after == before
    plan = admin.execute("select bandwidth_profile_id from subscribers where id = %s", (sub,)).fetchone()
    assert plan == (world.plan,)


def test_termination_steps_release_every_address_and_row(
    db: Database, world: World, admin: psycopg.Connection[Any]
) -> None:
    sub = subscriber(db, world, pppoe_username="cy@net-a", bandwidth_profile_id=world.plan, status="active")
    with db.tenant(world.tenant) as s:
        ipam.allocate(s, tenant_id=world.tenant, pool_id=world.pool, subscriber_id=sub)
        set_password(s, tenant_id=world.tenant, subscriber_id=sub, password="s3cret-pw")
        s.execute(
            text(
                "insert into radreply (tenant_id, username, attribute, op, value) "
                "values (:t, 'cy@net-a', 'Reply-Message', ':=', 'hello')"
            ),
            {"t": world.tenant},
        )
        s.execute(text("update subscribers set status = 'terminated' where id = :s"), {"s": sub})
    state: dict[str, Any] = {}
    order = uuid.uuid4()
    released = run_step(db, world, sub, ReleaseIp(), params={}, state=state, order_id=order, order_type="terminate")
    assert released.result == {"released": ["10.20.0.10"]}  # type: ignore[union-attr]
    removed = run_step(db, world, sub, RemoveRadius(), params={}, state=state, order_id=order, order_type="terminate")
    assert removed.result == {"removed": 1}  # type: ignore[union-attr]  # the hand-made row by username
    again = run_step(db, world, sub, ReleaseIp(), params={}, state=state, order_id=order, order_type="terminate")
    assert again.result == {"released": []}  # type: ignore[union-attr]
    left = admin.execute("select count(*) from radreply where username = 'cy@net-a'").fetchone()
    assert left == (0,) and effects(admin, world.tenant, sub)["live_ips"] == 0
