"""OLTs, PON ports and ONUs for the ONU tests, built as the application role (RLS on)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import text

from ispops.db.session import Database
from ispops.ftth import service
from tests.factories import make_tenant


@dataclass
class OltWorld:
    """One tenant with a GPON OLT, its PON port 0/1/3 and a 1x8 splitter."""

    tenant: str
    olt: uuid.UUID
    port: uuid.UUID
    splitter: uuid.UUID
    ids: dict[str, uuid.UUID] = field(default_factory=dict)


def build(db: Database, tenant: str, *, technology: str = "gpon", max_onus: int | None = None) -> OltWorld:
    make_tenant(db, tenant)
    with db.tenant(tenant) as s:
        device = s.execute(
            text("insert into devices (tenant_id, name, device_type) values (:t, 'olt-1', 'olt') returning id"),
            {"t": tenant},
        ).scalar_one()
        olt = s.execute(
            text("insert into olts (tenant_id, device_id, technology) values (:t, :d, :tech) returning id"),
            {"t": tenant, "d": device, "tech": technology},
        ).scalar_one()
        port = s.execute(
            text(
                "insert into olt_pon_ports (tenant_id, olt_id, frame, slot, port, max_onus) "
                "values (:t, :o, 0, 1, 3, :m) returning id"
            ),
            {"t": tenant, "o": olt, "m": max_onus},
        ).scalar_one()
        splitter = s.execute(
            text(
                "insert into splitters (tenant_id, olt_id, name, split_ratio) values (:t, :o, 'NAP-1', '1x8') "
                "returning id"
            ),
            {"t": tenant, "o": olt},
        ).scalar_one()
    return OltWorld(tenant, olt, port, splitter)


def discover(db: Database, world: OltWorld, *serials: str) -> list[uuid.UUID]:
    """Auto-find ``serials`` on the world's port 0/1/3; their ONU ids (the records')."""
    out = []
    with db.tenant(world.tenant) as s:
        for serial in serials:
            onu = service.record_discovered(
                s, world.tenant, olt_id=world.olt, serial_number=serial, pon_port_id=world.port
            )
            out.append(onu.id)
    return out
