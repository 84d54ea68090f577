"""FTTH over HTTP: OLTs, their PON ports and ONUs here (actions in ``onus_api``); the plant, optical health and
provisioning register their own routes.

ONUs created through the generic ``POST /api/v1/onus`` are recorded as they are (an import: status, port and
id given); the lifecycle changes (authorise, move, ...) go through the action routes, so ``status``,
``onu_id`` and the port are not changed by a generic PATCH."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import ColumnElement, exists, or_

from ispops.api.crud import Resource
from ispops.ftth import onus_api, optics_api, plant_api, provision_api
from ispops.ftth.settings import check_class
from ispops.models import Device, Olt, OltPonPort, Onu

STAMPS = ("created_at", "updated_at")


def _olt_device_search(model: Any, pattern: str) -> ColumnElement[bool]:
    """The OLT's device (same tenant) by name or serial number."""
    return exists().where(
        Device.tenant_id == model.tenant_id,
        Device.id == model.device_id,
        or_(Device.name.ilike(pattern, escape="\\"), Device.serial_number.ilike(pattern, escape="\\")),
    )


async def _olt_written(session: Any, tenant_id: str, olt: Any, changed: frozenset[str] | None) -> None:
    """An OLT's optical class must be one of its technology's (422 naming ``optical_class``)."""
    check_class(olt.technology or "gpon", olt.optical_class)


ONUS = Resource(
    "onus",
    Onu,
    tag="ftth",
    filters=("olt_id", "pon_port_id", "subscriber_id", "splitter_id", "status", "serial_number", "pon_port"),
    search=("serial_number", "vendor", "model", "loid"),
    sort=("created_at", "serial_number", "pon_port", "onu_id", "status_changed_at"),
    read_only=frozenset({"status_changed_at", "authorised_at", "last_down_at", "last_down_cause"}),
    create_only=frozenset({"olt_id", "pon_port_id", "pon_port", "onu_id", "status"}),
)

RESOURCES: list[Resource] = [
    Resource(
        # An OLT's name and serial number are its device's: q searches those too.
        "olts",
        Olt,
        tag="ftth",
        filters=("device_id", "technology", "optical_class"),
        sort=STAMPS,
        search=("voltha_device_id",),
        search_with=_olt_device_search,
        read_only=frozenset({"active_onus", "active_pon_ports"}),
        before_write=_olt_written,
    ),
    Resource(
        # Ports are part of their OLT: created with it or as ONUs are found; deleted only when unused.
        "olt_pon_ports",
        OltPonPort,
        tag="ftth",
        filters=("olt_id", "status", "name"),
        sort=("created_at", "name", "frame", "slot", "port"),
        default_sort="name",
        read_only=frozenset({"name"}),
        create_only=frozenset({"olt_id", "frame", "slot", "port"}),
    ),
    ONUS,
    *plant_api.RESOURCES,
]


def register(router: APIRouter) -> None:
    """The FTTH routes: ONUs, the plant, optical health, provisioning."""
    onus_api.register(router, ONUS)
    plant_api.register(router)
    optics_api.register(router)
    provision_api.register(router)
