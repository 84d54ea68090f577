"""Periodic device work, one tenant at a time: SNMP polling and configuration backups.

Plain, idempotent functions over a sync :class:`~ispops.db.session.Database` (the job runner registers
them as periodic tasks; ``ispops devices poll|backup`` runs them by hand). Each reads the devices in one
short transaction, talks to the devices with no transaction open, then records each device's outcome in
its own short transaction. A device that does not answer is recorded as such; it never fails the job.

They are blocking: from async code, call them in a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import structlog
from pysnmp.hlapi.v3arch.asyncio import SnmpEngine
from sqlalchemy.exc import SQLAlchemyError

from ispops.config import Settings, get_settings
from ispops.db.session import Database
from ispops.devices import service
from ispops.devices.backup import BackupFailed, BackupStorage, fetch_config
from ispops.devices.service import DeviceRef, Statement, fingerprint
from ispops.devices.snmp import PollResult, SnmpTarget, poll_device
from ispops.errors import IspopsError
from ispops.secrets import SecretNotFound, SecretStore, SecretStoreError, open_secret_store

log = structlog.get_logger(__name__)


@dataclass
class PollSummary:
    tenant_id: str
    online: int = 0
    degraded: int = 0
    offline: int = 0
    skipped: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def polled(self) -> int:
        return self.online + self.degraded + self.offline


@dataclass
class BackupSummary:
    tenant_id: str
    changed: int = 0
    unchanged: int = 0
    failed: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def _load(db: Database, tenant_id: str, device_ids: list[uuid.UUID] | None) -> list[DeviceRef]:
    with db.tenant(tenant_id, enforce_status=False) as s:
        return [service.device_ref(r) for r in s.execute(service.device_refs_query(tenant_id, device_ids))]


def _store(settings: Settings, store: SecretStore | None) -> SecretStore | None:
    if store is not None:
        return store
    try:
        return open_secret_store(settings)
    except IspopsError as exc:
        log.warning("devices.secret_store_unavailable", error=exc.message)
        return None


async def poll_targets(
    targets: list[tuple[uuid.UUID, SnmpTarget]],
    *,
    concurrency: int,
    timeout: float,
    retries: int,
    deadline: float,
    on_result: Callable[[uuid.UUID, PollResult], None] | None = None,
) -> dict[uuid.UUID, PollResult]:
    """Poll many devices, at most ``concurrency`` at a time. Community devices share one SNMP engine;
    each v3 device gets its own (USM users of different devices may share a name, not keys).

    ``on_result`` (blocking: it writes to the database) runs on one thread of its own, one result at a
    time, so the event loop keeps serving the other devices' SNMP requests and timeouts meanwhile."""
    gate = asyncio.Semaphore(concurrency)
    shared = SnmpEngine()
    results: dict[uuid.UUID, PollResult] = {}
    loop = asyncio.get_running_loop()
    recorder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="poll-record")

    async def one(device_id: uuid.UUID, target: SnmpTarget) -> None:
        async with gate:
            engine = None if target.credentials.version == "v3" else shared
            result = await poll_device(target, engine=engine, timeout=timeout, retries=retries, deadline=deadline)
        results[device_id] = result
        if on_result is not None:
            await loop.run_in_executor(recorder, on_result, device_id, result)

    try:
        await asyncio.gather(*(one(d, t) for d, t in targets))
    finally:
        shared.close_dispatcher()
        recorder.shutdown(wait=True)
    return results


def _run(coro_factory: Callable[[], Coroutine[Any, Any, Any]]) -> None:
    """Run a coroutine to completion from sync code, also when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro_factory())
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(coro_factory())).result()


def poll_tenant(
    db: Database,
    tenant_id: str,
    *,
    settings: Settings | None = None,
    store: SecretStore | None = None,
    device_ids: list[uuid.UUID] | None = None,
    concurrency: int | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    deadline: float | None = None,
    progress: Callable[[], None] | None = None,
) -> PollSummary:
    """Poll every live, not-inactive device of a tenant over SNMP and record what was seen."""
    cfg = settings or get_settings()
    started = time.monotonic()
    summary = PollSummary(tenant_id)
    devices = _load(db, tenant_id, device_ids)
    secrets = _store(cfg, store) if any(d.credentials_vault_path for d in devices) else store
    targets: list[tuple[uuid.UUID, SnmpTarget]] = []
    now = dt.datetime.now(dt.UTC)
    for device in devices:
        try:
            targets.append((device.id, service.snmp_target(device, secrets, tenant_id)))
        except ValueError as exc:
            summary.skipped += 1
            summary.problems.append(f"{device.name}: {exc}")
            _record(db, tenant_id, device, [service.poll_error_statement(tenant_id, device.id, str(exc), now)])
            if progress:
                progress()
    by_id = {d.id: d for d in devices}

    def record(device_id: uuid.UUID, result: PollResult) -> None:
        device = by_id[device_id]
        setattr(summary, result.status.value, getattr(summary, result.status.value) + 1)
        if result.error:
            summary.problems.append(f"{device.name}: {result.status.value}: {result.error}")
        if not _record(db, tenant_id, device, service.poll_result_statements(tenant_id, device_id, result)):
            summary.problems.append(f"{device.name}: the poll result could not be recorded (see the log)")
        if progress:
            progress()

    if targets:
        _run(
            lambda: poll_targets(
                targets,
                concurrency=concurrency or cfg.snmp_concurrency,
                timeout=timeout or cfg.snmp_timeout_seconds,
                retries=cfg.snmp_retries if retries is None else retries,
                deadline=deadline or cfg.snmp_device_deadline_seconds,
                on_result=record,
            )
        )
    summary.seconds = time.monotonic() - started
    log.info(
        "devices.poll",
        tenant=tenant_id,
        online=summary.online,
        degraded=summary.degraded,
        offline=summary.offline,
        skipped=summary.skipped,
        seconds=round(summary.seconds, 3),
    )
    return summary


def _record(db: Database, tenant_id: str, device: DeviceRef, statements: Sequence[Statement]) -> bool:
    """One short transaction per device: a write that fails (device deleted meanwhile, a value the
    database refuses) is logged and does not stop the others."""
    try:
        with db.tenant(tenant_id, enforce_status=False) as s:
            for stmt in statements:
                s.execute(stmt)
    except IspopsError as exc:
        log.warning("devices.record_failed", tenant=tenant_id, device=str(device.id), error=exc.message)
        return False
    except SQLAlchemyError as exc:  # not a data error (a lost connection, a privilege): the next device may do
        cause = getattr(exc, "orig", None) or exc
        log.error("devices.record_failed", tenant=tenant_id, device=str(device.id), error=str(cause))
        return False
    return True


@dataclass(frozen=True)
class BackupOutcome:
    at: dt.datetime
    path: str | None = None
    changed: bool = False
    error: str | None = None
    pin: service.PinRequest | None = None  # the presented SSH host key, when none is pinned yet


def backup_one(
    device: DeviceRef,
    tenant_id: str,
    *,
    store: SecretStore | None,
    storage: BackupStorage,
    timeout: float,
    accept_new_host_key: bool = True,
) -> BackupOutcome:
    """Fetch and store one device's configuration (module ``backup``); the outcome says which SSH host key
    to pin if none was (the caller pins it in a transaction: :func:`pin`). Blocking; never raises for a
    device problem."""
    at = dt.datetime.now(dt.UTC)
    try:
        if not device.credentials_vault_path:
            raise BackupFailed("no credentials_vault_path: nothing to log in with")
        if device.host is None:
            raise BackupFailed("no management_ip or primary_ip")
        if store is None:
            raise BackupFailed("no secret store configured")
        creds = service.read_credentials(store, tenant_id, device.credentials_vault_path)
        fetched = fetch_config(
            device.host, device.vendor, creds, timeout=timeout, accept_new_host_key=accept_new_host_key
        )
        saved = storage.save(tenant_id, device.id, fetched.config, at)
    except SecretNotFound:
        return BackupOutcome(at, error=f"credentials: nothing at {device.credentials_vault_path}")
    except (SecretStoreError, IspopsError) as exc:
        return BackupOutcome(at, error=f"credentials: {exc.message}")
    except (BackupFailed, OSError) as exc:
        return BackupOutcome(at, error=str(exc) or type(exc).__name__)
    return BackupOutcome(
        at,
        path=str(saved.path),
        changed=saved.changed,
        pin=service.pin_request(tenant_id, device, creds, fetched.host_key),
    )


def pin(db: Database, tenant_id: str, store: SecretStore, request: service.PinRequest) -> str | None:
    """Pin a backup's host key in its own short transaction; the key's fingerprint when pinned. A failure
    is a warning: the backup itself succeeded, and the next one tries again."""
    try:
        with db.tenant(tenant_id, enforce_status=False) as s:
            pinned = service.pin_host_key(s, store, tenant_id, request)
    except PIN_ERRORS as exc:
        log_not_pinned(tenant_id, request, exc)
        return None
    return log_pinned(tenant_id, request) if pinned is not None else None


# What pinning a host key may fail with: a warning, since the backup itself succeeded.
PIN_ERRORS = (SecretStoreError, IspopsError, SQLAlchemyError)


def log_not_pinned(tenant_id: str, request: service.PinRequest, exc: Exception) -> None:
    error = getattr(exc, "message", str(exc))
    log.warning("devices.ssh_host_key_not_pinned", tenant=tenant_id, device=str(request.device_id), error=error)


def log_pinned(tenant_id: str, request: service.PinRequest) -> str:
    print_ = fingerprint(request.host_key)
    log.info("devices.ssh_host_key_pinned", tenant=tenant_id, device=str(request.device_id), fingerprint=print_)
    return print_


def backup_tenant(
    db: Database,
    tenant_id: str,
    *,
    settings: Settings | None = None,
    store: SecretStore | None = None,
    device_ids: list[uuid.UUID] | None = None,
    concurrency: int | None = None,
    progress: Callable[[], None] | None = None,
) -> BackupSummary:
    """Back up every live, not-inactive device of a tenant that has credentials."""
    cfg = settings or get_settings()
    started = time.monotonic()
    summary = BackupSummary(tenant_id)
    devices = [d for d in _load(db, tenant_id, device_ids) if d.credentials_vault_path]
    secrets = _store(cfg, store) if devices else store
    storage = BackupStorage(cfg.backup_dir)

    def run(device: DeviceRef) -> tuple[DeviceRef, BackupOutcome]:
        return device, backup_one(
            device,
            tenant_id,
            store=secrets,
            storage=storage,
            timeout=cfg.backup_timeout_seconds,
            accept_new_host_key=cfg.backup_accept_new_host_keys,
        )

    with ThreadPoolExecutor(max_workers=concurrency or cfg.backup_concurrency) as pool:
        for device, outcome in pool.map(run, devices):
            if outcome.error:
                summary.failed += 1
                summary.problems.append(f"{device.name}: {outcome.error}")
            elif outcome.changed:
                summary.changed += 1
            else:
                summary.unchanged += 1
            _record(
                db,
                tenant_id,
                device,
                [
                    service.backup_result_statement(
                        tenant_id, device.id, at=outcome.at, path=outcome.path, error=outcome.error
                    )
                ],
            )
            if outcome.pin is not None and secrets is not None:
                pin(db, tenant_id, secrets, outcome.pin)
            if progress:
                progress()
    summary.seconds = time.monotonic() - started
    log.info(
        "devices.backup",
        tenant=tenant_id,
        changed=summary.changed,
        unchanged=summary.unchanged,
        failed=summary.failed,
        seconds=round(summary.seconds, 3),
    )
    return summary
