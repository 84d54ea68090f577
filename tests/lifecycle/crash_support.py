"""Workers for the crash and race tests: a worker *process* running the lifecycle and OLT driver jobs (killed
at a crash point when ``ISPOPS_LIFECYCLE_CRASH_AT`` names one), an in-process worker, and the orders'
set-up and final checks on the real domain steps (tests/lifecycle/test_crash.py, test_race.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text

from ispops.db.session import Database
from ispops.ftth import service as ftth
from ispops.ipam import service as ipam
from ispops.jobs.app import connector_for, create_app
from ispops.jobs.registry import get_spec
from ispops.jobs.worker import run_worker_async
from ispops.lifecycle import crash, orders, saga
from ispops.radius.provisioning import set_password
from tests.lifecycle.step_world import World, serial, subscriber

ROOT = Path(__file__).resolve().parents[2]
TASKS = ("lifecycle.advance", "ftth.run_job", "events.dispatch")
DEADLINE = 90.0  # seconds an order may take on a worker here (a loaded machine); normally a few

# One worker pass after another (each until the queue has nothing ready) until the order has ended and
# its OLT jobs are done: an order waiting on a driver job has its next advance scheduled a second ahead.
WORKER = """
import asyncio, sys, time, uuid
from sqlalchemy import text
from ispops.config import Settings
from ispops.db.server import open_server
from ispops.db.session import Database
from ispops.jobs.app import connector_for, create_app
from ispops.jobs.registry import get_spec
from ispops.jobs.worker import run_worker_async

tenant, order_id, deadline = sys.argv[1], sys.argv[2], time.monotonic() + float(sys.argv[3])
db = Database(open_server(Settings()))
app = create_app(connector_for(db.server), specs=[get_spec(n) for n in sys.argv[4:]], schedule=False)
while time.monotonic() < deadline:
    asyncio.run(run_worker_async(app, db, concurrency=1, wait=False, install_signal_handlers=False,
                                 listen_notify=False, coa_listener=False))
    with db.tenant(tenant, enforce_status=False) as s:
        status = s.execute(text("select workflow_status from service_activations where id = :o"),
                           {"o": order_id}).scalar_one()
        busy = s.execute(text("select count(*) from onu_provisioning_jobs where status in ('queued', 'running')"
                              )).scalar_one()
    if status in ("completed", "rolled_back", "cancelled", "failed") and not busy:
        print(status)
        sys.exit(0)
    time.sleep(0.2)
print("deadline")
sys.exit(3)
"""


def worker_process(
    db: Database, tenant: str, order_id: uuid.UUID, *, crash_at: str | None = None, acs_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a worker process on the order until it ends (or dies at ``crash_at``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISPOPS_")}
    env["ISPOPS_DATABASE_URL"] = db.server.admin_url.render_as_string(hide_password=False)
    if acs_url:
        env["ISPOPS_GENIEACS_NBI_URL"] = acs_url
    if crash_at:
        env[crash.ENV] = crash_at
    return subprocess.run(
        [sys.executable, "-c", WORKER, tenant, str(order_id), str(DEADLINE), *TASKS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE + 60,
        check=False,
    )


def status_of(db: Database, tenant: str, order_id: uuid.UUID) -> str:
    with db.tenant(tenant, enforce_status=False) as s:
        return str(
            s.execute(
                text("select workflow_status from service_activations where id = :o"), {"o": order_id}
            ).scalar_one()
        )


def drivers_busy(db: Database, tenant: str) -> int:
    with db.tenant(tenant, enforce_status=False) as s:
        return int(
            s.execute(
                text("select count(*) from onu_provisioning_jobs where status in ('queued', 'running')")
            ).scalar_one()
        )


def worker_in_process(db: Database, tenant: str, order_id: uuid.UUID) -> str:
    """A clean worker in this process, pass after pass, until the order has ended (deadline: a test failure)."""
    app = create_app(connector_for(db.server), specs=[get_spec(n) for n in TASKS], schedule=False)
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        asyncio.run(
            run_worker_async(
                app,
                db,
                concurrency=1,
                wait=False,
                install_signal_handlers=False,
                listen_notify=False,
                coa_listener=False,
            )
        )
        status = status_of(db, tenant, order_id)
        if status in saga.FINISHED | {"failed"} and not drivers_busy(db, tenant):
            return status
        time.sleep(0.2)
    raise AssertionError(f"order {order_id} still {status_of(db, tenant, order_id)} after {DEADLINE} s")


def submit(db: Database, world: World, order_type: str, sub: uuid.UUID, params: dict[str, Any]) -> uuid.UUID:
    with db.tenant(world.tenant) as s:
        order = orders.submit(
            s, world.tenant, orders.Submission(order_type=order_type, subscriber_id=sub, params=params)
        )
        return order.id


def live_subscriber(db: Database, world: World) -> uuid.UUID:
    """An active FTTH subscriber as an activation leaves it: credentials, plan, an address, an ONU authorised
    on the lab OLT, and an open session on a NAS."""
    sub = subscriber(db, world, status="active", bandwidth_profile_id=world.plan)
    username = f"live-{uuid.uuid4().hex[:8]}"
    with db.tenant(world.tenant) as s:
        made = ipam.allocate(s, tenant_id=world.tenant, pool_id=world.pool, subscriber_id=sub)
        s.execute(
            text("update subscribers set pppoe_username = :u, static_ip_address = :ip where id = :s"),
            {"u": username, "ip": str(made.ip_address).split("/")[0], "s": sub},
        )
        set_password(s, tenant_id=world.tenant, subscriber_id=sub, password="pw-123456")
        onu = ftth.reserve_authorisation(
            s, world.tenant, olt_id=world.lab_olt, pon_port_id=world.lab_port, serial_number=serial(), subscriber_id=sub
        )
        ftth.complete_authorisation(s, world.tenant, onu.id)
        s.execute(
            text(
                "insert into radacct (tenant_id, subscriber_id, acctsessionid, acctuniqueid, username, "
                "nasipaddress, acctstarttime) values (:t, :s, 'sess-1', :uq, :u, '127.10.0.1', now())"
            ),
            {"t": world.tenant, "s": sub, "uq": uuid.uuid4().hex, "u": username},
        )
    return sub


def events(admin: psycopg.Connection[Any], sub: uuid.UUID) -> dict[str, int]:
    rows = admin.execute(
        "select event_type, count(*) from event_outbox where subject = %s and event_type not like 'session.%%' "
        "group by event_type",  # radacct's own session events (migration 0038) are not the lifecycle's
        (f"subscribers/{sub}",),
    ).fetchall()
    return {str(t): int(n) for t, n in rows}


def coa_queued(admin: psycopg.Connection[Any], sub: uuid.UUID) -> list[str]:
    rows = admin.execute(
        "select kind || '/' || reason from radius_coa_queue where subscriber_id = %s order by id", (sub,)
    ).fetchall()
    return [str(r[0]) for r in rows]
