"""The automation jobs the workers run (``ispops.jobs.registry``): one Ansible run, the schedules, a
NetBox sync. Plain, idempotent functions over a sync ``Database``.

A run is three kinds of short transaction around the blocking part, which holds none open:

1. claim (``service.claim``): pending -> running under the tenant's concurrency limit;
2. while it runs: its events, in batches, and a look at ``cancel_requested_at`` at most twice a second;
3. finish: status, stdout, recap, per-host results, facts, and for ``backup.yml`` the configurations
   (stored like ``ispops devices backup`` and recorded on the devices).

The private directory (``Settings.automation_dir/<tenant>/<job>-…``, mode 0700) is removed when the run
ends, whatever happened.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from croniter import croniter  # type: ignore[import-untyped]
from sqlalchemy import select

from ispops.automation import awx, inventory, netbox, playbooks, runtime, service
from ispops.automation.runner import RunOutcome, RunRequest, Scrubber, run_playbook
from ispops.config import Settings
from ispops.db.session import Database
from ispops.devices.backup import BackupStorage
from ispops.devices.service import backup_result_statement
from ispops.errors import IspopsError
from ispops.models.automation import (
    AnsibleEngine,
    AnsibleJob,
    AnsibleTriggerSource,
    AutomationPlaybook,
    AutomationSchedule,
)
from ispops.secrets import SecretStore, open_secret_store

log = structlog.get_logger(__name__)
FLUSH_SECONDS = 0.5
CANCEL_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Plan:
    """What the run needs, read in the claim's transaction."""

    job_id: uuid.UUID
    playbook_name: str
    source: tuple[str, str, str | None, str] | None  # a registered playbook: type, source, ref, file
    engine: str
    awx_job_template_id: int | None
    device_ids: list[uuid.UUID] | None
    hosts: list[inventory.HostPlan]
    extra_vars: dict[str, Any]
    check: bool
    diff: bool
    timeout: int


def _plan(
    job: AnsibleJob, registered: AutomationPlaybook | None, hosts: list[inventory.HostPlan], cfg: Settings
) -> Plan:
    ids = (job.inventory or {}).get("device_ids")
    return Plan(
        job_id=job.id,
        playbook_name=job.playbook_name,
        source=(registered.source_type, registered.source, registered.git_ref, registered.playbook_file)
        if registered is not None
        else None,
        engine=job.engine,
        awx_job_template_id=job.awx_job_template_id,
        device_ids=[uuid.UUID(i) for i in ids] if ids else None,
        hosts=hosts,
        extra_vars=dict(job.extra_vars or {}),
        check=job.check_mode,
        diff=job.diff_mode,
        timeout=min(job.timeout_seconds or cfg.automation_timeout_seconds, cfg.automation_timeout_seconds),
    )


class EventSink:
    """Events from the runner's thread, written in batches in their own short transactions."""

    def __init__(self, db: Database, tenant_id: str, job_id: uuid.UUID) -> None:
        self.db, self.tenant_id, self.job_id = db, tenant_id, job_id
        self.pending: list[dict[str, Any]] = []
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        with self.lock:
            self.pending.append(event)
        if time.monotonic() - self.last >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            batch, self.pending = self.pending, []
        self.last = time.monotonic()
        if not batch:
            return
        try:
            with self.db.tenant(self.tenant_id, enforce_status=False) as s:
                service.record_events(s, self.tenant_id, self.job_id, batch)
        except IspopsError as exc:  # a duplicate after a restart: the events are there already
            log.warning("automation.events_not_recorded", job=str(self.job_id), error=exc.message)


def _cancel_check(db: Database, tenant_id: str, job_id: uuid.UUID) -> Any:
    last = 0.0
    seen = False

    def check() -> bool:
        nonlocal last, seen
        if seen or time.monotonic() - last < CANCEL_POLL_SECONDS:
            return seen
        last = time.monotonic()
        with db.tenant(tenant_id, enforce_status=False) as s:
            seen = service.cancel_requested(s, tenant_id, job_id)
        return seen

    return check


def _store(cfg: Settings, store: SecretStore | None) -> SecretStore | None:
    if store is not None:
        return store
    try:
        return open_secret_store(cfg)
    except IspopsError:
        return None


def _run_with_runner(
    db: Database, tenant_id: str, plan: Plan, cfg: Settings, store: SecretStore | None, workdir: Path
) -> tuple[RunOutcome, inventory.Inventory | None]:
    collect_dir = workdir / "collected"
    collect_dir.mkdir(mode=0o700)
    inv = inventory.write_inventory(
        workdir,
        plan.hosts,
        tenant_id=tenant_id,
        store=_store(cfg, store) if plan.hosts else store,
        radius_address=cfg.automation_radius_address,
        collect_dir=collect_dir,
    )
    if plan.source is None:
        located = playbooks.locate_shipped(plan.playbook_name)
    else:
        source_type, source, ref, playbook_file = plan.source
        located = playbooks.locate_tenant(source_type, source, ref, playbook_file, cfg, workdir)
    sink = EventSink(db, tenant_id, plan.job_id)
    request = RunRequest(
        job_id=str(plan.job_id),
        located=located,
        workdir=workdir,
        inventory=inv.path,
        extravars={**plan.extra_vars, "ispops_hosts": "all"},
        limit=",".join(inv.hosts) if plan.device_ids is not None and inv.hosts else None,
        check=plan.check,
        diff=plan.diff,
        timeout=plan.timeout,
        secrets=inv.secrets,
        python_interpreter=cfg.automation_python_interpreter,
    )
    try:
        outcome = run_playbook(request, on_event=sink, cancelled=_cancel_check(db, tenant_id, plan.job_id))
    finally:
        sink.flush()
    return outcome, inv


def _collect_backups(
    db: Database, tenant_id: str, cfg: Settings, workdir: Path, inv: inventory.Inventory
) -> dict[str, str]:
    """Configurations ``backup.yml`` handed over: stored and recorded per device."""
    folder = workdir / "collected"
    allowed = {h["device_id"] for h in inv.hosts.values()}
    storage = BackupStorage(cfg.backup_dir)
    saved: dict[str, str] = {}
    for file in sorted(folder.glob("*.cfg")) if folder.is_dir() else []:
        device = file.stem
        if device not in allowed:
            continue
        text = file.read_text(encoding="utf-8", errors="replace")
        at = dt.datetime.now(dt.UTC)
        result = storage.save(tenant_id, uuid.UUID(device), text if text.endswith("\n") else text + "\n", at)
        with db.tenant(tenant_id, enforce_status=False) as s:
            s.execute(backup_result_statement(tenant_id, uuid.UUID(device), at=at, path=str(result.path), error=None))
        saved[device] = "changed" if result.changed else "unchanged"
    return saved


def run_job(
    db: Database,
    tenant_id: str,
    *,
    ansible_job_id: str,
    settings: Settings | None = None,
    store: SecretStore | None = None,
    awx_client: awx.AutomationPlatform | None = None,
) -> dict[str, Any]:
    """Run one ``ansible_jobs`` row. Idempotent: a row that is not pending is left alone."""
    cfg = settings or runtime.current()
    job_id = uuid.UUID(ansible_job_id)
    with db.tenant(tenant_id, enforce_status=False) as s:
        claim = service.claim(s, tenant_id, job_id, limit=cfg.automation_concurrency_per_tenant)
        if not claim.start:
            return {"started": False, "reason": claim.reason}
        job = service.get_job(s, tenant_id, job_id)
        registered = s.get(AutomationPlaybook, job.playbook_id) if job.playbook_id else None
        device_ids = [uuid.UUID(i) for i in (job.inventory or {}).get("device_ids") or []] or None
        hosts = inventory.load_hosts(s, tenant_id, device_ids)
        plan = _plan(job, registered, hosts, cfg)
    log.info("automation.run_started", tenant=tenant_id, job=ansible_job_id, playbook=plan.playbook_name)
    values: dict[str, Any]
    cfg.automation_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    workdir = Path(tempfile.mkdtemp(prefix=f"{job_id}-", dir=cfg.automation_dir))  # mode 0700
    inv: inventory.Inventory | None = None
    try:
        if plan.engine == AnsibleEngine.AWX:
            outcome = awx.run_on_platform(
                db, tenant_id, plan, cfg, store, awx_client, cancelled=_cancel_check(db, tenant_id, job_id)
            )
        else:
            outcome, inv = _run_with_runner(db, tenant_id, plan, cfg, store, workdir)
        values = _values(outcome)
        if inv is not None:
            values["inventory"] = {
                "device_ids": [str(d) for d in plan.device_ids] if plan.device_ids else None,
                "hosts": inv.hosts,
                "skipped": inv.skipped,
            }
            if plan.playbook_name == "backup.yml" and plan.source is None and not plan.check:
                backups = _collect_backups(db, tenant_id, cfg, workdir, inv)
                values["host_results"] = {**(values.get("host_results") or {}), "_backups": backups}
    except IspopsError as exc:
        values = {"status": "failed", "error": exc.message}
    except Exception as exc:  # recorded, never left "running"
        log.exception("automation.run_crashed", tenant=tenant_id, job=ansible_job_id)
        secrets = inv.secrets if inv is not None else []
        values = {"status": "failed", "error": Scrubber(secrets).text(f"{type(exc).__name__}: {exc}")}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    with db.tenant(tenant_id, enforce_status=False) as s:
        service.finish(s, tenant_id, job_id, **values)
    log.info("automation.run_finished", tenant=tenant_id, job=ansible_job_id, status=values.get("status"))
    return {"started": True, "status": values.get("status")}


def _values(outcome: RunOutcome) -> dict[str, Any]:
    return {
        "status": outcome.status,
        "exit_code": outcome.rc,
        "stdout": outcome.stdout.replace("\r\n", "\n"),
        "stats": outcome.stats,
        "host_results": outcome.host_results,
        "ansible_facts": outcome.facts,
        "changed_tasks": outcome.changed_tasks,
        "failed_tasks": outcome.failed_tasks,
        "error": outcome.error,
        **({"awx_job_id": outcome.awx_job_id} if outcome.awx_job_id is not None else {}),
    }


def due(cron: str, last: dt.datetime | None, created: dt.datetime, at: dt.datetime) -> bool:
    """Whether ``cron`` has come round since the last run (or since the schedule was created)."""
    since = last or created
    following: dt.datetime = croniter(cron, since).get_next(dt.datetime)
    return following <= at


def run_schedules(db: Database, tenant_id: str, *, at: str | None = None) -> dict[str, int]:
    """Launch every enabled schedule that is due (``at``: ISO time, default now). Each launch is recorded
    as ``scheduled`` by the schedule's id; a schedule whose playbook or device is gone is skipped."""
    when = dt.datetime.fromisoformat(at) if at else dt.datetime.now(dt.UTC)
    launched = skipped = 0
    with db.tenant(tenant_id, enforce_status=False) as s:
        schedules = s.scalars(
            select(AutomationSchedule)
            .where(
                AutomationSchedule.tenant_id == tenant_id,
                AutomationSchedule.enabled.is_(True),
            )
            .with_for_update(skip_locked=True)
        ).all()
        for sched in schedules:
            if not due(sched.cron, sched.last_run_at, sched.created_at, when):
                continue
            request = service.LaunchRequest(
                playbook_name=sched.playbook_name,
                job_name=sched.name,
                target_device_id=sched.target_device_id,
                extra_vars=dict(sched.extra_vars or {}),
                check_mode=sched.check_mode,
            )
            try:
                with s.begin_nested():
                    service.launch(
                        s,
                        tenant_id,
                        request,
                        trigger_source=AnsibleTriggerSource.SCHEDULED,
                        triggered_by=f"schedule:{sched.id}",
                        schedule_id=sched.id,
                    )
                launched += 1
            except IspopsError as exc:
                skipped += 1
                log.warning("automation.schedule_skipped", tenant=tenant_id, schedule=str(sched.id), error=exc.message)
            sched.last_run_at = when
    return {"launched": launched, "skipped": skipped}


def netbox_sync(db: Database, tenant_id: str, *, sync_id: str, store: SecretStore | None = None) -> dict[str, Any]:
    """Run one ``netbox_syncs`` row (``ispops.automation.netbox``)."""
    return netbox.run_sync(db, tenant_id, uuid.UUID(sync_id), store=store)
