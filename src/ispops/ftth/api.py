"""FTTH over HTTP: OLTs, ONUs, splitters and fibre cables as generic resources (no routes of their own yet)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import ColumnElement, exists, or_

from ispops.api.crud import Resource
from ispops.models import Device, FiberCable, Olt, Onu, Splitter

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
    Resource(
        "splitters",
        Splitter,
        tag="ftth",
        filters=("olt_id", "parent_splitter_id", "status", "split_ratio"),
        search=("name", "location_name"),
        sort=("created_at", "name"),
        read_only=frozenset({"ports_used"}),
    ),
    Resource(
        "fiber_cables",
        FiberCable,
        tag="ftth",
        filters=("status", "cable_type", "start_device_id", "end_device_id"),
        search=("cable_name",),
        sort=("created_at", "cable_name"),
    ),
]


def register(router: APIRouter) -> None:
    """No FTTH routes beyond the generic ones yet."""
