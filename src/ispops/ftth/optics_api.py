"""FTTH optical health over HTTP: the push API, an ONU's history, alarms, the alarm settings.

- ``POST /api/v1/ftth/optics/readings``: readings pushed by a collector (ONU by ``onu_id`` or
  ``serial_number``), at most ``MAX_PUSH`` per request, all or nothing (``ispops.ftth.optics``).
- ``GET /api/v1/onus/{onu_id}/optics``: an ONU's readings, or its hourly/daily rollups.
- ``GET /api/v1/ftth/alarms`` (per OLT, PON port, ONU or splitter) and ``GET /api/v1/ftth/alarms/summary``.
- ``GET/PUT /api/v1/ftth/settings/alarms``: the tenant's alarm settings (``ispops.ftth.alarms``).

Permissions reuse the ONU and OLT rows of the matrix: pushing readings is updating ONUs; reading history and
alarms is reading ONUs; the alarm settings are the OLTs' (read / update). Another tenant's ONU, OLT or
splitter is a 404.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)
"""

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from ispops.api import permissions
from ispops.auth.deps import Scope
from ispops.ftth import alarms, optics
from ispops.ftth.alarms import AlarmSettings
from ispops.ftth.optics import OpticalReading

MAX_PUSH = 10_000
TAG = "ftth"


class PushedReading(BaseModel):
    """One reading as a collector pushes it: the ONU by ``onu_id`` or by ``serial_number`` (one of them)."""

    model_config = ConfigDict(extra="forbid")

    onu_id: uuid.UUID | None = None
    serial_number: str | None = Field(default=None, min_length=1, max_length=100)
    measured_at: AwareDatetime
    rx_dbm: float | None = Field(default=None, ge=-50, le=10, description="ONU receive power, dBm (-50 to +10)")
    tx_dbm: float | None = Field(default=None, ge=-10, le=12, description="ONU transmit power, dBm (-10 to +12)")
    olt_rx_dbm: float | None = Field(default=None, ge=-50, le=10, description="OLT receive power, dBm (-50 to +10)")
    temperature_c: float | None = Field(default=None, ge=-55, le=150, description="degrees C (-55 to 150)")
    voltage_v: float | None = Field(default=None, ge=0, le=10, description="volts (0 to 10)")
    distance_m: int | None = Field(default=None, ge=0, le=100_000, description="metres (0 to 100,000)")
    uptime_seconds: int | None = Field(default=None, ge=0, le=3_153_600_000, description="seconds")

    @model_validator(mode="after")
    def _one_key(self) -> "PushedReading":
        if (self.onu_id is None) == (self.serial_number is None):
            raise ValueError("give exactly one of onu_id and serial_number")
        return self


class PushBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    readings: list[PushedReading] = Field(min_length=1, max_length=MAX_PUSH)


class IngestOut(BaseModel):
    received: int
    stored: int = Field(description="new rows; a reading already stored is skipped")
    onus_updated: int = Field(description="ONUs whose current values moved to a newer reading")
    alarms_raised: int
    alarms_cleared: int
    alarms_changed: int


class AlarmOut(BaseModel):
    id: uuid.UUID
    kind: str
    severity: str
    olt_id: uuid.UUID
    pon_port: int | None
    onu_id: uuid.UUID | None
    splitter_id: uuid.UUID | None
    onu_count: int
    members: list[str]
    value_dbm: float | None
    threshold_dbm: float | None
    cause: str | None
    raised_at: dt.datetime
    cleared_at: dt.datetime | None
    detail: str | None


class AlarmList(BaseModel):
    items: list[AlarmOut]
    total: int


class SummaryRow(BaseModel):
    olt_id: uuid.UUID
    pon_port: int | None
    kind: str
    severity: str
    alarms: int
    onus: int


class HistoryOut(BaseModel):
    onu_id: uuid.UUID
    resolution: str
    items: list[dict[str, Any]]


def _readings(s: Any, tenant_id: str, body: PushBody) -> list[OpticalReading]:
    ids = optics.onu_ids_by_serial(s, tenant_id, [r.serial_number for r in body.readings])
    return [
        OpticalReading(
            onu_id=r.onu_id or ids[i],
            **r.model_dump(exclude={"onu_id", "serial_number"}),
        )
        for i, r in enumerate(body.readings)
    ]


def _push(s: Any, tenant_id: str, body: PushBody) -> optics.IngestResult:
    return optics.ingest_readings(s, tenant_id=tenant_id, readings=_readings(s, tenant_id, body), pushed=True)


router = APIRouter(tags=[TAG])


@router.post(
    "/api/v1/ftth/optics/readings",
    response_model=IngestOut,
    summary="Push ONU optical readings (all or nothing; an Rx outside -50..+10 dBm is a 422 naming it)",
)
async def push_readings(body: PushBody, scope: Scope) -> Any:
    permissions.require(scope.principal, "onus", "update")
    async with scope.session() as s:
        result = await s.run_sync(_push, scope.tenant_id, body)
    return IngestOut(**result.__dict__)


@router.get(
    "/api/v1/onus/{onu_id}/optics",
    response_model=HistoryOut,
    summary="An ONU's optical history: raw readings, or hourly/daily rollups",
)
async def onu_history(
    scope: Scope,
    onu_id: Annotated[uuid.UUID, Path()],
    start: Annotated[AwareDatetime | None, Query(description="default: end - 24 hours")] = None,
    end: Annotated[AwareDatetime | None, Query(description="default: now")] = None,
    resolution: Annotated[Literal["raw", "hourly", "daily"], Query()] = "raw",
) -> Any:
    permissions.require(scope.principal, "onus", "read")
    until = end or dt.datetime.now(dt.UTC)
    since = start or until - dt.timedelta(hours=24)
    async with scope.session() as s:
        items = await s.run_sync(
            lambda session: optics.history(
                session, scope.tenant_id, onu_id, start=since, end=until, resolution=resolution
            )
        )
    return HistoryOut(onu_id=onu_id, resolution=resolution, items=items)


@router.get("/api/v1/ftth/alarms", response_model=AlarmList, summary="FTTH alarms per OLT, PON port, ONU or splitter")
async def list_alarms(
    scope: Scope,
    olt_id: uuid.UUID | None = None,
    pon_port: Annotated[int | None, Query(ge=0)] = None,
    onu_id: uuid.UUID | None = None,
    splitter_id: uuid.UUID | None = None,
    kind: Literal["rx_low", "rx_high", "los", "dying_gasp", "power_event"] | None = None,
    state: Literal["open", "cleared", "all"] = "open",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Any:
    permissions.require(scope.principal, "onus", "read")
    async with scope.session() as s:
        items, total = await s.run_sync(
            lambda session: alarms.list_alarms(
                session,
                scope.tenant_id,
                olt_id=olt_id,
                pon_port=pon_port,
                onu_id=onu_id,
                splitter_id=splitter_id,
                kind=kind,
                state=state,
                limit=limit,
                offset=offset,
            )
        )
    return AlarmList(items=[AlarmOut(**i) for i in items], total=total)


@router.get(
    "/api/v1/ftth/alarms/summary",
    response_model=list[SummaryRow],
    summary="Open FTTH alarms counted per OLT and PON port",
)
async def alarm_summary(scope: Scope, olt_id: uuid.UUID | None = None) -> Any:
    permissions.require(scope.principal, "onus", "read")
    async with scope.session() as s:
        return await s.run_sync(lambda session: alarms.summary(session, scope.tenant_id, olt_id=olt_id))


@router.get("/api/v1/ftth/settings/alarms", response_model=AlarmSettings, summary="Your tenant's FTTH alarm settings")
async def get_alarm_settings(scope: Scope) -> Any:
    permissions.require(scope.principal, "olts", "read")
    async with scope.session() as s:
        return await s.run_sync(alarms.load_settings, scope.tenant_id)


@router.put(
    "/api/v1/ftth/settings/alarms",
    response_model=AlarmSettings,
    summary="Replace your tenant's FTTH alarm settings (fields left out take their defaults)",
)
async def put_alarm_settings(body: AlarmSettings, scope: Scope) -> Any:
    permissions.require(scope.principal, "olts", "update")
    async with scope.session() as s:
        before = await s.run_sync(alarms.load_settings, scope.tenant_id)
        saved = await s.run_sync(alarms.save_settings, scope.tenant_id, body)
        changes = {k: [v, body.model_dump()[k]] for k, v in before.model_dump().items() if body.model_dump()[k] != v}
        if changes:
            scope.audit(s, "ftth_settings", scope.tenant_id, "update", changes)
    return saved


def register(api: APIRouter) -> None:
    """The optical-health routes."""
    api.include_router(router)
