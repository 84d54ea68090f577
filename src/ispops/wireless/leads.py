"""Leads: every address checked (by staff, or on the tenant's public "check my address" page) is kept with
its answer, so sales can follow up and planners see where demand is.

The public page is rate-limited per client address from these rows: at most
``wireless_settings.portal_checks_per_hour`` portal checks per address per hour per tenant (requests whose
address is unknown share one allowance).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from sqlalchemy import cast, func, literal, select, text
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.orm import Session

from ispops.errors import NotFound, TooManyRequests
from ispops.models import Tenant, WirelessLead
from ispops.models.wireless import LeadSource
from ispops.wireless.serviceability import Answer, check
from ispops.wireless.settings import Rules, load

WINDOW = dt.timedelta(hours=1)
PORTAL_TENANT = text("select ispops_wireless_portal_tenant(:slug)")


def portal_tenant(session: Session, slug: str) -> str | None:
    """The tenant whose public slug this is (live and in good standing), else None."""
    found = session.scalar(PORTAL_TENANT, {"slug": slug})
    return None if found is None else str(found)


def candidates_json(answer: Answer) -> list[dict[str, Any]]:
    out = []
    for c in answer.candidates:
        item = asdict(c)
        item["sector_id"] = str(c.sector_id)
        item["tower_id"] = str(c.tower_id)
        item["plans"] = [{**asdict(p), "id": str(p.id)} for p in c.plans]
        out.append(item)
    return out


def record(
    session: Session,
    tenant_id: str,
    answer: Answer,
    *,
    source: LeadSource,
    cpe_height_m: float | None = None,
    client_address: str | None = None,
    address: str | None = None,
    contact_name: str | None = None,
    contact_email: str | None = None,
    contact_phone: str | None = None,
) -> WirelessLead:
    best = next((c for c in answer.candidates if c.usable), answer.candidates[0] if answer.candidates else None)
    lead = WirelessLead(
        tenant_id=tenant_id,
        source=source.value,
        latitude=Decimal(f"{answer.latitude:.8f}"),
        longitude=Decimal(f"{answer.longitude:.8f}"),
        cpe_height_m=None if cpe_height_m is None else Decimal(f"{cpe_height_m:.2f}"),
        address=address,
        contact_name=contact_name,
        contact_email=contact_email,
        contact_phone=contact_phone,
        serviceable=answer.serviceable,
        best_sector_id=None if best is None else best.sector_id,
        best_fade_margin_db=None if best is None else Decimal(f"{best.budget.fade_margin_db:.2f}"),
        answer={"candidates": candidates_json(answer)},
        client_address=client_address,
    )
    session.add(lead)
    session.flush()
    return lead


def recent_portal_checks(session: Session, tenant_id: str, client_address: str | None) -> int:
    who = (
        WirelessLead.client_address.is_(None)
        if client_address is None
        else WirelessLead.client_address == cast(literal(client_address), INET)
    )
    count = session.scalar(
        select(func.count())
        .select_from(WirelessLead)
        .where(
            WirelessLead.tenant_id == tenant_id,
            WirelessLead.source == LeadSource.PORTAL.value,
            who,
            WirelessLead.created_at >= func.now() - WINDOW,
        )
    )
    return int(count or 0)


def portal_check(
    session: Session,
    tenant_id: str,
    *,
    lat: float,
    lng: float,
    cpe_height_m: float | None,
    client_address: str | None,
    address: str | None = None,
    contact_name: str | None = None,
    contact_email: str | None = None,
    contact_phone: str | None = None,
) -> tuple[Rules, str, Answer, WirelessLead]:
    """The public check: 404 when the tenant has no portal, 429 past the per-address allowance, else the
    answer, recorded as a lead. Returns (rules, brand name, answer, lead)."""
    rules = load(session, tenant_id)
    if not rules.portal_enabled:
        raise NotFound("no such page")
    if recent_portal_checks(session, tenant_id, client_address) >= rules.portal_checks_per_hour:
        raise TooManyRequests("too many checks from this address; try again later")
    answer = check(session, tenant_id, lat=lat, lng=lng, cpe_height_m=cpe_height_m, rules=rules)
    lead = record(
        session,
        tenant_id,
        answer,
        source=LeadSource.PORTAL,
        cpe_height_m=cpe_height_m,
        client_address=client_address,
        address=address,
        contact_name=contact_name,
        contact_email=contact_email,
        contact_phone=contact_phone,
    )
    brand = rules.portal_name or session.scalar(select(Tenant.name).where(Tenant.id == tenant_id)) or tenant_id
    return rules, brand, answer, lead
