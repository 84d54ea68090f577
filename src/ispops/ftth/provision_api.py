"""ONU provisioning over HTTP: driver jobs, their progress and transcripts; CPE management (TR-069).

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

The ONU action routes (``POST /api/v1/onus/{id}/authorise`` … in ``onus_api``) change the ONU's record and
call ``service.on_driver_action``; this module sets that hook to :func:`defer_driver_job`, which checks the
OLT can be driven (a management address for its ``driver``: else a 422 naming the field, and nothing is
written), renders the job and queues ``ftth.run_job`` in the same transaction. An OLT without a driver is
provisioned by hand: nothing is queued and the action completes at once (``authorised``, ``discovered``
after a deauthorisation; a reboot is only recorded); the answer says ``provisioning: manual``. The job's
progress and its whole transcript are read here. Reading needs ``onus.read``; starting discovery or a poll
``olts.update``; changing a CPE ``onus.update``.
"""

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ispops.api import permissions
from ispops.auth.deps import Scope
from ispops.config import Settings
from ispops.errors import NotFound
from ispops.ftth import jobs, service, tr069
from ispops.jobs.defer import defer_in
from ispops.models import OltPonPort, OnuProvisioningJob
from ispops.secrets import runtime as secret_runtime

router = APIRouter(tags=["ftth"])
JobKey = Annotated[uuid.UUID, Path(description="the provisioning job's id")]
OnuKey = Annotated[uuid.UUID, Path(description="the ONU's id")]
OltKey = Annotated[uuid.UUID, Path(description="the OLT's id")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such record (or another tenant's)"}}


def _queue(session: Session, job: OnuProvisioningJob) -> OnuProvisioningJob:
    job.queue_job_id = defer_in(session, jobs.TASK, job_id=str(job.id))
    session.flush()
    return job


def defer_driver_job(session: Session, tenant_id: str, action: service.DriverAction) -> uuid.UUID | None:
    """The driver hook: a job for ``action`` queued in the request's transaction; returns its id. A move to
    another OLT becomes two jobs: remove it from the old OLT (no lifecycle effect) and authorise it on the
    new one (whose id is returned). An OLT without a driver is provisioned by hand: the action completes at
    once (``service.complete_by_hand``), nothing is queued, and None is returned."""
    onu, previous = action.onu, action.previous
    if service.get_olt(session, tenant_id, onu.olt_id, field=None).driver is None:
        service.complete_by_hand(session, tenant_id, action)
        return None
    if action.action == "move" and previous is not None:
        old_olt = session.scalar(
            select(OltPonPort.olt_id).where(OltPonPort.tenant_id == tenant_id, OltPonPort.id == previous[0])
        )
        if old_olt is not None and old_olt != onu.olt_id:
            if previous[1] is not None:
                leave = jobs.create_job(session, tenant_id, olt_id=old_olt, action="deauthorise")
                leave.params = {
                    "serial_number": onu.serial_number,
                    "address": jobs.address_of(session, tenant_id, *previous),
                }
                _queue(session, leave)
            previous = None
    job = _queue(
        session,
        jobs.create_job(session, tenant_id, olt_id=onu.olt_id, action=action.action, onu=onu, previous=previous),
    )
    return job.id


service.on_driver_action = defer_driver_job


class StepRead(BaseModel):
    command: str
    output: str
    ok: bool
    at: str


class JobSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    olt_id: uuid.UUID
    onu_id: uuid.UUID | None
    action: str
    driver: str
    status: str = Field(description="queued, running, succeeded or failed")
    steps_done: int
    steps_total: int = Field(description="commands rendered for the job (known once it started)")
    error: str | None
    error_kind: str | None = Field(description="refused, timeout, unsupported or error")
    failed_command: str | None
    attempts: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class JobRead(JobSummary):
    params: dict[str, Any]
    commands: list[str] = Field(description="the rendered commands, in order")
    steps: list[StepRead] = Field(description="each command sent and the OLT's answer")
    transcript: str = Field(description="the whole console output")
    result: dict[str, Any] | None


def _summary(job: OnuProvisioningJob, model: type[JobSummary] = JobSummary) -> Any:
    data = {c: getattr(job, c) for c in model.model_fields if c != "steps_total"}
    data["steps_total"] = len(job.commands or [])
    return model.model_validate(data)


def _job(session: Session, tenant_id: str, key: uuid.UUID) -> OnuProvisioningJob:
    job = session.scalar(
        select(OnuProvisioningJob).where(OnuProvisioningJob.tenant_id == tenant_id, OnuProvisioningJob.id == key)
    )
    if job is None:
        raise NotFound("onu_provisioning_jobs: no such record", table="onu_provisioning_jobs")
    return job


def _jobs(
    session: Session, tenant_id: str, *, onu_id: uuid.UUID | None = None, olt_id: uuid.UUID | None = None
) -> list[Any]:
    if onu_id is not None:
        service.get_onu(session, tenant_id, onu_id)
        where = OnuProvisioningJob.onu_id == onu_id
    else:
        assert olt_id is not None
        service.get_olt(session, tenant_id, olt_id, field=None)
        where = OnuProvisioningJob.olt_id == olt_id
    rows = session.scalars(
        select(OnuProvisioningJob)
        .where(OnuProvisioningJob.tenant_id == tenant_id, where)
        .order_by(OnuProvisioningJob.created_at.desc(), OnuProvisioningJob.id)
        .limit(100)
    ).all()
    return [_summary(j) for j in rows]


@router.get(
    "/api/v1/onu_provisioning_jobs/{key}",
    response_model=JobRead,
    responses=NOT_FOUND,
    operation_id="get_onu_provisioning_job",
    summary="A provisioning job: progress, rendered commands, each step's output, the whole transcript",
)
async def get_job(key: JobKey, scope: Scope) -> Any:
    permissions.require(scope.principal, "onus", "read")
    async with scope.session() as s:
        return await s.run_sync(lambda session: _summary(_job(session, scope.tenant_id, key), JobRead))


@router.get(
    "/api/v1/onus/{key}/provisioning-jobs",
    response_model=list[JobSummary],
    responses=NOT_FOUND,
    operation_id="list_onu_provisioning_jobs",
    summary="An ONU's provisioning jobs, newest first (at most 100)",
)
async def onu_jobs(key: OnuKey, scope: Scope) -> Any:
    permissions.require(scope.principal, "onus", "read")
    async with scope.session() as s:
        return await s.run_sync(lambda session: _jobs(session, scope.tenant_id, onu_id=key))


@router.get(
    "/api/v1/olts/{key}/provisioning-jobs",
    response_model=list[JobSummary],
    responses=NOT_FOUND,
    operation_id="list_olt_provisioning_jobs",
    summary="An OLT's driver jobs, newest first (at most 100)",
)
async def olt_jobs(key: OltKey, scope: Scope) -> Any:
    permissions.require(scope.principal, "onus", "read")
    async with scope.session() as s:
        return await s.run_sync(lambda session: _jobs(session, scope.tenant_id, olt_id=key))


async def _olt_job(key: uuid.UUID, scope: Any, action: str) -> Any:
    permissions.require(scope.principal, "olts", "update")
    async with scope.session() as s:

        def start(session: Session) -> Any:
            job = _queue(session, jobs.create_job(session, scope.tenant_id, olt_id=key, action=action))
            return _summary(job)

        summary = await s.run_sync(start)
        scope.audit(s, "olts", key, "action", {"action": action, "job": str(summary.id)})
        return summary


@router.post(
    "/api/v1/olts/{key}/discover",
    response_model=JobSummary,
    status_code=202,
    responses=NOT_FOUND,
    operation_id="discover_olt",
    summary="Queue an auto-find on the OLT (its unconfigured ONUs are recorded as discovered)",
)
async def discover(key: OltKey, scope: Scope) -> Any:
    return await _olt_job(key, scope, "discover")


@router.post(
    "/api/v1/olts/{key}/poll",
    response_model=JobSummary,
    status_code=202,
    responses=NOT_FOUND,
    operation_id="poll_olt",
    summary="Queue a poll of the OLT: ONU link states and light levels",
)
async def poll(key: OltKey, scope: Scope) -> Any:
    return await _olt_job(key, scope, "poll")


# --- CPE management (TR-069 through GenieACS) ---------------------------------------------------------------


class WifiBody(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    ssid: str = Field(min_length=1, max_length=32)
    passphrase: str = Field(
        min_length=8, max_length=63, repr=False, description="WPA2 passphrase; kept in the secret store"
    )


class WanBody(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    password: str | None = Field(
        default=None, max_length=128, repr=False, description="only when the tenant keeps RADIUS passwords as hashes"
    )


class CpeTask(BaseModel):
    onu_id: uuid.UUID
    genieacs_device_id: str | None
    task: str = Field(description="done (the CPE applied it) or queued (at its next inform)")


class CpeRead(BaseModel):
    onu_id: uuid.UUID
    genieacs_device_id: str
    data_model: str
    manufacturer: str | None
    product_class: str | None
    last_inform: str | None
    wifi_ssid: str | None


def _acs(request: Request) -> tr069.GenieAcs | None:
    settings: Settings = request.app.state.settings
    if not settings.genieacs_nbi_url:
        return None
    return tr069.GenieAcs(settings.genieacs_nbi_url, timeout=settings.genieacs_timeout_seconds)


async def _cpe(scope: Any, key: uuid.UUID, what: str, run: Any) -> CpeTask:
    permissions.require(scope.principal, "onus", "update")
    async with scope.session() as s:
        task = await s.run_sync(run)
        onu = await s.run_sync(lambda session: service.get_onu(session, scope.tenant_id, key))
        scope.audit(s, "onus", key, "action", {"action": f"cpe_{what}", "task": task})
        return CpeTask(onu_id=key, genieacs_device_id=onu.genieacs_device_id, task=task)


@router.get(
    "/api/v1/onus/{key}/cpe",
    response_model=CpeRead,
    responses=NOT_FOUND,
    operation_id="get_onu_cpe",
    summary="The ONU's CPE in GenieACS",
)
async def get_cpe(key: OnuKey, scope: Scope, request: Request) -> Any:
    permissions.require(scope.principal, "onus", "read")
    acs = _acs(request)
    async with scope.session() as s:
        onu, device = await s.run_sync(lambda session: tr069.find_cpe(session, scope.tenant_id, key, acs))
        return CpeRead(
            onu_id=key,
            genieacs_device_id=device.id,
            data_model=device.data_model,
            manufacturer=device.manufacturer,
            product_class=device.product_class,
            last_inform=device.last_inform,
            wifi_ssid=onu.wifi_ssid,
        )


@router.put(
    "/api/v1/onus/{key}/cpe/wifi",
    response_model=CpeTask,
    responses=NOT_FOUND,
    operation_id="set_onu_cpe_wifi",
    summary="Set the CPE's Wi-Fi SSID and passphrase",
)
async def set_wifi(key: OnuKey, body: WifiBody, scope: Scope, request: Request) -> Any:
    acs, store = _acs(request), secret_runtime.current()
    return await _cpe(
        scope,
        key,
        "wifi",
        lambda session: tr069.set_wifi(
            session, scope.tenant_id, key, ssid=body.ssid, passphrase=body.passphrase, acs=acs, store=store
        ),
    )


@router.put(
    "/api/v1/onus/{key}/cpe/wan",
    response_model=CpeTask,
    responses=NOT_FOUND,
    operation_id="set_onu_cpe_wan",
    summary="Set the CPE's WAN to PPPoE with the subscriber's RADIUS credentials",
)
async def set_wan(key: OnuKey, body: WanBody, scope: Scope, request: Request) -> Any:
    acs = _acs(request)
    return await _cpe(
        scope,
        key,
        "wan_pppoe",
        lambda session: tr069.set_wan_pppoe(session, scope.tenant_id, key, acs=acs, password=body.password),
    )


@router.post(
    "/api/v1/onus/{key}/cpe/reboot",
    response_model=CpeTask,
    responses=NOT_FOUND,
    operation_id="reboot_onu_cpe",
    summary="Reboot the CPE through the ACS",
)
async def reboot_cpe(key: OnuKey, scope: Scope, request: Request) -> Any:
    acs = _acs(request)
    return await _cpe(scope, key, "reboot", lambda session: tr069.reboot(session, scope.tenant_id, key, acs=acs))


@router.post(
    "/api/v1/onus/{key}/cpe/refresh",
    response_model=CpeTask,
    responses=NOT_FOUND,
    operation_id="refresh_onu_cpe",
    summary="Have the ACS refresh the CPE's parameters",
)
async def refresh_cpe(key: OnuKey, scope: Scope, request: Request) -> Any:
    acs = _acs(request)
    return await _cpe(scope, key, "refresh", lambda session: tr069.refresh(session, scope.tenant_id, key, acs=acs))


def register(api: APIRouter) -> None:
    """Provisioning jobs, OLT discovery and polling, CPE management."""
    api.include_router(router)
