"""FTTH over HTTP: OLTs and ONUs here; the plant, optical health and provisioning register their own routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import ColumnElement, exists, or_

from ispops.api.crud import Resource
from ispops.ftth import optics_api, plant_api, provision_api
from ispops.models import Device, Olt, Onu

STAMPS = ("created_at", "updated_at")


def _olt_device_search(model: Any, pattern: str) -> ColumnElement[bool]:
    """The OLT's device (same tenant) by name or serial number."""
    return exists().where(
        Device.tenant_id == model.tenant_id,
        Device.id == model.device_id,
        or_(Device.name.ilike(pattern, escape="\\"), Device.serial_number.ilike(pattern, escape="\\")),
    )


RESOURCES: list[Resource] = [
    Resource(
        # An OLT's name and serial number are its device's: q searches those too.
        "olts",
        Olt,
        tag="ftth",
        filters=("device_id", "olt_type"),
        sort=STAMPS,
        search=("voltha_device_id",),
        search_with=_olt_device_search,
        read_only=frozenset({"active_onus"}),
    ),
    Resource(
        "onus",
        Onu,
        tag="ftth",
        filters=("olt_id", "subscriber_id", "splitter_id", "status", "serial_number", "pon_port"),
        search=("serial_number", "vendor", "model"),
        sort=("created_at", "serial_number", "pon_port"),
    ),
    *plant_api.RESOURCES,
]


def register(router: APIRouter) -> None:
    """The FTTH routes: ONUs, the plant, optical health, provisioning."""
    plant_api.register(router)
    optics_api.register(router)
    provision_api.register(router)
