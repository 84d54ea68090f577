"""Demo OLT and ONUs: a GPON OLT (class B+) with PON ports 0/1/0 to 0/1/3 and the subscribers' ONUs
authorised and online on 0/1/0 with their ids 1, 2, ... Idempotent: what exists is left as it is.

The plant (splitters, cables, the trace) is ``demo/ftth_plant.py``'s.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ispops.ftth import service
from ispops.models import Olt, OltPonPort

PORTS = [(0, 1, p) for p in range(4)]
SUBSCRIBERS_PORT = (0, 1, 0)


def seed_olt(session: Session, t: str, device_id: uuid.UUID) -> Olt:
    """The tenant's OLT on ``device_id`` and its PON ports (created when missing)."""
    olt = session.scalars(
        select(Olt).where(Olt.tenant_id == t, Olt.device_id == device_id, Olt.deleted_at.is_(None))
    ).first()
    if olt is None:
        olt = Olt(
            tenant_id=t,
            device_id=device_id,
            technology="gpon",
            optical_class="b_plus",
            max_pon_ports=16,
            total_onu_capacity=2048,
            management_protocol="snmp",
        )
        session.add(olt)
        session.flush()
    for frame, slot, port in PORTS:
        _port(session, t, olt.id, frame, slot, port)
    return olt


def _port(session: Session, t: str, olt_id: uuid.UUID, frame: int, slot: int, port: int) -> OltPonPort:
    return service.pon_port(session, t, olt_id=olt_id, frame=frame, slot=slot, port=port, create=True)


def onu_values(session: Session, t: str, olt: Olt, i: int) -> dict[str, Any]:
    """The lifecycle columns of the ``i``-th subscriber's ONU: authorised on 0/1/0 with id ``i``, online."""
    frame, slot, port = SUBSCRIBERS_PORT
    now = datetime.now(UTC)
    return {
        "pon_port_id": _port(session, t, olt.id, frame, slot, port).id,
        "onu_id": i,
        "status": "online",
        "status_changed_at": now,
        "authorised_at": now,
        "last_seen": now,
        "auth_method": "serial",
        "onu_type": "HG8145V5",
        "mode": "routing",
        "service_port": 100 + i,
        "line_profile": "FTTH-LINE",
        "admin_status": "enabled",
        "operational_status": "up",
    }
