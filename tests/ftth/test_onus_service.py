"""The ONU lifecycle and ONU ids, on the real database through ispops.ftth.service."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from ispops.db.counters import check_counters
from ispops.db.session import Database
from ispops.errors import Conflict, NotFound, ValidationFailed
from ispops.ftth import service
from tests.ftth.onu_world import OltWorld, build, discover


def onu_row(admin: psycopg.Connection[Any], onu: uuid.UUID) -> dict[str, Any]:
    cur = admin.execute(
        "select o.status, o.onu_id, p.name as port, o.serial_number, o.last_down_cause, o.splitter_port "
        "from onus o join olt_pon_ports p on p.id = o.pon_port_id where o.id = %s",
        (onu,),
    )
    names = [c.name for c in cur.description or []]
    row = cur.fetchone()
    assert row is not None
    return dict(zip(names, row, strict=True))


def active_onus(admin: psycopg.Connection[Any], world: OltWorld) -> tuple[Any, ...] | None:
    return admin.execute("select active_onus, active_pon_ports from olts where id = %s", (world.olt,)).fetchone()


def test_auto_find_records_a_discovered_onu_once(
    db: Database, olt_world: OltWorld, admin: psycopg.Connection[Any]
) -> None:
    (first,) = discover(db, olt_world, "HWTC00000001")
    (again,) = discover(db, olt_world, "HWTC00000001")  # the next auto-find poll
    assert first == again
    assert onu_row(admin, first)["status"] == "discovered" and onu_row(admin, first)["onu_id"] is None
    with db.tenant("isp-a") as s:  # a port the OLT reports by frame/slot/port is recorded on first sight
        other = service.record_discovered(
            s, "isp-a", olt_id=olt_world.olt, serial_number="HWTC00000002", frame=0, slot=2, port=7
        )
        assert [o.serial_number for o in service.unconfigured(s, "isp-a", olt_world.olt)] == [
            "HWTC00000001",
            "HWTC00000002",
        ]
    assert onu_row(admin, other.id)["port"] == "0/2/7"


def test_authorising_takes_the_lowest_free_id(
    db: Database, olt_world: OltWorld, admin: psycopg.Connection[Any]
) -> None:
    onus = discover(db, olt_world, *(f"HWTC0000000{i}" for i in range(5)))
    with db.tenant("isp-a") as s:
        ids = [service.reserve_authorisation(s, "isp-a", o, vlan_id=100).onu_id for o in onus[:4]]
    assert ids == [0, 1, 2, 3]
    with db.tenant("isp-a") as s:  # id 1 is freed: the next authorisation takes it, not 4
        service.fail_authorisation(s, "isp-a", onus[1])
        service.retire(s, "isp-a", onus[1])
        assert service.reserve_authorisation(s, "isp-a", onus[4]).onu_id == 1
    row = onu_row(admin, onus[4])
    assert (row["status"], row["port"]) == ("authorising", "0/1/3")


def test_a_full_port_is_a_409_naming_it_and_writes_nothing(db: Database, admin: psycopg.Connection[Any]) -> None:
    world = build(db, "isp-a", max_onus=2)
    onus = discover(db, world, "ZTEG00000001", "ZTEG00000002", "ZTEG00000003")
    with db.tenant("isp-a") as s:
        for onu in onus[:2]:
            service.reserve_authorisation(s, "isp-a", onu)
    with pytest.raises(Conflict) as full, db.tenant("isp-a") as s:
        service.reserve_authorisation(s, "isp-a", onus[2], vlan_id=200)
    assert full.value.field == "pon_port_id"
    assert "PON port 0/1/3 is full (all 2 ONU ids are in use)" in str(full.value)
    assert onu_row(admin, onus[2])["status"] == "discovered"
    assert admin.execute("select vlan_id from onus where id = %s", (onus[2],)).fetchone() == (None,)


def test_a_duplicate_serial_is_a_409_naming_it(db: Database, olt_world: OltWorld) -> None:
    (onu,) = discover(db, olt_world, "HWTC0000000A")
    with db.tenant("isp-a") as s:
        service.reserve_authorisation(s, "isp-a", onu)
    with pytest.raises(Conflict) as dup, db.tenant("isp-a") as s:
        service.reserve_authorisation(
            s, "isp-a", olt_id=olt_world.olt, pon_port_id=olt_world.port, serial_number="HWTC0000000A"
        )
    assert dup.value.field == "serial_number"
    assert "HWTC0000000A is already authorised" in str(dup.value)


def test_another_tenants_olt_port_or_splitter_is_refused_naming_the_field(
    db: Database, olt_world: OltWorld, other_world: OltWorld, admin: psycopg.Connection[Any]
) -> None:
    (mine,) = discover(db, olt_world, "HWTC000000B1")
    before = admin.execute("select count(*) from onus").fetchone()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"olt_id": other_world.olt, "pon_port_id": other_world.port, "serial_number": "X1"}, "olt_id"),
        ({"olt_id": olt_world.olt, "pon_port_id": other_world.port, "serial_number": "X2"}, "pon_port_id"),
        (
            {
                "olt_id": olt_world.olt,
                "pon_port_id": olt_world.port,
                "serial_number": "X3",
                "splitter_id": other_world.splitter,
            },
            "splitter_id",
        ),
    ]
    for kwargs, field in cases:
        with pytest.raises(ValidationFailed) as err, db.tenant("isp-a") as s:
            service.reserve_authorisation(s, "isp-a", **kwargs)
        assert err.value.field == field
    with pytest.raises(ValidationFailed) as err, db.tenant("isp-a") as s:
        service.reserve_authorisation(s, "isp-a", mine, splitter_id=other_world.splitter, splitter_port=1)
    assert err.value.field == "splitter_id"
    assert admin.execute("select count(*) from onus").fetchone() == before
    assert onu_row(admin, mine)["status"] == "discovered"
    # And the other tenant's ONU itself is not found.
    (theirs,) = discover(db, other_world, "HWTC000000B2")
    for action in (
        service.reserve_authorisation,
        service.begin_deauthorisation,
        service.retire,
        service.request_reboot,
    ):
        with pytest.raises(NotFound), db.tenant("isp-a") as s:
            action(s, "isp-a", theirs)
    assert onu_row(admin, theirs)["status"] == "discovered"


def test_the_lifecycle_and_the_counters(db: Database, olt_world: OltWorld, admin: psycopg.Connection[Any]) -> None:
    (onu,) = discover(db, olt_world, "HWTC0000000C")
    with db.tenant("isp-a") as s:
        service.reserve_authorisation(
            s, "isp-a", onu, mode="routing", vlan_id=100, splitter_id=olt_world.splitter, splitter_port=2
        )
        service.complete_authorisation(s, "isp-a", onu)
        service.complete_authorisation(s, "isp-a", onu)  # a retried job: no change
    assert onu_row(admin, onu)["status"] == "authorised"
    assert active_onus(admin, olt_world) == (0, 1)
    with db.tenant("isp-a") as s:
        assert service.set_link_state(s, "isp-a", onu, online=True).status == "online"
    assert active_onus(admin, olt_world) == (1, 1)
    with db.tenant("isp-a") as s:
        service.set_link_state(s, "isp-a", onu, online=False, cause="dying_gasp")
        service.set_link_state(s, "isp-a", onu, online=False)  # a later poll without a cause keeps it
    row = onu_row(admin, onu)
    assert (row["status"], row["last_down_cause"]) == ("offline", "dying_gasp")
    assert active_onus(admin, olt_world) == (0, 1)
    with pytest.raises(ValidationFailed) as bad, db.tenant("isp-a") as s:
        service.set_link_state(s, "isp-a", onu, online=False, cause="cut")
    assert bad.value.field == "last_down_cause"
    with pytest.raises(Conflict) as busy, db.tenant("isp-a") as s:
        service.retire(s, "isp-a", onu)  # still configured on the OLT
    assert busy.value.field == "status"
    with db.tenant("isp-a") as s:
        service.begin_deauthorisation(s, "isp-a", onu)
        # A link report about an ONU being deauthorised does not change it.
        service.set_link_state(s, "isp-a", onu, online=True)
        service.complete_deauthorisation(s, "isp-a", onu)
    row = onu_row(admin, onu)
    assert (row["status"], row["onu_id"]) == ("discovered", None)
    with db.tenant("isp-a") as s:
        service.retire(s, "isp-a", onu)
    row = onu_row(admin, onu)
    assert (row["status"], row["onu_id"], row["splitter_port"]) == ("retired", None, None)
    assert check_counters(db)[1] == []


def test_a_failed_authorisation_keeps_its_id_and_retrying_is_safe(db: Database, olt_world: OltWorld) -> None:
    first, second = discover(db, olt_world, "HWTC000000D1", "HWTC000000D2")
    with db.tenant("isp-a") as s:
        assert service.reserve_authorisation(s, "isp-a", first).onu_id == 0
        service.fail_authorisation(s, "isp-a", first)  # the driver timed out
        service.fail_authorisation(s, "isp-a", first)  # and its retry too: no change
        assert service.reserve_authorisation(s, "isp-a", second).onu_id == 1  # 0 stays held
        again = service.reserve_authorisation(s, "isp-a", first)
        assert (again.onu_id, again.status) == (0, "authorising")
    with pytest.raises(Conflict), db.tenant("isp-a") as s:
        service.reserve_authorisation(s, "isp-a", first)  # already authorising


def test_replace_keeps_the_configuration_and_move_takes_the_lowest_id_there(
    db: Database, olt_world: OltWorld, admin: psycopg.Connection[Any]
) -> None:
    onu, spare = discover(db, olt_world, "HWTC000000E1", "HWTC000000E2")
    with db.tenant("isp-a") as s:
        service.reserve_authorisation(s, "isp-a", onu, vlan_id=300, line_profile="FTTH-100M")
        service.complete_authorisation(s, "isp-a", onu)
    with pytest.raises(Conflict) as dup, db.tenant("isp-a") as s:
        service.reserve_authorisation(s, "isp-a", spare)
        service.replace(s, "isp-a", onu, serial_number="HWTC000000E2")  # spare is now authorising
    assert dup.value.field == "serial_number"
    with db.tenant("isp-a") as s:  # the new unit was auto-found: its discovered record gives way
        replaced = service.replace(s, "isp-a", onu, serial_number="HWTC000000E2")
        assert (replaced.vlan_id, replaced.line_profile, replaced.onu_id) == (300, "FTTH-100M", 0)
        service.complete_authorisation(s, "isp-a", onu)
        other = s.execute(
            text("insert into olt_pon_ports (tenant_id, olt_id, slot, port) values ('isp-a', :o, 1, 4) returning id"),
            {"o": olt_world.olt},
        ).scalar_one()
        s.execute(
            text(
                "insert into onus (tenant_id, olt_id, pon_port_id, serial_number, onu_id, status) "
                "values ('isp-a', :o, :p, 'HWTC000000E9', 0, 'online')"
            ),
            {"o": olt_world.olt, "p": other},
        )
        moved, previous = service.move(s, "isp-a", onu, frame=0, slot=1, port=4)
        assert (moved.onu_id, moved.status, previous) == (1, "authorising", (olt_world.port, 0))
    assert onu_row(admin, onu)["port"] == "0/1/4"
    assert admin.execute(
        "select count(*) from onus where serial_number = 'HWTC000000E2' and deleted_at is null"
    ).fetchone() == (1,)


def test_eight_concurrent_authorisations_on_one_port_get_eight_lowest_ids(db: Database, olt_world: OltWorld) -> None:
    onus = discover(db, olt_world, *(f"ALCL0000000{i}" for i in range(8)))
    start = threading.Barrier(len(onus))
    got: dict[uuid.UUID, int | None] = {}
    errors: list[BaseException] = []

    def authorise(onu: uuid.UUID) -> None:
        try:
            start.wait()
            with db.tenant("isp-a") as s:
                got[onu] = service.reserve_authorisation(s, "isp-a", onu).onu_id
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=authorise, args=(o,)) for o in onus]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(v for v in got.values() if v is not None) == list(range(8))


def test_concurrent_authorisations_of_new_serials_on_one_port_queue_without_deadlock(
    db: Database, olt_world: OltWorld
) -> None:
    # New ONUs (no discovered row): the ONU row's key to the port must not be written before the port is locked,
    # or two transactions holding its share lock deadlock taking the port's lock.
    serials = [f"ZTEG0000010{i}" for i in range(6)]
    start = threading.Barrier(len(serials))
    got: dict[str, int | None] = {}
    errors: list[BaseException] = []

    def authorise(serial: str) -> None:
        try:
            start.wait()
            with db.tenant("isp-a") as s:
                onu = service.reserve_authorisation(
                    s, "isp-a", olt_id=olt_world.olt, pon_port_id=olt_world.port, serial_number=serial
                )
                got[serial] = onu.onu_id
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=authorise, args=(serial,)) for serial in serials]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(v for v in got.values() if v is not None) == list(range(len(serials)))


def test_the_database_refuses_two_onus_on_one_port_and_id_whatever_the_path(db: Database, olt_world: OltWorld) -> None:
    insert = text(
        "insert into onus (tenant_id, olt_id, pon_port_id, serial_number, onu_id) values ('isp-a', :o, :p, :s, 5)"
    )
    with db.tenant("isp-a") as s:
        s.execute(insert, {"o": olt_world.olt, "p": olt_world.port, "s": "RAW1"})
    with pytest.raises(Conflict) as dup, db.tenant("isp-a") as s:
        s.execute(insert, {"o": olt_world.olt, "p": olt_world.port, "s": "RAW2"})
    assert dup.value.field == "onu_id"
    with pytest.raises(Conflict) as beyond, db.tenant("isp-a") as s:  # GPON port: ids 0-127
        s.execute(
            text(
                "insert into onus (tenant_id, olt_id, pon_port_id, serial_number, onu_id) "
                "values ('isp-a', :o, :p, 'RAW3', 128)"
            ),
            {"o": olt_world.olt, "p": olt_world.port},
        )
    assert beyond.value.field == "onu_id" and "0 to 127" in str(beyond.value)


def test_a_port_of_another_olt_is_refused(db: Database, olt_world: OltWorld) -> None:
    with db.tenant("isp-a") as s:
        device = s.execute(
            text("insert into devices (tenant_id, name, device_type) values ('isp-a', 'olt-2', 'olt') returning id")
        ).scalar_one()
        olt2 = s.execute(
            text("insert into olts (tenant_id, device_id) values ('isp-a', :d) returning id"), {"d": device}
        ).scalar_one()
    with pytest.raises(ValidationFailed) as err, db.tenant("isp-a") as s:
        s.execute(
            text("insert into onus (tenant_id, olt_id, pon_port_id, serial_number) values ('isp-a', :o, :p, 'RAW4')"),
            {"o": olt2, "p": olt_world.port},
        )
    assert err.value.field == "pon_port_id"
