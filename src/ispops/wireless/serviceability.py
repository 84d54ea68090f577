"""Can we serve this address, and how well? Candidate sectors ranked by fade margin, then capacity headroom.

Two steps. The pre-filter is the GiST index on each sector's coverage bounding box (a core ``box``;
migration 0030): nearest boxes first (``<->``, a KNN index scan), stopping at the first box that does not
contain the point. An ordering operator drives the index under row-level security, where ``box @> point``
would not (it is not LEAKPROOF, so PostgreSQL must not evaluate it before the tenant policy; DESIGN.md,
Tenancy 6). Then the exact step in Python: geodesic distance and bearing from each candidate's tower
(pyproj), inside the beam and the coverage range, and the link budget.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ispops.errors import ValidationFailed
from ispops.models import BandwidthProfile, WirelessSector, WirelessTower
from ispops.wireless import geometry, service
from ispops.wireless.budget import Budget
from ispops.wireless.settings import Rules, load

COVERAGE_BOX = "box(point(coverage_min_lng, coverage_min_lat), point(coverage_max_lng, coverage_max_lat))"
# Nearest boxes first; every box with distance 0 contains the point. The CTE keeps the KNN scan apart
# from the filter on its distance (which would otherwise make the scan read every box).
PREFILTER = text(
    f"""
    WITH nearest AS (
        SELECT id, {COVERAGE_BOX} <-> point(:lng, :lat) AS d
        FROM wireless_sectors
        WHERE tenant_id = :t AND deleted_at IS NULL AND status = 'active' AND coverage_min_lat IS NOT NULL
        ORDER BY {COVERAGE_BOX} <-> point(:lng, :lat)
        LIMIT :k
    )
    SELECT id, d FROM nearest
    """
)
FIRST_BATCH = 64


@dataclass(frozen=True)
class Plan:
    id: uuid.UUID
    name: str
    download_mbps: int
    upload_mbps: int
    supported: bool


@dataclass(frozen=True)
class Candidate:
    sector_id: uuid.UUID
    sector_name: str
    tower_id: uuid.UUID
    tower_name: str
    bearing_from_tower: float
    distance_km: float
    budget: Budget
    headroom_mbps: float
    utilisation_warning: bool
    full: bool
    plans: list[Plan] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.budget.meets_fade_margin and self.budget.eirp_ok and not self.full


@dataclass(frozen=True)
class Answer:
    latitude: float
    longitude: float
    serviceable: bool
    candidates: list[Candidate]


def check_point(lat: float, lng: float, cpe_height_m: float | None) -> None:
    """422 naming the field: NaN/inf, a latitude outside ±90, a longitude outside ±180, a bad height."""
    for name, value, bound in (("latitude", lat, 90), ("longitude", lng, 180)):
        if not math.isfinite(value):
            raise ValidationFailed(f"{name}: must be a finite number", field=name)
        if abs(value) > bound:
            raise ValidationFailed(f"{name}: must be between -{bound} and {bound}", field=name)
    if cpe_height_m is not None and not (math.isfinite(cpe_height_m) and 0 < cpe_height_m <= 500):
        raise ValidationFailed("cpe_height_m: must be greater than 0 and at most 500", field="cpe_height_m")


def prefilter(session: Session, tenant_id: str, lat: float, lng: float) -> list[uuid.UUID]:
    """Ids of the live, active sectors whose coverage box contains the point (index scan)."""
    k = FIRST_BATCH
    while True:
        rows = session.execute(PREFILTER, {"t": tenant_id, "lat": lat, "lng": lng, "k": k}).all()
        inside = [r.id for r in rows if r.d == 0]
        if len(inside) < len(rows) or len(rows) < k:
            return inside
        k *= 4


def plans(session: Session, tenant_id: str) -> list[BandwidthProfile]:
    return list(
        session.scalars(
            select(BandwidthProfile)
            .where(
                BandwidthProfile.tenant_id == tenant_id,
                BandwidthProfile.deleted_at.is_(None),
                BandwidthProfile.is_active.is_(True),
            )
            .order_by(BandwidthProfile.download_mbps, BandwidthProfile.name)
        ).all()
    )


def check(
    session: Session,
    tenant_id: str,
    *,
    lat: float,
    lng: float,
    cpe_height_m: float | None = None,
    rules: Rules | None = None,
) -> Answer:
    check_point(lat, lng, cpe_height_m)
    rules = rules or load(session, tenant_id)
    ids = prefilter(session, tenant_id, lat, lng)
    if not ids:
        return Answer(lat, lng, False, [])
    rows = session.execute(
        select(WirelessSector, WirelessTower)
        .join(
            WirelessTower,
            (WirelessTower.tenant_id == WirelessSector.tenant_id) & (WirelessTower.id == WirelessSector.tower_id),
        )
        .where(WirelessSector.tenant_id == tenant_id, WirelessSector.id.in_(ids))
    ).all()
    sold = service.sold_mbps(session, tenant_id, [s.id for s, _ in rows])
    offered = plans(session, tenant_id)
    found: list[Candidate] = []
    for sector, tower in rows:
        ((bearing, km),) = geometry.bearing_and_distance(float(tower.latitude), float(tower.longitude), [(lat, lng)])
        if not geometry.in_beam(bearing, sector.azimuth, sector.beamwidth_degrees):
            continue
        if sector.coverage_range_km is not None and km > float(sector.coverage_range_km) * 1.0001 + 0.001:
            continue
        b = service.budget_for(sector, tower, rules, km, cpe_height=cpe_height_m)
        use = service.utilisation_of(sector, sold.get(sector.id, 0), rules)
        found.append(
            Candidate(
                sector_id=sector.id,
                sector_name=sector.name,
                tower_id=tower.id,
                tower_name=tower.name,
                bearing_from_tower=round(bearing, 2),
                distance_km=round(km, 3),
                budget=b,
                headroom_mbps=round(use.sellable_mbps - use.sold_mbps, 1),
                utilisation_warning=use.warning,
                full=use.full,
                plans=[
                    Plan(p.id, p.name, p.download_mbps, p.upload_mbps, b.expected_mbps >= p.download_mbps)
                    for p in offered
                ],
            )
        )
    found.sort(key=lambda c: (-c.budget.fade_margin_db, -c.headroom_mbps, str(c.sector_id)))
    return Answer(lat, lng, any(c.usable for c in found), found)
