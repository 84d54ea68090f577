"""What the console's wireless pages show, through the wireless domain's services (docs/wireless.md).

Towers with their sectors and each sector's utilisation (``service.utilisation_of``: connected CPEs
against ``max_subscribers``, sold Mbps against sellable), and the serviceability check of a point
(``serviceability.check``, the service behind ``GET /api/v1/wireless/serviceability``). Plain functions over
the request's ``Session``; another tenant's tower is a ``NotFound``.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ispops.errors import NotFound
from ispops.models import WirelessSector, WirelessSubscriber, WirelessTower
from ispops.wireless import service, serviceability
from ispops.wireless.serviceability import Answer
from ispops.wireless.settings import load


def _sectors(session: Session, tenant_id: str, tower_ids: list[uuid.UUID]) -> list[WirelessSector]:
    if not tower_ids:
        return []
    return list(
        session.scalars(
            select(WirelessSector)
            .where(
                WirelessSector.tenant_id == tenant_id,
                WirelessSector.tower_id.in_(tower_ids),
                WirelessSector.deleted_at.is_(None),
            )
            .order_by(WirelessSector.sector_number, WirelessSector.name)
        ).all()
    )


def _with_use(session: Session, tenant_id: str, sectors: list[WirelessSector]) -> list[dict[str, Any]]:
    rules = load(session, tenant_id)
    sold = service.sold_mbps(session, tenant_id, [s.id for s in sectors])
    return [{"sector": s, "use": service.utilisation_of(s, sold.get(s.id, 0), rules)} for s in sectors]


def towers(session: Session, tenant_id: str) -> list[dict[str, Any]]:
    """Every live tower with its sectors and their utilisation."""
    found = list(
        session.scalars(
            select(WirelessTower)
            .where(WirelessTower.tenant_id == tenant_id, WirelessTower.deleted_at.is_(None))
            .order_by(WirelessTower.name)
        ).all()
    )
    sectors = _with_use(session, tenant_id, _sectors(session, tenant_id, [t.id for t in found]))
    return [{"tower": t, "sectors": [x for x in sectors if x["sector"].tower_id == t.id]} for t in found]


def tower_detail(session: Session, tenant_id: str, tower_id: uuid.UUID) -> dict[str, Any]:
    """One tower: its sectors with utilisation, channel overlaps, and its CPEs per sector."""
    tower = session.scalar(
        select(WirelessTower).where(
            WirelessTower.tenant_id == tenant_id, WirelessTower.id == tower_id, WirelessTower.deleted_at.is_(None)
        )
    )
    if tower is None:
        raise NotFound("wireless_towers: no such record", table="wireless_towers")
    sectors = _with_use(session, tenant_id, _sectors(session, tenant_id, [tower.id]))
    cpes = session.execute(
        select(WirelessSubscriber.sector_id, func.count())
        .where(
            WirelessSubscriber.tenant_id == tenant_id,
            WirelessSubscriber.sector_id.in_([x["sector"].id for x in sectors]),
            WirelessSubscriber.deleted_at.is_(None),
        )
        .group_by(WirelessSubscriber.sector_id)
    ).all()
    return {
        "tower": tower,
        "sectors": sectors,
        "cpes": {sid: int(n) for sid, n in cpes},
        "overlaps": service.channel_overlaps(session, tenant_id, tower.id),
    }


def check(session: Session, tenant_id: str, *, lat: float, lng: float, cpe_height_m: float | None) -> Answer:
    """The serviceability of a point: the same service as the API's check (422 naming the field for a bad
    latitude, longitude or height)."""
    return serviceability.check(session, tenant_id, lat=lat, lng=lng, cpe_height_m=cpe_height_m)
