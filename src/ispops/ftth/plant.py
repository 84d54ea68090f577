"""The fibre plant's own rules that the database cannot say: a cable's route (a GeoJSON LineString, checked
strictly), its length (geodesic along the route on WGS84, unless measured) and its strands; a strand's
number within its cable's ``fiber_count``; a link that names an ONU and a splitter names the ONU's own
splitter (the splitter its drop leaves from).

The tree rules (one child per splitter port, no cycles, ports that exist, ``ports_used``) are the
database's: ``ftth/sql/splitter_ports.sql``, ``ftth/sql/splitter_tree.sql`` and the counter triggers.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from pyproj import Geod
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ispops.errors import ValidationFailed
from ispops.models import FiberCable, FiberLink, FiberStrand, Onu

GEOD = Geod(ellps="WGS84")
# TIA-598-C fibre colours, in order, twelve to a tube.
COLOURS = (
    "blue",
    "orange",
    "green",
    "brown",
    "slate",
    "white",
    "red",
    "black",
    "yellow",
    "violet",
    "rose",
    "aqua",
)
MAX_POSITIONS = 10_000
GEOJSON_MEMBERS = frozenset({"type", "coordinates", "bbox"})


def _bad(reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"fiber_cables.geojson_path: {reason}",
        table="fiber_cables",
        field="geojson_path",
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def route_points(geojson: Any) -> list[tuple[float, float]]:
    """The (longitude, latitude) positions of a GeoJSON LineString (RFC 7946 §3.1.4), or a 422 naming
    ``geojson_path`` that says what is wrong."""
    if not isinstance(geojson, dict):
        raise _bad("must be a GeoJSON object")
    if geojson.get("type") != "LineString":
        raise _bad('type must be "LineString"')
    extra = sorted(set(geojson) - GEOJSON_MEMBERS)
    if extra:
        raise _bad(f"unexpected member {extra[0]!r} (type, coordinates and bbox only)")
    coordinates = geojson.get("coordinates")
    if not isinstance(coordinates, list) or len(coordinates) < 2:
        raise _bad("coordinates must be an array of at least two positions")
    if len(coordinates) > MAX_POSITIONS:
        raise _bad(f"at most {MAX_POSITIONS} positions")
    points: list[tuple[float, float]] = []
    for i, position in enumerate(coordinates):
        if not isinstance(position, list) or len(position) not in (2, 3):
            raise _bad(f"position {i} must be [longitude, latitude] or [longitude, latitude, altitude]")
        values = [_number(v) for v in position]
        if any(v is None for v in values):
            raise _bad(f"position {i} must hold finite numbers")
        lng, lat = values[0], values[1]
        assert lng is not None and lat is not None
        if not -180 <= lng <= 180:
            raise _bad(f"position {i}: longitude {lng} is outside -180..180")
        if not -90 <= lat <= 90:
            raise _bad(f"position {i}: latitude {lat} is outside -90..90")
        points.append((lng, lat))
    if len(set(points)) < 2:
        raise _bad("a line needs at least two distinct positions")
    return points


def route_length_m(geojson: Any) -> Decimal:
    """Geodesic length of the route on the WGS84 ellipsoid, in metres (two decimals)."""
    points = route_points(geojson)
    length = GEOD.line_length([p[0] for p in points], [p[1] for p in points])
    return Decimal(str(round(length, 2)))


def prepare_cable(data: dict[str, Any], current: FiberCable | None = None) -> dict[str, Any]:
    """``data`` (a create body, or the fields of a change) with ``length_meters`` and ``length_measured``
    settled: a length given is measured; otherwise the route's geodesic length, kept current when the route
    changes and the length was not measured."""
    out = dict(data)
    route = out.get("geojson_path", current.geojson_path if current else None)
    if "geojson_path" in out and out["geojson_path"] is not None:
        route_points(out["geojson_path"])
    if out.get("length_meters") is not None:
        out["length_measured"] = True
        return out
    measured = current is not None and current.length_measured and "length_meters" not in out
    if measured:
        return out
    if "geojson_path" in out or "length_meters" in out or current is None:
        out["length_meters"] = route_length_m(route) if route is not None else None
        out["length_measured"] = False
    return out


def strand_rows(tenant_id: str, cable: FiberCable) -> list[dict[str, Any]]:
    return [
        {
            "tenant_id": tenant_id,
            "cable_id": cable.id,
            "strand_number": n,
            "tube_number": (n - 1) // len(COLOURS) + 1,
            "color": COLOURS[(n - 1) % len(COLOURS)],
        }
        for n in range(1, cable.fiber_count + 1)
    ]


def create_cable(session: Session, tenant_id: str, data: dict[str, Any]) -> FiberCable:
    """A cable and its ``fiber_count`` strands (numbered from 1, coloured by TIA-598). Flushes only."""
    cable = FiberCable(**prepare_cable(data), tenant_id=tenant_id)
    session.add(cable)
    session.flush()
    session.execute(insert(FiberStrand), strand_rows(tenant_id, cable))
    return cable


def check_cable_change(cable: FiberCable, data: dict[str, Any]) -> None:
    """Before a PATCH of a cable is applied: validate the route and settle the length, in ``data``."""
    data.update(prepare_cable(data, cable))


def check_link(session: Session, tenant_id: str, link: FiberLink) -> None:
    """A link naming both an ONU and a splitter is that ONU's drop from its own splitter: a splitter that is
    not the ONU's (``onus.splitter_id``) is a 422 naming ``splitter_id``."""
    if link.onu_id is None or link.splitter_id is None:
        return
    found = session.execute(
        select(Onu.splitter_id).where(Onu.tenant_id == tenant_id, Onu.id == link.onu_id, Onu.deleted_at.is_(None))
    ).first()
    if found is not None and found[0] != link.splitter_id:
        own = f"its splitter is {found[0]}" if found[0] is not None else "it is on no splitter"
        raise ValidationFailed(
            f"fiber_links.splitter_id: {link.splitter_id} is not the splitter of ONU {link.onu_id} ({own})",
            table="fiber_links",
            field="splitter_id",
        )
