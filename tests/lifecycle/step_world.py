"""A tenant to run lifecycle steps in (as the application role): plans, a small IP pool, an OLT provisioned
by hand and one with the lab driver, a tower with a sector, and fresh subscribers on demand. Also the
counts the crash and race tests compare (admin connection: past RLS)."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from sqlalchemy import text

from ispops.db.session import Database
from ispops.ipam import service as ipam
from ispops.lifecycle.steps import Done, Step, StepContext, Wait
from ispops.models import WirelessSector, WirelessTower
from ispops.wireless import service as wireless
from tests.factories import make_tenant

_serial = itertools.count(1)


@dataclass
class World:
    tenant: str
    plan: uuid.UUID
    plan2: uuid.UUID
    pool: uuid.UUID
    olt: uuid.UUID  # provisioned by hand (no driver)
    port: uuid.UUID
    lab_olt: uuid.UUID  # the lab driver: a driver job per action
    lab_port: uuid.UUID
    sector: uuid.UUID
    extra: dict[str, Any] = field(default_factory=dict)


def _olt(s: Any, tenant: str, name: str, driver: str | None) -> tuple[uuid.UUID, uuid.UUID]:
    device = s.execute(
        text("insert into devices (tenant_id, name, device_type) values (:t, :n, 'olt') returning id"),
        {"t": tenant, "n": name},
    ).scalar_one()
    olt = s.execute(
        text("insert into olts (tenant_id, device_id, technology, driver) values (:t, :d, 'gpon', :dr) returning id"),
        {"t": tenant, "d": device, "dr": driver},
    ).scalar_one()
    port = s.execute(
        text("insert into olt_pon_ports (tenant_id, olt_id, frame, slot, port) values (:t, :o, 0, 1, 3) returning id"),
        {"t": tenant, "o": olt},
    ).scalar_one()
    return olt, port


def build(db: Database, tenant: str, *, pool_size: int = 200) -> World:
    make_tenant(db, tenant)
    with db.tenant(tenant) as s:
        plans = [
            s.execute(
                text(
                    "insert into bandwidth_profiles (tenant_id, name, download_mbps, upload_mbps) "
                    "values (:t, :n, :d, :u) returning id"
                ),
                {"t": tenant, "n": name, "d": down, "u": down // 5},
            ).scalar_one()
            for name, down in (("50M", 50), ("100M", 100))
        ]
        pool = ipam.create_pool(
            s,
            tenant_id=tenant,
            name="subs",
            network_cidr="10.20.0.0/16",
            start_ip="10.20.0.10",
            end_ip=f"10.20.{(9 + pool_size) // 256}.{(9 + pool_size) % 256}",
            pool_type="static",
        )
        olt, port = _olt(s, tenant, "olt-hand", None)
        lab_olt, lab_port = _olt(s, tenant, "olt-lab", "lab")
        tower = WirelessTower(tenant_id=tenant, name="Hill", latitude=Decimal("-1.30"), longitude=Decimal("36.80"))
        s.add(tower)
        s.flush()
        sector = WirelessSector(
            tenant_id=tenant, tower_id=tower.id, name="S1", frequency_mhz=5800, azimuth=90, beamwidth_degrees=60
        )
        wireless.prepare_sector(s, tenant, sector)
        s.add(sector)
        s.flush()
        return World(tenant, plans[0], plans[1], pool.id, olt, port, lab_olt, lab_port, sector.id)


def subscriber(
    db: Database, world: World, *, status: str = "pending", service_type: str = "ftth", **extra: Any
) -> uuid.UUID:
    n = next(_serial)
    with db.tenant(world.tenant) as s:
        cols = {"status": status, "service_type": service_type, **extra}
        names = ", ".join(cols)
        values = ", ".join(f":{c}" for c in cols)
        return uuid.UUID(
            str(
                s.execute(
                    text(
                        f"insert into subscribers (tenant_id, subscriber_number, {names}) "
                        f"values (:t, :num, {values}) returning id"
                    ),
                    {"t": world.tenant, "num": f"SUB-{uuid.uuid4().hex[:6]}-{n}", **cols},
                ).scalar_one()
            )
        )


def serial() -> str:
    return f"LABX{next(_serial):08d}"


def context(
    s: Any,
    world: World,
    sub: uuid.UUID,
    step: Step,
    *,
    order_type: str = "activate",
    params: dict[str, Any],
    state: dict[str, Any],
    order_id: uuid.UUID,
) -> StepContext:
    return StepContext(
        session=s,
        tenant_id=world.tenant,
        order_id=order_id,
        order_type=order_type,
        subscriber_id=sub,
        params=params,
        state=state,
        key=f"order:{order_id}:{step.name}",
    )


def run_step(
    db: Database,
    world: World,
    sub: uuid.UUID,
    step: Step,
    *,
    params: dict[str, Any],
    state: dict[str, Any],
    order_id: uuid.UUID,
    order_type: str = "activate",
) -> Done | Wait:
    """``step.run`` in its own committed unit of work; a Done's result goes into ``state``."""
    with db.tenant(world.tenant) as s:
        result = step.run(
            context(s, world, sub, step, order_type=order_type, params=params, state=state, order_id=order_id)
        )
    if isinstance(result, Done):
        state[step.name] = result.result
    return result


def compensate_step(
    db: Database,
    world: World,
    sub: uuid.UUID,
    step: Step,
    *,
    params: dict[str, Any],
    state: dict[str, Any],
    order_id: uuid.UUID,
) -> None:
    with db.tenant(world.tenant) as s:
        step.compensate(context(s, world, sub, step, params=params, state=state, order_id=order_id))


# --- what the crash and race tests count (admin: past RLS) -------------------------------------------------


def effects(admin: psycopg.Connection[Any], tenant: str, sub: uuid.UUID) -> dict[str, Any]:
    """Every effect an order can leave on one subscriber, as counts and values."""

    def one(sql: str) -> Any:
        row = admin.execute(sql, {"t": tenant, "s": sub}).fetchone()
        return row[0] if row else None

    return {
        "status": one("select status from subscribers where tenant_id = %(t)s and id = %(s)s"),
        "radcheck": one("select count(*) from radcheck where tenant_id = %(t)s and subscriber_id = %(s)s"),
        "radreply": one("select count(*) from radreply where tenant_id = %(t)s and subscriber_id = %(s)s"),
        "credentials": one(
            "select count(*) from radcheck where tenant_id = %(t)s and subscriber_id = %(s)s "
            "and attribute in ('Cleartext-Password', 'NT-Password')"
        ),
        "live_ips": one(
            "select count(*) from ip_allocations where tenant_id = %(t)s and subscriber_id = %(s)s "
            "and status <> 'released'"
        ),
        "all_ips": one("select count(*) from ip_allocations where tenant_id = %(t)s and subscriber_id = %(s)s"),
        "onu_ids": one(
            "select count(*) from onus where tenant_id = %(t)s and subscriber_id = %(s)s and onu_id is not null "
            "and deleted_at is null"
        ),
        "live_cpes": one(
            "select count(*) from wireless_subscribers where tenant_id = %(t)s and subscriber_id = %(s)s "
            "and deleted_at is null"
        ),
        "all_cpes": one("select count(*) from wireless_subscribers where tenant_id = %(t)s and subscriber_id = %(s)s"),
        "authorise_jobs": one(
            "select count(*) from onu_provisioning_jobs j join onus o on o.tenant_id = j.tenant_id and o.id = j.onu_id "
            "where j.tenant_id = %(t)s and o.subscriber_id = %(s)s and j.action = 'authorise'"
        ),
        "status_audits": one(
            "select count(*) from audit_events where tenant_id = %(t)s and entity = 'subscribers' "
            "and entity_id = %(s)s::text and action = 'action'"
        ),
    }
