"""The dashboard (``/console/``): what needs attention this morning, each figure a link to its list.

Subscribers by status, sessions online now (open RADIUS accounting sessions), alarms (ONU optical alarms
still raised, CPE signal alarms still raised, devices offline), IP pools at their warning threshold, and
failed orders. A card is shown only when the role may read what it counts. Every query names the tenant
(on top of row-level security) and uses the tables' tenant indexes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ispops.console import render
from ispops.console.context import Console, ConsoleDep
from ispops.console.nav import NavItem
from ispops.models import Device, IpPool, RadAcct, ServiceActivation, Subscriber
from ispops.models.ftth_optics import FtthAlarm
from ispops.models.wireless import WirelessCpeAlarm

router = APIRouter()
NAV: list[NavItem] = [NavItem("Dashboard", "/console/", "", section="Overview")]
POOLS_SHOWN = 5


@dataclass
class Figure:
    label: str
    count: int
    href: str
    tone: str = ""  # "", "warn" or "bad": how worrying a non-zero count is


@dataclass
class Card:
    key: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    note: str = ""


async def _subscribers(session: AsyncSession, tenant_id: str) -> Card:
    rows = await session.execute(
        select(Subscriber.status, func.count())
        .where(Subscriber.tenant_id == tenant_id, Subscriber.deleted_at.is_(None))
        .group_by(Subscriber.status)
        .order_by(Subscriber.status)
    )
    tones = {"suspended": "warn", "on_hold": "warn"}
    figures = [
        Figure(str(status), int(n), f"/console/r/subscribers?status={status}", tones.get(str(status), ""))
        for status, n in rows.all()
    ]
    return Card("subscribers", "Subscribers by status", figures, note="" if figures else "No subscribers yet.")


async def _sessions(session: AsyncSession, tenant_id: str) -> Card:
    online = await session.scalar(
        select(func.count()).where(RadAcct.tenant_id == tenant_id, RadAcct.acctstoptime.is_(None))
    )
    return Card(
        "sessions", "Sessions online now", [Figure("online", int(online or 0), "/console/r/radacct?active=true")]
    )


async def _alarms(con: Console) -> Card:
    card = Card("alarms", "Alarms")
    session, tenant_id = con.session, con.tenant_id
    if con.can("onus", "read"):
        onu = await session.scalar(
            select(func.count()).where(FtthAlarm.tenant_id == tenant_id, FtthAlarm.cleared_at.is_(None))
        )
        card.figures.append(Figure("ONU optical alarms", int(onu or 0), "/console/ftth", "bad"))
    if con.can("wireless_cpe_alarms", "read"):
        cpe = await session.scalar(
            select(func.count()).where(WirelessCpeAlarm.tenant_id == tenant_id, WirelessCpeAlarm.cleared_at.is_(None))
        )
        card.figures.append(Figure("CPE signal alarms", int(cpe or 0), "/console/r/wireless_cpe_alarms", "bad"))
    if con.can("devices", "read"):
        offline = await session.scalar(
            select(func.count()).where(
                Device.tenant_id == tenant_id, Device.deleted_at.is_(None), Device.operational_status == "offline"
            )
        )
        card.figures.append(
            Figure("devices offline", int(offline or 0), "/console/r/devices?operational_status=offline", "bad")
        )
    return card


async def _pools(session: AsyncSession, tenant_id: str) -> Card:
    warned = (
        await session.execute(
            select(IpPool.id, IpPool.name, IpPool.utilisation_percent)
            .where(IpPool.tenant_id == tenant_id, IpPool.deleted_at.is_(None), IpPool.warning.is_(True))
            .order_by(IpPool.utilisation_percent.desc(), IpPool.name)
        )
    ).all()
    card = Card("pools", "Pools near exhaustion")
    card.figures.append(Figure("pools at their warning level", len(warned), "/console/r/ip_pools?warning=true", "warn"))
    for pool_id, name, used in warned[:POOLS_SHOWN]:
        card.figures.append(Figure(f"{name}: {used}% used", 0, f"/console/r/ip_pools/{pool_id}", "detail"))
    return card


async def _orders(session: AsyncSession, tenant_id: str) -> Card:
    failed = await session.scalar(
        select(func.count()).where(
            ServiceActivation.tenant_id == tenant_id, ServiceActivation.workflow_status == "failed"
        )
    )
    figure = Figure("failed orders", int(failed or 0), "/console/r/service_activations?workflow_status=failed", "bad")
    return Card("orders", "Failed orders", [figure])


async def cards(con: Console) -> list[Card]:
    """The cards this user may see, in order."""
    out: list[Card] = []
    if con.can("subscribers", "read"):
        out.append(await _subscribers(con.session, con.tenant_id))
    if con.can("radacct", "read"):
        out.append(await _sessions(con.session, con.tenant_id))
    alarms = await _alarms(con)
    if alarms.figures:
        out.append(alarms)
    if con.can("ip_pools", "read"):
        out.append(await _pools(con.session, con.tenant_id))
    if con.can("service_activations", "read"):
        out.append(await _orders(con.session, con.tenant_id))
    return out


@router.get("/console/")
async def dashboard(con: ConsoleDep) -> Response:
    found: list[Any] = await cards(con)
    return render.page(con, "dashboard.html", title="Dashboard", cards=found)


@router.get("/console")
async def bare(con: ConsoleDep) -> Response:
    return render.redirect(con, "/console/")
