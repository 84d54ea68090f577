"""Fixed wireless over HTTP: towers, sectors, CPEs, leads, CPE readings and alarms as generic resources,
and the wireless routes — serviceability (staff, and the public rate-limited "check my address" page),
link budgets, utilisation, channel overlaps, coverage recomputation, the tenant's wireless settings, the
CPE readings push and a CPE's health, and the tenant's CPE SNMP credentials (write-only). docs/wireless.md."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ispops.api import permissions
from ispops.api.crud import Resource
from ispops.auth.deps import Db, Meta, Scope
from ispops.errors import IspopsError, NotFound
from ispops.models import (
    WirelessCpeAlarm,
    WirelessCpeReading,
    WirelessLead,
    WirelessSector,
    WirelessSettings,
    WirelessSubscriber,
    WirelessTower,
)
from ispops.models.wireless import CpeReadingSource, LeadSource
from ispops.secrets import runtime as secret_runtime
from ispops.wireless import leads, service, serviceability, settings, telemetry
from ispops.wireless.budget import Budget
from ispops.wireless.geometry import bearing_and_distance
from ispops.wireless.schemas import (
    AlarmRead,
    HealthRead,
    IngestRead,
    LeadBody,
    LeadCreated,
    PortalAnswer,
    PortalPlan,
    ReadingsBody,
    Recomputed,
    SettingsBody,
)
from ispops.wireless.service import Overlap, Utilisation
from ispops.wireless.serviceability import Answer
from ispops.wireless.settings import Band, CpeSnmpCredentials, CpeSnmpState, Rules

COVERAGE = frozenset(
    {
        "coverage_area_geojson",
        "coverage_range_km",
        "coverage_min_lat",
        "coverage_min_lng",
        "coverage_max_lat",
        "coverage_max_lng",
        "coverage_computed_at",
    }
)


async def _sector_written(session: AsyncSession, tenant_id: str, obj: Any, changed: frozenset[str] | None) -> None:
    await session.run_sync(lambda s: service.prepare_sector(s, tenant_id, obj))


async def _tower_written(session: AsyncSession, tenant_id: str, obj: Any, changed: frozenset[str] | None) -> None:
    await session.run_sync(lambda s: service.prepare_tower(s, tenant_id, obj))


async def _cpe_written(session: AsyncSession, tenant_id: str, obj: Any, changed: frozenset[str] | None) -> None:
    joining = changed is None or "sector_id" in changed
    await session.run_sync(lambda s: service.prepare_cpe(s, tenant_id, obj, joining=joining))


RESOURCES: list[Resource] = [
    Resource(
        "wireless_towers",
        WirelessTower,
        tag="wireless",
        filters=("status", "tower_type"),
        search=("name", "site_address"),
        sort=("created_at", "name"),
        before_write=_tower_written,
    ),
    Resource(
        "wireless_sectors",
        WirelessSector,
        tag="wireless",
        filters=("tower_id", "device_id", "status", "radio_family"),
        search=("name",),
        sort=("created_at", "name"),
        read_only=frozenset({"current_subscribers"}) | COVERAGE,
        before_write=_sector_written,
    ),
    Resource(
        "wireless_subscribers",
        WirelessSubscriber,
        tag="wireless",
        filters=("subscriber_id", "sector_id", "status", "cpe_mac", "registered_sector_id"),
        search=("cpe_mac", "install_address"),
        sort=("created_at",),
        read_only=frozenset({"predicted_signal_dbm", "predicted_snr_db"}),
        before_write=_cpe_written,
    ),
    Resource(
        "wireless_leads",
        WirelessLead,
        tag="wireless",
        filters=("source", "status", "serviceable", "best_sector_id"),
        search=("address", "contact_name", "contact_email"),
        sort=("created_at",),
        verbs=frozenset({"list", "get"}),
    ),
    Resource(
        "wireless_cpe_readings",
        WirelessCpeReading,
        tag="wireless",
        filters=("wireless_subscriber_id", "source", "registered_sector_id"),
        sort=("read_at",),
        default_sort="-read_at",
        verbs=frozenset({"list", "get"}),
        key_type=int,
    ),
    Resource(
        "wireless_cpe_alarms",
        WirelessCpeAlarm,
        tag="wireless",
        filters=("wireless_subscriber_id", "kind"),
        sort=("created_at", "raised_at"),
        verbs=frozenset({"list", "get"}),
    ),
]

router = APIRouter(tags=["wireless"])
SectorKey = Annotated[uuid.UUID, Path(description="the sector's id")]
LatQ = Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="latitude, WGS84 degrees")]
LngQ = Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False, description="longitude, WGS84 degrees")]
HeightQ = Annotated[float | None, Query(gt=0, le=500, allow_inf_nan=False, description="CPE height above ground (m)")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "not found (or another tenant's)"}}


def register(api: APIRouter) -> None:
    api.include_router(router)


@router.get(
    "/api/v1/wireless/serviceability",
    response_model=Answer,
    operation_id="wireless_serviceability",
    summary="Candidate sectors for an address, ranked by fade margin then capacity headroom",
)
async def serviceability_route(scope: Scope, lat: LatQ, lng: LngQ, cpe_height_m: HeightQ = None) -> Answer:
    permissions.require(scope.principal, "wireless_sectors", "read")
    async with scope.session() as s:
        return await s.run_sync(
            lambda ss: serviceability.check(ss, scope.tenant_id, lat=lat, lng=lng, cpe_height_m=cpe_height_m)
        )


@router.post(
    "/api/v1/wireless/leads",
    response_model=LeadCreated,
    status_code=201,
    operation_id="wireless_record_lead",
    summary="Check an address for a caller and keep it as a lead",
)
async def record_lead(body: LeadBody, scope: Scope) -> LeadCreated:
    permissions.require(scope.principal, "wireless_leads", "record")

    def run(ss: Session) -> LeadCreated:
        answer = serviceability.check(
            ss, scope.tenant_id, lat=body.latitude, lng=body.longitude, cpe_height_m=body.cpe_height_m
        )
        lead = leads.record(
            ss,
            scope.tenant_id,
            answer,
            source=LeadSource.STAFF,
            cpe_height_m=body.cpe_height_m,
            address=body.address,
            contact_name=body.contact_name,
            contact_email=body.contact_email,
            contact_phone=body.contact_phone,
        )
        return LeadCreated(id=lead.id, serviceable=lead.serviceable)

    async with scope.session() as s:
        created = await s.run_sync(run)
        scope.audit(s, "wireless_leads", created.id, "create", body.model_dump(exclude_none=True))
    return created


@router.post(
    "/api/v1/public/wireless/{slug}/check",
    response_model=PortalAnswer,
    operation_id="wireless_public_check",
    summary="Public, rate-limited: can this provider serve my address? (records an enquiry)",
    responses={404: {"description": "no such provider page"}, 429: {"description": "too many checks"}},
)
async def public_check(
    slug: Annotated[str, Path(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]*$")],
    body: LeadBody,
    db: Db,
    meta: Meta,
) -> PortalAnswer:
    async with db.tenant(slug, enforce_status=False) as lookup:
        tenant_id = await lookup.run_sync(lambda ss: leads.portal_tenant(ss, slug))
    if tenant_id is None:
        raise NotFound("no such page")

    def run(ss: Session) -> PortalAnswer:
        _, brand, answer, lead = leads.portal_check(
            ss,
            tenant_id,
            lat=body.latitude,
            lng=body.longitude,
            cpe_height_m=body.cpe_height_m,
            client_address=meta.ip,
            address=body.address,
            contact_name=body.contact_name,
            contact_email=body.contact_email,
            contact_phone=body.contact_phone,
        )
        best = next((c for c in answer.candidates if c.usable), None)
        return PortalAnswer(
            provider=brand,
            serviceable=answer.serviceable,
            expected_mbps=None if best is None else best.budget.expected_mbps,
            plans=[]
            if best is None
            else [
                PortalPlan(name=p.name, download_mbps=p.download_mbps, upload_mbps=p.upload_mbps)
                for p in best.plans
                if p.supported
            ],
            reference=lead.id,
        )

    try:
        async with db.tenant(tenant_id) as s:
            return await s.run_sync(run)
    except IspopsError as exc:
        if exc.status == 403:  # a tenant that may not work now: as if it had no page
            raise NotFound("no such page") from exc
        raise


@router.get(
    "/api/v1/wireless_sectors/{key}/link-budget",
    response_model=Budget,
    operation_id="wireless_sector_link_budget",
    summary="The link budget from a sector to a point",
    responses=NOT_FOUND,
)
async def link_budget(key: SectorKey, scope: Scope, lat: LatQ, lng: LngQ, cpe_height_m: HeightQ = None) -> Budget:
    permissions.require(scope.principal, "wireless_sectors", "read")

    def run(ss: Session) -> Budget:
        sector = ss.scalars(
            select(WirelessSector).where(
                WirelessSector.tenant_id == scope.tenant_id,
                WirelessSector.id == key,
                WirelessSector.deleted_at.is_(None),
            )
        ).first()
        if sector is None:
            raise NotFound("wireless_sectors: no such record", table="wireless_sectors")
        tower = ss.scalars(
            select(WirelessTower).where(WirelessTower.tenant_id == scope.tenant_id, WirelessTower.id == sector.tower_id)
        ).one()
        serviceability.check_point(lat, lng, cpe_height_m)
        ((_, km),) = bearing_and_distance(float(tower.latitude), float(tower.longitude), [(lat, lng)])
        return service.budget_for(sector, tower, settings.load(ss, scope.tenant_id), km, cpe_height=cpe_height_m)

    async with scope.session() as s:
        return await s.run_sync(run)


@router.get(
    "/api/v1/wireless_sectors/{key}/utilisation",
    response_model=Utilisation,
    operation_id="wireless_sector_utilisation",
    summary="Subscribers vs max, sold Mbps vs capacity x oversubscription, the warning",
    responses=NOT_FOUND,
)
async def sector_utilisation(key: SectorKey, scope: Scope) -> Utilisation:
    permissions.require(scope.principal, "wireless_sectors", "read")
    async with scope.session() as s:
        return await s.run_sync(lambda ss: service.utilisation(ss, scope.tenant_id, key))


@router.get(
    "/api/v1/wireless_towers/{key}/channel-overlaps",
    response_model=list[Overlap],
    operation_id="wireless_tower_channel_overlaps",
    summary="Sectors of the tower on overlapping channels whose beams overlap",
    responses=NOT_FOUND,
)
async def channel_overlaps(
    key: Annotated[uuid.UUID, Path(description="the tower's id")], scope: Scope
) -> list[Overlap]:
    permissions.require(scope.principal, "wireless_towers", "read")
    async with scope.session() as s:
        return await s.run_sync(lambda ss: service.channel_overlaps(ss, scope.tenant_id, key))


@router.post(
    "/api/v1/wireless/coverage/recompute",
    response_model=Recomputed,
    operation_id="wireless_recompute_coverage",
    summary="Recompute every live sector's coverage (after changing the wireless settings)",
)
async def recompute(scope: Scope) -> Recomputed:
    permissions.require(scope.principal, "wireless_sectors", "update")
    async with scope.session() as s:
        count = await s.run_sync(lambda ss: service.recompute_coverage(ss, scope.tenant_id))
    return Recomputed(recomputed=count)


def _body(rules: Rules) -> SettingsBody:
    return SettingsBody.model_validate(rules.as_columns())


@router.get(
    "/api/v1/wireless/settings",
    response_model=SettingsBody,
    operation_id="wireless_settings",
    summary="The tenant's wireless rules (defaults until set)",
)
async def get_settings(scope: Scope) -> SettingsBody:
    permissions.require(scope.principal, "wireless_settings", "read")
    async with scope.session() as s:
        return _body(await s.run_sync(lambda ss: settings.load(ss, scope.tenant_id)))


@router.put(
    "/api/v1/wireless/settings",
    response_model=SettingsBody,
    operation_id="wireless_settings_put",
    summary="Set the tenant's wireless rules",
)
async def put_settings(body: SettingsBody, scope: Scope) -> SettingsBody:
    permissions.require(scope.principal, "wireless_settings", "update")
    data = body.model_dump()
    rules = Rules(**{**data, "bands": tuple(Band(**b) for b in data["bands"])})
    async with scope.session() as s:
        await s.run_sync(lambda ss: settings.save(ss, scope.tenant_id, rules))
        row = (await s.scalars(select(WirelessSettings.id).where(WirelessSettings.tenant_id == scope.tenant_id))).one()
        scope.audit(s, "wireless_settings", row, "update", data)
    return _body(rules)


@router.get(
    "/api/v1/wireless/cpe-snmp",
    response_model=CpeSnmpState,
    operation_id="wireless_cpe_snmp",
    summary="Whether the tenant's CPE SNMP credentials are set (never the credentials)",
)
async def get_cpe_snmp(scope: Scope) -> CpeSnmpState:
    permissions.require(scope.principal, "wireless_settings", "read")
    creds = await run_in_threadpool(settings.load_cpe_snmp, secret_runtime.current(), scope.tenant_id)
    return (
        CpeSnmpState(configured=False)
        if creds is None
        else CpeSnmpState(configured=True, version=creds.version, port=creds.port)
    )


@router.put(
    "/api/v1/wireless/cpe-snmp",
    status_code=204,
    response_class=Response,
    operation_id="wireless_cpe_snmp_put",
    summary="Store the CPE SNMP credentials the poller uses, in the secret store (write-only)",
)
async def put_cpe_snmp(body: CpeSnmpCredentials, scope: Scope) -> Response:
    permissions.require(scope.principal, "wireless_settings", "update")
    async with scope.session() as s:
        # The audit event first: the secret is written only once the event is in the transaction.
        scope.audit(s, "wireless_settings", scope.tenant_id, "update", {"cpe_snmp": sorted(body.model_fields_set)})
        await s.flush()
        await run_in_threadpool(settings.save_cpe_snmp, secret_runtime.current(), scope.tenant_id, body)
    return Response(status_code=204)


@router.delete(
    "/api/v1/wireless/cpe-snmp",
    status_code=204,
    response_class=Response,
    operation_id="wireless_cpe_snmp_delete",
    summary="Forget the CPE SNMP credentials (the poller then skips the tenant)",
)
async def delete_cpe_snmp(scope: Scope) -> Response:
    permissions.require(scope.principal, "wireless_settings", "update")
    async with scope.session() as s:
        scope.audit(s, "wireless_settings", scope.tenant_id, "update", {"cpe_snmp": None})
        await s.flush()
        await run_in_threadpool(settings.forget_cpe_snmp, secret_runtime.current(), scope.tenant_id)
    return Response(status_code=204)


@router.post(
    "/api/v1/wireless/cpe-readings",
    response_model=IngestRead,
    operation_id="wireless_push_cpe_readings",
    summary="Push CPE radio readings (history, latest values, alarms)",
)
async def push_readings(body: ReadingsBody, scope: Scope) -> IngestRead:
    permissions.require(scope.principal, "wireless_cpe_readings", "push")
    readings = [telemetry.Reading(**r.model_dump()) for r in body.readings]
    async with scope.session() as s:
        report = await s.run_sync(
            lambda ss: telemetry.ingest(ss, scope.tenant_id, readings, source=CpeReadingSource.PUSH)
        )
    return IngestRead.model_validate(
        {"accepted": report.accepted, "cpes": report.cpes, "raised": report.raised, "cleared": report.cleared}
    )


def _f(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


@router.get(
    "/api/v1/wireless_subscribers/{key}/health",
    response_model=HealthRead,
    operation_id="wireless_cpe_health",
    summary="A CPE's latest radio values against the prediction and its plan, with open alarms",
    responses=NOT_FOUND,
)
async def cpe_health(key: Annotated[uuid.UUID, Path(description="the CPE's id")], scope: Scope) -> HealthRead:
    permissions.require(scope.principal, "wireless_subscribers", "read")

    def run(ss: Session) -> HealthRead:
        cpe = ss.scalars(
            select(WirelessSubscriber).where(
                WirelessSubscriber.tenant_id == scope.tenant_id,
                WirelessSubscriber.id == key,
                WirelessSubscriber.deleted_at.is_(None),
            )
        ).first()
        if cpe is None:
            raise NotFound("wireless_subscribers: no such record", table="wireless_subscribers")
        alarms = ss.scalars(
            select(WirelessCpeAlarm)
            .where(
                WirelessCpeAlarm.tenant_id == scope.tenant_id,
                WirelessCpeAlarm.wireless_subscriber_id == key,
                WirelessCpeAlarm.cleared_at.is_(None),
            )
            .order_by(WirelessCpeAlarm.raised_at)
        ).all()
        return HealthRead(
            id=cpe.id,
            sector_id=cpe.sector_id,
            registered_sector_id=cpe.registered_sector_id,
            signal_dbm=cpe.signal_strength_dbm,
            predicted_signal_dbm=_f(cpe.predicted_signal_dbm),
            noise_dbm=cpe.noise_floor_dbm,
            snr_db=cpe.snr_db,
            predicted_snr_db=_f(cpe.predicted_snr_db),
            plan_needs_snr_db=telemetry.plan_snr(ss, scope.tenant_id, cpe),
            link_speed_mbps=cpe.link_speed_mbps,
            distance_km=_f(cpe.distance_km),
            last_seen=cpe.last_seen,
            open_alarms=[AlarmRead.model_validate(a) for a in alarms],
        )

    async with scope.session() as s:
        return await s.run_sync(run)
