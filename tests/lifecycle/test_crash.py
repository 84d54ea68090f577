"""Crash safety, proved on the real steps (issue 18, section 2).

For an activation, a plan change and a termination, at every crash point the engine has
(``crash.crash_labels``: each step's run and each compensation, before and after its commit), a worker
*process* runs the order with ``ISPOPS_LIFECYCLE_CRASH_AT`` set and ends itself there (``os._exit``); the
stalled order is found by ``lifecycle.resume_stalled`` (called with a zero threshold instead of waiting a
minute for the sweep) and a clean worker finishes it. Every order must end completed (runs), rolled back
(a real failure: the ACS does not know the CPE) or cancelled (a cancel just before the pivot, the way
to reach the compensations of steps no real failure comes after), with its effects counted: one address,
one ONU id, one driver job, one credential, one audited status change, one event of each kind — or none
of them at all, and no radcheck/radreply row left behind.

One database and one tenant for the whole module; a fresh subscriber per case.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from ispops.config import get_settings
from ispops.db.server import libpq_dsn
from ispops.db.session import Database
from ispops.lifecycle import crash, jobs, orders, saga
from tests.ftth.doubles.genieacs import Acs, cpe, genieacs
from tests.lifecycle.crash_support import (
    DEADLINE,
    coa_queued,
    events,
    live_subscriber,
    status_of,
    submit,
    worker_in_process,
    worker_process,
)
from tests.lifecycle.step_world import World, build, effects, serial, subscriber

PROFILES = {"line_profile": "10", "service_profile": "FTTH"}


@dataclass
class Site:
    db: Database
    world: World
    acs: Acs
    admin: psycopg.Connection[Any]


@pytest.fixture(scope="module")
def site(database: Database) -> Iterator[Site]:
    world = build(database, f"crash-{uuid.uuid4().hex[:8]}")
    with (
        genieacs() as acs,
        psycopg.connect(libpq_dsn(database.server.admin_url), autocommit=True) as admin,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv("ISPOPS_GENIEACS_NBI_URL", acs.url)  # the clean worker runs in this process
        get_settings.cache_clear()
        yield Site(database, world, acs, admin)
    get_settings.cache_clear()


def _labels(activation_type: str, action: str, *, only: tuple[str, ...] = (), skip: tuple[str, ...] = ()) -> list[str]:
    out = []
    for label in crash.crash_labels(activation_type):
        step, doing = label.split(":")[1:3]
        if doing == action and (not only or step in only) and step not in skip:
            out.append(label)
    return out


def _cancel_before(site: Site, order_id: uuid.UUID, step: str) -> None:
    """Run the order in this process up to (not including) ``step``, then cancel it."""
    for _ in range(50):
        with site.db.tenant(site.world.tenant) as s:
            order = orders.get(s, site.world.tenant, order_id)
            done = [e["step"] for e in order.steps_completed or []]
        if done and [st.name for st in saga.resolve_plan(order.activation_type)][len(done)] == step:
            break
        assert saga.tick(site.db, site.world.tenant, order_id) == "continue", done
    with site.db.tenant(site.world.tenant) as s:
        orders.cancel(s, site.world.tenant, order_id)


def _crash_then_resume(site: Site, order_id: uuid.UUID, label: str) -> str:
    killed = worker_process(site.db, site.world.tenant, order_id, crash_at=label, acs_url=site.acs.url)
    assert killed.returncode == crash.EXIT_STATUS, (label, killed.returncode, killed.stdout, killed.stderr[-3000:])
    # The dead worker's order is found at once (a zero threshold instead of a minute of silence). The sweep
    # skips an order whose row is still locked, by a backend that has not yet noticed its client died:
    # look again until the order has a job to run it (or has ended).
    deadline = time.monotonic() + DEADLINE
    while (
        str(order_id) not in jobs.resume_stalled(site.db, site.world.tenant, grace_seconds=0, stalled_after=0)["orders"]
    ):
        todo = site.admin.execute(
            "select count(*) from procrastinate.procrastinate_jobs where task_name = 'lifecycle.advance' "
            "and status = 'todo' and args->>'order_id' = %s",
            (str(order_id),),
        ).fetchone()
        if (todo is not None and todo[0]) or status_of(site.db, site.world.tenant, order_id) in saga.FINISHED:
            break
        assert time.monotonic() < deadline, f"order {order_id}: no job and not found by resume_stalled"
        time.sleep(0.2)
    return worker_in_process(site.db, site.world.tenant, order_id)


# --- activation ---------------------------------------------------------------------------------------------


def _activation(site: Site, *, known_cpe: bool, lab: bool) -> tuple[uuid.UUID, uuid.UUID, str]:
    sn = serial()
    if known_cpe:
        site.acs.devices.append(cpe(sn, tenant=site.world.tenant))
    sub = subscriber(site.db, site.world)
    olt, port = (site.world.lab_olt, site.world.lab_port) if lab else (site.world.olt, site.world.port)
    params = {
        "bandwidth_profile_id": str(site.world.plan),
        "pppoe_username": f"c-{sub.hex[:10]}",
        "olt_id": str(olt),
        "pon_port_id": str(port),
        "serial_number": sn,
        "configure": "tr069",
        **PROFILES,
    }
    return sub, submit(site.db, site.world, "activate", sub, params), sn


def _activated(site: Site, sub: uuid.UUID, sn: str) -> None:
    eff = effects(site.admin, site.world.tenant, sub)
    assert eff["status"] == "active"
    assert (eff["live_ips"], eff["all_ips"], eff["onu_ids"], eff["authorise_jobs"]) == (1, 1, 1, 1)
    assert (eff["credentials"], eff["status_audits"]) == (1, 1)
    assert eff["radcheck"] >= 2 and eff["radreply"] >= 1  # the credential, Simultaneous-Use, the plan's rates
    assert events(site.admin, sub) == {"billing.service_started": 1, "subscriber.activated": 1}
    ppp = "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANPPPConnection.1."
    assert site.acs.value(sn, ppp + "Username") == f"c-{sub.hex[:10]}"


def _undone(site: Site, sub: uuid.UUID) -> None:
    eff = effects(site.admin, site.world.tenant, sub)
    assert eff["status"] == "pending" and eff["status_audits"] == 0
    assert (eff["live_ips"], eff["onu_ids"], eff["live_cpes"], eff["credentials"]) == (0, 0, 0, 0)
    assert (eff["radcheck"], eff["radreply"]) == (0, 0)  # no orphan rows
    assert eff["all_ips"] <= 1 and eff["authorise_jobs"] <= 1  # never made twice
    assert "subscriber.activated" not in events(site.admin, sub)


@pytest.mark.parametrize("label", _labels("new_service", "run"))
def test_activation_killed_at_every_step_completes_once(site: Site, label: str) -> None:
    sub, order_id, sn = _activation(site, known_cpe=True, lab=True)
    assert _crash_then_resume(site, order_id, label) == "completed"
    _activated(site, sub, sn)


@pytest.mark.parametrize("label", _labels("new_service", "compensate", skip=("configure_cpe",)))
def test_activation_killed_while_rolling_back_a_failure_leaves_nothing(site: Site, label: str) -> None:
    sub, order_id, _ = _activation(site, known_cpe=False, lab=True)  # the ACS has no such CPE: configure fails
    assert _crash_then_resume(site, order_id, label) == "rolled_back"
    _undone(site, sub)
    assert events(site.admin, sub) == {"order.failed": 1}


@pytest.mark.parametrize("label", _labels("new_service", "compensate", only=("configure_cpe",)))
def test_activation_cancelled_before_the_pivot_and_killed_while_undoing_leaves_nothing(site: Site, label: str) -> None:
    sub, order_id, _ = _activation(site, known_cpe=True, lab=False)
    _cancel_before(site, order_id, "activate_status")
    assert _crash_then_resume(site, order_id, label) == "cancelled"
    _undone(site, sub)


# --- plan change and termination ------------------------------------------------------------------------------


@pytest.mark.parametrize("label", _labels("plan_change", "run"))
def test_plan_change_killed_at_every_step_changes_the_plan_once(site: Site, label: str) -> None:
    sub = live_subscriber(site.db, site.world)
    order_id = submit(site.db, site.world, "plan_change", sub, {"bandwidth_profile_id": str(site.world.plan2)})
    assert _crash_then_resume(site, order_id, label) == "completed"
    plan = site.admin.execute("select bandwidth_profile_id from subscribers where id = %s", (sub,)).fetchone()
    assert plan == (site.world.plan2,)
    assert coa_queued(site.admin, sub) == ["coa/plan_change"]  # the live session is told, once
    assert events(site.admin, sub) == {"subscriber.plan_changed": 1}


@pytest.mark.parametrize("label", _labels("termination", "run"))
def test_termination_killed_at_every_step_releases_everything_once(site: Site, label: str) -> None:
    sub = live_subscriber(site.db, site.world)
    order_id = submit(site.db, site.world, "terminate", sub, {})
    assert _crash_then_resume(site, order_id, label) == "completed"
    eff = effects(site.admin, site.world.tenant, sub)
    assert (eff["status"], eff["status_audits"]) == ("terminated", 1)
    assert (eff["radcheck"], eff["radreply"], eff["live_ips"], eff["onu_ids"], eff["all_ips"]) == (0, 0, 0, 0, 1)
    assert coa_queued(site.admin, sub) == ["disconnect/terminate"]
    assert events(site.admin, sub) == {"subscriber.terminated": 1}


@pytest.mark.parametrize(
    "label", [*_labels("plan_change", "compensate"), *_labels("termination", "compensate")], ids=str
)
def test_plan_change_and_termination_cancelled_and_killed_while_undoing_change_nothing(site: Site, label: str) -> None:
    sub = live_subscriber(site.db, site.world)
    before = effects(site.admin, site.world.tenant, sub)
    if label.startswith("plan_change"):
        order_id = submit(site.db, site.world, "plan_change", sub, {"bandwidth_profile_id": str(site.world.plan2)})
        pivot = "set_plan"
    else:
        order_id = submit(site.db, site.world, "terminate", sub, {})
        pivot = "terminate_status"
    _cancel_before(site, order_id, pivot)
    assert _crash_then_resume(site, order_id, label) == "cancelled"
    assert effects(site.admin, site.world.tenant, sub) == before
    assert coa_queued(site.admin, sub) == [] and events(site.admin, sub) == {}
