"""Demo fibre plant: the tenant's splitters, cables, strands, splices and connectors, traced end to end from
the OLT's PON port to every ONU, and one ONU whose light is 5 dB worse than its budget. Idempotent: made
once (when the splice closure is missing), never overwriting what someone changed since.

    OLT port ── FEEDER-01 strand 1 ── splice in CL-01 ── FDH-TAIL strand 1 ─▶ FDH-01 (1x8)
       FDH-01 port n ── DIST-0n strand 1 ─▶ NAP-0n (1x8) ── DROP-<serial> ─▶ each ONU on it

The cables' routes are GeoJSON LineStrings between the places' coordinates, their lengths geodesic (the
feeder keeps its measured length). Every ONU's measured Rx is set to its budget within ±0.8 dB, except the
last one, 5 dB below: the per-PON report points at its drop.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ispops.ftth import budget, plant
from ispops.models import (
    Device,
    FiberCable,
    FiberClosure,
    FiberConnector,
    FiberLink,
    FiberSplice,
    FiberStrand,
    Olt,
    Onu,
    Splitter,
)

FAULT_DB = 5.0


def _route(*points: tuple[Decimal | float | None, Decimal | float | None]) -> dict[str, Any] | None:
    coords = [[float(lng), float(lat)] for lat, lng in points if lat is not None and lng is not None]
    return {"type": "LineString", "coordinates": coords} if len(coords) >= 2 else None


def _strand_1(session: Session, tenant_id: str, cable: FiberCable) -> uuid.UUID:
    found = session.scalars(
        select(FiberStrand.id).where(
            FiberStrand.tenant_id == tenant_id, FiberStrand.cable_id == cable.id, FiberStrand.strand_number == 1
        )
    ).first()
    if found is not None:
        return found
    strands = plant.strand_rows(tenant_id, cable)
    session.add_all(FiberStrand(**row) for row in strands)
    session.flush()
    return _strand_1(session, tenant_id, cable)


def _cable(session: Session, tenant_id: str, name: str, **values: Any) -> tuple[FiberCable, uuid.UUID]:
    cable = session.scalars(
        select(FiberCable).where(
            FiberCable.tenant_id == tenant_id, FiberCable.cable_name == name, FiberCable.deleted_at.is_(None)
        )
    ).first()
    if cable is None:
        cable = plant.create_cable(session, tenant_id, {"cable_name": name, **values})
    return cable, _strand_1(session, tenant_id, cable)


def _hop(
    session: Session, tenant_id: str, strands: list[uuid.UUID], *, splitter: uuid.UUID, onu: uuid.UUID | None
) -> None:
    for seq, strand in enumerate(strands, 1):
        session.add(FiberLink(tenant_id=tenant_id, strand_id=strand, splitter_id=splitter, onu_id=onu, seq=seq))
        session.execute(
            text("update fiber_strands set status = 'in_use' where tenant_id = :t and id = :s"),
            {"t": tenant_id, "s": strand},
        )


def _connect(session: Session, tenant_id: str, strand: uuid.UUID, *ends: str, **at: Any) -> None:
    for end in ends:
        session.add(
            FiberConnector(tenant_id=tenant_id, strand_id=strand, strand_end=end, connector_type="sc_apc", **at)
        )


def seed_plant(session: Session, tenant_id: str) -> int:
    """Trace the tenant's demo plant (FDH-01, its NAPs and their ONUs); returns 1 if it was made now."""
    t = tenant_id

    def splitter(name: str) -> Splitter | None:
        return session.scalars(
            select(Splitter).where(Splitter.tenant_id == t, Splitter.name == name, Splitter.deleted_at.is_(None))
        ).first()

    fdh = splitter("FDH-01")
    naps = [s for s in (splitter("NAP-01"), splitter("NAP-02")) if s is not None]
    exists = session.scalars(select(FiberClosure.id).where(FiberClosure.tenant_id == t, FiberClosure.name == "CL-01"))
    if fdh is None or not naps or exists.first() is not None:
        return 0
    onus = list(
        session.scalars(
            select(Onu)
            .where(Onu.tenant_id == t, Onu.splitter_id.in_([n.id for n in naps]), Onu.deleted_at.is_(None))
            .order_by(Onu.serial_number)
        )
    )
    if not onus:
        return 0
    olt = session.scalars(select(Olt).where(Olt.tenant_id == t, Olt.id == fdh.olt_id)).one()
    device = session.scalars(select(Device).where(Device.tenant_id == t, Device.id == olt.device_id)).one()
    # The root splitter is fed from the PON port its ONUs are on.
    if fdh.pon_port_id is None:
        fdh.pon_port_id = onus[0].pon_port_id
    olt_at = (device.location_lat, device.location_lng)
    fdh_at = (fdh.location_lat, fdh.location_lng)
    mid = (
        (Decimal(str(olt_at[0])) + Decimal(str(fdh_at[0]))) / 2 if olt_at[0] is not None and fdh_at[0] else None,
        (Decimal(str(olt_at[1])) + Decimal(str(fdh_at[1]))) / 2 if olt_at[1] is not None and fdh_at[1] else None,
    )
    closure = FiberClosure(
        tenant_id=t,
        name="CL-01",
        closure_type="splice_closure",
        location_name="Market Street manhole",
        location_lat=round(mid[0], 8) if mid[0] is not None else None,
        location_lng=round(mid[1], 8) if mid[1] is not None else None,
        capacity_splices=96,
    )
    session.add(closure)
    session.flush()
    feeder, feeder_1 = _cable(session, t, "FEEDER-01", fiber_count=48, length_meters=Decimal("1850.00"))
    if feeder.start_device_id is None:
        feeder.start_device_id = device.id
    _, tail_1 = _cable(
        session,
        t,
        "FDH-TAIL",
        fiber_count=12,
        cable_type="single_mode",
        installation_method="duct",
        start_closure_id=closure.id,
        end_splitter_id=fdh.id,
        geojson_path=_route(mid, fdh_at),
        length_meters=None if _route(mid, fdh_at) else Decimal("150.00"),
    )
    _hop(session, t, [feeder_1, tail_1], splitter=fdh.id, onu=None)
    _connect(session, t, feeder_1, "start", device_id=device.id)
    _connect(session, t, tail_1, "end", splitter_id=fdh.id)
    session.add(FiberSplice(tenant_id=t, closure_id=closure.id, strand_a_id=feeder_1, strand_b_id=tail_1))
    for nap in naps:
        _, dist_1 = _cable(
            session,
            t,
            f"DIST-{nap.name[-2:]}",
            fiber_count=12,
            cable_type="aerial",
            installation_method="aerial",
            start_splitter_id=fdh.id,
            end_splitter_id=nap.id,
            geojson_path=_route(fdh_at, (nap.location_lat, nap.location_lng)),
            length_meters=None if nap.location_lat is not None else Decimal("600.00"),
        )
        _hop(session, t, [dist_1], splitter=nap.id, onu=None)
        _connect(session, t, dist_1, "start", splitter_id=fdh.id)
        _connect(session, t, dist_1, "end", splitter_id=nap.id)
    for i, onu in enumerate(onus):
        nap = next(n for n in naps if n.id == onu.splitter_id)
        house = (
            None if nap.location_lat is None else nap.location_lat + Decimal("0.0006") * (1 + i % 3),
            None if nap.location_lng is None else nap.location_lng + Decimal("0.0004") * (i % 2 * 2 - 1),
        )
        route = _route((nap.location_lat, nap.location_lng), house)
        _, drop_1 = _cable(
            session,
            t,
            f"DROP-{onu.serial_number}",
            fiber_count=1,
            cable_type="aerial",
            installation_method="aerial",
            start_splitter_id=nap.id,
            geojson_path=route,
            length_meters=None if route else Decimal("120.00"),
        )
        _hop(session, t, [drop_1], splitter=nap.id, onu=onu.id)
        _connect(session, t, drop_1, "start", splitter_id=nap.id)
        _connect(session, t, drop_1, "end")
    session.flush()
    # Light: on budget (within ±0.8 dB) but for the last ONU, 5 dB below it.
    budgets, _ = budget.compute(session, t, pon_port_id=fdh.pon_port_id)
    expected = {b.onu_id: b.expected_rx_dbm for b in budgets}
    for i, onu in enumerate(onus):
        if str(onu.id) not in expected:
            continue
        offset = -FAULT_DB if i == len(onus) - 1 else ((i * 37) % 17 - 8) / 10
        onu.rx_power_dbm = Decimal(str(round(expected[str(onu.id)] + offset, 2)))
    session.flush()
    return 1
