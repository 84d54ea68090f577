"""The network map's features: one GeoJSON FeatureCollection of a tenant's plant (``/console/map``).

Towers (points) and their sectors' coverage wedges (the polygons the wireless domain computed), splitters
and closures (points), cable routes (lines), ONUs coloured by light health (points: where their drop cable
ends, else their subscriber's service location), and devices with a location (points; offline ones marked).
Every feature carries ``kind``, ``id``, ``name``, ``href`` (its console page), ``colour`` and ``lines`` (the
popup's text), nothing the tenant may not read. Each layer is one statement with the tenant filter (and the
row policy underneath); the ONU layer is capped at :data:`MAX_ONUS` (``truncated`` says so).

The map's tile source is the tenant's setting ``tenants.settings["map"]["tile_url"]`` (an ``http(s)`` URL
template with ``{z}``, ``{x}``, ``{y}``; optional ``attribution``): none by default, and then the browser
fetches nothing from outside — the features are drawn on a plain background.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ispops.console.ftth_data import HEALTH_COLOURS, health_of, thresholds

MAX_ONUS = 20_000  # SVG markers: beyond this a browser slows down; the rest are listed under FTTH
KINDS = ("sector", "cable", "tower", "splitter", "closure", "device", "onu")
TILE_URL = re.compile(r"^https?://[^\s\"'<>]+$")

Href = Callable[[str, str, dict[str, Any]], str | None]

TOWERS = text(
    """
SELECT t.id, t.name, t.latitude::float8 AS lat, t.longitude::float8 AS lng, t.status, t.height_meters::float8 AS h,
       count(s.id) AS sectors
  FROM wireless_towers t
  LEFT JOIN wireless_sectors s ON s.tenant_id = t.tenant_id AND s.tower_id = t.id AND s.deleted_at IS NULL
 WHERE t.tenant_id = :t AND t.deleted_at IS NULL
 GROUP BY t.id ORDER BY t.name
"""
)
SECTORS = text(
    """
SELECT s.id, s.name, s.tower_id, t.name AS tower_name, s.azimuth, s.beamwidth_degrees, s.frequency_mhz,
       s.coverage_range_km::float8 AS range_km, s.coverage_area_geojson AS area, s.current_subscribers,
       s.max_subscribers, s.status
  FROM wireless_sectors s JOIN wireless_towers t ON t.tenant_id = s.tenant_id AND t.id = s.tower_id
 WHERE s.tenant_id = :t AND s.deleted_at IS NULL AND t.deleted_at IS NULL AND s.coverage_area_geojson IS NOT NULL
 ORDER BY t.name, s.sector_number, s.name
"""
)
# Each splitter with the PON port at the root of its chain (NULL: the chain reaches none).
SPLITTERS = text(
    """
WITH RECURSIVE chain AS (
    SELECT s.id, s.pon_port_id AS root, 1 AS depth
      FROM splitters s WHERE s.tenant_id = :t AND s.deleted_at IS NULL AND s.parent_splitter_id IS NULL
    UNION ALL
    SELECT c.id, chain.root, chain.depth + 1
      FROM splitters c JOIN chain ON c.parent_splitter_id = chain.id
     WHERE c.tenant_id = :t AND c.deleted_at IS NULL AND chain.depth < 16
)
SELECT s.id, s.name, s.split_ratio, s.ports_used, s.output_ports, s.olt_id, s.location_name,
       s.location_lat::float8 AS lat, s.location_lng::float8 AS lng, chain.root AS pon_port_id
  FROM splitters s LEFT JOIN chain ON chain.id = s.id
 WHERE s.tenant_id = :t AND s.deleted_at IS NULL AND s.location_lat IS NOT NULL AND s.location_lng IS NOT NULL
 ORDER BY s.name
"""
)
CLOSURES = text(
    """
SELECT id, name, closure_type, location_name, location_lat::float8 AS lat, location_lng::float8 AS lng
  FROM fiber_closures
 WHERE tenant_id = :t AND deleted_at IS NULL AND location_lat IS NOT NULL AND location_lng IS NOT NULL
 ORDER BY name
"""
)
CABLES = text(
    """
SELECT id, cable_name AS name, cable_type, fiber_count, length_meters::float8 AS length_m, geojson_path AS path
  FROM fiber_cables
 WHERE tenant_id = :t AND deleted_at IS NULL AND geojson_path IS NOT NULL
 ORDER BY cable_name
"""
)
DEVICES = text(
    """
SELECT d.id, d.name, d.device_type, d.vendor, d.model, d.status, d.operational_status, d.last_seen,
       d.location_lat::float8 AS lat, d.location_lng::float8 AS lng,
       (SELECT o.id FROM olts o WHERE o.tenant_id = d.tenant_id AND o.device_id = d.id AND o.deleted_at IS NULL
         LIMIT 1) AS olt_id
  FROM devices d
 WHERE d.tenant_id = :t AND d.deleted_at IS NULL AND d.location_lat IS NOT NULL AND d.location_lng IS NOT NULL
 ORDER BY d.name
"""
)
# Where an ONU is: the far end of the last strand of its drop (the route's last position), else its
# subscriber's service location.
ONUS = text(
    """
SELECT u.id, u.serial_number, u.status, u.olt_id, u.rx_power_dbm::float8 AS rx, u.last_down_cause,
       sub.subscriber_number,
       coalesce((drop.path -> 'coordinates' -> -1 ->> 1)::float8, sub.service_location_lat::float8) AS lat,
       coalesce((drop.path -> 'coordinates' -> -1 ->> 0)::float8, sub.service_location_lng::float8) AS lng
  FROM onus u
  LEFT JOIN subscribers sub ON sub.tenant_id = u.tenant_id AND sub.id = u.subscriber_id
  LEFT JOIN LATERAL (
      SELECT c.geojson_path AS path
        FROM fiber_links l
        JOIN fiber_strands st ON st.tenant_id = l.tenant_id AND st.id = l.strand_id
        JOIN fiber_cables c ON c.tenant_id = st.tenant_id AND c.id = st.cable_id
       WHERE l.tenant_id = u.tenant_id AND l.onu_id = u.id AND c.geojson_path IS NOT NULL
       ORDER BY l.seq DESC LIMIT 1) drop ON true
 WHERE u.tenant_id = :t AND u.deleted_at IS NULL AND u.status <> 'retired'
 ORDER BY u.serial_number
 LIMIT :limit
"""
)


def _point(lng: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lng, lat]}


def _feature(geometry: dict[str, Any], kind: str, key: Any, name: str, **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": f"{kind}:{key}",
        "geometry": geometry,
        "properties": {"kind": kind, "id": str(key), "name": name, **props},
    }


def _num(value: float | None, unit: str, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f} {unit}"


def features(session: Session, tenant_id: str, href: Href, *, max_onus: int = MAX_ONUS) -> dict[str, Any]:
    """The tenant's map features as a FeatureCollection (polygons and lines first, points last, so that
    points are drawn on top). ``href(kind, id, row)`` gives each feature's console page (None: no link)."""
    t = {"t": tenant_id}
    out: list[dict[str, Any]] = []
    for r in session.execute(SECTORS, t).mappings():
        out.append(
            _feature(
                r["area"],
                "sector",
                r["id"],
                f"{r['tower_name']} · {r['name']}",
                href=href("sector", str(r["id"]), dict(r)),
                colour="#1565c0",
                lines=[
                    f"azimuth {r['azimuth']}°, beam {r['beamwidth_degrees']}°, {r['frequency_mhz']} MHz",
                    f"range {_num(r['range_km'], 'km', 2)}",
                    f"CPEs {r['current_subscribers']} of {r['max_subscribers'] or '—'}",
                ],
            )
        )
    for r in session.execute(CABLES, t).mappings():
        out.append(
            _feature(
                r["path"],
                "cable",
                r["id"],
                r["name"],
                href=href("cable", str(r["id"]), dict(r)),
                colour="#ef6c00",
                lines=[f"{r['cable_type'] or 'cable'}, {r['fiber_count']} fibres", _num(r["length_m"], "m", 0)],
            )
        )
    for r in session.execute(TOWERS, t).mappings():
        out.append(
            _feature(
                _point(r["lng"], r["lat"]),
                "tower",
                r["id"],
                r["name"],
                href=href("tower", str(r["id"]), dict(r)),
                colour="#0d47a1",
                lines=[f"{r['sectors']} sectors", f"height {_num(r['h'], 'm', 0)}", r["status"]],
            )
        )
    for r in session.execute(SPLITTERS, t).mappings():
        out.append(
            _feature(
                _point(r["lng"], r["lat"]),
                "splitter",
                r["id"],
                r["name"],
                href=href("splitter", str(r["id"]), dict(r)),
                colour="#00838f",
                lines=[f"{r['split_ratio']}, {r['ports_used']} of {r['output_ports']} ports used", r["location_name"]],
            )
        )
    for r in session.execute(CLOSURES, t).mappings():
        out.append(
            _feature(
                _point(r["lng"], r["lat"]),
                "closure",
                r["id"],
                r["name"],
                href=href("closure", str(r["id"]), dict(r)),
                colour="#5d4037",
                lines=[r["closure_type"].replace("_", " "), r["location_name"]],
            )
        )
    for r in session.execute(DEVICES, t).mappings():
        offline = r["operational_status"] == "offline" or r["status"] in ("failed", "inactive")
        out.append(
            _feature(
                _point(r["lng"], r["lat"]),
                "device",
                r["id"],
                r["name"],
                href=href("device", str(r["id"]), dict(r)),
                colour="#c62828" if offline else "#37474f",
                offline=offline,
                lines=[
                    " ".join(x for x in (r["vendor"], r["model"]) if x) or r["device_type"],
                    f"{r['device_type']}, {r['operational_status'] or 'not polled'}",
                ],
            )
        )
    limits = thresholds(session, tenant_id)
    onus = session.execute(ONUS, {**t, "limit": max_onus + 1}).mappings().all()
    for r in onus[:max_onus]:
        if r["lat"] is None or r["lng"] is None:
            continue
        health = health_of(r["status"], r["rx"], limits(r["olt_id"]))
        out.append(
            _feature(
                _point(r["lng"], r["lat"]),
                "onu",
                r["id"],
                r["serial_number"],
                href=href("onu", str(r["id"]), dict(r)),
                colour=HEALTH_COLOURS[health],
                health=health,
                lines=[
                    f"{r['status']}" + (f" ({r['last_down_cause']})" if r["status"] == "offline" else ""),
                    f"Rx {_num(r['rx'], 'dBm', 2)} — {health}",
                    r["subscriber_number"],
                ],
            )
        )
    for f in out:
        f["properties"]["lines"] = [x for x in f["properties"]["lines"] if x]
    return {"type": "FeatureCollection", "features": out, "truncated": len(onus) > max_onus}


def counts(collection: dict[str, Any]) -> dict[str, int]:
    """How many features of each kind (the map's legend)."""
    found = dict.fromkeys(KINDS, 0)
    for f in collection["features"]:
        found[f["properties"]["kind"]] += 1
    return found


def tile_source(session: Session, tenant_id: str) -> dict[str, str] | None:
    """The tenant's tile source (``{"url": ..., "attribution": ...}``), or None: no tiles, no request to any
    outside host. A value that is not an http(s) URL template with {z}, {x} and {y} is ignored."""
    stored = session.execute(
        text("SELECT settings -> 'map' FROM tenants WHERE id = :t"), {"t": tenant_id}
    ).scalar_one_or_none()
    if not isinstance(stored, dict):
        return None
    url = stored.get("tile_url")
    if not isinstance(url, str) or not TILE_URL.match(url) or not all(p in url for p in ("{z}", "{x}", "{y}")):
        return None
    attribution = stored.get("attribution")
    return {"url": url, "attribution": attribution if isinstance(attribution, str) else ""}


def ids(collection: dict[str, Any], kind: str) -> Iterable[uuid.UUID]:
    return (uuid.UUID(f["properties"]["id"]) for f in collection["features"] if f["properties"]["kind"] == kind)
