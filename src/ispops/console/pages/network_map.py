"""Console pages: the network map (``/console/map``) and its GeoJSON (``/console/map/features.geojson``).

Leaflet (vendored) draws the tenant's features from ``ispops.console.map_data``: towers and coverage
wedges, splitters and closures, cable routes, ONUs coloured by light health, devices (offline in red);
a click opens a popup linking to the feature's console page. Each layer is shown only to a role that may
read its resource. The tile source is the tenant's setting (``tenants.settings.map.tile_url``), none by
default: then the page loads nothing from any other host (its Content-Security-Policy allows only this
site) and the features are drawn on a plain background. With a tile source, that host alone is added to
``img-src``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from ispops.console import map_data, render
from ispops.console.context import ConsoleDep
from ispops.console.nav import NavItem

router = APIRouter()
NAV: list[NavItem] = [NavItem("Network map", "/console/map", "", section="Network")]

# Which resource each layer shows (a role that may not read it does not get the layer).
LAYER_RESOURCE = {
    "sector": "wireless_sectors",
    "tower": "wireless_towers",
    "cable": "fiber_cables",
    "splitter": "splitters",
    "closure": "fiber_closures",
    "device": "devices",
    "onu": "onus",
}
# Objects without a page of their own open in the generic resource pages.
GENERIC = {"cable": "fiber_cables", "closure": "fiber_closures", "device": "devices", "splitter": "splitters"}


def href(kind: str, key: str, row: dict[str, Any]) -> str | None:
    """A feature's console page."""
    if kind == "onu":
        return f"/console/ftth/onus/{key}"
    if kind == "tower":
        return f"/console/wireless/towers/{key}"
    if kind == "sector":
        return f"/console/wireless/towers/{row['tower_id']}#sector-{key}"
    if kind == "splitter" and row.get("pon_port_id") is not None:
        return f"/console/ftth/pon/{row['pon_port_id']}#splitter-{key}"
    if kind == "device" and row.get("device_type") == "olt":
        return None if row.get("olt_id") is None else f"/console/ftth/olts/{row['olt_id']}"
    name = GENERIC.get(kind)
    return None if name is None else f"/console/r/{name}/{key}"


def tile_host(url: str) -> str:
    """The CSP source of a tile URL template: scheme and host, ``{s}.`` (Leaflet's subdomains) as ``*.``."""
    parts = urlsplit(url.replace("{s}.", "SUBDOMAIN."))
    return f"{parts.scheme}://{parts.netloc.replace('SUBDOMAIN.', '*.')}"


@router.get("/console/map")
async def network_map(con: ConsoleDep) -> Response:
    tiles = await con.session.run_sync(lambda s: map_data.tile_source(s, con.tenant_id))
    response = render.page(con, "map/index.html", title="Network map", tiles=tiles)
    if tiles is not None:
        host = tile_host(tiles["url"])
        csp = response.headers["Content-Security-Policy"]
        response.headers["Content-Security-Policy"] = csp.replace("img-src 'self'", f"img-src 'self' {host}")
    return response


@router.get("/console/map/features.geojson")
async def features(con: ConsoleDep) -> Response:
    """The tenant's features the user may read, as GeoJSON."""
    kinds = {kind for kind, resource in LAYER_RESOURCE.items() if con.can(resource, "read")}

    def load(s: Session) -> dict[str, Any]:
        collection = map_data.features(s, con.tenant_id, href)
        collection["features"] = [f for f in collection["features"] if f["properties"]["kind"] in kinds]
        return collection

    collection = await con.session.run_sync(load)
    response = JSONResponse(collection, media_type="application/geo+json")
    return render.finish(response, con.request)
