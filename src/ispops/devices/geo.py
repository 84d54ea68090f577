"""Devices near a point, for the map: the GiST index on ``point(location_lng, location_lat)`` orders the
candidates, the WGS84 ellipsoid (``pyproj.Geod``) gives the exact distance.

``<->`` between two points is the Euclidean distance in degrees, which is not the distance on the ground
(a degree of longitude shrinks with the cosine of the latitude). So the index only *enumerates*
candidates nearest-first in degree space; we stop reading once the degree distance exceeds the largest
one any point within the radius can have (:func:`degree_bound`), measure each candidate exactly, keep
those within the radius and sort by the exact distance. The result is exact, not an approximation.
Points across the antimeridian (±180°) are not wrapped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pyproj import Geod
from sqlalchemy import ColumnElement, Float, Select, cast, func, select

from ispops.models.network import Device

WGS84 = Geod(ellps="WGS84")
KM_PER_DEGREE_LAT_MIN = 110.574  # a degree of latitude at the equator (shortest)
KM_PER_DEGREE_LNG_EQUATOR = 111.320
MAX_CANDIDATES = 10_000


def degree_bound(lat: float, radius_km: float) -> float:
    """The largest ``<->`` distance (degrees) of any point within ``radius_km`` of latitude ``lat``
    (with a 1% margin); infinite when the circle reaches a pole."""
    dlat = radius_km / KM_PER_DEGREE_LAT_MIN
    edge = abs(lat) + dlat
    if edge >= 89.5:
        return math.inf
    dlng = radius_km / (KM_PER_DEGREE_LNG_EQUATOR * math.cos(math.radians(edge)))
    return math.hypot(dlat, dlng) * 1.01


def location() -> ColumnElement[Any]:
    """The indexed expression (idx_devices_location)."""
    return func.point(Device.location_lng, Device.location_lat)


def near_query(tenant_id: str, lat: float, lng: float) -> Select[Any]:
    """Live devices with a location, nearest first in degree space, with that degree distance."""
    here = func.point(cast(lng, Float), cast(lat, Float))
    degrees = location().op("<->", return_type=Float)(here)
    return (
        select(
            Device.id,
            Device.name,
            Device.device_type,
            Device.status,
            Device.operational_status,
            Device.site_name,
            Device.location_lat,
            Device.location_lng,
            Device.last_seen,
            degrees.label("degrees"),
        )
        .where(
            Device.tenant_id == tenant_id,
            Device.deleted_at.is_(None),
            Device.location_lat.is_not(None),
            Device.location_lng.is_not(None),
        )
        .order_by(degrees)
        .limit(MAX_CANDIDATES)
    )


def distances_km(lat: float, lng: float, points: Sequence[tuple[float, float]]) -> list[float]:
    """Geodesic distances (km) from (lat, lng) to each (lat, lng) point."""
    if not points:
        return []
    lats = [p[0] for p in points]
    lngs = [p[1] for p in points]
    _, _, metres = WGS84.inv([lng] * len(points), [lat] * len(points), lngs, lats)
    return [m / 1000.0 for m in metres]
