"""Lifecycle steps on the access side: the FTTH ONU (authorise on its OLT), the wireless CPE record, and
the CPE's configuration (TR-069 through GenieACS, or an Ansible run) (docs/lifecycle.md).

ONUs go through ``ispops.ftth.service`` and the provisioning hook (``provision_api.defer_driver_job``): an
OLT with a driver gets a driver job queued in the step's transaction and the step waits for it; an OLT
without one is provisioned by hand and completes at once. An ONU is this order's when it carries the
order's subscriber and was not on an OLT for it when the order started (the snapshot).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select

from ispops.automation import service as automation
from ispops.config import get_settings
from ispops.errors import Conflict, IspopsError, NotFound, ValidationFailed
from ispops.ftth import provision_api, tr069
from ispops.ftth import service as ftth
from ispops.ipam import service as ipam
from ispops.lifecycle.steps import Done, StepContext, StepFailed, Wait
from ispops.lifecycle.steps_common import BaseStep, as_uuid, failed, result_of, snapshot
from ispops.models import AnsibleJob, OltPonPort, Onu, OnuProvisioningJob, WirelessSubscriber
from ispops.models.automation import FINISHED, AnsibleJobStatus
from ispops.models.ftth import OnuStatus
from ispops.wireless import service as wireless

S = OnuStatus
AUTHORISE = "authorise_onu"
REGISTER = "register_cpe"
CONFIGURE = "configure_cpe"
POLL_SECONDS = 1.0  # how soon a waiting step looks again
DRIVER_DEADLINE = dt.timedelta(minutes=15)  # an authorisation job not finished by then fails the step
ONU_CONFIG = ("vlan_id", "line_profile", "service_profile", "onu_type")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _order_onu(ctx: StepContext, *, lock: bool = False) -> Onu | None:
    """The ONU the order names (by record id, else by serial), if it exists."""
    stmt = select(Onu).where(Onu.tenant_id == ctx.tenant_id, Onu.deleted_at.is_(None))
    onu_id = as_uuid(ctx.params.get("onu_id") or result_of(ctx, AUTHORISE).get("onu"))
    if onu_id is not None:
        stmt = stmt.where(Onu.id == onu_id)
    elif ctx.params.get("serial_number"):
        stmt = stmt.where(Onu.serial_number == ctx.params["serial_number"])
    else:
        return None
    return ctx.session.scalar(stmt.with_for_update() if lock else stmt)


def _mine(ctx: StepContext, onu: Onu | None) -> bool:
    """The ONU was taken for this order's subscriber by this order (not before it)."""
    return (
        onu is not None
        and onu.subscriber_id == ctx.subscriber_id
        and str(onu.id) not in set(snapshot(ctx).get("onus", []))
    )


def _onu_result(onu: Onu, job: uuid.UUID | None = None) -> dict[str, Any]:
    return {
        "onu": str(onu.id),
        "serial_number": onu.serial_number,
        "pon_port_id": str(onu.pon_port_id),
        "onu_id": onu.onu_id,
        "status": onu.status,
        "provisioning": "driver" if job else "manual",
    }


def _last_job(ctx: StepContext, onu: Onu, action: str) -> OnuProvisioningJob | None:
    return ctx.session.scalar(
        select(OnuProvisioningJob)
        .where(
            OnuProvisioningJob.tenant_id == ctx.tenant_id,
            OnuProvisioningJob.onu_id == onu.id,
            OnuProvisioningJob.action == action,
        )
        .order_by(OnuProvisioningJob.created_at.desc(), OnuProvisioningJob.id.desc())
        .limit(1)
    )


def _lock_port(ctx: StepContext, onu: Onu | None) -> None:
    """The PON port's row, locked before the ONU is written: a new ONU's insert takes a key-share lock on
    its port (the foreign key), and two authorisations each holding one while asking for the port's lock
    (``reserve_authorisation`` takes it last) would deadlock. Taken first, they queue instead."""
    port_id = onu.pon_port_id if onu is not None else as_uuid(ctx.params.get("pon_port_id"))
    if port_id is not None:
        ctx.session.execute(
            select(OltPonPort.id)
            .where(OltPonPort.tenant_id == ctx.tenant_id, OltPonPort.id == port_id)
            .with_for_update()
        )


class AuthoriseOnu(BaseStep):
    """FTTH: reserve the lowest free ONU id on the PON port and authorise the ONU on its OLT; wait while the
    driver job runs. Skipped when the order names no ONU. Undo: deauthorise it (its id is freed) or, if its
    authorisation failed, retire it (the OLT never had it; auto-find discovers it again)."""

    name = AUTHORISE

    def run(self, ctx: StepContext) -> Done | Wait:
        if ctx.params.get("access") != "ftth":
            return Done({"skipped": "the order names no ONU"})
        onu = _order_onu(ctx, lock=True)
        if _mine(ctx, onu):
            assert onu is not None
            return self._progress(ctx, onu)
        config = {k: ctx.params[k] for k in ONU_CONFIG if ctx.params.get(k) is not None}
        _lock_port(ctx, onu)
        try:
            onu = ftth.reserve_authorisation(
                ctx.session,
                ctx.tenant_id,
                as_uuid(ctx.params.get("onu_id")),
                olt_id=as_uuid(ctx.params.get("olt_id")),
                pon_port_id=as_uuid(ctx.params.get("pon_port_id")),
                serial_number=ctx.params.get("serial_number"),
                splitter_id=as_uuid(ctx.params.get("splitter_id")),
                splitter_port=ctx.params.get("splitter_port"),
                subscriber_id=ctx.subscriber_id,
                **config,
            )
            job = provision_api.defer_driver_job(ctx.session, ctx.tenant_id, ftth.DriverAction("authorise", onu))
        except IspopsError as exc:
            raise failed(exc) from None
        ctx.session.refresh(onu)
        if onu.status in ftth.ON_OLT:
            return Done(_onu_result(onu, job))
        return Wait(POLL_SECONDS, f"OLT driver job {job} authorising ONU {onu.serial_number}")

    def _progress(self, ctx: StepContext, onu: Onu) -> Done | Wait:
        job = _last_job(ctx, onu, "authorise")
        if onu.status in ftth.ON_OLT:
            return Done(_onu_result(onu, job.id if job else None))
        if onu.status == S.AUTH_FAILED:
            why = f"{job.error_kind}: {job.error}" if job is not None else "no job"
            raise StepFailed(f"onus: the OLT did not authorise ONU {onu.serial_number} ({why})", field="onu_id")
        if onu.status == S.AUTHORISING:
            if job is not None and job.created_at is not None and _now() - job.created_at > DRIVER_DEADLINE:
                raise StepFailed(f"onus: the OLT driver job {job.id} did not finish in time", retryable=False)
            return Wait(POLL_SECONDS, f"OLT driver job authorising ONU {onu.serial_number}")
        raise StepFailed(f"onus: ONU {onu.serial_number} is {onu.status} (changed outside the order)", field="onu_id")

    def compensate(self, ctx: StepContext) -> None:
        onu = _order_onu(ctx, lock=True)
        if not _mine(ctx, onu):
            return
        assert onu is not None
        if onu.status in (S.DISCOVERED, S.RETIRED, S.DEAUTHORISING):
            return
        if onu.status == S.AUTHORISING:
            # A driver job still holds the ONU: undo it once the job has ended (the engine retries).
            raise StepFailed(f"onus: ONU {onu.serial_number} is still being authorised", retryable=True)
        if onu.status == S.AUTH_FAILED:
            ftth.retire(ctx.session, ctx.tenant_id, onu.id)
            return
        previous = (onu.pon_port_id, onu.onu_id)
        onu = ftth.begin_deauthorisation(ctx.session, ctx.tenant_id, onu.id)
        provision_api.defer_driver_job(ctx.session, ctx.tenant_id, ftth.DriverAction("deauthorise", onu, previous))


def _order_cpe(ctx: StepContext) -> WirelessSubscriber | None:
    mac = ctx.params.get("cpe_mac")
    if not mac:
        return None
    return ctx.session.scalar(
        select(WirelessSubscriber).where(
            WirelessSubscriber.tenant_id == ctx.tenant_id,
            WirelessSubscriber.subscriber_id == ctx.subscriber_id,
            func.lower(WirelessSubscriber.cpe_mac) == str(mac).lower(),
            WirelessSubscriber.deleted_at.is_(None),
        )
    )


def _cpe_result(cpe: WirelessSubscriber) -> dict[str, Any]:
    return {
        "cpe": str(cpe.id),
        "cpe_mac": cpe.cpe_mac,
        "sector_id": str(cpe.sector_id),
        "predicted_signal_dbm": float(cpe.predicted_signal_dbm) if cpe.predicted_signal_dbm is not None else None,
    }


class RegisterCpe(BaseStep):
    """Wireless: the CPE record on its sector (a full sector is a 409 naming ``sector_id``; its predicted
    signal comes from the link budget). Skipped when the order names no CPE. Undo: the record is removed
    (it was never in service)."""

    name = REGISTER

    def run(self, ctx: StepContext) -> Done | Wait:
        if ctx.params.get("access") != "wireless":
            return Done({"skipped": "the order names no CPE"})
        cpe = _order_cpe(ctx)
        if cpe is not None:
            return Done(_cpe_result(cpe))
        cpe = WirelessSubscriber(
            tenant_id=ctx.tenant_id,
            subscriber_id=ctx.subscriber_id,
            sector_id=uuid.UUID(str(ctx.params["sector_id"])),
            cpe_mac=str(ctx.params["cpe_mac"]).lower(),
            cpe_model=ctx.params.get("cpe_model"),
            install_latitude=Decimal(str(ctx.params["install_latitude"])),
            install_longitude=Decimal(str(ctx.params["install_longitude"])),
            install_address=ctx.params.get("install_address"),
            installation_date=_now().date(),
            status="active",
        )
        try:
            wireless.prepare_cpe(ctx.session, ctx.tenant_id, cpe, joining=True)
            ctx.session.add(cpe)
            ctx.session.flush()
        except (Conflict, ValidationFailed, NotFound) as exc:
            raise failed(exc) from None
        return Done(_cpe_result(cpe))

    def compensate(self, ctx: StepContext) -> None:
        cpe = _order_cpe(ctx)
        if cpe is None or str(cpe.id) in set(snapshot(ctx).get("cpes", [])):
            return
        ctx.session.execute(
            delete(WirelessSubscriber)
            .where(WirelessSubscriber.tenant_id == ctx.tenant_id, WirelessSubscriber.id == cpe.id)
            .execution_options(synchronize_session=False)
        )


def _order_ansible_job(ctx: StepContext) -> AnsibleJob | None:
    return ctx.session.scalar(
        select(AnsibleJob)
        .where(AnsibleJob.tenant_id == ctx.tenant_id, AnsibleJob.lifecycle_order_id == ctx.order_id)
        .order_by(AnsibleJob.created_at.desc(), AnsibleJob.id.desc())
        .limit(1)
    )


class ConfigureCpe(BaseStep):
    """The CPE's configuration: PPPoE credentials on the ONU's CPE through GenieACS (TR-069), or the
    order's Ansible playbook (waits for the run); skipped when neither is configured. Undo: a run still
    going is cancelled; a CPE's settings are left (the access undo takes it off the network)."""

    name = CONFIGURE

    def run(self, ctx: StepContext) -> Done | Wait:
        mode = ctx.params.get("configure", "none")
        if mode == "tr069":
            return self._tr069(ctx)
        if mode == "ansible":
            return self._ansible(ctx)
        return Done({"skipped": "no TR-069 ACS or playbook for this order"})

    def _tr069(self, ctx: StepContext) -> Done | Wait:
        onu_id = as_uuid(result_of(ctx, AUTHORISE).get("onu"))
        if onu_id is None:
            return Done({"skipped": "no ONU authorised by this order"})
        settings = get_settings()
        if not settings.genieacs_nbi_url:
            raise StepFailed("genieacs_nbi_url: no GenieACS configured (ISPOPS_GENIEACS_NBI_URL)", retryable=True)
        acs = tr069.GenieAcs(settings.genieacs_nbi_url, timeout=settings.genieacs_timeout_seconds)
        try:
            status = tr069.set_wan_pppoe(ctx.session, ctx.tenant_id, onu_id, acs=acs)
        except tr069.AcsUnavailable as exc:
            raise failed(exc, retryable=True) from None
        except IspopsError as exc:
            raise failed(exc) from None
        device = ctx.session.scalar(
            select(Onu.genieacs_device_id).where(Onu.tenant_id == ctx.tenant_id, Onu.id == onu_id)
        )
        return Done({"tr069": status, "genieacs_device_id": device})

    def _ansible(self, ctx: StepContext) -> Done | Wait:
        job = _order_ansible_job(ctx)
        if job is None:
            network = result_of(ctx, "provision_radius")
            extra = {
                **dict(ctx.params.get("extra_vars") or {}),
                "subscriber_id": str(ctx.subscriber_id),
                "pppoe_username": network.get("pppoe_username"),
                "subscriber_ip": result_of(ctx, "allocate_ip").get("ip_address"),
            }
            request = automation.LaunchRequest(
                playbook_name=str(ctx.params["playbook_name"]),
                job_name=f"order {ctx.order_id}"[:100],
                job_type="provisioning",
                target_device_id=as_uuid(ctx.params.get("target_device_id")),
                extra_vars=extra,
            )
            try:
                job = automation.launch_for_order(ctx.session, ctx.tenant_id, order_id=ctx.order_id, request=request)
            except IspopsError as exc:
                raise failed(exc) from None
            return Wait(POLL_SECONDS * 2, f"Ansible job {job.id}")
        if job.status == AnsibleJobStatus.SUCCESS:
            return Done({"ansible_job_id": str(job.id), "status": job.status, "changed_tasks": job.changed_tasks})
        if job.status in FINISHED:
            raise StepFailed(f"ansible_jobs: the configuration run {job.id} ended {job.status}: {job.error or ''}")
        return Wait(POLL_SECONDS * 2, f"Ansible job {job.id} is {job.status}")

    def compensate(self, ctx: StepContext) -> None:
        if ctx.params.get("configure") != "ansible":
            return
        job = _order_ansible_job(ctx)
        if job is not None and job.status not in FINISHED:
            automation.cancel(ctx.session, ctx.tenant_id, job.id)


def _release_onus(ctx: StepContext, keep: set[str]) -> list[str]:
    """Deauthorise the subscriber's ONUs on an OLT (retire those whose authorisation failed), but ``keep``."""
    done = []
    onus = ctx.session.scalars(
        select(Onu)
        .where(
            Onu.tenant_id == ctx.tenant_id,
            Onu.subscriber_id == ctx.subscriber_id,
            Onu.deleted_at.is_(None),
            Onu.status.in_((*ftth.ON_OLT, S.AUTH_FAILED)),
        )
        .order_by(Onu.id)
        .with_for_update()
    ).all()
    for onu in onus:
        if str(onu.id) in keep:
            continue
        if onu.status == S.AUTH_FAILED:
            ftth.retire(ctx.session, ctx.tenant_id, onu.id)
        else:
            previous = (onu.pon_port_id, onu.onu_id)
            ftth.begin_deauthorisation(ctx.session, ctx.tenant_id, onu.id)
            provision_api.defer_driver_job(ctx.session, ctx.tenant_id, ftth.DriverAction("deauthorise", onu, previous))
        done.append(onu.serial_number)
    return done


def _remove_cpes(ctx: StepContext, keep: set[str]) -> list[str]:
    """Soft-delete the subscriber's live CPE records (history stays), but ``keep``."""
    done = []
    cpes = ctx.session.scalars(
        select(WirelessSubscriber).where(
            WirelessSubscriber.tenant_id == ctx.tenant_id,
            WirelessSubscriber.subscriber_id == ctx.subscriber_id,
            WirelessSubscriber.deleted_at.is_(None),
        )
    ).all()
    for cpe in cpes:
        if str(cpe.id) in keep:
            continue
        cpe.deleted_at = _now()
        cpe.status = "inactive"
        done.append(cpe.cpe_mac)
    ctx.session.flush()
    return done


def _authorising(ctx: StepContext, keep: set[str]) -> list[str]:
    """The subscriber's ONUs a driver job is still authorising (deauthorised once it has ended)."""
    return [
        str(serial)
        for onu_id, serial in ctx.session.execute(
            select(Onu.id, Onu.serial_number).where(
                Onu.tenant_id == ctx.tenant_id,
                Onu.subscriber_id == ctx.subscriber_id,
                Onu.deleted_at.is_(None),
                Onu.status == S.AUTHORISING,
            )
        )
        if str(onu_id) not in keep
    ]


class ReleaseAccess(BaseStep):
    """Termination: the subscriber's ONUs come off their OLTs (ids freed) and its CPE records are removed.
    An ONU a driver job is still authorising is waited for, then deauthorised."""

    name = "release_access"

    def run(self, ctx: StepContext) -> Done | Wait:
        busy = _authorising(ctx, set())
        if busy:
            return Wait(POLL_SECONDS, f"ONU {busy[0]} is still being authorised on its OLT")
        try:
            onus = _release_onus(ctx, set())
        except IspopsError as exc:
            raise failed(exc, retryable=True) from None
        return Done({"onus": onus, "cpes": _remove_cpes(ctx, set())})


class ReleasePrevious(BaseStep):
    """Relocation, after the subscriber is live at the new place: the access and addresses it had before
    (the snapshot's) are released, unless the order kept them."""

    name = "release_previous"

    def run(self, ctx: StepContext) -> Done | Wait:
        new_onu = result_of(ctx, AUTHORISE).get("onu")
        new_cpe = result_of(ctx, REGISTER).get("cpe")
        busy = _authorising(ctx, {new_onu} if new_onu else set())
        if busy:
            return Wait(POLL_SECONDS, f"ONU {busy[0]} is still being authorised on its OLT")
        before = snapshot(ctx)
        kept_allocation = result_of(ctx, "allocate_ip").get("allocation_id")
        released = []
        for allocation_id in before.get("allocations", []):
            if allocation_id == kept_allocation:
                continue
            try:
                made = ipam.release(ctx.session, tenant_id=ctx.tenant_id, allocation_id=uuid.UUID(allocation_id))
            except (Conflict, NotFound):
                continue  # released meanwhile
            released.append(str(made.ip_address).split("/")[0])
        try:
            onus = _release_onus(ctx, {new_onu} if new_onu else set())
        except IspopsError as exc:
            raise failed(exc, retryable=True) from None
        cpes = _remove_cpes(ctx, {new_cpe} if new_cpe else set())
        return Done({"released": released, "onus": onus, "cpes": cpes})
