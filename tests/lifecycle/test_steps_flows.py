"""Whole orders on the real steps through the engine (in this process): a wireless activation, suspension and
resumption, a relocation, and an FTTH activation the OLT refuses (rolled back, nothing left)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, text

from ispops.db.session import Database
from ispops.errors import Conflict
from ispops.ftth import jobs as ftth_jobs
from ispops.lifecycle import orders, saga
from ispops.models import OnuProvisioningJob
from tests.lifecycle.crash_support import DEADLINE, events, live_subscriber, submit
from tests.lifecycle.step_world import World, build, effects, serial, subscriber


@pytest.fixture
def world(db: Database) -> World:
    return build(db, "flow-a")


def finish(db: Database, world: World, order_id: uuid.UUID) -> str:
    """Advance the order, running the OLT driver jobs it waits on, until it ends (deadline: a failure)."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        outcome = saga.advance(db, world.tenant, order_id)
        with db.tenant(world.tenant) as s:
            queued = [
                str(j) for j in s.scalars(select(OnuProvisioningJob.id).where(OnuProvisioningJob.status == "queued"))
            ]
        for job in queued:
            ftth_jobs.run_job(db, world.tenant, job_id=job)
        if outcome in ("completed", "rolled_back", "failed", "finished") and not queued:
            with db.tenant(world.tenant) as s:
                return str(
                    s.scalar(text("select workflow_status from service_activations where id = :o"), {"o": order_id})
                )
        time.sleep(0.2)
    raise AssertionError(f"order {order_id} did not end in {DEADLINE} s")


def test_a_wireless_activation_then_suspension_and_resumption(
    db: Database, world: World, admin: psycopg.Connection[Any]
) -> None:
    sub = subscriber(db, world, service_type="wireless", bandwidth_profile_id=world.plan)
    params = {
        "sector_id": str(world.sector),
        "cpe_mac": "AA:BB:CC:00:01:02",
        "install_latitude": -1.3,
        "install_longitude": 36.83,
    }
    assert finish(db, world, submit(db, world, "activate", sub, params)) == "completed"
    eff = effects(admin, world.tenant, sub)
    assert (eff["status"], eff["live_cpes"], eff["live_ips"], eff["credentials"], eff["onu_ids"]) == (
        "active",
        1,
        1,
        1,
        0,
    )
    assert finish(db, world, submit(db, world, "suspend", sub, {"reason": "unpaid"})) == "completed"
    assert effects(admin, world.tenant, sub)["status"] == "suspended"
    assert finish(db, world, submit(db, world, "resume", sub, {})) == "completed"
    assert effects(admin, world.tenant, sub)["status"] == "active"
    assert events(admin, sub) == {
        "billing.service_started": 1,
        "subscriber.activated": 1,
        "subscriber.suspended": 1,
        "subscriber.resumed": 1,
    }


def test_an_activation_the_olt_refuses_is_rolled_back_without_a_trace(
    db: Database, world: World, admin: psycopg.Connection[Any]
) -> None:
    sub = subscriber(db, world, bandwidth_profile_id=world.plan)
    sn = serial()
    params = {"olt_id": str(world.lab_olt), "pon_port_id": str(world.lab_port), "serial_number": sn}  # no profiles
    order_id = submit(db, world, "activate", sub, params)
    assert finish(db, world, order_id) == "rolled_back"
    eff = effects(admin, world.tenant, sub)
    assert (eff["live_ips"], eff["onu_ids"], eff["credentials"], eff["radcheck"], eff["radreply"]) == (0, 0, 0, 0, 0)
    assert admin.execute("select status from onus where serial_number = %s", (sn,)).fetchone() == ("retired",)
    row = admin.execute(
        "select error_step, compensations from service_activations where id = %s", (order_id,)
    ).fetchone()
    assert row is not None and row[0] == "authorise_onu"
    assert [c["step"] for c in row[1]] == ["authorise_onu", "provision_radius", "allocate_ip", "validate"]


def test_a_relocation_moves_the_subscriber_to_a_new_onu_and_releases_the_old_one(
    db: Database, world: World, admin: psycopg.Connection[Any]
) -> None:
    sub = live_subscriber(db, world)  # active, with an address and an ONU on the lab OLT
    old = admin.execute("select id from onus where subscriber_id = %s", (sub,)).fetchone()
    params = {"olt_id": str(world.olt), "pon_port_id": str(world.port), "serial_number": serial()}
    with pytest.raises(Conflict):  # a new service for a live subscriber: 409
        submit(db, world, "activate", sub, params)
    with db.tenant(world.tenant) as s:
        relocation = orders.submit(s, world.tenant, orders.Submission("activate", sub, params, kind="relocation")).id
    assert finish(db, world, relocation) == "completed"
    eff = effects(admin, world.tenant, sub)
    assert (eff["status"], eff["live_ips"], eff["onu_ids"]) == ("active", 1, 1)
    assert old is not None
    gone = admin.execute("select status, onu_id from onus where id = %s", (old[0],)).fetchone()
    assert gone == ("discovered", None)
