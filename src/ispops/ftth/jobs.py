"""OLT driver work on the procrastinate workers: provisioning jobs (authorise, deauthorise, reboot, replace,
move), discovery and polling (docs/ftth.md, "OLT drivers and provisioning").

A provisioning job is a row of ``onu_provisioning_jobs`` (created, with its rendered parameters, in the
request's transaction: :func:`create_job` + ``defer_in``) and one queued task ``ftth.run_job`` naming it.
:func:`run_job` never holds a transaction while it talks to the OLT:

1. one short transaction: the job (a finished one is left alone: at-least-once delivery), the OLT's driver,
   address and credentials; the job becomes ``running``;
2. the driver runs; each command and the OLT's answer is written to the job as it completes (its own short
   transaction per step: progress is visible through the API while the job runs);
3. one transaction with the outcome: the job ``succeeded`` or ``failed`` (with the refused command and its
   output, or ``timeout``), and the ONU's lifecycle moves on (``ispops.ftth.service``): authorised, or
   ``auth_failed`` (it keeps its id: authorising it again is safe, the driver starts from a clean state).

Polling reads the OLT's ONU states and light levels and hands them to ``service.set_link_states`` and
``optics.ingest_readings``; discovery hands the auto-found ONUs to ``service.record_discovered``. The
periodic jobs ``ftth.poll_tenant`` and ``ftth.discover_tenant`` run them for every OLT of a tenant that
has a driver. Everything is idempotent.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ispops.config import get_settings
from ispops.db.session import Database
from ispops.devices import service as devices
from ispops.devices.service import DeviceCredentials
from ispops.errors import IspopsError, NotFound, ValidationFailed
from ispops.ftth import alarms, optics, optics_maintenance, service
from ispops.ftth.drivers import NotConfigured, build
from ispops.ftth.drivers.base import (
    Authorisation,
    CommandFailed,
    DriverError,
    DriverTimeout,
    OltDriver,
    OltTarget,
    OnuAddress,
    PonAddress,
    Step,
    Transcript,
    Unsupported,
)
from ispops.models import Device, Olt, OltPonPort, Onu, OnuProvisioningJob
from ispops.models.ftth import OnuDownCause
from ispops.models.ftth_provisioning import ProvisioningStatus
from ispops.secrets import SecretNotFound, SecretStore, SecretStoreError, runtime

log = structlog.get_logger(__name__)

TASK = "ftth.run_job"
MAX_TRANSCRIPT = 1_000_000  # characters kept per job (a runaway console cannot fill the database)
ONU_ACTIONS = ("authorise", "deauthorise", "reboot", "replace", "move")
KNOWN_CAUSES = {c.value for c in OnuDownCause}


# --- the OLT's target, read in a transaction ---------------------------------------------------------------


@dataclass(frozen=True)
class OltInfo:
    olt_id: uuid.UUID
    driver: str | None
    target: OltTarget


def olt_info(
    session: Session, tenant_id: str, olt_id: uuid.UUID, store: SecretStore | None, *, timeout: float
) -> OltInfo:
    """How to drive the tenant's OLT ``olt_id``; :class:`NotConfigured` names what is missing."""
    olt = service.get_olt(session, tenant_id, olt_id, field=None)
    row = session.execute(devices.device_refs_query(tenant_id, [olt.device_id], include_inactive=True)).first()
    if row is None:
        raise NotConfigured("the OLT's device is gone", "device_id")
    device = devices.device_ref(row)
    if olt.driver is None:
        raise NotConfigured("the OLT has no driver: set olts.driver", "driver")
    if olt.driver == "lab":
        return OltInfo(
            olt.id, olt.driver, OltTarget(device.name, device.host or "lab", DeviceCredentials(), timeout=timeout)
        )
    if device.host is None:
        raise NotConfigured("the OLT's device has no management_ip (or primary_ip)", "management_ip")
    credentials = DeviceCredentials()
    if device.credentials_vault_path:
        if store is None:
            raise NotConfigured("no secret store for the OLT's credentials", "credentials_vault_path")
        try:
            credentials = devices.read_credentials(store, tenant_id, device.credentials_vault_path)
        except SecretNotFound:
            raise NotConfigured(f"nothing at {device.credentials_vault_path}", "credentials_vault_path") from None
        except (SecretStoreError, ValidationFailed) as exc:
            raise NotConfigured(exc.message, "credentials_vault_path") from None
    snmp = None
    if olt.driver == "huawei_ma5800":
        try:
            snmp = devices.snmp_target(device, store, tenant_id)
        except devices.NotPollable as exc:
            raise NotConfigured(str(exc), exc.field) from None
    target = OltTarget(
        name=device.name,
        host=device.host,
        credentials=credentials,
        snmp=snmp,
        port=olt.driver_port,
        olt_device_id=olt.voltha_device_id,
        timeout=timeout,
    )
    return OltInfo(olt.id, olt.driver, target)


def check_drivable(session: Session, tenant_id: str, olt_id: uuid.UUID) -> str:
    """At request time: the OLT has a known driver and an address (422 naming the field otherwise). The
    secret store is not read here (the job does)."""
    olt = service.get_olt(session, tenant_id, olt_id, field=None)
    try:
        if olt.driver is None:
            raise NotConfigured("the OLT has no driver: set olts.driver", "driver")
        build(olt.driver, OltTarget("check", "check", DeviceCredentials(), olt_device_id=olt.voltha_device_id or None))
    except NotConfigured as exc:
        if exc.field != "credentials_vault_path":
            raise ValidationFailed(f"olts.{exc.field}: {exc}", table="olts", field=exc.field) from None
    if olt.driver != "lab":
        device = session.execute(
            select(Device.management_ip, Device.primary_ip).where(
                Device.tenant_id == tenant_id, Device.id == olt.device_id, Device.deleted_at.is_(None)
            )
        ).first()
        if device is None or (device.management_ip is None and device.primary_ip is None):
            raise ValidationFailed(
                "devices.management_ip: the OLT's device has no management address",
                table="devices",
                field="management_ip",
            )
    return str(olt.driver)


# --- addresses --------------------------------------------------------------------------------------------


def _pon(session: Session, tenant_id: str, pon_port_id: uuid.UUID) -> PonAddress:
    port = session.scalars(
        select(OltPonPort).where(OltPonPort.tenant_id == tenant_id, OltPonPort.id == pon_port_id)
    ).one()
    return PonAddress(port.frame, port.slot, port.port)


def _address(session: Session, tenant_id: str, pon_port_id: uuid.UUID, onu_id: int | None) -> dict[str, int]:
    if onu_id is None:
        raise ValidationFailed("onus.onu_id: the ONU has no id on its port", table="onus", field="onu_id")
    pon = _pon(session, tenant_id, pon_port_id)
    return {"frame": pon.frame, "slot": pon.slot, "port": pon.port, "onu_id": onu_id}


def address_of(session: Session, tenant_id: str, pon_port_id: uuid.UUID, onu_id: int | None) -> dict[str, int]:
    """An ONU's place as the job's parameters keep it (frame, slot, port, onu_id)."""
    return _address(session, tenant_id, pon_port_id, onu_id)


def _onu_address(data: dict[str, int]) -> OnuAddress:
    return OnuAddress(PonAddress(data["frame"], data["slot"], data["port"]), data["onu_id"])


# --- creating a job (in the request's transaction) ----------------------------------------------------------


def create_job(
    session: Session, tenant_id: str, *, olt_id: uuid.UUID, action: str, onu: Onu | None = None, previous: Any = None
) -> OnuProvisioningJob:
    """A queued job for ``action`` with what the driver needs, rendered now (the ONU may change later)."""
    driver = check_drivable(session, tenant_id, olt_id)
    params: dict[str, Any] = {}
    if onu is not None:
        params = {
            "serial_number": onu.serial_number,
            "address": _address(session, tenant_id, onu.pon_port_id, onu.onu_id)
            if action != "deauthorise" or onu.onu_id is not None
            else None,
            "line_profile": onu.line_profile,
            "service_profile": onu.service_profile,
            "vlan_id": onu.vlan_id,
            "description": onu.serial_number,
            "voltha_device_id": onu.voltha_device_id,
        }
        if previous is not None:
            port_id, old_id = previous
            params["previous"] = _address(session, tenant_id, port_id, old_id) if old_id is not None else None
    job = OnuProvisioningJob(
        tenant_id=tenant_id,
        olt_id=olt_id,
        onu_id=onu.id if onu is not None else None,
        action=action,
        driver=driver,
        params=params,
    )
    session.add(job)
    session.flush()
    return job


# --- running a job ------------------------------------------------------------------------------------------


def _store() -> SecretStore | None:
    try:
        return runtime.current()
    except IspopsError as exc:
        log.warning("ftth.secret_store_unavailable", error=exc.message)
        return None


def _locked(s: Session, tenant_id: str, job_id: uuid.UUID) -> OnuProvisioningJob | None:
    return s.scalars(
        select(OnuProvisioningJob)
        .where(OnuProvisioningJob.tenant_id == tenant_id, OnuProvisioningJob.id == job_id)
        .with_for_update()
    ).first()


def _progress(db: Database, tenant_id: str, job_id: uuid.UUID) -> Callable[[Step], None]:
    def write(step: Step) -> None:
        with db.tenant(tenant_id, enforce_status=False) as s:
            job = _locked(s, tenant_id, job_id)
            if job is None:
                return
            job.steps = [*job.steps, step.as_dict()]
            job.steps_done = len(job.steps)
            job.transcript = (job.transcript + f"{step.command}\n{step.output}")[-MAX_TRANSCRIPT:]

    return write


def _plan(db: Database, tenant_id: str, job_id: uuid.UUID, commands: list[str]) -> None:
    with db.tenant(tenant_id, enforce_status=False) as s:
        s.execute(
            update(OnuProvisioningJob)
            .where(OnuProvisioningJob.tenant_id == tenant_id, OnuProvisioningJob.id == job_id)
            .values(commands=commands)
        )


class _Recorder(Transcript):
    """A transcript that also stores the planned commands on the job as soon as they are known."""

    def __init__(self, db: Database, tenant_id: str, job_id: uuid.UUID) -> None:
        super().__init__(_progress(db, tenant_id, job_id))
        self._db, self._tenant, self._job = db, tenant_id, job_id

    def plan(self, commands: Any) -> None:
        super().plan(commands)
        _plan(self._db, self._tenant, self._job, list(self.planned))


def _authorisation(params: dict[str, Any], address: dict[str, int] | None = None) -> Authorisation:
    where = address or params["address"]
    return Authorisation(
        address=_onu_address(where),
        serial_number=params["serial_number"],
        line_profile=params.get("line_profile"),
        service_profile=params.get("service_profile"),
        vlan_id=params.get("vlan_id"),
        description=params.get("description"),
        voltha_device_id=params.get("voltha_device_id"),
    )


def _drive(driver: OltDriver, action: str, params: dict[str, Any], transcript: Transcript) -> dict[str, Any] | None:
    if action == "authorise":
        driver.authorise(_authorisation(params), transcript)
    elif action == "deauthorise":
        if params.get("address") is not None:
            driver.deauthorise(_onu_address(params["address"]), params["serial_number"], transcript)
    elif action == "reboot":
        driver.reboot(_onu_address(params["address"]), transcript)
    elif action == "replace":  # the old unit's configuration goes (by address), the new serial is added
        driver.deauthorise(_onu_address(params["address"]), params["serial_number"], transcript)
        driver.authorise(_authorisation(params), transcript)
    elif action == "move":
        if params.get("previous") is not None:
            driver.deauthorise(_onu_address(params["previous"]), params["serial_number"], transcript)
        driver.authorise(_authorisation(params), transcript)
    else:
        raise DriverError(f"unknown action {action!r}")
    return None


def run_job(db: Database, tenant_id: str, *, job_id: str, timeout: float | None = None) -> str:
    """Run provisioning job ``job_id`` (the task ``ftth.run_job``); returns its final status."""
    key = uuid.UUID(job_id)
    timeout = timeout or get_settings().olt_timeout_seconds
    store = _store()
    with db.tenant(tenant_id, enforce_status=False) as s:
        job = _locked(s, tenant_id, key)
        if job is None:
            log.warning("ftth.job_missing", tenant=tenant_id, job=job_id)
            return "missing"
        if job.status in (ProvisioningStatus.SUCCEEDED, ProvisioningStatus.FAILED):
            return job.status
        action, params, olt_id, onu_id = job.action, dict(job.params), job.olt_id, job.onu_id
        job.status = ProvisioningStatus.RUNNING
        job.attempts += 1
        job.started_at = func.now()
        job.steps, job.steps_done, job.transcript, job.commands = [], 0, "", []
        try:
            info: OltInfo | None = olt_info(s, tenant_id, olt_id, store, timeout=timeout)
            setup_error = None
        except (NotConfigured, NotFound) as exc:
            info, setup_error = None, (str(exc) if isinstance(exc, NotConfigured) else exc.message)
    outcome: dict[str, Any] = {"status": ProvisioningStatus.SUCCEEDED}
    result: dict[str, Any] | None = None
    if info is None:
        outcome = {"status": ProvisioningStatus.FAILED, "error_kind": "error", "error": setup_error}
    else:
        transcript = _Recorder(db, tenant_id, key)
        try:
            driver = build(info.driver, info.target)
            if action in ONU_ACTIONS:
                result = _drive(driver, action, params, transcript)
            elif action == "discover":
                result = discover_olt(db, tenant_id, olt_id, driver)
            elif action == "poll":
                result = poll_olt(db, tenant_id, olt_id, driver)
        except CommandFailed as exc:
            outcome = {"status": "failed", "error_kind": "refused", "error": exc.message, "failed_command": exc.command}
        except DriverTimeout as exc:
            outcome = {"status": "failed", "error_kind": "timeout", "error": exc.message}
        except Unsupported as exc:
            outcome = {"status": "failed", "error_kind": "unsupported", "error": exc.message}
        except (DriverError, NotConfigured) as exc:
            outcome = {"status": "failed", "error_kind": "error", "error": str(exc)}
    _finish(db, tenant_id, key, action, onu_id, outcome, result)
    log.info(
        "ftth.job", tenant=tenant_id, job=job_id, action=action, **{k: v for k, v in outcome.items() if k != "error"}
    )
    return str(outcome["status"])


def _finish(
    db: Database,
    tenant_id: str,
    job_id: uuid.UUID,
    action: str,
    onu_id: uuid.UUID | None,
    outcome: dict[str, Any],
    result: dict[str, Any] | None,
) -> None:
    ok = outcome["status"] == ProvisioningStatus.SUCCEEDED
    with db.tenant(tenant_id, enforce_status=False) as s:
        job = _locked(s, tenant_id, job_id)
        if job is None:
            return
        job.status = outcome["status"]
        job.error, job.error_kind = outcome.get("error"), outcome.get("error_kind")
        job.failed_command, job.result = outcome.get("failed_command"), result
        job.finished_at = func.now()
        if onu_id is None:
            return
        try:
            _lifecycle(s, tenant_id, onu_id, action, ok)
        except IspopsError as exc:  # the ONU changed meanwhile (deleted, moved on): the job still records
            log.warning("ftth.lifecycle_not_moved", tenant=tenant_id, onu=str(onu_id), error=exc.message)


def _lifecycle(s: Session, tenant_id: str, onu_id: uuid.UUID, action: str, ok: bool) -> None:
    if action in ("authorise", "replace", "move"):
        if ok:
            service.complete_authorisation(s, tenant_id, onu_id)
        else:
            service.fail_authorisation(s, tenant_id, onu_id)
    elif action == "deauthorise":
        if ok:
            service.complete_deauthorisation(s, tenant_id, onu_id)
        else:
            service.fail_deauthorisation(s, tenant_id, onu_id)


# --- polling and discovery ----------------------------------------------------------------------------------


def _onus_by_address(s: Session, tenant_id: str, olt_id: uuid.UUID) -> dict[OnuAddress, uuid.UUID]:
    rows = s.execute(
        select(Onu.id, Onu.onu_id, OltPonPort.frame, OltPonPort.slot, OltPonPort.port)
        .join(OltPonPort, (OltPonPort.tenant_id == Onu.tenant_id) & (OltPonPort.id == Onu.pon_port_id))
        .where(Onu.tenant_id == tenant_id, Onu.olt_id == olt_id, Onu.deleted_at.is_(None), Onu.onu_id.is_not(None))
    ).all()
    return {OnuAddress(PonAddress(r.frame, r.slot, r.port), r.onu_id): r.id for r in rows}


def poll_olt(db: Database, tenant_id: str, olt_id: uuid.UUID, driver: OltDriver) -> dict[str, Any]:
    """Read the OLT's ONU states and light levels and record them (link state, optical readings)."""
    with db.tenant(tenant_id, enforce_status=False) as s:
        known = _onus_by_address(s, tenant_id, olt_id)
    addresses = sorted(known)
    if not addresses:
        return {"states": 0, "status_changes": 0, "readings": 0, "dropped": 0}
    states = driver.read_status(addresses)
    try:
        readings = driver.read_optics(addresses)
    except Unsupported:
        readings = []
    now = dt.datetime.now(dt.UTC)
    links = []
    for state in states:
        onu = known.get(state.address)
        if onu is None or state.online is None:
            continue
        cause = (
            None if state.online else (state.last_down_cause if state.last_down_cause in KNOWN_CAUSES else "unknown")
        )
        links.append(service.LinkState(onu, state.online, cause, now))
    distances = {s.address: s.distance_m for s in states}
    good, dropped = [], 0
    for r in readings:
        onu = known.get(r.address)
        if onu is None:
            continue
        try:
            good.append(
                optics.OpticalReading(
                    onu_id=onu,
                    measured_at=now,
                    rx_dbm=r.rx_dbm,
                    tx_dbm=r.tx_dbm,
                    olt_rx_dbm=r.olt_rx_dbm,
                    temperature_c=r.temperature_c,
                    voltage_v=r.voltage_v,
                    distance_m=r.distance_m if r.distance_m is not None else distances.get(r.address),
                )
            )
        except ValidationError as exc:  # a value no ONU can report: drop that reading, keep the rest
            dropped += 1
            log.warning("ftth.reading_dropped", tenant=tenant_id, onu=str(onu), error=str(exc).splitlines()[0])
    with db.tenant(tenant_id, enforce_status=False) as s:
        # readings first: they move the ONUs' current values only when newer than last_seen, which the
        # link state then sets to this poll's time
        stored = optics.ingest_readings(s, tenant_id=tenant_id, readings=good).stored if good else 0
        changed = service.set_link_states(s, tenant_id, links) if links else 0
        alarms.reconcile_link_alarms(s, tenant_id)  # LOS, dying gasp, one power event per splitter
    return {"states": len(links), "status_changes": changed, "readings": stored, "dropped": dropped}


def discover_olt(db: Database, tenant_id: str, olt_id: uuid.UUID, driver: OltDriver) -> dict[str, Any]:
    """Record the ONUs the OLT auto-found (``discovered``; configured ones only get ``last_seen``)."""
    found = driver.discover()
    with db.tenant(tenant_id, enforce_status=False) as s:
        for onu in found:
            service.record_discovered(
                s,
                tenant_id,
                olt_id=olt_id,
                serial_number=onu.serial_number,
                frame=onu.pon.frame,
                slot=onu.pon.slot,
                port=onu.pon.port,
                model=onu.equipment_id,
                loid=onu.loid,
            )
    return {"discovered": len(found)}


def _each_olt(
    db: Database, tenant_id: str, work: Callable[[Database, str, uuid.UUID, OltDriver], dict[str, Any]], timeout: float
) -> dict[str, Any]:
    store = _store()
    with db.tenant(tenant_id, enforce_status=False) as s:
        olt_ids = s.scalars(
            select(Olt.id)
            .where(Olt.tenant_id == tenant_id, Olt.deleted_at.is_(None), Olt.driver.is_not(None))
            .order_by(Olt.id)
        ).all()
    done: dict[str, Any] = {}
    for olt_id in olt_ids:
        try:
            with db.tenant(tenant_id, enforce_status=False) as s:
                info = olt_info(s, tenant_id, olt_id, store, timeout=timeout)
            done[str(olt_id)] = work(db, tenant_id, olt_id, build(info.driver, info.target))
        except (DriverError, NotConfigured, IspopsError) as exc:  # one OLT's problem never stops the others
            done[str(olt_id)] = {"error": getattr(exc, "message", str(exc))}
            log.warning("ftth.olt_skipped", tenant=tenant_id, olt=str(olt_id), error=done[str(olt_id)]["error"])
    return done


def poll_tenant(db: Database, tenant_id: str, *, timeout: float | None = None) -> dict[str, Any]:
    """Poll every OLT of the tenant that has a driver (the periodic job ``ftth.poll_tenant``)."""
    return _each_olt(db, tenant_id, poll_olt, timeout or get_settings().olt_timeout_seconds)


def discover_tenant(db: Database, tenant_id: str, *, timeout: float | None = None) -> dict[str, Any]:
    """Auto-find on every OLT of the tenant that has a driver (the periodic job ``ftth.discover_tenant``)."""
    return _each_olt(db, tenant_id, discover_olt, timeout or get_settings().olt_timeout_seconds)


def rollup_optics(db: Database, tenant_id: str, *, now: str | None = None) -> dict[str, Any]:
    """The hourly and daily optical rollups of the tenant's closed hours (the periodic job
    ``ftth.rollup_optics``, hourly at :12, after ``optics_maintenance.GRACE`` for late polls). ``now``: an
    ISO timestamp standing for the current time (tests, a replay). Idempotent: a rerun finds no marked hour."""
    at = dt.datetime.fromisoformat(now) if now is not None else None
    with db.tenant(tenant_id, enforce_status=False) as s:
        done = optics_maintenance.rollup(s, tenant_id, now=at)
    return {
        "hours": [h.isoformat() for h in done.hours],
        "hourly_rows": done.hourly_rows,
        "daily_rows": done.daily_rows,
    }
