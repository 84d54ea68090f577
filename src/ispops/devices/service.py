"""Device domain services: credentials, poll targets, and the statements that record poll and backup
results.

The statements are built here and executed by the caller's unit of work — a sync ``Session`` in jobs
and the CLI, an ``AsyncSession`` in the API — so both paths write exactly the same thing; the service
functions take a sync ``Session`` (the API calls them through ``AsyncSession.run_sync``). Nothing here
commits, and nothing here talks to a device: polling and backups happen between two short transactions.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import ipaddress
import json
import secrets
import struct
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Delete, Select, Update, delete, event, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.orm import Mapper, Session, object_session

from ispops.audit.service import system_event
from ispops.db.blocking import call_blocking
from ispops.devices.snmp import InterfaceSample, PollResult, SnmpCredentials, SnmpTarget
from ispops.errors import ValidationFailed
from ispops.models.network import Device, DeviceInterface, DeviceStatus
from ispops.secrets import SecretNotFound, SecretStore, SecretStoreError, runtime, tenant_path
from ispops.secrets.txn import secret_changes

MAX_ERROR = 2000
HOST_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")


def host_key_parts(text: str) -> tuple[str, bytes]:
    """(type, key blob) of an OpenSSH public key line ``"<type> <base64> [comment]"``; ``ValueError`` when
    it is not one of ``HOST_KEY_TYPES`` or the blob does not start with its own type (RFC 4253, 6.6)."""
    parts = text.split()
    if len(parts) < 2 or parts[0] not in HOST_KEY_TYPES:
        raise ValueError(f"must be an OpenSSH public key line starting with one of {', '.join(HOST_KEY_TYPES)}")
    try:
        blob = binascii.a2b_base64(parts[1].encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("the key is not base64") from None
    (length,) = struct.unpack(">I", blob[:4]) if len(blob) >= 4 else (0,)
    if blob[4 : 4 + length].decode("ascii", "replace") != parts[0]:
        raise ValueError(f"the key's data is not a {parts[0]} key")
    return parts[0], blob


class DeviceCredentials(BaseModel):
    """What ``credentials_vault_path`` holds: one JSON object in the secret store.

    SNMP: ``snmp_community`` (v1/v2c) or the v3 USM user. SSH (config backup): ``username`` with
    ``password`` and/or ``private_key`` (OpenSSH/PEM text), ``ssh_port``, ``enable_secret``, and optionally
    the netmiko ``device_type`` and the ``backup_command`` when the vendor default does not fit.
    ``ssh_host_key`` pins the device's SSH host key (``"ssh-ed25519 AAAA..."``, as in ``known_hosts`` or
    ``ssh-keyscan``); the first backup of a device without one pins the key it presents.
    """

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    snmp_community: str | None = Field(None, min_length=1, max_length=255, repr=False)
    snmp_user: str | None = Field(None, min_length=1, max_length=255)
    snmp_auth_protocol: str = Field("sha", pattern=r"^(none|md5|sha|sha224|sha256|sha384|sha512)$")
    snmp_auth_key: str | None = Field(None, min_length=8, max_length=255, repr=False)
    snmp_priv_protocol: str = Field("aes", pattern=r"^(none|des|3des|aes|aes128|aes192|aes256)$")
    snmp_priv_key: str | None = Field(None, min_length=8, max_length=255, repr=False)
    username: str | None = Field(None, min_length=1, max_length=255)
    password: str | None = Field(None, max_length=1024, repr=False)
    private_key: str | None = Field(None, max_length=16384, repr=False)
    ssh_port: int = Field(22, ge=1, le=65535)
    enable_secret: str | None = Field(None, max_length=1024, repr=False)
    device_type: str | None = Field(None, pattern=r"^[a-z0-9_]{1,64}$", description="netmiko device_type")
    backup_command: str | None = Field(None, min_length=1, max_length=255)
    ssh_host_key: str | None = Field(None, max_length=4096, description="the device's SSH public host key")

    @field_validator("ssh_host_key")
    @classmethod
    def _host_key(cls, value: str | None) -> str | None:
        """Normalised to ``"<type> <base64>"`` (a comment is dropped)."""
        if value is None:
            return None
        kind, blob = host_key_parts(value)
        return f"{kind} {binascii.b2a_base64(blob, newline=False).decode()}"

    @property
    def has_ssh(self) -> bool:
        return bool(self.username and (self.password or self.private_key))


def credentials_path(tenant_id: str, device_id: uuid.UUID) -> str:
    """The prefix of the paths where the API stores a device's credentials (one new path per write)."""
    return tenant_path(tenant_id, "devices", str(device_id), "credentials")


def new_credentials_path(tenant_id: str, device_id: uuid.UUID) -> str:
    """A fresh path for a write: the committed row's path is never overwritten (docs/secrets.md)."""
    return f"{credentials_path(tenant_id, device_id)}-{secrets.token_hex(8)}"


def is_own_credentials_path(tenant_id: str, device_id: uuid.UUID, path: str | None) -> bool:
    """Whether ``path`` is one the API wrote for this device (a path set by hand is left alone)."""
    base = credentials_path(tenant_id, device_id)
    return path is not None and (path == base or path.startswith(f"{base}-"))


def check_vault_path(tenant_id: str, path: str | None) -> None:
    """A device may only point at secrets under its own tenant's prefix (else: reading another tenant's
    credentials and sending them to an address of one's choosing)."""
    if path is not None and not path.startswith(f"tenants/{tenant_id}/"):
        raise ValidationFailed(
            f"devices.credentials_vault_path: must be under tenants/{tenant_id}/",
            table="devices",
            field="credentials_vault_path",
        )


def check_hand_set_path(tenant_id: str, device_id: uuid.UUID | None, path: str | None) -> None:
    """A path set by hand (create, PATCH) must not be one the API keeps for another device: that device's
    next credentials change would delete it from under this one. (This device's own is fine.)"""
    check_vault_path(tenant_id, path)
    if (
        path is not None
        and path.startswith(tenant_path(tenant_id, "devices") + "/")
        and not (device_id is not None and is_own_credentials_path(tenant_id, device_id, path))
    ):
        raise ValidationFailed(
            "devices.credentials_vault_path: that path holds the credentials the API keeps for a device; "
            "store credentials with PUT .../credentials, or point at a path of your own",
            table="devices",
            field="credentials_vault_path",
        )


# Columns only polls and backups write: read-only in the API.
OBSERVED_FIELDS = frozenset(
    {
        "operational_status",
        "last_seen",
        "sys_name",
        "sys_descr",
        "sys_uptime_seconds",
        "last_polled_at",
        "last_poll_error",
        "config_backup_path",
        "last_config_backup",
        "last_config_backup_error",
    }
)
MASK = "********"


def mask_row(row: dict[str, Any]) -> dict[str, Any]:
    """API rows never show the SNMP community (a credential, even if a weak one)."""
    return {**row, "snmp_community": MASK} if row.get("snmp_community") else row


async def create_hook(session: Any, tenant_id: str, body: BaseModel) -> Device:
    """Create a device (the generic resource's create), refusing a secret path outside the tenant."""
    data = body.model_dump(exclude_unset=True)
    check_hand_set_path(tenant_id, None, data.get("credentials_vault_path"))
    device = Device(**data, tenant_id=tenant_id)
    session.add(device)
    return device


def check_update(device: Any, data: dict[str, Any]) -> None:
    if "credentials_vault_path" in data:
        check_hand_set_path(str(device.tenant_id), device.id, data["credentials_vault_path"])
    if data.get("snmp_community") == MASK:  # a masked value sent back unchanged: keep the stored one
        del data["snmp_community"]


def read_credentials(store: SecretStore, tenant_id: str, path: str) -> DeviceCredentials:
    """The credentials at ``path``. Raises ``ValidationFailed`` for a foreign or malformed secret,
    ``SecretNotFound``/``SecretStoreError`` from the store."""
    check_vault_path(tenant_id, path)
    raw = store.get(path)
    try:
        return DeviceCredentials.model_validate(json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
        kind = type(exc).__name__
        raise ValidationFailed(
            f"devices.credentials_vault_path: the secret is not a credentials object ({kind})",
            table="devices",
            field="credentials_vault_path",
        ) from None


@event.listens_for(Device, "after_update")
def _forget_dropped_credentials(mapper: Mapper[Any], connection: Any, target: Device) -> None:
    """Credentials the API wrote for a device are deleted once the change that drops them commits: a new
    path (``PUT .../credentials``, a PATCH of ``credentials_vault_path``), none (``DELETE .../credentials``)
    or the device's deletion. A path set by hand may be shared with other devices and stays."""
    session = object_session(target)
    if session is None:
        return
    state = sa_inspect(target)
    current = target.credentials_vault_path
    dropped = [old for old in state.attrs.credentials_vault_path.history.deleted or () if old != current]
    deleted = state.attrs.deleted_at.history.added
    if deleted and deleted[0] is not None and current:
        dropped.append(current)
    for path in dropped:
        if is_own_credentials_path(str(target.tenant_id), target.id, path):
            secret_changes(session, runtime.current()).delete_after_commit(str(path))


def pinned_host_key(store: SecretStore, tenant_id: str, path: str) -> str | None:
    """The ``ssh_host_key`` of the credentials at ``path``; None when nothing is there. A store that fails
    raises (503): credentials written without reading the pin would silently unpin the device. Secrets
    that cannot be read as credentials are a 422 naming ``ssh_host_key`` (send it, or null to unpin)."""
    try:
        return read_credentials(store, tenant_id, path).ssh_host_key
    except SecretNotFound:
        return None
    except ValidationFailed as exc:
        raise ValidationFailed(
            f"ssh_host_key: the current credentials cannot be read to keep their pinned host key ({exc.message}); "
            "send ssh_host_key, or null to unpin",
            table="devices",
            field="ssh_host_key",
        ) from None


@dataclass(frozen=True)
class PinRequest:
    """A backup's presented SSH host key, to pin in the credentials it logged in with (trust on first use)."""

    device_id: uuid.UUID
    path: str  # the credentials the backup read
    read: DeviceCredentials
    host_key: str


def pin_request(tenant_id: str, device: DeviceRef, read: DeviceCredentials, host_key: str) -> PinRequest | None:
    """What to pin after a backup, or None: a key is pinned already, or the path was set by hand (it may be
    shared, and other devices present other keys)."""
    path = device.credentials_vault_path
    if read.ssh_host_key is not None or not is_own_credentials_path(tenant_id, device.id, path):
        return None
    return PinRequest(device.id, str(path), read, host_key)


def _live_path(tenant_id: str, device_id: uuid.UUID) -> Select[Any]:
    """The device's credentials path, its row locked: a concurrent ``PUT .../credentials`` waits (or wins)."""
    return (
        select(Device.credentials_vault_path)
        .where(Device.tenant_id == tenant_id, Device.id == device_id, Device.deleted_at.is_(None))
        .with_for_update()
    )


def _pinned_secret(store: SecretStore, tenant_id: str, pin: PinRequest) -> bytes | None:
    """The credentials with the key pinned, if those at ``pin.path`` are still the ones the backup read."""
    if read_credentials(store, tenant_id, pin.path) != pin.read:
        return None
    return encode_credentials(pin.read.model_copy(update={"ssh_host_key": pin.host_key}))


def _repoint(tenant_id: str, pin: PinRequest, path: str) -> Update:
    return (
        update(Device)
        .where(Device.tenant_id == tenant_id, Device.id == pin.device_id)
        .values(credentials_vault_path=path)
    )


def pin_host_key(
    session: Session, store: SecretStore, tenant_id: str, pin: PinRequest, *, audit_as: str | None = "device-backup"
) -> str | None:
    """Pin in the caller's transaction, like a credentials PUT: the device row is locked; if it still names
    the credentials the backup read (and they are unchanged), the pinned copy goes to a new path the row
    then names, the old path is deleted after the commit, and the audit log says so, as the system actor
    ``audit_as`` (the backup job; None: the caller records the event, the API as its user). A change made
    meanwhile wins, and the next backup pins against it. The new path when pinned. The store is called
    through ``call_blocking``: off the event loop under ``AsyncSession.run_sync``."""
    if session.scalar(_live_path(tenant_id, pin.device_id)) != pin.path:
        return None
    value = call_blocking(_pinned_secret, store, tenant_id, pin)
    if value is None:
        return None
    changes = secret_changes(session, store)
    path = new_credentials_path(tenant_id, pin.device_id)
    changes.put(path, value)
    session.execute(_repoint(tenant_id, pin, path))
    changes.delete_after_commit(pin.path)
    if audit_as is not None:
        session.add(system_event(tenant_id, audit_as, "devices", pin.device_id, "action", pin_changes(pin, path)))
    return path


def pin_changes(pin: PinRequest, path: str) -> dict[str, Any]:
    """The audit event's ``changes`` for a pin (the key's fingerprint; the paths, never the secret)."""
    return {
        "action": "pin_ssh_host_key",
        "fingerprint": fingerprint(pin.host_key),
        "credentials_vault_path": [pin.path, path],
    }


def is_clear_text_driver(device_type: str | None) -> bool:
    """A netmiko driver that logs in without SSH (telnet, serial): it would send the password in clear."""
    return device_type is not None and device_type.endswith(("_telnet", "_serial"))


class CredentialsBody(DeviceCredentials):
    """``PUT .../credentials``: what may be stored. (Secrets written by hand are read as they are; a backup
    refuses a clear-text driver when it runs.)"""

    @field_validator("device_type")
    @classmethod
    def _ssh_only(cls, value: str | None) -> str | None:
        if is_clear_text_driver(value):
            raise ValueError("must be an SSH driver (telnet and serial send the password in clear)")
        return value


def fingerprint(host_key: str) -> str:
    """OpenSSH's SHA256 fingerprint of ``"<type> <base64>"`` (what ``ssh-keygen -lf`` prints)."""
    _, blob = host_key_parts(host_key)
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def encode_credentials(credentials: DeviceCredentials) -> bytes:
    return json.dumps(credentials.model_dump(exclude_none=True), sort_keys=True).encode("utf-8")


@dataclass(frozen=True)
class DeviceRef:
    """What jobs need of a device, read in one short transaction."""

    id: uuid.UUID
    name: str
    device_type: str
    vendor: str | None
    host: str | None
    snmp_version: str
    snmp_port: int
    snmp_community: str | None
    credentials_vault_path: str | None


def _host(ip: str | None) -> str | None:
    if not ip:
        return None
    return str(ipaddress.ip_interface(ip).ip)


def device_refs_query(
    tenant_id: str, device_ids: list[uuid.UUID] | None = None, *, include_inactive: bool = False
) -> Select[Any]:
    """Live devices of a tenant; unless ``include_inactive``, not those marked inactive (periodic polls
    and backups skip them)."""
    columns: list[Any] = [
        Device.id,
        Device.name,
        Device.device_type,
        Device.vendor,
        Device.management_ip,
        Device.primary_ip,
        Device.snmp_version,
        Device.snmp_port,
        Device.snmp_community,
        Device.credentials_vault_path,
    ]
    stmt = select(*columns).where(Device.tenant_id == tenant_id, Device.deleted_at.is_(None)).order_by(Device.name)
    if not include_inactive:
        stmt = stmt.where(Device.status != DeviceStatus.INACTIVE)
    if device_ids is not None:
        stmt = stmt.where(Device.id.in_(device_ids))
    return stmt


def device_ref(row: Any) -> DeviceRef:
    return DeviceRef(
        id=row.id,
        name=row.name,
        device_type=row.device_type,
        vendor=row.vendor,
        host=_host(row.management_ip) or _host(row.primary_ip),
        snmp_version=row.snmp_version,
        snmp_port=row.snmp_port,
        snmp_community=row.snmp_community,
        credentials_vault_path=row.credentials_vault_path,
    )


class NotPollable(ValueError):
    """The device cannot be polled as configured; ``field`` is what to fix (the API's 422 names it)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def snmp_target(device: DeviceRef, store: SecretStore | None, tenant_id: str) -> SnmpTarget:
    """How to poll ``device``. Credentials come from the secret store when the device has a path; a v1/v2c
    community may also be the seed's ``snmp_community`` column (the store wins). Raises :class:`NotPollable`
    with a message for the device's ``last_poll_error`` when it cannot be polled."""
    if device.host is None:
        raise NotPollable("no management_ip or primary_ip to poll", "management_ip")
    secret: DeviceCredentials | None = None
    path_field = "credentials_vault_path"
    if device.credentials_vault_path:
        if store is None:
            raise NotPollable("credentials: no secret store configured", path_field)
        try:
            secret = read_credentials(store, tenant_id, device.credentials_vault_path)
        except SecretNotFound:
            raise NotPollable(f"credentials: nothing at {device.credentials_vault_path}", path_field) from None
        except (SecretStoreError, ValidationFailed) as exc:
            raise NotPollable(f"credentials: {exc.message}", path_field) from None
    if device.snmp_version == "v3":
        if secret is None or not secret.snmp_user:
            raise NotPollable(
                "SNMP v3 needs snmp_user in the device's credentials (credentials_vault_path)", path_field
            )
        creds = SnmpCredentials(
            "v3",
            user=secret.snmp_user,
            auth_protocol=secret.snmp_auth_protocol,
            auth_key=secret.snmp_auth_key,
            priv_protocol=secret.snmp_priv_protocol,
            priv_key=secret.snmp_priv_key,
        )
    else:
        community = (secret.snmp_community if secret else None) or device.snmp_community
        if not community:
            raise NotPollable(
                f"SNMP {device.snmp_version} needs a community (credentials or snmp_community)", "snmp_community"
            )
        creds = SnmpCredentials(device.snmp_version, community=community)
    return SnmpTarget(device.host, device.snmp_port, creds)


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:MAX_ERROR]


def poll_error_statement(tenant_id: str, device_id: uuid.UUID, error: str, at: dt.datetime) -> Update:
    """A device that could not be polled at all (no address, no credentials): say why, change nothing else."""
    return (
        update(Device)
        .where(Device.tenant_id == tenant_id, Device.id == device_id, Device.deleted_at.is_(None))
        .values(last_polled_at=at, last_poll_error=_clip(error))
    )


def _interface_values(tenant_id: str, device_id: uuid.UUID, i: InterfaceSample, at: dt.datetime) -> dict[str, Any]:
    def octets(v: int | None) -> Decimal | None:
        return None if v is None or v < 0 else Decimal(min(v, 2**64 - 1))

    def small(v: int | None) -> int | None:
        return None if v is None or v < 0 else min(v, 2**63 - 1)

    return {
        "tenant_id": tenant_id,
        "device_id": device_id,
        "if_index": i.if_index,
        "name": i.name,
        "alias": i.alias,
        "if_type": i.if_type,
        "speed_mbps": small(i.speed_mbps),
        "admin_status": i.admin_status,
        "oper_status": i.oper_status,
        "in_octets": octets(i.in_octets),
        "out_octets": octets(i.out_octets),
        "in_errors": small(i.in_errors),
        "out_errors": small(i.out_errors),
        "hc_counters": i.hc_counters,
        "polled_at": at,
    }


Statement = Update | Insert | Delete


def poll_result_statements(tenant_id: str, device_id: uuid.UUID, result: PollResult) -> list[Statement]:
    """Record a poll: status, last error, and when reachable the system group, ``last_seen`` and the
    interface table (rows upserted by ifIndex; interfaces the device no longer has are removed)."""
    values: dict[str, Any] = {
        "operational_status": result.status.value,
        "last_polled_at": result.polled_at,
        "last_poll_error": _clip(result.error),
    }
    if result.reachable:
        values.update(
            last_seen=result.polled_at,
            sys_name=result.sys_name,
            sys_descr=result.sys_descr,
            sys_uptime_seconds=result.sys_uptime_seconds,
        )
    stmts: list[Statement] = [
        update(Device)
        .where(Device.tenant_id == tenant_id, Device.id == device_id, Device.deleted_at.is_(None))
        .values(**values)
    ]
    if result.interfaces is None:
        return stmts
    seen = [i.if_index for i in result.interfaces]
    stmts.append(
        delete(DeviceInterface).where(
            DeviceInterface.tenant_id == tenant_id,
            DeviceInterface.device_id == device_id,
            DeviceInterface.if_index.not_in(seen),
        )
    )
    if result.interfaces:
        rows = [_interface_values(tenant_id, device_id, i, result.polled_at) for i in result.interfaces]
        ins = insert(DeviceInterface).values(rows)
        changing = [k for k in rows[0] if k not in ("tenant_id", "device_id", "if_index")]
        stmts.append(
            ins.on_conflict_do_update(
                constraint="uq_device_interfaces__tenant_id__device_id__if_index",
                set_={k: ins.excluded[k] for k in changing},
            )
        )
    return stmts


def backup_result_statement(
    tenant_id: str, device_id: uuid.UUID, *, at: dt.datetime, path: str | None, error: str | None
) -> Update:
    """Record a backup: on success the latest file and time, on failure only the error (the last good
    backup stays recorded)."""
    values: dict[str, Any] = {"last_config_backup_error": _clip(error)}
    if error is None:
        values.update(config_backup_path=path, last_config_backup=at)
    return (
        update(Device)
        .where(Device.tenant_id == tenant_id, Device.id == device_id, Device.deleted_at.is_(None))
        .values(**values)
    )


def interfaces_query(tenant_id: str, device_id: uuid.UUID) -> Select[Any]:
    return (
        select(DeviceInterface)
        .where(DeviceInterface.tenant_id == tenant_id, DeviceInterface.device_id == device_id)
        .order_by(DeviceInterface.if_index)
    )
