"""The inventory of a run: the tenant's devices, with their credentials from the secret store, written into
the run's private directory and nowhere else.

- One host per device (name: the device's name, made safe), ``ansible_host`` its management (else
  primary) address, user, port, key or password from ``credentials_vault_path`` (``DeviceCredentials``).
- A private key is written to ``<private>/keys/<host>`` (0600); a password goes into the inventory file
  (0600) and the host then uses the ``paramiko`` connection (OpenSSH's client cannot take a password
  without sshpass). A pinned ``ssh_host_key`` becomes the only key ``known_hosts`` accepts for the host
  (``StrictHostKeyChecking yes``); without one the first key is accepted (``accept-new``), as the backups do.
- A router with a NAS row (``nas.nasname`` = its address) gets ``ispops_radius_secret`` and
  ``ispops_coa_port`` for the MikroTik playbook.
- Groups: ``vendor_<vendor>``, ``type_<device_type>``, ``site_<site>``.

Every secret value handed out is also returned, so the runner can scrub it from anything it keeps.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ispops.devices import service as devices
from ispops.devices.backup import BackupFailed, connection_profile
from ispops.errors import IspopsError
from ispops.models.network import Device, DeviceStatus
from ispops.models.radius import Nas
from ispops.secrets import SecretStore, SecretStoreError

SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class HostPlan:
    """What the inventory needs of one device, read in the run's first transaction."""

    device_id: uuid.UUID
    name: str
    device_type: str
    vendor: str | None
    site: str | None
    address: str | None
    credentials_vault_path: str | None
    nas_secret: str | None = field(default=None, repr=False)
    coa_port: int | None = None


@dataclass
class Inventory:
    path: Path
    hosts: dict[str, dict[str, Any]]  # host -> what the row may show (device id, address; no secret)
    skipped: dict[str, str]  # device name -> why it is not in the inventory
    secrets: list[str]


def load_hosts(session: Session, tenant_id: str, device_ids: list[uuid.UUID] | None) -> list[HostPlan]:
    """The devices a run targets (all live, not inactive ones when ``device_ids`` is None)."""
    rows = session.execute(
        select(
            Device.id,
            Device.name,
            Device.device_type,
            Device.vendor,
            Device.site_name,
            Device.management_ip,
            Device.primary_ip,
            Device.credentials_vault_path,
        )
        .where(Device.tenant_id == tenant_id, Device.deleted_at.is_(None), *_which(device_ids))
        .order_by(Device.name)
    ).all()
    addresses = [_address(r.management_ip or r.primary_ip) for r in rows]
    nas_rows = {
        n.nasname: n
        for n in session.scalars(
            select(Nas).where(
                Nas.tenant_id == tenant_id, Nas.deleted_at.is_(None), Nas.nasname.in_([a for a in addresses if a])
            )
        )
    }
    plans = []
    for row, address in zip(rows, addresses, strict=True):
        nas = nas_rows.get(address) if address else None
        plans.append(
            HostPlan(
                device_id=row.id,
                name=row.name,
                device_type=row.device_type,
                vendor=row.vendor,
                site=row.site_name,
                address=address,
                credentials_vault_path=row.credentials_vault_path,
                nas_secret=nas.secret if nas is not None else None,
                coa_port=nas.coa_port if nas is not None else None,
            )
        )
    return plans


def _which(device_ids: list[uuid.UUID] | None) -> list[Any]:
    """Named devices whatever their status; otherwise every device not marked inactive."""
    if device_ids is not None:
        return [Device.id.in_(device_ids)]
    return [Device.status != DeviceStatus.INACTIVE]


def _address(value: str | None) -> str | None:
    return str(value).split("/")[0] if value else None


def _group(prefix: str, value: str | None) -> str | None:
    if not value:
        return None
    return f"{prefix}_{SAFE.sub('_', value.lower()).strip('_')}"


def host_name(name: str, taken: set[str]) -> str:
    base = SAFE.sub("_", name).strip("_") or "device"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def write_inventory(
    workdir: Path,
    plans: list[HostPlan],
    *,
    tenant_id: str,
    store: SecretStore | None,
    radius_address: str,
    collect_dir: Path,
) -> Inventory:
    """Write ``<workdir>/inventory/hosts.json`` (0600) and the key files; nothing outside ``workdir``."""
    (workdir / "inventory").mkdir(mode=0o700)
    (workdir / "keys").mkdir(mode=0o700)
    known_hosts = workdir / "known_hosts"
    known: list[str] = []
    hosts: dict[str, dict[str, Any]] = {}
    shown: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[str]] = {}
    skipped: dict[str, str] = {}
    secrets: list[str] = []
    taken: set[str] = {"localhost"}
    for plan in plans:
        if plan.address is None:
            skipped[plan.name] = "no management_ip or primary_ip"
            continue
        if not plan.credentials_vault_path:
            skipped[plan.name] = "no credentials_vault_path"
            continue
        if store is None:
            skipped[plan.name] = "no secret store configured"
            continue
        try:
            creds = devices.read_credentials(store, tenant_id, plan.credentials_vault_path)
        except (SecretStoreError, IspopsError) as exc:
            skipped[plan.name] = f"credentials: {exc.message}"
            continue
        if not creds.has_ssh:
            skipped[plan.name] = "credentials have no SSH username with a password or private_key"
            continue
        name = host_name(plan.name, taken)
        hv: dict[str, Any] = {
            "ansible_host": plan.address,
            "ansible_port": creds.ssh_port,
            "ansible_user": creds.username,
            "ispops_device_id": str(plan.device_id),
            "ispops_tenant": tenant_id,
            "ispops_collect_dir": str(collect_dir),
            "ispops_radius_address": radius_address,
        }
        ssh_options = [f"-o UserKnownHostsFile={known_hosts}", "-o GlobalKnownHostsFile=/dev/null"]
        if creds.ssh_host_key:
            known_name = plan.address if creds.ssh_port == 22 else f"[{plan.address}]:{creds.ssh_port}"
            known.append(f"{known_name} {creds.ssh_host_key}")
            ssh_options.append("-o StrictHostKeyChecking=yes")
        else:
            ssh_options.append("-o StrictHostKeyChecking=accept-new")
        if creds.private_key:
            key_file = workdir / "keys" / name
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(creds.private_key if creds.private_key.endswith("\n") else creds.private_key + "\n")
            hv["ansible_ssh_private_key_file"] = str(key_file)
            ssh_options += ["-o IdentitiesOnly=yes", "-o PasswordAuthentication=no"]
            secrets.append(creds.private_key)
        elif creds.password:
            hv["ansible_connection"] = "paramiko"
            hv["ansible_password"] = creds.password
            hv["ansible_paramiko_host_key_checking"] = bool(creds.ssh_host_key)
            hv["ansible_paramiko_record_host_keys"] = False
        for value in (creds.password, creds.enable_secret):
            if value:
                secrets.append(value)
        if creds.enable_secret:
            hv["ansible_become_password"] = creds.enable_secret
        hv["ansible_ssh_common_args"] = " ".join(ssh_options)
        try:
            _, command = connection_profile(plan.address, plan.vendor, creds)
            hv["ispops_backup_command"] = command
        except BackupFailed:
            pass
        if plan.nas_secret:
            hv["ispops_radius_secret"] = plan.nas_secret
            hv["ispops_coa_port"] = plan.coa_port or 3799
            secrets.append(plan.nas_secret)
        hosts[name] = hv
        shown[name] = {"device_id": str(plan.device_id), "address": plan.address}
        for group in (
            _group("vendor", plan.vendor),
            _group("type", plan.device_type),
            _group("site", plan.site),
        ):
            if group:
                groups.setdefault(group, []).append(name)
    document: dict[str, Any] = {
        "all": {
            "hosts": hosts,
            "children": {g: {"hosts": dict.fromkeys(members)} for g, members in sorted(groups.items())},
        }
    }
    path = workdir / "inventory" / "hosts.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(document, out)
    fd = os.open(known_hosts, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write("".join(line + "\n" for line in known))
    return Inventory(path, shown, skipped, secrets)
