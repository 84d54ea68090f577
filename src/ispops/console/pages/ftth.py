"""Console pages: FTTH — OLTs, PON ports, ONUs with their light, unconfigured ONUs and their authorise
form, an ONU's optical history, the splitter tree and the trace and loss-budget report of a PON.

Reads need ``olts``/``onus`` read; the authorise form ``onus`` update (the API's rule for
``POST /api/v1/onus/{id}/authorise``). Another tenant's OLT, port or ONU is the 404 page. The data comes
from ``ispops.console.ftth_data`` (the FTTH domain's services).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ispops.console import ftth_data, render
from ispops.console.context import Console, ConsoleDep
from ispops.console.nav import NavItem
from ispops.errors import Conflict, ValidationFailed
from ispops.ftth.schemas import AuthoriseDiscovered
from ispops.models import Splitter
from ispops.models.ftth import OnuMode

router = APIRouter()
NAV: list[NavItem] = [NavItem("FTTH", "/console/ftth", "olts", section="Network")]

# The authorise form's fields, as the API's body names them (AuthoriseDiscovered).
TEXT_FIELDS = ("onu_type", "line_profile", "service_profile", "speed_profile", "zone")
INT_FIELDS = ("vlan_id", "service_port", "splitter_port")
MODES = [(m.value, m.value) for m in OnuMode]


@router.get("/console/ftth")
async def olts(con: ConsoleDep) -> Response:
    con.require("olts", "read")
    rows = await con.session.run_sync(lambda s: ftth_data.olt_list(s, con.tenant_id))
    return render.page(con, "ftth/olts.html", title="OLTs", olts=rows)


@router.get("/console/ftth/olts/{olt_id}")
async def olt(con: ConsoleDep, olt_id: uuid.UUID) -> Response:
    con.require("olts", "read")
    data = await con.session.run_sync(lambda s: ftth_data.olt_detail(s, con.tenant_id, olt_id))
    return render.page(con, "ftth/olt.html", title=data["device"].name, **data)


@router.get("/console/ftth/pon/{pon_port_id}")
async def pon(con: ConsoleDep, pon_port_id: uuid.UUID) -> Response:
    con.require("olts", "read")
    data = await con.session.run_sync(lambda s: ftth_data.pon_detail(s, con.tenant_id, pon_port_id))
    port = data["port"]
    title = f"{port['olt_name']} PON {port['name']}"
    return render.page(con, "ftth/pon.html", title=title, colours=ftth_data.HEALTH_COLOURS, **data)


@router.get("/console/ftth/onus/{onu_id}")
async def onu(con: ConsoleDep, onu_id: uuid.UUID) -> Response:
    con.require("onus", "read")

    def load(s: Session) -> dict[str, Any]:
        data = ftth_data.onu_detail(s, con.tenant_id, onu_id)
        series = ftth_data.optics_series(s, con.tenant_id, onu_id)
        limits = data["thresholds"]
        series.update(warning=limits.warning, critical=limits.critical)
        data["series"] = series
        return data

    data = await con.session.run_sync(load)
    chart = json.dumps(data["series"]).replace("</", "<\\/")  # safe inside <script type="application/json">
    return render.page(
        con,
        "ftth/onu.html",
        title=f"ONU {data['onu'].serial_number}",
        chart=chart,
        hint=lifecycle_hint(data["onu"].status),
        colours=ftth_data.HEALTH_COLOURS,
        **data,
    )


async def _form_context(con: Console, onu_id: uuid.UUID) -> dict[str, Any]:
    def load(s: Session) -> dict[str, Any]:
        onu = ftth_data.require_onu(s, con.tenant_id, onu_id)
        detail = ftth_data.olt_detail(s, con.tenant_id, onu.olt_id)
        splitters = s.scalars(
            select(Splitter)
            .where(Splitter.tenant_id == con.tenant_id, Splitter.olt_id == onu.olt_id, Splitter.deleted_at.is_(None))
            .order_by(Splitter.name)
        ).all()
        return {
            "onu": onu,
            "device": detail["device"],
            "olt": detail["olt"],
            "port_options": [(str(p["id"]), p["name"]) for p in detail["ports"] if p["status"] == "active"],
            "splitter_options": [
                (str(x.id), f"{x.name} ({x.split_ratio}, {x.ports_used} used)")
                for x in splitters
                if x.output_ports is None or x.ports_used < x.output_ports
            ],
        }

    return await con.session.run_sync(load)


@router.get("/console/ftth/onus/{onu_id}/authorise")
async def authorise_form(con: ConsoleDep, onu_id: uuid.UUID) -> Response:
    con.require("onus", "update")
    ctx = await _form_context(con, onu_id)
    values = {"pon_port_id": str(ctx["onu"].pon_port_id), "mode": "routing"}
    return render.page(con, "ftth/authorise.html", title="Authorise ONU", values=values, errors={}, modes=MODES, **ctx)


def _body(values: dict[str, str]) -> AuthoriseDiscovered:
    """The API's body from the form: empty fields are left out (their defaults)."""
    data: dict[str, Any] = {}
    for name in ("pon_port_id", "mode", "splitter_id", *TEXT_FIELDS):
        if values.get(name):
            data[name] = values[name]
    for name in INT_FIELDS:
        if values.get(name):
            data[name] = values[name]  # pydantic parses (and words the error like the API: 422 naming it)
    return AuthoriseDiscovered.model_validate(data)


@router.post("/console/ftth/onus/{onu_id}/authorise")
async def authorise(con: ConsoleDep, onu_id: uuid.UUID) -> Response:
    """Authorise a discovered ONU: the API's authorise route, step by step, in a savepoint of the request's
    unit of work (a refusal leaves nothing behind and shows the form again with the error beside the field)."""
    con.require("onus", "update")
    form = await con.request.form()
    values = {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    ctx = await _form_context(con, onu_id)  # 404 for another tenant's ONU, before anything else
    try:
        body = _body(values)
        async with con.session.begin_nested():
            done, changes = await con.session.run_sync(lambda s: ftth_data.authorise(s, con.tenant_id, onu_id, body))
    except (ValidationError, ValidationFailed, Conflict) as exc:
        errors = render.form_errors(exc)
        status = 409 if isinstance(exc, Conflict) else 422
        return render.page(
            con,
            "ftth/authorise.html",
            status_code=status,
            title="Authorise ONU",
            values=values,
            errors=errors,
            modes=MODES,
            **ctx,
        )
    con.audit("onus", done.onu.id, "action", changes)
    what = (
        f"ONU {done.onu.serial_number} authorised as ONU id {done.onu.onu_id} (provisioned by hand)"
        if done.provisioning == "manual"
        else f"ONU {done.onu.serial_number} is being authorised (ONU id {done.onu.onu_id}, job {done.job_id})"
    )
    return render.flash(render.redirect(con, f"/console/ftth/onus/{done.onu.id}"), what)


def lifecycle_hint(status: str) -> str:
    """One line on what an ONU's status means, for its page."""
    return {
        "discovered": "found by the OLT's auto-find, not configured",
        "authorising": "the OLT's driver job is configuring it",
        "authorised": "configured on the OLT; no link report yet",
        "online": "configured and up",
        "offline": "configured and down",
        "auth_failed": "the OLT refused or did not answer; authorising again keeps its id",
        "deauthorising": "being removed from the OLT",
        "retired": "out of service",
    }.get(status, status)
