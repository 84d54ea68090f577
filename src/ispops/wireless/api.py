"""Fixed wireless over HTTP: towers, sectors and wireless subscribers as generic resources (no routes of
their own yet)."""

from __future__ import annotations

from fastapi import APIRouter

from ispops.api.crud import Resource
from ispops.models import WirelessSector, WirelessSubscriber, WirelessTower

RESOURCES: list[Resource] = [
    Resource(
        "wireless_towers",
        WirelessTower,
        tag="wireless",
        filters=("status", "tower_type"),
        search=("name", "site_address"),
        sort=("created_at", "name"),
    ),
    Resource(
        "wireless_sectors",
        WirelessSector,
        tag="wireless",
        filters=("tower_id", "device_id", "status"),
        search=("name",),
        sort=("created_at", "name"),
        read_only=frozenset({"current_subscribers"}),
    ),
    Resource(
        "wireless_subscribers",
        WirelessSubscriber,
        tag="wireless",
        filters=("subscriber_id", "sector_id", "status", "cpe_mac"),
        search=("cpe_mac", "install_address"),
        sort=("created_at",),
    ),
]


def register(router: APIRouter) -> None:
    """No wireless routes beyond the generic ones yet."""
