"""Automation services: launch, cancel and retry Ansible jobs, read their progress, claim and finish a run.

Sync functions over the caller's ``Session`` (the API calls them through ``AsyncSession.run_sync``); they
flush, never commit. A launch writes the ``ansible_jobs`` row and queues ``automation.run_job`` in the same
transaction, so a rolled-back request leaves neither behind. Every front door uses :func:`launch`: the API
(trigger ``api``, by the user), the CLI (``cli``), a schedule (``scheduled``, by the schedule's id) and a
lifecycle step (:func:`launch_for_order`: ``lifecycle``, by the order's id).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ispops.automation import playbooks
from ispops.config import Settings
from ispops.errors import Conflict, NotFound, ValidationFailed
from ispops.jobs import defer_in
from ispops.models.automation import (
    FINISHED,
    AnsibleEngine,
    AnsibleJob,
    AnsibleJobEvent,
    AnsibleJobStatus,
    AnsibleTriggerSource,
    AutomationPlaybook,
)
from ispops.models.network import Device

RUN_JOB = "automation.run_job"
VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# Extra vars may not set these: connection variables would send a device's credentials elsewhere, and
# ispops_* are what the platform itself hands to the playbooks.
RESERVED_PREFIXES = ("ansible_", "ispops_")
MAX_LIMIT = 1000
WAIT_SECONDS = 5  # a run over the tenant's concurrency limit is tried again this much later
_USER = text("select current_setting('app.current_user_id', true)")


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"ansible_jobs.{field}: {message}", table="ansible_jobs", field=field)


def check_extra_vars(extra_vars: Any) -> dict[str, Any]:
    if not isinstance(extra_vars, dict):
        raise _invalid("extra_vars", "must be a JSON object")
    for key in extra_vars:
        if not isinstance(key, str) or not VAR_NAME.match(key):
            raise _invalid("extra_vars", f"{key!r} is not a valid variable name")
        if key.startswith(RESERVED_PREFIXES):
            raise _invalid("extra_vars", f"{key!r}: variables starting with ansible_ or ispops_ are the platform's")
    return extra_vars


def resolve_playbook(session: Session, tenant_id: str, name: str) -> uuid.UUID | None:
    """None for a shipped playbook, the id of the tenant's registered one; 422 naming playbook_name else."""
    if playbooks.is_shipped(name):
        return None
    found = session.scalar(
        select(AutomationPlaybook.id).where(
            AutomationPlaybook.tenant_id == tenant_id,
            AutomationPlaybook.name == name,
        )
    )
    if found is None:
        shipped = ", ".join(playbooks.shipped_names())
        raise _invalid("playbook_name", f"no playbook {name!r} (shipped: {shipped}; or register one first)")
    return found


def check_devices(session: Session, tenant_id: str, ids: list[uuid.UUID], field: str) -> None:
    """Every id is a live device of this tenant; another tenant's device is as unknown as a missing one."""
    if not ids:
        return
    found = set(
        session.scalars(
            select(Device.id).where(Device.tenant_id == tenant_id, Device.id.in_(ids), Device.deleted_at.is_(None))
        )
    )
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise _invalid(field, f"no such device: {', '.join(missing[:5])}")


def current_user(session: Session) -> str | None:
    value = session.scalar(_USER)
    return str(value) if value else None


@dataclass(frozen=True)
class LaunchRequest:
    playbook_name: str
    job_name: str | None = None
    job_type: str | None = None
    target_device_id: uuid.UUID | None = None
    limit: list[uuid.UUID] | None = None
    extra_vars: dict[str, Any] | None = None
    check_mode: bool = False
    diff_mode: bool = False
    timeout_seconds: int | None = None
    engine: str = AnsibleEngine.RUNNER
    awx_job_template_id: int | None = None


def launch(
    session: Session,
    tenant_id: str,
    request: LaunchRequest,
    *,
    trigger_source: AnsibleTriggerSource,
    triggered_by: str | None,
    schedule_id: uuid.UUID | None = None,
    lifecycle_order_id: uuid.UUID | None = None,
    retry_of: AnsibleJob | None = None,
) -> AnsibleJob:
    """Validate, write the pending row and queue its run, all in the caller's transaction."""
    extra_vars = check_extra_vars(request.extra_vars if request.extra_vars is not None else {})
    limit = list(dict.fromkeys(request.limit or []))
    if len(limit) > MAX_LIMIT:
        raise _invalid("limit", f"at most {MAX_LIMIT} devices")
    if request.engine == AnsibleEngine.AWX:
        if request.awx_job_template_id is None:
            raise _invalid("awx_job_template_id", "required with engine awx")
        playbook_id = None
    else:
        playbook_id = resolve_playbook(session, tenant_id, request.playbook_name)
    check_devices(session, tenant_id, limit, "limit")
    if request.target_device_id is not None:
        check_devices(session, tenant_id, [request.target_device_id], "target_device_id")
    targets = ([request.target_device_id] if request.target_device_id else []) + [
        d for d in limit if d != request.target_device_id
    ]
    job = AnsibleJob(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        job_name=request.job_name or request.playbook_name.removesuffix(".yml")[:100],
        playbook_name=request.playbook_name,
        playbook_id=playbook_id,
        job_type=request.job_type,
        target_device_id=request.target_device_id,
        inventory={"device_ids": [str(d) for d in targets] if targets else None},
        engine=request.engine,
        awx_job_template_id=request.awx_job_template_id,
        extra_vars=extra_vars,
        check_mode=request.check_mode,
        diff_mode=request.diff_mode,
        timeout_seconds=request.timeout_seconds,
        trigger_source=trigger_source,
        triggered_by=triggered_by,
        schedule_id=schedule_id,
        lifecycle_order_id=lifecycle_order_id,
        retry_of_id=retry_of.id if retry_of is not None else None,
        attempt=retry_of.attempt + 1 if retry_of is not None else 1,
        status=AnsibleJobStatus.PENDING,
    )
    session.add(job)
    session.flush()
    job.queue_job_id = defer_in(session, RUN_JOB, ansible_job_id=str(job.id))
    session.flush()
    return job


def launch_for_order(session: Session, tenant_id: str, *, order_id: uuid.UUID, request: LaunchRequest) -> AnsibleJob:
    """What a lifecycle step calls: the run is recorded as triggered by the order (``lifecycle``)."""
    return launch(
        session,
        tenant_id,
        request,
        trigger_source=AnsibleTriggerSource.LIFECYCLE,
        triggered_by=f"order:{order_id}",
        lifecycle_order_id=order_id,
    )


def get_job(session: Session, tenant_id: str, job_id: uuid.UUID, *, for_update: bool = False) -> AnsibleJob:
    stmt = select(AnsibleJob).where(AnsibleJob.tenant_id == tenant_id, AnsibleJob.id == job_id)
    if for_update:
        stmt = stmt.with_for_update()
    job = session.scalar(stmt)
    if job is None:
        raise NotFound("ansible_jobs: no such record", table="ansible_jobs")
    return job


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def cancel(session: Session, tenant_id: str, job_id: uuid.UUID) -> AnsibleJob:
    """A pending run is cancelled at once; a running one is asked to stop (its runner ends the process
    tree within a second and records ``cancelled``); a finished one is a 409."""
    job = get_job(session, tenant_id, job_id, for_update=True)
    if job.status in FINISHED:
        raise Conflict(f"ansible_jobs: the job has already finished ({job.status})", field="status")
    if job.status == AnsibleJobStatus.PENDING:
        job.status = AnsibleJobStatus.CANCELLED
        job.completed_at = now()
        job.error = "cancelled before it started"
    job.cancel_requested_at = job.cancel_requested_at or now()
    session.flush()
    return job


def retry(
    session: Session,
    tenant_id: str,
    job_id: uuid.UUID,
    *,
    trigger_source: AnsibleTriggerSource,
    triggered_by: str | None,
) -> AnsibleJob:
    """A new run with the same playbook, targets and variables (``retry_of_id``, ``attempt`` + 1)."""
    old = get_job(session, tenant_id, job_id)
    if old.status not in FINISHED or old.status == AnsibleJobStatus.SUCCESS:
        raise Conflict(
            f"ansible_jobs: only a failed, cancelled or timed out job is retried ({old.status})", field="status"
        )
    device_ids = (old.inventory or {}).get("device_ids") or []
    request = LaunchRequest(
        playbook_name=old.playbook_name,
        job_name=old.job_name,
        job_type=old.job_type,
        target_device_id=old.target_device_id,
        limit=[uuid.UUID(d) for d in device_ids],
        extra_vars=dict(old.extra_vars or {}),
        check_mode=old.check_mode,
        diff_mode=old.diff_mode,
        timeout_seconds=old.timeout_seconds,
        engine=old.engine,
        awx_job_template_id=old.awx_job_template_id,
    )
    return launch(
        session,
        tenant_id,
        request,
        trigger_source=trigger_source,
        triggered_by=triggered_by,
        schedule_id=old.schedule_id,
        lifecycle_order_id=old.lifecycle_order_id,
        retry_of=old,
    )


@dataclass(frozen=True)
class EventsPage:
    status: str
    events: list[dict[str, Any]]
    offset: int
    next_offset: int
    finished: bool


def events_page(session: Session, tenant_id: str, job_id: uuid.UUID, *, offset: int, limit: int) -> EventsPage:
    """The run's events from ``offset`` (0 = the first), in order: poll with ``next_offset`` until
    ``finished``."""
    job = get_job(session, tenant_id, job_id)
    rows = session.scalars(
        select(AnsibleJobEvent)
        .where(AnsibleJobEvent.tenant_id == tenant_id, AnsibleJobEvent.job_id == job_id)
        .order_by(AnsibleJobEvent.seq)
        .offset(offset)
        .limit(limit)
    ).all()
    events = [
        {
            "seq": r.seq,
            "event": r.event,
            "host": r.host,
            "task": r.task,
            "stdout": r.stdout,
            "data": r.data,
            "occurred_at": r.occurred_at,
        }
        for r in rows
    ]
    return EventsPage(job.status, events, offset, offset + len(events), job.status in FINISHED)


# ----------------------------------------------------------------------------------------------------------
# The run's own transactions (automation.jobs)


@dataclass(frozen=True)
class Claim:
    """A run the worker may start now (``start``), or why not."""

    start: bool
    reason: str = ""


def claim(session: Session, tenant_id: str, job_id: uuid.UUID, *, limit: int) -> Claim:
    """Take a pending run if the tenant has fewer than ``limit`` running (a transaction-scoped advisory
    lock orders concurrent claims of one tenant); over the limit the run is queued again a little later.
    A row already ``running`` here means the worker that ran it died: it is failed, not run twice."""
    session.execute(text("select pg_advisory_xact_lock(hashtext('ispops.automation:' || :t))"), {"t": tenant_id})
    job = session.scalar(
        select(AnsibleJob).where(AnsibleJob.tenant_id == tenant_id, AnsibleJob.id == job_id).with_for_update()
    )
    if job is None:
        return Claim(False, "no such job")
    if job.status == AnsibleJobStatus.RUNNING:
        job.status = AnsibleJobStatus.FAILED
        job.completed_at = now()
        job.error = "the worker running it stopped; retry the job"
        return Claim(False, "worker lost")
    if job.status != AnsibleJobStatus.PENDING:
        return Claim(False, f"already {job.status}")
    running = session.scalar(
        select(func.count())
        .select_from(AnsibleJob)
        .where(AnsibleJob.tenant_id == tenant_id, AnsibleJob.status == AnsibleJobStatus.RUNNING)
    )
    if int(running or 0) >= limit:
        job.queue_job_id = defer_in(
            session, RUN_JOB, schedule_at=now() + dt.timedelta(seconds=WAIT_SECONDS), ansible_job_id=str(job.id)
        )
        return Claim(False, "waiting: the tenant's concurrency limit is reached")
    job.status = AnsibleJobStatus.RUNNING
    job.started_at = now()
    session.flush()
    return Claim(True)


def record_events(session: Session, tenant_id: str, job_id: uuid.UUID, events: list[dict[str, Any]]) -> None:
    for e in events:
        created = e.get("created")
        session.add(
            AnsibleJobEvent(
                tenant_id=tenant_id,
                job_id=job_id,
                seq=e["seq"],
                event=e["event"][:100],
                host=(e.get("host") or None) and str(e["host"])[:255],
                task=e.get("task"),
                stdout=e.get("stdout"),
                data=e.get("data"),
                occurred_at=dt.datetime.fromisoformat(created) if isinstance(created, str) else None,
            )
        )
    session.flush()


def cancel_requested(session: Session, tenant_id: str, job_id: uuid.UUID) -> bool:
    return bool(
        session.scalar(
            select(AnsibleJob.cancel_requested_at.is_not(None)).where(
                AnsibleJob.tenant_id == tenant_id, AnsibleJob.id == job_id
            )
        )
    )


def finish(session: Session, tenant_id: str, job_id: uuid.UUID, **values: Any) -> AnsibleJob:
    job = get_job(session, tenant_id, job_id, for_update=True)
    for key, value in values.items():
        setattr(job, key, value)
    job.completed_at = now()
    if job.started_at is not None:
        job.duration_seconds = max(0, int((job.completed_at - job.started_at).total_seconds()))
    session.flush()
    return job


def check_playbook_source(settings: Settings, data: dict[str, Any]) -> None:
    """The registration rules (``ispops.automation.playbooks``), and no name of a shipped playbook."""
    name = str(data.get("name") or "")
    if playbooks.is_shipped(name):
        raise Conflict(f"automation_playbooks.name: {name!r} is a shipped playbook's name", field="name")
    playbooks.check_source(
        str(data.get("source_type")),
        str(data.get("source") or ""),
        data.get("git_ref"),
        str(data.get("playbook_file") or "site.yml"),
        settings,
    )
