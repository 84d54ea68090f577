"""Console pages: wireless — towers and their sectors with utilisation (connected CPEs against the
sector's maximum, sold Mbps against sellable, as ``ispops.wireless.service`` computes it), one tower, and
the serviceability check of a point (``ispops.wireless.serviceability``, the service behind
``GET /api/v1/wireless/serviceability``; who may read sectors may check). Another tenant's tower: 404.
"""

from __future__ import annotations

import math
import uuid

from fastapi import APIRouter
from fastapi.responses import Response

from ispops.console import render, wireless_data
from ispops.console.context import ConsoleDep
from ispops.console.nav import NavItem
from ispops.errors import ValidationFailed
from ispops.wireless.serviceability import Answer

router = APIRouter()
NAV: list[NavItem] = [
    NavItem("Wireless", "/console/wireless", "wireless_towers", section="Network"),
    NavItem("Serviceability", "/console/serviceability", "wireless_sectors", section="Network"),
]
POINT_FIELDS = (("latitude", "lat"), ("longitude", "lng"), ("cpe_height_m", "cpe_height_m"))


@router.get("/console/wireless")
async def towers(con: ConsoleDep) -> Response:
    con.require("wireless_towers", "read")
    rows = await con.session.run_sync(lambda s: wireless_data.towers(s, con.tenant_id))
    return render.page(con, "wireless/towers.html", title="Towers and sectors", towers=rows)


@router.get("/console/wireless/towers/{tower_id}")
async def tower(con: ConsoleDep, tower_id: uuid.UUID) -> Response:
    con.require("wireless_towers", "read")
    data = await con.session.run_sync(lambda s: wireless_data.tower_detail(s, con.tenant_id, tower_id))
    return render.page(con, "wireless/tower.html", title=data["tower"].name, **data)


def _number(raw: str, name: str, errors: dict[str, str], *, required: bool) -> float | None:
    if not raw:
        if required:
            errors[name] = "a value is required"
        return None
    try:
        value = float(raw)
    except ValueError:
        errors[name] = "must be a number"
        return None
    if not math.isfinite(value):
        errors[name] = "must be a finite number"
        return None
    return value


@router.get("/console/serviceability")
async def serviceability(con: ConsoleDep) -> Response:
    """The check form; with ``latitude`` and ``longitude`` in the query, the answer below it."""
    con.require("wireless_sectors", "read")
    query = con.request.query_params
    values = {name: (query.get(name) or query.get(alias) or "").strip() for name, alias in POINT_FIELDS}
    values["address"] = (query.get("address") or "").strip()[:200]
    answer: Answer | None = None
    errors: dict[str, str] = {}
    if values["latitude"] or values["longitude"]:
        lat = _number(values["latitude"], "latitude", errors, required=True)
        lng = _number(values["longitude"], "longitude", errors, required=True)
        height = _number(values["cpe_height_m"], "cpe_height_m", errors, required=False)
        if lat is not None and lng is not None and not errors:
            try:
                answer = await con.session.run_sync(
                    lambda s: wireless_data.check(s, con.tenant_id, lat=lat, lng=lng, cpe_height_m=height)
                )
            except ValidationFailed as exc:
                errors = render.form_errors(exc)
    return render.page(
        con,
        "wireless/serviceability.html",
        status_code=422 if errors else 200,
        title="Serviceability",
        values=values,
        errors=errors,
        answer=answer,
    )
