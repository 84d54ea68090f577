"""Demo OLT and ONUs: a GPON OLT (class B+) with PON ports 0/1/0 to 0/1/3 and the subscribers' ONUs
authorised and online on 0/1/0 with their ids 1, 2, ...; one unconfigured ONU found on 0/1/1 (for the
authorise form) and two hours of light readings per ONU (for the optical charts). Idempotent: what exists
is left as it is.

The plant (splitters, cables, the trace) is ``demo/ftth_plant.py``'s.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from ispops.ftth import optics, service
from ispops.models import Olt, OltPonPort, Onu, OnuOpticalReading

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


def seed_activity(session: Session, t: str, olt: Olt, serial: str) -> int:
    """One unconfigured ONU ``serial`` found on 0/1/1, and readings every 10 minutes over the last two hours for
    the tenant's authorised ONUs (each a little weaker than its recorded level). Returns rows created."""
    created = 0
    if session.scalars(select(Onu.id).where(Onu.tenant_id == t, Onu.serial_number == serial)).first() is None:
        service.record_discovered(
            session, t, olt_id=olt.id, serial_number=serial, frame=0, slot=1, port=1, vendor="Huawei", model="HG8145V5"
        )
        created += 1
    if session.scalar(select(exists().where(OnuOpticalReading.tenant_id == t))):
        return created
    onus = session.execute(
        select(Onu.id, Onu.rx_power_dbm).where(Onu.tenant_id == t, Onu.olt_id == olt.id, Onu.status == "online")
    ).all()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    readings = [
        optics.OpticalReading(
            onu_id=onu_id,
            measured_at=now - timedelta(minutes=10 * step),
            rx_dbm=float(rx or -20) - step / 40,
            tx_dbm=2.1,
            olt_rx_dbm=float(rx or -20) - 3.5,
        )
        for onu_id, rx in onus
        for step in range(12)
    ]
    optics.ingest_readings(session, tenant_id=t, readings=readings)
    return created + len(readings)
