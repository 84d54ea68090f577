"""Sector geometry on the WGS84 ellipsoid (pyproj.Geod): coverage wedges, their bounding boxes, bearings.

GeoJSON order is [longitude, latitude]. A wedge is the tower, then an arc from azimuth - beamwidth/2 to
azimuth + beamwidth/2 at the coverage range (a point every ``ARC_STEP_DEGREES`` at most), closed back to
the tower; an omni (360°) sector is a circle. The bounding box is what the GiST index pre-filters on; a
wedge that crosses the antimeridian gets the full longitude span (-180…180), which is correct, only less
selective.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyproj import Geod

WGS84 = Geod(ellps="WGS84")
ARC_STEP_DEGREES = 5.0


@dataclass(frozen=True)
class Box:
    min_lat: float
    min_lng: float
    max_lat: float
    max_lng: float


def wedge(lat: float, lng: float, azimuth: float, beamwidth: float, range_km: float) -> dict[str, Any]:
    """The coverage polygon (GeoJSON Polygon)."""
    omni = beamwidth >= 360
    start = 0.0 if omni else azimuth - beamwidth / 2
    span = 360.0 if omni else beamwidth
    steps = max(2, math.ceil(span / ARC_STEP_DEGREES))
    bearings = [start + span * i / steps for i in range(steps + (0 if omni else 1))]
    lngs, lats, _ = WGS84.fwd([lng] * len(bearings), [lat] * len(bearings), bearings, [range_km * 1000] * len(bearings))
    arc = [[round(float(x), 7), round(float(y), 7)] for x, y in zip(lngs, lats, strict=True)]
    ring = [*arc, arc[0]] if omni else [[lng, lat], *arc, [lng, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def bounding_box(polygon: dict[str, Any], centre_lng: float) -> Box:
    ring: Sequence[Sequence[float]] = polygon["coordinates"][0]
    # Longitudes unwrapped around the tower's, so a wedge over the antimeridian stays one piece.
    lngs = [x + 360 if x - centre_lng < -180 else x - 360 if x - centre_lng > 180 else x for x, _ in ring]
    lats = [y for _, y in ring]
    lo, hi = min(lngs), max(lngs)
    if lo < -180 or hi > 180:
        lo, hi = -180.0, 180.0
    return Box(min(lats), lo, max(lats), hi)


def bearing_and_distance(lat: float, lng: float, points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """From (lat, lng) to each (lat, lng) point: (bearing in degrees 0-360, distance in km)."""
    if not points:
        return []
    n = len(points)
    az, _, metres = WGS84.inv([lng] * n, [lat] * n, [p[1] for p in points], [p[0] for p in points])
    return [(float(a) % 360, float(m) / 1000) for a, m in zip(az, metres, strict=True)]


def angle_off(bearing: float, azimuth: float) -> float:
    """How far (degrees, 0-180) a bearing is from the sector's azimuth."""
    diff = abs(bearing - azimuth) % 360
    return 360 - diff if diff > 180 else diff


def in_beam(bearing: float, azimuth: float, beamwidth: float) -> bool:
    return beamwidth >= 360 or angle_off(bearing, azimuth) <= beamwidth / 2 + 1e-9


def arcs_overlap(az1: float, bw1: float, az2: float, bw2: float) -> bool:
    """Do two sectors' beams (azimuth ± beamwidth/2) share any bearing?"""
    if bw1 >= 360 or bw2 >= 360:
        return True
    return angle_off(az1, az2) < (bw1 + bw2) / 2
