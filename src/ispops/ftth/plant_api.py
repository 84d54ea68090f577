"""FTTH plant over HTTP: splitters and fibre cables (generic resources), trace and loss budget."""

from __future__ import annotations

from fastapi import APIRouter

from ispops.api.crud import Resource
from ispops.models import FiberCable, Splitter

RESOURCES: list[Resource] = [
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
    """No plant routes beyond the generic ones yet."""
