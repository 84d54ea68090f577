"""Reading a tenant's OLTs, PON ports, ONUs and splitters for the ONU services, and the ONU ids of a port.

Every query filters ``tenant_id`` as well as relying on the row policy. A missing or another tenant's row
is a 404 when the path names it and a 422 naming the field when a body refers to it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ispops.errors import Conflict, NotFound, ValidationFailed
from ispops.models import Olt, OltPonPort, Onu, Splitter


def get_onu(session: Session, tenant_id: str, onu_id: uuid.UUID, *, lock: bool = False) -> Onu:
    """The live ONU ``onu_id`` of the tenant (locked ``FOR UPDATE`` when ``lock``), or 404."""
    stmt = select(Onu).where(Onu.tenant_id == tenant_id, Onu.id == onu_id, Onu.deleted_at.is_(None))
    onu = session.scalar(stmt.with_for_update() if lock else stmt)
    if onu is None:
        raise NotFound("onus: no such record", table="onus")
    return onu


def get_olt(session: Session, tenant_id: str, olt_id: uuid.UUID, *, field: str | None = "olt_id") -> Olt:
    """The live OLT; missing or another tenant's: 422 naming ``field`` (a reference in a body), or 404."""
    olt = session.scalar(select(Olt).where(Olt.tenant_id == tenant_id, Olt.id == olt_id, Olt.deleted_at.is_(None)))
    if olt is None:
        if field is None:
            raise NotFound("olts: no such record", table="olts")
        raise ValidationFailed(f"onus.{field}: no such OLT (missing or deleted)", table="onus", field=field)
    return olt


def splitter(session: Session, tenant_id: str, splitter_id: uuid.UUID) -> Splitter:
    found = session.scalar(
        select(Splitter).where(
            Splitter.tenant_id == tenant_id, Splitter.id == splitter_id, Splitter.deleted_at.is_(None)
        )
    )
    if found is None:
        raise ValidationFailed(
            "onus.splitter_id: no such splitter (missing or deleted)", table="onus", field="splitter_id"
        )
    return found


def pon_port(
    session: Session,
    tenant_id: str,
    *,
    olt_id: uuid.UUID,
    pon_port_id: uuid.UUID | None = None,
    frame: int | None = None,
    slot: int | None = None,
    port: int | None = None,
    lock: bool = False,
    create: bool = False,
) -> OltPonPort:
    """The OLT's PON port, by id or by ``frame/slot/port`` (created when ``create`` and not recorded yet).

    422 naming ``pon_port_id`` when the port is not the OLT's (or another tenant's), ``port`` when neither
    is given."""
    if pon_port_id is None:
        if port is None:
            raise ValidationFailed(
                "onus.pon_port_id: give pon_port_id, or frame/slot/port", table="onus", field="pon_port_id"
            )
        if create:
            pon_port_id = session.execute(
                text("SELECT ispops_olt_pon_port_for(:t, :o, :f, :s, :p)"),
                {"t": tenant_id, "o": olt_id, "f": frame or 0, "s": slot or 0, "p": port},
            ).scalar_one()
        else:
            pon_port_id = session.scalar(
                select(OltPonPort.id).where(
                    OltPonPort.tenant_id == tenant_id,
                    OltPonPort.olt_id == olt_id,
                    OltPonPort.frame == (frame or 0),
                    OltPonPort.slot == (slot or 0),
                    OltPonPort.port == port,
                )
            )
    stmt = select(OltPonPort).where(
        OltPonPort.tenant_id == tenant_id, OltPonPort.id == pon_port_id, OltPonPort.olt_id == olt_id
    )
    found = session.scalar(stmt.with_for_update() if lock else stmt)
    if found is None:
        raise ValidationFailed("onus.pon_port_id: no such PON port on this OLT", table="onus", field="pon_port_id")
    return found


def lowest_free_onu_id(session: Session, tenant_id: str, port: OltPonPort) -> int | None:
    """The lowest ONU id of ``port`` no live ONU holds (None: the port is full). Lock the port first."""
    return session.execute(
        text(
            "SELECT min(g) FROM generate_series(0, :n - 1) AS g WHERE NOT EXISTS ("
            " SELECT 1 FROM onus o WHERE o.tenant_id = :t AND o.pon_port_id = :p AND o.onu_id = g"
            " AND o.deleted_at IS NULL)"
        ),
        {"t": tenant_id, "p": port.id, "n": port.max_onus},
    ).scalar_one_or_none()


def lock_port(session: Session, tenant_id: str, port: OltPonPort) -> OltPonPort:
    """Lock the port's row (``FOR UPDATE``) and read it again: authorisations on one port queue here."""
    locked = session.scalar(
        select(OltPonPort)
        .where(OltPonPort.tenant_id == tenant_id, OltPonPort.id == port.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if locked is None:  # deleted since it was read
        raise ValidationFailed("onus.pon_port_id: no such PON port on this OLT", table="onus", field="pon_port_id")
    return locked


def take_id(session: Session, tenant_id: str, port: OltPonPort) -> int:
    if port.status != "active":
        raise Conflict(
            f"olt_pon_ports: PON port {port.name} is {port.status}", table="olt_pon_ports", field="pon_port_id"
        )
    free = lowest_free_onu_id(session, tenant_id, port)
    if free is None:
        raise Conflict(
            f"olt_pon_ports: PON port {port.name} is full (all {port.max_onus} ONU ids are in use)",
            table="olt_pon_ports",
            field="pon_port_id",
        )
    return free


def pon_port_usage(session: Session, tenant_id: str, olt_id: uuid.UUID) -> list[dict[str, Any]]:
    """Each PON port of the OLT with how many of its ids are in use and how many ONUs are online."""
    get_olt(session, tenant_id, olt_id, field=None)
    rows = session.execute(
        text(
            "SELECT p.id, p.name, p.frame, p.slot, p.port, p.max_onus, p.status,"
            " count(o.onu_id) AS used, count(*) FILTER (WHERE o.status = 'online') AS online"
            " FROM olt_pon_ports p LEFT JOIN onus o ON o.tenant_id = p.tenant_id AND o.pon_port_id = p.id"
            " AND o.deleted_at IS NULL"
            " WHERE p.tenant_id = :t AND p.olt_id = :o"
            " GROUP BY p.id ORDER BY p.frame, p.slot, p.port"
        ),
        {"t": tenant_id, "o": olt_id},
    ).mappings()
    return [dict(r) for r in rows]
