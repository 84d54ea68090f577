"""A small traced plant for the plant, trace and budget tests, built as the application role.

    OLT (GPON, B+: Tx 3.0 dBm) PON 0/1/0
      └─ feeder F strand 1 (2,000 m) ── splice in closure CL ── distribution D strand 1 (1,000 m) ─▶ R (PLC 1x4)
           R port 1 ── D2 strand 1 (500 m) ─▶ L1 (PLC 1x8) ── drops (100 m each) ─▶ ONU A1, A2, A3 (ports 1-3)
           R port 2 ── D3 strand 1 (500 m) ─▶ L2 (PLC 1x8) ── drops (100 m each) ─▶ ONU B1, B2 (ports 1-2)

Each strand has a connector at both ends, except F and D, which meet at the splice (F's start and D's end
have connectors). Every ONU's expected loss with the defaults: splitters 7.2 + 10.5 = 17.7 dB; fibre
3,600 m x 0.25 dB/km (1490 nm) = 0.9; connectors 6 x 0.5 = 3.0; splices 1 x 0.15: 21.75 dB, so an expected
Rx of 3.0 - 21.75 = -18.75 dBm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ispops.db.session import Database
from ispops.ftth import plant
from tests.factories import make_tenant

EXPECTED_LOSS = 21.75
EXPECTED_RX = -18.75


@dataclass
class World:
    tenant: str
    ids: dict[str, str] = field(default_factory=dict)
    strands: dict[str, str] = field(default_factory=dict)  # cable name -> its strand 1


def _one(session: Session, sql: str, **params: Any) -> str:
    return str(session.execute(text(sql + " returning id::text"), params).scalar_one())


def _cable(session: Session, world: World, name: str, metres: int) -> str:
    cable = plant.create_cable(
        session, world.tenant, {"cable_name": name, "fiber_count": 2, "length_meters": Decimal(metres)}
    )
    strand = session.execute(
        text("select id::text from fiber_strands where tenant_id = :t and cable_id = :c and strand_number = 1"),
        {"t": world.tenant, "c": cable.id},
    ).scalar_one()
    world.ids[name] = str(cable.id)
    world.strands[name] = str(strand)
    return str(strand)


def _link(session: Session, world: World, strand: str, seq: int, *, splitter: str, onu: str | None = None) -> None:
    _one(
        session,
        "insert into fiber_links (tenant_id, strand_id, splitter_id, onu_id, seq) "
        "values (:t, cast(:s as uuid), cast(:sp as uuid), cast(:o as uuid), :seq)",
        t=world.tenant,
        s=strand,
        sp=splitter,
        o=onu,
        seq=seq,
    )


def _connectors(session: Session, world: World, strand: str, *ends: str) -> None:
    for end in ends:
        _one(
            session,
            "insert into fiber_connectors (tenant_id, strand_id, strand_end) values (:t, cast(:s as uuid), :e)",
            t=world.tenant,
            s=strand,
            e=end,
        )


def build(db: Database, tenant: str, *, serial_prefix: str = "HWTC") -> World:
    """The plant above, in a new tenant; every ONU measured exactly on budget."""
    make_tenant(db, tenant)
    world = World(tenant)
    t = tenant
    with db.tenant(tenant) as s:
        device = _one(s, "insert into devices (tenant_id, name, device_type) values (:t, 'olt-1', 'olt')", t=t)
        olt = _one(
            s,
            "insert into olts (tenant_id, device_id, technology, optical_class) "
            "values (:t, cast(:d as uuid), 'gpon', 'b_plus')",
            t=t,
            d=device,
        )
        pon = _one(
            s,
            "insert into olt_pon_ports (tenant_id, olt_id, frame, slot, port) values (:t, cast(:o as uuid), 0, 1, 0)",
            t=t,
            o=olt,
        )
        world.ids.update(device=device, olt=olt, pon=pon)
        root = _one(
            s,
            "insert into splitters (tenant_id, olt_id, name, split_ratio, pon_port_id) "
            "values (:t, cast(:o as uuid), 'R', '1x4', cast(:p as uuid))",
            t=t,
            o=olt,
            p=pon,
        )
        world.ids["R"] = root
        for name, port in (("L1", 1), ("L2", 2)):
            world.ids[name] = _one(
                s,
                "insert into splitters (tenant_id, olt_id, name, split_ratio, parent_splitter_id, parent_output_port) "
                "values (:t, cast(:o as uuid), :n, '1x8', cast(:r as uuid), :port)",
                t=t,
                o=olt,
                n=name,
                r=root,
                port=port,
            )
        closure = _one(s, "insert into fiber_closures (tenant_id, name) values (:t, 'CL')", t=t)
        world.ids["CL"] = closure
        feeder = _cable(s, world, "F", 2000)
        dist = _cable(s, world, "D", 1000)
        _link(s, world, feeder, 1, splitter=root)
        _link(s, world, dist, 2, splitter=root)
        _connectors(s, world, feeder, "start")
        _connectors(s, world, dist, "end")
        world.ids["splice"] = _one(
            s,
            "insert into fiber_splices (tenant_id, closure_id, strand_a_id, strand_b_id) "
            "values (:t, cast(:c as uuid), cast(:a as uuid), cast(:b as uuid))",
            t=t,
            c=closure,
            a=feeder,
            b=dist,
        )
        for cable, splitter in (("D2", "L1"), ("D3", "L2")):
            strand = _cable(s, world, cable, 500)
            _link(s, world, strand, 1, splitter=world.ids[splitter])
            _connectors(s, world, strand, "start", "end")
        onus = [("A1", "L1", 1), ("A2", "L1", 2), ("A3", "L1", 3), ("B1", "L2", 1), ("B2", "L2", 2)]
        for i, (name, splitter, port) in enumerate(onus):
            world.ids[name] = _one(
                s,
                "insert into onus (tenant_id, olt_id, pon_port_id, splitter_id, splitter_port, serial_number, "
                "onu_id, status, rx_power_dbm) values (:t, cast(:o as uuid), cast(:p as uuid), cast(:sp as uuid), "
                ":port, :serial, :id, 'online', :rx)",
                t=t,
                o=olt,
                p=pon,
                sp=world.ids[splitter],
                port=port,
                serial=f"{serial_prefix}{i:08d}",
                id=i,
                rx=EXPECTED_RX,
            )
            strand = _cable(s, world, f"drop-{name}", 100)
            _link(s, world, strand, 1, splitter=world.ids[splitter], onu=world.ids[name])
            _connectors(s, world, strand, "start", "end")
    return world


def set_rx(db: Database, world: World, **rx: float | None) -> None:
    """Measured Rx per ONU name (``A1=-23.75``)."""
    with db.tenant(world.tenant) as s:
        for name, value in rx.items():
            s.execute(
                text("update onus set rx_power_dbm = :rx where tenant_id = :t and id = cast(:o as uuid)"),
                {"rx": value, "t": world.tenant, "o": world.ids[name]},
            )
