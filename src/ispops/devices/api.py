"""Devices over HTTP: the resource, and routes beyond the generic CRUD: poll now, interfaces, credentials,
backups, devices near a point.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

``/api/v1/devices/near`` is not taken for a device id: a domain's own routes are matched before the
generic ``/api/v1/devices/{key}`` (``ispops.api.domains``). Permissions: reading follows ``devices.read``;
anything that talks to a device, changes its credentials or shows configuration text (which holds
secrets) needs ``devices.update``.
"""

import datetime as dt
import uuid
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool

from ispops.api import permissions
from ispops.api.crud import Resource
from ispops.api.reveal import write_only
from ispops.api.schemas import Str
from ispops.auth.deps import Scope, TenantScope
from ispops.config import Settings
from ispops.devices import geo, service
from ispops.devices.backup import BackupStorage
from ispops.devices.jobs import PIN_ERRORS, backup_one, log_not_pinned, log_pinned
from ispops.devices.service import DeviceRef, fingerprint
from ispops.devices.snmp import poll_device
from ispops.errors import NotFound, ValidationFailed
from ispops.models.network import Device, DeviceOperationalStatus, InterfaceAdminStatus, InterfaceOperStatus
from ispops.secrets import SecretStore
from ispops.secrets import runtime as secret_runtime
from ispops.secrets.txn import secret_changes

log = structlog.get_logger(__name__)

# devices.snmp_community varchar(100): write-only (ispops.api.reveal).
SNMP_EXTRA: dict[str, Any] = {
    "snmp_community": (
        write_only(Annotated[Str, Field(max_length=100)] | None, "SNMP v1/v2c community; write-only"),
        None,
    ),
}
DEVICES = Resource(
    "devices",
    Device,
    tag="devices",
    filters=("device_type", "status", "operational_status", "vendor", "site_name", "name"),
    search=("name", "serial_number", "site_name", "model"),
    sort=("created_at", "name", "device_type", "status"),
    # Written by polls and backups (ispops.devices). The community is write-only; POST
    # /api/v1/devices/{id}/reveal-secret shows it (ispops.api.reveal).
    read_only=service.OBSERVED_FIELDS,
    create_hook=service.create_hook,
    update_check=service.check_update,
    hidden=frozenset({"snmp_community"}),
    reveal=("snmp_community",),
    create_extra=SNMP_EXTRA,
    update_extra=SNMP_EXTRA,
)
RESOURCES: list[Resource] = [DEVICES]

router = APIRouter(tags=["devices"])


def register(api: APIRouter) -> None:
    api.include_router(router)


Key = Annotated[uuid.UUID, Path(description="the device's id")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such device (or another tenant's)"}}


class InterfaceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    if_index: int
    name: str | None
    alias: str | None
    if_type: int | None = Field(description="IANAifType")
    speed_mbps: int | None
    admin_status: InterfaceAdminStatus | None
    oper_status: InterfaceOperStatus | None
    in_octets: int | None = Field(description="ifHCInOctets when the device has it (hc_counters), else ifInOctets")
    out_octets: int | None
    in_errors: int | None
    out_errors: int | None
    hc_counters: bool
    polled_at: dt.datetime


class PollRead(BaseModel):
    """A device's SNMP state after a poll."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    operational_status: DeviceOperationalStatus | None
    last_seen: dt.datetime | None
    last_polled_at: dt.datetime | None
    last_poll_error: str | None
    sys_name: str | None
    sys_descr: str | None
    sys_uptime_seconds: int | None
    interfaces: list[InterfaceRead]


class NearDevice(BaseModel):
    id: uuid.UUID
    name: str
    device_type: str
    status: str
    operational_status: str | None
    site_name: str | None
    location_lat: float
    location_lng: float
    last_seen: dt.datetime | None
    distance_km: float


class NearPage(BaseModel):
    items: list[NearDevice]
    lat: float
    lng: float
    radius_km: float


class BackupRead(BaseModel):
    name: str = Field(description="UTC timestamp; GET …/backups/{name} for the configuration")
    taken_at: dt.datetime
    size: int
    has_diff: bool = Field(description="a diff against the previous backup is stored")


class BackupResult(BaseModel):
    ok: bool
    changed: bool = Field(description="differs from the previous backup (a new file and diff were written)")
    name: str | None
    last_config_backup: dt.datetime | None
    error: str | None
    ssh_host_key_pinned: str | None = Field(
        None, description="this backup pinned the SSH host key the device presented (its SHA256 fingerprint)"
    )


class HostKeyRead(BaseModel):
    key_type: str
    fingerprint: str = Field(description="SHA256 fingerprint, as `ssh-keygen -l` prints it")
    public_key: str = Field(description="as pinned: `<type> <base64>` (a known_hosts entry without the host)")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _store(request: Request) -> SecretStore:
    return secret_runtime.current()


def _missing() -> NotFound:
    return NotFound("devices: no such record", table="devices")


async def _ref(s: AsyncSession, tenant_id: str, key: uuid.UUID) -> DeviceRef:
    stmt = service.device_refs_query(tenant_id, [key], include_inactive=True)
    row = (await s.execute(stmt)).first()
    if row is None:
        raise _missing()
    return service.device_ref(row)


async def _live_device(s: AsyncSession, tenant_id: str, key: uuid.UUID, *, for_update: bool = False) -> Device:
    """The tenant's live device ``key`` (404 otherwise), row-locked when it is about to change."""
    stmt = select(Device).where(Device.tenant_id == tenant_id, Device.id == key, Device.deleted_at.is_(None))
    device = (await s.scalars(stmt.with_for_update() if for_update else stmt)).first()
    if device is None:
        raise _missing()
    return device


async def _poll_read(s: AsyncSession, tenant_id: str, key: uuid.UUID) -> PollRead:
    device = await _live_device(s, tenant_id, key)
    interfaces = (await s.scalars(service.interfaces_query(tenant_id, key))).all()
    return PollRead(
        id=device.id,
        name=device.name,
        operational_status=DeviceOperationalStatus(device.operational_status) if device.operational_status else None,
        last_seen=device.last_seen,
        last_polled_at=device.last_polled_at,
        last_poll_error=device.last_poll_error,
        sys_name=device.sys_name,
        sys_descr=device.sys_descr,
        sys_uptime_seconds=device.sys_uptime_seconds,
        interfaces=[InterfaceRead.model_validate(i) for i in interfaces],
    )


@router.get(
    "/api/v1/devices/near",
    response_model=NearPage,
    operation_id="devices_near",
    summary="Devices within a radius of a point, nearest first (for the map)",
)
async def near(
    scope: Scope,
    lat: Annotated[float, Query(ge=-90, le=90, description="latitude, WGS84 degrees")],
    lng: Annotated[float, Query(ge=-180, le=180, description="longitude, WGS84 degrees")],
    radius_km: Annotated[float, Query(gt=0, le=1000)] = 10.0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> NearPage:
    permissions.require(scope.principal, "devices", "read")
    tenant = scope.tenant_id
    bound = geo.degree_bound(lat, radius_km)
    rows: list[Any] = []
    async with scope.session() as s:
        for row in (await s.execute(geo.near_query(tenant, lat, lng))).all():
            if row.degrees > bound:
                break
            rows.append(row)
    points = [(float(r.location_lat), float(r.location_lng)) for r in rows]
    found = [(km, r) for km, r in zip(geo.distances_km(lat, lng, points), rows, strict=True) if km <= radius_km]
    found.sort(key=lambda pair: pair[0])
    items = [
        NearDevice(
            id=r.id,
            name=r.name,
            device_type=r.device_type,
            status=r.status,
            operational_status=r.operational_status,
            site_name=r.site_name,
            location_lat=float(r.location_lat),
            location_lng=float(r.location_lng),
            last_seen=r.last_seen,
            distance_km=round(km, 4),
        )
        for km, r in found[:limit]
    ]
    return NearPage(items=items, lat=lat, lng=lng, radius_km=radius_km)


@router.get(
    "/api/v1/devices/{key}/interfaces",
    response_model=PollRead,
    responses=NOT_FOUND,
    operation_id="device_interfaces",
    summary="A device's SNMP state and interface table as last polled",
)
async def interfaces(key: Key, scope: Scope) -> PollRead:
    permissions.require(scope.principal, "devices", "read")
    tenant = scope.tenant_id
    async with scope.session() as s:
        return await _poll_read(s, tenant, key)


@router.post(
    "/api/v1/devices/{key}/poll",
    response_model=PollRead,
    responses=NOT_FOUND,
    operation_id="poll_device",
    summary="Poll a device over SNMP now (a device that does not answer is recorded offline)",
)
async def poll_now(key: Key, scope: Scope, request: Request) -> PollRead:
    permissions.require(scope.principal, "devices", "update")
    tenant = scope.tenant_id
    settings = _settings(request)
    async with scope.session() as s:
        device = await _ref(s, tenant, key)
    store = _store(request) if device.credentials_vault_path else None
    try:
        target = await run_in_threadpool(service.snmp_target, device, store, tenant)  # the store may do I/O
    except service.NotPollable as exc:
        async with scope.session() as s:
            await s.execute(service.poll_error_statement(tenant, key, str(exc), dt.datetime.now(dt.UTC)))
        raise ValidationFailed(f"devices.{exc.field}: {exc}", table="devices", field=exc.field) from None
    result = await poll_device(
        target,
        timeout=settings.snmp_timeout_seconds,
        retries=settings.snmp_retries,
        deadline=settings.snmp_device_deadline_seconds,
    )
    async with scope.session() as s:
        for stmt in service.poll_result_statements(tenant, key, result):
            await s.execute(stmt)
        polled = {"action": "poll", "operational_status": result.status.value, "error": result.error}
        scope.audit(s, "devices", key, "action", polled)
        return await _poll_read(s, tenant, key)


@router.put(
    "/api/v1/devices/{key}/credentials",
    status_code=204,
    response_class=Response,
    responses=NOT_FOUND,
    operation_id="set_device_credentials",
    summary="Store the device's SNMP/SSH credentials in the secret store (write-only)",
)
async def set_credentials(key: Key, body: service.CredentialsBody, scope: Scope, request: Request) -> Response:
    permissions.require(scope.principal, "devices", "update")
    tenant = scope.tenant_id
    path = service.new_credentials_path(tenant, key)
    async with scope.session() as s:
        device = await _live_device(s, tenant, key, for_update=True)
        # Written now, deleted again if this transaction rolls back; the old secret goes after the commit
        # (service._forget_dropped_credentials, as for every change of the path).
        store = _store(request)
        before = device.credentials_vault_path
        sent = sorted(body.model_fields_set)
        if "ssh_host_key" not in body.model_fields_set and before:
            # New credentials keep the pinned host key unless they say otherwise ("ssh_host_key": null
            # unpins): a password change must not open the door to whatever key is presented next.
            body = body.model_copy(
                update={"ssh_host_key": await run_in_threadpool(service.pinned_host_key, store, tenant, str(before))}
            )
        changes = secret_changes(s, store)
        await run_in_threadpool(changes.put, path, service.encode_credentials(body))
        device.credentials_vault_path = path
        await s.flush()
        scope.audit(s, "devices", key, "update", {"credentials_vault_path": [before, path], "credentials": sent})
    return Response(status_code=204)


@router.delete(
    "/api/v1/devices/{key}/credentials",
    status_code=204,
    response_class=Response,
    responses=NOT_FOUND,
    operation_id="delete_device_credentials",
    summary="Forget the device's credentials",
)
async def delete_credentials(key: Key, scope: Scope, request: Request) -> Response:
    permissions.require(scope.principal, "devices", "update")
    tenant = scope.tenant_id
    async with scope.session() as s:
        device = await _live_device(s, tenant, key, for_update=True)
        before = device.credentials_vault_path
        device.credentials_vault_path = None  # what the API wrote goes after the commit; a hand-set path stays
        await s.flush()
        scope.audit(s, "devices", key, "update", {"credentials_vault_path": [before, None]})
    return Response(status_code=204)


@router.post(
    "/api/v1/devices/{key}/backup",
    response_model=BackupResult,
    responses=NOT_FOUND,
    operation_id="backup_device",
    summary="Back up the device's configuration now (SSH)",
)
async def backup_now(key: Key, scope: Scope, request: Request) -> BackupResult:
    permissions.require(scope.principal, "devices", "update")
    tenant = scope.tenant_id
    settings = _settings(request)
    async with scope.session() as s:
        device = await _ref(s, tenant, key)
    if not device.credentials_vault_path:
        raise ValidationFailed(
            "devices.credentials_vault_path: the device has no credentials to log in with",
            table="devices",
            field="credentials_vault_path",
        )
    outcome = await run_in_threadpool(
        backup_one,
        device,
        tenant,
        store=_store(request),
        storage=BackupStorage(settings.backup_dir),
        timeout=settings.backup_timeout_seconds,
        accept_new_host_key=settings.backup_accept_new_host_keys,
    )
    pinned = None
    if outcome.pin is not None:
        pinned = await _pin(scope, _store(request), outcome.pin)
    async with scope.session() as s:
        await s.execute(
            service.backup_result_statement(tenant, key, at=outcome.at, path=outcome.path, error=outcome.error)
        )
        backed_up = {"action": "backup", "changed": outcome.changed, "error": outcome.error}
        scope.audit(s, "devices", key, "action", backed_up | ({"ssh_host_key_pinned": pinned} if pinned else {}))
    name = outcome.path.rsplit("/", 1)[-1].removesuffix(".cfg") if outcome.path else None
    return BackupResult(
        ok=outcome.error is None,
        changed=outcome.changed,
        name=name,
        last_config_backup=outcome.at if outcome.error is None else None,
        error=outcome.error,
        ssh_host_key_pinned=pinned,
    )


async def _pin(scope: TenantScope, store: SecretStore, request: service.PinRequest) -> str | None:
    """Pin the backup's host key in its own transaction (as ``jobs.pin``), audited as the user's; a failure
    is a warning."""
    tenant = scope.tenant_id
    try:
        async with scope.session() as s:
            pinned = await s.run_sync(service.pin_host_key, store, tenant, request, audit_as=None)
            if pinned is not None:
                scope.audit(s, "devices", request.device_id, "action", service.pin_changes(request, pinned))
    except PIN_ERRORS as exc:
        log_not_pinned(tenant, request, exc)
        return None
    return log_pinned(tenant, request) if pinned is not None else None


@router.get(
    "/api/v1/devices/{key}/ssh-host-key",
    response_model=HostKeyRead,
    responses=NOT_FOUND,
    operation_id="get_device_ssh_host_key",
    summary="The SSH host key pinned in the device's credentials (public: compare it out of band)",
)
async def get_ssh_host_key(key: Key, scope: Scope, request: Request) -> HostKeyRead:
    permissions.require(scope.principal, "devices", "read")
    tenant = scope.tenant_id
    async with scope.session() as s:
        device = await _ref(s, tenant, key)
    pinned = None
    if device.credentials_vault_path:
        creds = await run_in_threadpool(
            service.read_credentials, _store(request), tenant, device.credentials_vault_path
        )
        pinned = creds.ssh_host_key
    if pinned is None:
        raise NotFound("devices: no SSH host key is pinned for this device yet", table="devices")
    return HostKeyRead(key_type=pinned.split()[0], fingerprint=fingerprint(pinned), public_key=pinned)


async def _check_device(scope: TenantScope, key: uuid.UUID) -> str:
    async with scope.session() as s:
        await _ref(s, scope.tenant_id, key)
    return scope.tenant_id


@router.get(
    "/api/v1/devices/{key}/backups",
    response_model=list[BackupRead],
    responses=NOT_FOUND,
    operation_id="list_device_backups",
    summary="Stored configuration backups, newest first",
)
async def list_backups(key: Key, scope: Scope, request: Request) -> list[BackupRead]:
    permissions.require(scope.principal, "devices", "read")
    tenant = await _check_device(scope, key)
    storage = BackupStorage(_settings(request).backup_dir)
    entries = await run_in_threadpool(storage.entries, tenant, key)
    return [BackupRead(name=e.name, taken_at=e.taken_at, size=e.size, has_diff=e.has_diff) for e in reversed(entries)]


@router.get(
    "/api/v1/devices/{key}/backups/latest/diff",
    response_class=Response,
    responses=NOT_FOUND,
    operation_id="latest_device_backup_diff",
    summary="Unified diff of the latest backup against the one before it (text/x-diff)",
)
async def latest_diff(key: Key, scope: Scope, request: Request) -> Response:
    permissions.require(scope.principal, "devices", "update")
    tenant = await _check_device(scope, key)
    storage = BackupStorage(_settings(request).backup_dir)
    latest = await run_in_threadpool(storage.latest, tenant, key)
    if latest is None:
        raise NotFound("devices: no backup yet", table="devices")
    if not latest.has_diff:
        raise NotFound("devices: the latest backup is the first one: nothing to compare with", table="devices")
    text = await run_in_threadpool(storage.read, tenant, key, latest.name, ".diff")
    await _audit_read(scope, key, "read_backup_diff", latest.name)
    return Response(content=text, media_type="text/x-diff; charset=utf-8", headers=NO_STORE)


@router.get(
    "/api/v1/devices/{key}/backups/{name}",
    response_class=Response,
    responses=NOT_FOUND,
    operation_id="get_device_backup",
    summary="One stored configuration (text/plain)",
)
async def get_backup(
    key: Key,
    scope: Scope,
    request: Request,
    name: Annotated[str, Path(pattern=r"^(latest|\d{8}T\d{6}\.\d{6}Z)$")],
) -> Response:
    permissions.require(scope.principal, "devices", "update")
    tenant = await _check_device(scope, key)
    storage = BackupStorage(_settings(request).backup_dir)
    if name == "latest":
        latest = await run_in_threadpool(storage.latest, tenant, key)
        if latest is None:
            raise NotFound("devices: no backup yet", table="devices")
        name = latest.name
    text = await run_in_threadpool(storage.read, tenant, key, name)
    await _audit_read(scope, key, "read_backup", name)
    return Response(content=text, media_type="text/plain; charset=utf-8", headers=NO_STORE)


# A configuration holds the router's secrets: every read is audited (which backup, by whom; never its text)
# and kept out of caches, like a revealed credential (ispops.api.reveal).
NO_STORE = {"Cache-Control": "no-store"}


async def _audit_read(scope: TenantScope, key: uuid.UUID, action: str, name: str) -> None:
    async with scope.session() as s:
        scope.audit(s, "devices", key, "action", {"action": action, "backup": name})
