"""What each order type runs, and the parameters checked at submission (clear errors, nothing stored)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text

from ispops.db.session import Database
from ispops.errors import Conflict, IspopsError, NotFound, ValidationFailed
from ispops.lifecycle import plans, saga
from tests.lifecycle.step_world import World, build, serial, subscriber


@pytest.fixture
def world(db: Database) -> World:
    return build(db, "plan-a")


@pytest.fixture
def other(db: Database) -> World:
    return build(db, "plan-b")


def check(db: Database, world: World, kind: str, sub: uuid.UUID, params: dict[str, Any]) -> dict[str, Any]:
    with db.tenant(world.tenant) as s:
        return plans.validate(s, tenant_id=world.tenant, activation_type=kind, subscriber_id=sub, params=params)


def refused(db: Database, world: World, kind: str, sub: uuid.UUID, params: dict[str, Any]) -> IspopsError:
    with pytest.raises(IspopsError) as caught:
        check(db, world, kind, sub, params)
    return caught.value


def test_every_order_type_has_one_pivot_after_validate() -> None:
    for activation_type in saga.ORDER_TYPES:
        steps = list(plans.plan_for(activation_type))
        assert steps[0].name == "validate"
        assert sum(s.pivot for s in steps) == 1, activation_type
        assert len({s.name for s in steps}) == len(steps)
    assert [s.name for s in plans.plan_for("new_service")] == [
        "validate",
        "allocate_ip",
        "provision_radius",
        "authorise_onu",
        "register_cpe",
        "configure_cpe",
        "activate_status",
        "start_billing",
        "notify",
    ]
    assert "release_previous" in [s.name for s in plans.plan_for("relocation")]
    with pytest.raises(ValidationFailed):
        plans.plan_for("teleport")


def test_an_activation_is_normalised(db: Database, world: World) -> None:
    sub = subscriber(db, world, bandwidth_profile_id=world.plan)
    sn = serial()
    out = check(
        db, world, "new_service", sub, {"olt_id": str(world.olt), "pon_port_id": str(world.port), "serial_number": sn}
    )
    assert out["ip_pool_id"] == str(world.pool) and out["bandwidth_profile_id"] == str(world.plan)
    assert (out["access"], out["configure"], out["serial_number"]) == ("ftth", "none", sn)
    assert out["pppoe_username"].startswith("sub-")


@pytest.mark.parametrize(
    ("params", "field", "kind"),
    [
        ({"colour": "red"}, "colour", ValidationFailed),
        ({"ip_pool_id": "nope"}, "ip_pool_id", ValidationFailed),
        ({"olt_id": "OLT"}, "serial_number", ValidationFailed),
        ({"olt_id": "x", "serial_number": "LABX00000001"}, "olt_id", ValidationFailed),
        ({"olt_id": "OLT", "serial_number": "LABX00000001"}, "pon_port_id", ValidationFailed),
        ({"serial_number": "LABX00000001"}, "olt_id", ValidationFailed),
        ({"sector_id": str(uuid.UUID(int=7)), "cpe_mac": "00:11:22:33:44:55"}, "sector_id", ValidationFailed),
        (
            {"sector_id": "SECTOR", "cpe_mac": "not-a-mac", "install_latitude": 1, "install_longitude": 1},
            "cpe_mac",
            ValidationFailed,
        ),
        ({"sector_id": "SECTOR", "cpe_mac": "00:11:22:33:44:55"}, "install_latitude", ValidationFailed),
        ({"configure": "ansible"}, "playbook_name", ValidationFailed),
        ({"configure": "tr069"}, "configure", ValidationFailed),
        ({"playbook_name": "no-such.yml"}, "playbook_name", ValidationFailed),
        ({"pppoe_username": "has space"}, "pppoe_username", ValidationFailed),
    ],
)
def test_bad_activation_parameters_are_422_naming_the_field(
    db: Database, world: World, params: dict[str, Any], field: str, kind: type[IspopsError]
) -> None:
    sub = subscriber(db, world, bandwidth_profile_id=world.plan)
    resolved = {
        k: (str(world.olt) if v == "OLT" else str(world.sector) if v == "SECTOR" else v) for k, v in params.items()
    }
    error = refused(db, world, "new_service", sub, resolved)
    assert isinstance(error, kind) and error.field == field, error.message


def test_another_tenants_objects_are_unknown(db: Database, world: World, other: World) -> None:
    sub = subscriber(db, world)
    theirs = subscriber(db, other)
    assert isinstance(refused(db, world, "new_service", theirs, {}), NotFound)
    for params, field in (
        ({"bandwidth_profile_id": str(other.plan)}, "bandwidth_profile_id"),
        ({"bandwidth_profile_id": str(world.plan), "ip_pool_id": str(other.pool)}, "ip_pool_id"),
        (
            {
                "bandwidth_profile_id": str(world.plan),
                "olt_id": str(other.olt),
                "pon_port_id": str(other.port),
                "serial_number": serial(),
            },
            "olt_id",
        ),
        (
            {"bandwidth_profile_id": str(world.plan), "sector_id": str(other.sector), "cpe_mac": "00:11:22:33:44:55"},
            "sector_id",
        ),
    ):
        error = refused(db, world, "new_service", sub, params)
        assert isinstance(error, ValidationFailed) and error.field == field, error.message
    live = subscriber(db, world, status="active", bandwidth_profile_id=world.plan)
    error = refused(db, world, "plan_change", live, {"bandwidth_profile_id": str(other.plan)})
    assert isinstance(error, ValidationFailed) and error.field == "bandwidth_profile_id"


def test_statuses_an_order_cannot_start_from_are_409(db: Database, world: World) -> None:
    terminated = subscriber(db, world, status="terminated")
    error = refused(db, world, "resumption", terminated, {})
    assert isinstance(error, Conflict) and error.field == "status"
    active = subscriber(db, world, status="active", bandwidth_profile_id=world.plan)
    assert isinstance(refused(db, world, "new_service", active, {}), Conflict)
    assert isinstance(refused(db, world, "resumption", active, {}), Conflict)
    same = refused(db, world, "plan_change", active, {"bandwidth_profile_id": str(world.plan)})
    assert isinstance(same, Conflict) and same.field == "bandwidth_profile_id"
    assert check(db, world, "suspension", active, {"reason": "unpaid"}) == {"reason": "unpaid"}


def test_taken_names_and_devices_are_409(db: Database, world: World) -> None:
    subscriber(db, world, pppoe_username="taken")
    sub = subscriber(db, world, bandwidth_profile_id=world.plan)
    error = refused(db, world, "new_service", sub, {"pppoe_username": "taken"})
    assert isinstance(error, Conflict) and error.field == "pppoe_username"
    with db.tenant(world.tenant) as s:
        s.execute(
            text(
                "insert into wireless_subscribers (tenant_id, subscriber_id, sector_id, cpe_mac, install_latitude, "
                "install_longitude) values (:t, :s, :sec, '00:11:22:33:44:55', -1.3, 36.81)"
            ),
            {"t": world.tenant, "s": sub, "sec": world.sector},
        )
    params = {
        "sector_id": str(world.sector),
        "cpe_mac": "00:11:22:33:44:55",
        "install_latitude": -1.3,
        "install_longitude": 36.8,
    }
    error = refused(db, world, "new_service", sub, params)
    assert isinstance(error, Conflict) and error.field == "cpe_mac"
