"""NetBox as the other source of truth: import and export of sites, devices, prefixes and IP ranges, with a
dry-run diff and the id mapping kept both ways (``netbox_mappings``; ``devices.netbox_id`` too).

Scope: one NetBox serves several ISPs, so every query and every object this platform writes is scoped to
the tenant's NetBox tenant (``automation_endpoints.netbox_tenant``, a tenant slug) or tag
(``netbox_tag``, a tag slug) — exactly one of them. An object outside the scope is invisible: a mapping
that points at it is treated as gone, never followed.

What maps to what:

| ispops | NetBox |
|---|---|
| ``devices.site_name`` (distinct) | ``dcim/sites`` (name, slug) |
| ``devices`` (name, serial, model, site, address, status) | ``dcim/devices`` (name, serial, device type's  |
|                                                           | model, site, primary_ip, status; role = type) |
| ``ip_pools.network_cidr`` | ``ipam/prefixes`` |
| ``ip_pools`` (start_ip..end_ip) | ``ipam/ip-ranges`` |

Import creates devices and pools that NetBox has and ispops lacks, updates mapped devices, and links
objects found on both sides by name (device), prefix or range. Export creates what NetBox lacks (a device
only when NetBox has a device type with the device's model and a role named after its type) and updates
mapped devices. ``pynetbox`` talks to NetBox; NetBox cannot run here, so the tests use a local HTTP double
of its documented REST API.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import pynetbox
from sqlalchemy import select
from sqlalchemy.orm import Session

from ispops.automation import runtime
from ispops.automation.runner import as_dict
from ispops.config import Settings
from ispops.db.session import Database
from ispops.errors import IspopsError, ValidationFailed
from ispops.models.automation import AutomationEndpoint, EndpointKind, NetboxMapping, NetboxSync, NetboxSyncStatus
from ispops.models.network import Device, DeviceType, IpPool
from ispops.secrets import SecretStore, open_secret_store

KINDS = ("site", "device", "prefix", "ip_range")
ENDPOINTS = {
    "site": ("dcim", "sites"),
    "device": ("dcim", "devices"),
    "prefix": ("ipam", "prefixes"),
    "ip_range": ("ipam", "ip_ranges"),
}
STATUS_TO_NETBOX = {"active": "active", "inactive": "offline", "maintenance": "planned", "failed": "failed"}
STATUS_FROM_NETBOX = {"active": "active", "offline": "inactive", "planned": "maintenance", "failed": "failed"}


class NetboxError(IspopsError):
    status = 502
    code = "netbox_unavailable"


@dataclass(frozen=True)
class Scope:
    tenant: str | None = None
    tag: str | None = None

    def __post_init__(self) -> None:
        if (self.tenant is None) == (self.tag is None):
            raise ValidationFailed(
                "automation_endpoints.netbox_tenant: set exactly one of netbox_tenant and netbox_tag",
                field="netbox_tenant",
            )

    def filters(self) -> dict[str, str]:
        return {"tenant": self.tenant} if self.tenant else {"tag": str(self.tag)}


class NetboxSource(Protocol):
    """What the sync needs of NetBox; every call is already scoped to one ISP."""

    def list(self, kind: str) -> list[dict[str, Any]]: ...

    def create(self, kind: str, data: dict[str, Any]) -> int: ...

    def update(self, kind: str, netbox_id: int, data: dict[str, Any]) -> None: ...

    def lookup(self, kind: str, **filters: str) -> int | None: ...


class PynetboxSource:
    """NetBox's REST API through pynetbox, every query filtered by the scope, every write stamped with it."""

    def __init__(self, url: str, token: str, scope: Scope, *, verify: bool = True) -> None:
        self.api = pynetbox.api(url, token=token)
        self.api.http_session.verify = verify
        self.scope = scope
        self._stamp: dict[str, Any] | None = None

    def _endpoint(self, kind: str) -> Any:
        app, name = ENDPOINTS[kind] if kind in ENDPOINTS else kind.split(".")
        return getattr(getattr(self.api, app), name)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except pynetbox.RequestError as exc:
            raise NetboxError(f"NetBox refused {what}: {exc.req.status_code}") from None
        except Exception as exc:  # connection errors (requests) and malformed answers
            raise NetboxError(f"NetBox: {what}: {type(exc).__name__}") from None

    def list(self, kind: str) -> list[dict[str, Any]]:
        records = self._call(f"listing {kind}", lambda: list(self._endpoint(kind).filter(**self.scope.filters())))
        return [dict(r) for r in records]

    def stamp(self) -> dict[str, Any]:
        if self._stamp is None:
            if self.scope.tenant:
                tenant = self.lookup("tenancy.tenants", slug=self.scope.tenant)
                if tenant is None:
                    raise NetboxError(f"NetBox has no tenant {self.scope.tenant!r}")
                self._stamp = {"tenant": tenant}
            else:
                tag = self.lookup("extras.tags", slug=str(self.scope.tag))
                if tag is None:
                    raise NetboxError(f"NetBox has no tag {self.scope.tag!r}")
                self._stamp = {"tags": [tag]}
        return self._stamp

    def create(self, kind: str, data: dict[str, Any]) -> int:
        record = self._call(f"creating a {kind}", self._endpoint(kind).create, {**data, **self.stamp()})
        return int(record.id)

    def update(self, kind: str, netbox_id: int, data: dict[str, Any]) -> None:
        self._call(f"updating {kind} {netbox_id}", self._endpoint(kind).update, [{"id": netbox_id, **data}])

    def lookup(self, kind: str, **filters: str) -> int | None:
        found = self._call(f"looking up {kind}", lambda: list(self._endpoint(kind).filter(**filters)))
        return int(found[0].id) if found else None


# ----------------------------------------------------------------------------------------------------------
# Both sides as plain rows


def _ref_name(value: Any) -> str | None:
    if isinstance(value, dict):
        return str(value.get("name") or value.get("slug") or value.get("display") or "") or None
    return str(value) if value else None


def _addr(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("address")
    return str(value).split("/")[0] if value else None


def _status(value: Any) -> str | None:
    return str(value.get("value")) if isinstance(value, dict) else (str(value) if value else None)


def remote_rows(source: NetboxSource) -> dict[str, dict[int, dict[str, Any]]]:
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for kind in KINDS:
        rows: dict[int, dict[str, Any]] = {}
        for r in source.list(kind):
            if kind == "site":
                rows[int(r["id"])] = {"name": r.get("name")}
            elif kind == "device":
                dtype = as_dict(r.get("device_type"))
                maker = as_dict(dtype.get("manufacturer"))
                rows[int(r["id"])] = {
                    "name": r.get("name"),
                    "serial_number": r.get("serial") or None,
                    "model": dtype.get("model"),
                    "vendor": maker.get("name"),
                    "site_name": _ref_name(r.get("site")),
                    "management_ip": _addr(r.get("primary_ip4") or r.get("primary_ip")),
                    "status": STATUS_FROM_NETBOX.get(_status(r.get("status")) or "", "active"),
                    "role": as_dict(r.get("role") or r.get("device_role")).get("slug"),
                }
            elif kind == "prefix":
                rows[int(r["id"])] = {"prefix": str(r.get("prefix")), "description": r.get("description") or None}
            else:
                rows[int(r["id"])] = {
                    "start": _addr(r.get("start_address")),
                    "end": _addr(r.get("end_address")),
                    "prefix_length": int(str(r.get("start_address")).split("/")[1])
                    if "/" in str(r.get("start_address"))
                    else None,
                    "description": r.get("description") or None,
                }
        out[kind] = rows
    return out


def local_rows(session: Session, tenant_id: str) -> dict[str, dict[str, dict[str, Any]]]:
    devices = session.scalars(
        select(Device).where(Device.tenant_id == tenant_id, Device.deleted_at.is_(None)).order_by(Device.name)
    ).all()
    pools = session.scalars(
        select(IpPool).where(IpPool.tenant_id == tenant_id, IpPool.deleted_at.is_(None)).order_by(IpPool.name)
    ).all()
    sites = {d.site_name: {"name": d.site_name} for d in devices if d.site_name}
    return {
        "site": sites,
        "device": {
            str(d.id): {
                "name": d.name,
                "serial_number": d.serial_number,
                "model": d.model,
                "vendor": d.vendor,
                "site_name": d.site_name,
                "management_ip": _addr(d.management_ip),
                "status": d.status,
                "device_type": d.device_type,
            }
            for d in devices
        },
        "prefix": {str(p.network_cidr): {"prefix": str(p.network_cidr), "description": p.name} for p in pools},
        "ip_range": {
            str(p.id): {
                "start": _addr(p.start_ip),
                "end": _addr(p.end_ip),
                "name": p.name,
                "network_cidr": str(p.network_cidr),
            }
            for p in pools
        },
    }


def mappings(session: Session, tenant_id: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {k: {} for k in KINDS}
    for m in session.scalars(select(NetboxMapping).where(NetboxMapping.tenant_id == tenant_id)):
        out[m.object_type][m.local_id] = m.netbox_id
    return out


# ----------------------------------------------------------------------------------------------------------
# The plan (the diff) and applying it


@dataclass
class Change:
    kind: str
    action: str  # create, update, link, skip
    local_id: str | None
    netbox_id: int | None
    name: str
    changes: dict[str, list[Any]] = field(default_factory=dict)
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "action": self.action,
            "name": self.name,
            "local_id": self.local_id,
            "netbox_id": self.netbox_id,
        }
        if self.changes:
            d["changes"] = self.changes
        if self.reason:
            d["reason"] = self.reason
        return d


def _key(kind: str, row: dict[str, Any]) -> str:
    """What identifies an object on both sides when no mapping links them yet."""
    if kind == "prefix":
        return str(ipaddress.ip_network(str(row["prefix"]), strict=False))
    if kind == "ip_range":
        return f"{row['start']}-{row['end']}"
    return str(row.get("name"))


DEVICE_FIELDS = ("name", "serial_number", "site_name", "management_ip", "status")


def _device_changes(src: dict[str, Any], dst: dict[str, Any]) -> dict[str, list[Any]]:
    return {f: [dst.get(f), src.get(f)] for f in DEVICE_FIELDS if src.get(f) is not None and src.get(f) != dst.get(f)}


def plan_sync(
    direction: str,
    local: dict[str, dict[str, dict[str, Any]]],
    remote: dict[str, dict[int, dict[str, Any]]],
    mapped: dict[str, dict[str, int]],
) -> list[Change]:
    changes: list[Change] = []
    for kind in KINDS:
        by_netbox = {nid: lid for lid, nid in mapped[kind].items()}
        remote_by_key = {_key(kind, r): nid for nid, r in remote[kind].items()}
        local_by_key = {_key(kind, r): lid for lid, r in local[kind].items()}
        if direction == "import":
            for nid, row in sorted(remote[kind].items()):
                name = _key(kind, row)
                lid = by_netbox.get(nid)
                if lid is not None and lid in local[kind]:
                    diff = _device_changes(row, local[kind][lid]) if kind == "device" else {}
                    if diff:
                        changes.append(Change(kind, "update", lid, nid, name, diff))
                elif name in local_by_key and local_by_key[name] not in mapped[kind]:
                    changes.append(Change(kind, "link", local_by_key[name], nid, name))
                elif kind == "prefix":
                    changes.append(
                        Change(kind, "skip", None, nid, name, reason="a prefix is imported with its IP ranges")
                    )
                else:
                    changes.append(Change(kind, "create", None, nid, name))
        else:
            for lid, row in sorted(local[kind].items()):
                name = _key(kind, row)
                known = mapped[kind].get(lid)
                if known is not None and known in remote[kind]:
                    diff = _device_changes(row, remote[kind][known]) if kind == "device" else {}
                    if diff:
                        changes.append(Change(kind, "update", lid, known, name, diff))
                elif name in remote_by_key and remote_by_key[name] not in by_netbox:
                    changes.append(Change(kind, "link", lid, remote_by_key[name], name))
                else:
                    changes.append(Change(kind, "create", lid, None, name))
    return changes


def diff_document(changes: list[Change]) -> dict[str, Any]:
    out: dict[str, Any] = {k: [] for k in KINDS}
    for c in changes:
        out[c.kind].append(c.as_dict())
    return out


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-")[:100] or "site"


def _map(session: Session, tenant_id: str, kind: str, local_id: str, netbox_id: int) -> None:
    existing = session.scalar(
        select(NetboxMapping).where(
            NetboxMapping.tenant_id == tenant_id, NetboxMapping.object_type == kind, NetboxMapping.local_id == local_id
        )
    )
    at = dt.datetime.now(dt.UTC)
    if existing is None:
        session.add(
            NetboxMapping(tenant_id=tenant_id, object_type=kind, local_id=local_id, netbox_id=netbox_id, synced_at=at)
        )
    else:
        existing.netbox_id, existing.synced_at = netbox_id, at
    if kind == "device":
        device = session.get(Device, uuid.UUID(local_id))
        if device is not None and device.tenant_id == tenant_id:
            device.netbox_id = netbox_id
    session.flush()


def _device_type(role: str | None) -> str:
    values = {t.value for t in DeviceType}
    return role if role in values else DeviceType.ROUTER.value


def _containing(prefixes: list[str], start: str, end: str) -> str:
    for p in prefixes:
        net = ipaddress.ip_network(p, strict=False)
        if ipaddress.ip_address(start) in net and ipaddress.ip_address(end) in net:
            return str(net)
    first = ipaddress.ip_address(start)
    return str(ipaddress.ip_network(f"{first}/{24 if first.version == 4 else 64}", strict=False))


def apply_import(
    session: Session, tenant_id: str, changes: list[Change], remote: dict[str, dict[int, dict[str, Any]]]
) -> None:
    prefixes = [r["prefix"] for r in remote["prefix"].values()]
    for c in changes:
        if c.action == "skip" or c.netbox_id is None:
            continue
        row = remote[c.kind][c.netbox_id]
        if c.action == "link" and c.local_id is not None:
            _map(session, tenant_id, c.kind, c.local_id, c.netbox_id)
        elif c.kind == "site":
            _map(session, tenant_id, "site", str(row["name"]), c.netbox_id)
        elif c.kind == "device" and c.action == "create":
            device = Device(
                tenant_id=tenant_id,
                name=row["name"],
                device_type=_device_type(row.get("role")),
                vendor=row.get("vendor"),
                model=row.get("model"),
                serial_number=row.get("serial_number"),
                site_name=row.get("site_name"),
                management_ip=row.get("management_ip"),
                status=row.get("status") or "active",
                netbox_id=c.netbox_id,
            )
            session.add(device)
            session.flush()
            _map(session, tenant_id, "device", str(device.id), c.netbox_id)
        elif c.kind == "device" and c.action == "update" and c.local_id is not None:
            existing = session.get(Device, uuid.UUID(c.local_id))
            if existing is not None and existing.tenant_id == tenant_id:
                for f, (_, new) in c.changes.items():
                    setattr(existing, f, new)
                session.flush()
        elif c.kind == "ip_range" and c.action == "create":
            start, end = str(row["start"]), str(row["end"])
            pool = IpPool(
                tenant_id=tenant_id,
                name=(row.get("description") or f"netbox-range-{c.netbox_id}")[:100],
                network_cidr=_containing(prefixes, start, end),
                start_ip=start,
                end_ip=end,
                total_ips=int(ipaddress.ip_address(end)) - int(ipaddress.ip_address(start)) + 1,
                pool_type="static",
            )
            session.add(pool)
            session.flush()
            _map(session, tenant_id, "ip_range", str(pool.id), c.netbox_id)


def apply_export(
    session: Session,
    tenant_id: str,
    changes: list[Change],
    local: dict[str, dict[str, dict[str, Any]]],
    source: NetboxSource,
) -> None:
    sites: dict[str, int] = {}
    for c in changes:
        if c.kind == "site" and c.netbox_id is not None:
            sites[c.name] = c.netbox_id
    for m in session.scalars(
        select(NetboxMapping).where(NetboxMapping.tenant_id == tenant_id, NetboxMapping.object_type == "site")
    ):
        sites.setdefault(m.local_id, m.netbox_id)
    for c in changes:
        if c.local_id is None:
            continue
        row = local[c.kind][c.local_id]
        if c.action == "link" and c.netbox_id is not None:
            _map(session, tenant_id, c.kind, c.local_id, c.netbox_id)
            continue
        if c.action == "update" and c.netbox_id is not None and c.kind == "device":
            data = {k: new for k, (_, new) in c.changes.items() if k in ("name", "serial_number", "status")}
            if "serial_number" in data:
                data["serial"] = data.pop("serial_number")
            if "status" in data:
                data["status"] = STATUS_TO_NETBOX.get(str(data["status"]), "active")
            if data:
                source.update("device", c.netbox_id, data)
            continue
        if c.action != "create":
            continue
        if c.kind == "site":
            nid = source.create("site", {"name": row["name"], "slug": _slug(str(row["name"]))})
            sites[str(row["name"])] = nid
        elif c.kind == "prefix":
            nid = source.create("prefix", {"prefix": row["prefix"], "description": row.get("description") or ""})
        elif c.kind == "ip_range":
            length = ipaddress.ip_network(str(row["network_cidr"]), strict=False).prefixlen
            nid = source.create(
                "ip_range",
                {
                    "start_address": f"{row['start']}/{length}",
                    "end_address": f"{row['end']}/{length}",
                    "description": row["name"],
                },
            )
        else:
            dtype = source.lookup("dcim.device_types", model=str(row.get("model") or ""))
            role = source.lookup("dcim.device_roles", slug=str(row.get("device_type")))
            site = sites.get(str(row.get("site_name")))
            if dtype is None or role is None or site is None:
                c.action, c.reason = (
                    "skip",
                    "NetBox needs a device type with this model, a role named after its type and its site",
                )
                continue
            nid = source.create(
                "device",
                {
                    "name": row["name"],
                    "device_type": dtype,
                    "role": role,
                    "site": site,
                    "serial": row.get("serial_number") or "",
                    "status": STATUS_TO_NETBOX.get(str(row.get("status")), "active"),
                },
            )
        _map(session, tenant_id, c.kind, c.local_id, nid)


# ----------------------------------------------------------------------------------------------------------
# The job


def source_for(db: Database, tenant_id: str, store: SecretStore | None, settings: Settings) -> NetboxSource:
    with db.tenant(tenant_id, enforce_status=False) as s:
        endpoint = s.scalar(
            select(AutomationEndpoint)
            .where(
                AutomationEndpoint.tenant_id == tenant_id,
                AutomationEndpoint.kind == EndpointKind.NETBOX,
                AutomationEndpoint.deleted_at.is_(None),
            )
            .order_by(AutomationEndpoint.created_at.desc())
            .limit(1)
        )
        if endpoint is None:
            raise ValidationFailed("netbox_syncs: the tenant has no NetBox endpoint", field="direction")
        url, path, verify = endpoint.url, endpoint.token_vault_path, endpoint.verify_tls
        scope = Scope(endpoint.netbox_tenant, endpoint.netbox_tag)
    token = (store or open_secret_store(settings)).get(path).decode("utf-8") if path else ""
    return PynetboxSource(url, token, scope, verify=verify)


def run_sync(
    db: Database,
    tenant_id: str,
    sync_id: uuid.UUID,
    *,
    store: SecretStore | None = None,
    source: NetboxSource | None = None,
) -> dict[str, Any]:
    """Compute the diff; unless it is a dry run, apply it in one transaction (NetBox writes first, then the
    ids). Idempotent: a sync that is not pending is left alone."""
    with db.tenant(tenant_id, enforce_status=False) as s:
        sync = s.scalar(
            select(NetboxSync).where(NetboxSync.tenant_id == tenant_id, NetboxSync.id == sync_id).with_for_update()
        )
        if sync is None or sync.status != NetboxSyncStatus.PENDING:
            return {"started": False}
        sync.status, sync.started_at = NetboxSyncStatus.RUNNING, dt.datetime.now(dt.UTC)
        direction, dry_run = sync.direction, sync.dry_run
    status, error, diff, summary = NetboxSyncStatus.FAILED, None, None, None
    try:
        nb = source or source_for(db, tenant_id, store, runtime.current())
        remote = remote_rows(nb)
        with db.tenant(tenant_id, enforce_status=False) as s:
            local = local_rows(s, tenant_id)
            changes = plan_sync(direction, local, remote, mappings(s, tenant_id))
            if not dry_run:
                if direction == "import":
                    apply_import(s, tenant_id, changes, remote)
                else:
                    apply_export(s, tenant_id, changes, local, nb)
        diff = diff_document(changes)
        summary = {k: sum(1 for c in changes if c.action == k) for k in ("create", "update", "link", "skip")}
        status = NetboxSyncStatus.SUCCESS
    except IspopsError as exc:
        error = exc.message
    with db.tenant(tenant_id, enforce_status=False) as s:
        sync = s.get(NetboxSync, sync_id)
        assert sync is not None
        sync.status, sync.error, sync.diff, sync.summary = status, error, diff, summary
        sync.completed_at = dt.datetime.now(dt.UTC)
    return {"started": True, "status": str(status)}
