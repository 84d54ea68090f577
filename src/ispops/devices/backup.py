"""Configuration backups: fetch a device's configuration over SSH (netmiko) and keep it on disk with a
unified diff against the previous one.

Storage layout, under ``Settings.backup_dir``::

    <tenant_id>/<device_id>/20261124T101500.123456Z.cfg     the configuration as fetched
    <tenant_id>/<device_id>/20261124T101500.123456Z.diff    unified diff against the previous .cfg

A configuration identical to the latest stored one is not written again (the device's
``last_config_backup`` still moves: it is the time of the last successful check). Files are written to a
temporary name and renamed (atomic), mode 0600 in 0700 directories: configurations hold secrets.

SSH host keys: with ``ssh_host_key`` in the credentials, the device must present exactly that key (paramiko
rejects any other before a password or key is sent). Without one, the key the device presents is accepted
and returned, and the job pins it in the credentials (trust on first use, OpenSSH's
``StrictHostKeyChecking accept-new``), unless ``Settings.backup_accept_new_host_keys`` is off.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import io
import os
import re
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
from netmiko import ConnectHandler

from ispops.devices.service import DeviceCredentials, fingerprint, is_clear_text_driver
from ispops.errors import NotFound

STAMP = "%Y%m%dT%H%M%S.%fZ"
NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}Z$")

# vendor (lower-case substring) -> netmiko device_type, and device_type -> the command that prints the
# running configuration. Credentials may override both (``device_type``, ``backup_command``).
VENDOR_DEVICE_TYPES = {
    "cisco": "cisco_ios",
    "mikrotik": "mikrotik_routeros",
    "juniper": "juniper_junos",
    "huawei": "huawei",
    "arista": "arista_eos",
    "nokia": "nokia_sros",
    "zte": "zte_zxros",
}
BACKUP_COMMANDS = {
    "cisco_ios": "show running-config",
    "cisco_xe": "show running-config",
    "cisco_nxos": "show running-config",
    "arista_eos": "show running-config",
    "mikrotik_routeros": "/export",
    "juniper_junos": "show configuration | display set",
    "huawei": "display current-configuration",
    "nokia_sros": "admin show configuration",
    "zte_zxros": "show running-config",
}


class BackupFailed(Exception):
    """The device could not be backed up; the message is recorded on the device."""


@dataclass(frozen=True)
class BackupEntry:
    name: str
    taken_at: dt.datetime
    size: int
    has_diff: bool


@dataclass(frozen=True)
class Fetched:
    config: str
    host_key: str  # what the device presented: "<type> <base64>", as in ssh_host_key


@dataclass(frozen=True)
class SavedBackup:
    path: Path
    changed: bool
    diff_path: Path | None


def connection_profile(host: str, vendor: str | None, creds: DeviceCredentials) -> tuple[str, str]:
    """(netmiko device_type, backup command) for a device."""
    device_type = creds.device_type
    if device_type is None:
        lowered = (vendor or "").lower()
        device_type = next((t for v, t in VENDOR_DEVICE_TYPES.items() if v in lowered), None)
    if device_type is None:
        raise BackupFailed(f"no netmiko device_type for vendor {vendor!r}: set device_type in the credentials")
    command = creds.backup_command or BACKUP_COMMANDS.get(device_type)
    if command is None:
        raise BackupFailed(f"no backup command known for {device_type}: set backup_command in the credentials")
    return device_type, command


def _private_key(text: str) -> paramiko.PKey:
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise BackupFailed("private_key: not an unencrypted Ed25519, ECDSA or RSA key")


def _known_hosts(folder: str, host: str, port: int, host_key: str) -> str:
    """A known_hosts file in ``folder`` holding only ``host_key`` for the device (paramiko's host naming)."""
    name = host if port == 22 else f"[{host}]:{port}"
    path = os.path.join(folder, "known_hosts")
    Path(path).write_text(f"{name} {host_key}\n", encoding="ascii")
    return path


def fetch_config(
    host: str, vendor: str | None, creds: DeviceCredentials, *, timeout: float = 60.0, accept_new_host_key: bool = True
) -> Fetched:
    """Log in over SSH and return the configuration text and the host key. Blocking: run it in a thread."""
    if not creds.has_ssh:
        raise BackupFailed("credentials have no SSH username with a password or private_key")
    if creds.ssh_host_key is None and not accept_new_host_key:
        raise BackupFailed(
            "ssh_host_key: none pinned, and new host keys are not accepted (backup_accept_new_host_keys)"
        )
    if is_clear_text_driver(creds.device_type):  # a secret written by hand may name one; the API refuses them
        raise BackupFailed(f"device_type {creds.device_type!r} would send the password in clear: use an SSH driver")
    device_type, command = connection_profile(host, vendor, creds)
    params: dict[str, Any] = {
        "device_type": device_type,
        "host": host,
        "port": creds.ssh_port,
        "username": creds.username,
        "password": creds.password or "",
        "secret": creds.enable_secret or "",
        "conn_timeout": min(timeout, 30),
        "auth_timeout": min(timeout, 30),
        "banner_timeout": min(timeout, 30),
        "timeout": timeout,
        "allow_agent": False,
        "use_keys": False,
    }
    if creds.private_key:
        params["pkey"] = _private_key(creds.private_key)  # netmiko hands it to paramiko as is
    with tempfile.TemporaryDirectory(prefix="ispops-ssh-") as folder:
        if creds.ssh_host_key is not None:  # only this key; anything else is rejected before authenticating
            params.update(
                ssh_strict=True,
                system_host_keys=False,
                alt_host_keys=True,
                alt_key_file=_known_hosts(folder, host, creds.ssh_port, creds.ssh_host_key),
            )
        output, presented = _session(params, command, bool(creds.enable_secret), timeout)
    if creds.ssh_host_key is not None and presented != creds.ssh_host_key:  # paramiko checked; say it twice
        raise BackupFailed(f"ssh_host_key: the device presented {fingerprint(presented)}, not the pinned key")
    text = str(output).replace("\r\n", "\n")
    if not text.strip():
        raise BackupFailed(f"{command!r} returned nothing")
    return Fetched(text if text.endswith("\n") else text + "\n", presented)


def _session(params: dict[str, Any], command: str, enable: bool, timeout: float) -> tuple[str, str]:
    """Run ``command`` over SSH: (its output, the host key the device presented)."""
    try:
        with ConnectHandler(**params) as conn:
            transport = conn.remote_conn_pre.get_transport() if conn.remote_conn_pre else None
            if transport is None:
                raise BackupFailed("no SSH transport after login")
            key = transport.get_remote_server_key()
            if enable:
                conn.enable()
            output = conn.send_command(command, read_timeout=timeout)
    except BackupFailed:
        raise
    except Exception as exc:  # netmiko/paramiko raise many kinds; all mean "no backup this time"
        bad = _bad_host_key(exc)
        if bad is not None:
            got = f"{bad.key.get_name()} {bad.key.get_base64()}"
            raise BackupFailed(
                f"ssh_host_key: the device presented {fingerprint(got)} ({bad.key.get_name()}), not the pinned "
                "key; if its key really changed, store its credentials again with the new ssh_host_key (or "
                "without one, to pin the next key it presents)"
            ) from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise BackupFailed(f"{type(exc).__name__}: {first}") from None
    return str(output), f"{key.get_name()} {key.get_base64()}"


def _bad_host_key(exc: BaseException | None) -> paramiko.BadHostKeyException | None:
    """paramiko's host key mismatch, which netmiko re-raises as a timeout (the original is its context)."""
    while exc is not None and not isinstance(exc, paramiko.BadHostKeyException):
        exc = exc.__cause__ or exc.__context__
    return exc


class BackupStorage:
    """Backups on a local (or mounted) directory, one folder per tenant and device."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, tenant_id: str, device_id: uuid.UUID) -> Path:
        if "/" in tenant_id or tenant_id.startswith("."):
            raise ValueError("bad tenant id")
        return self.root / tenant_id / str(uuid.UUID(str(device_id)))

    def entries(self, tenant_id: str, device_id: uuid.UUID) -> list[BackupEntry]:
        """Stored backups, oldest first."""
        folder = self.folder(tenant_id, device_id)
        if not folder.is_dir():
            return []
        out = []
        for path in sorted(folder.glob("*.cfg")):
            if not NAME.match(path.stem):
                continue
            taken = dt.datetime.strptime(path.stem, STAMP).replace(tzinfo=dt.UTC)
            out.append(BackupEntry(path.stem, taken, path.stat().st_size, path.with_suffix(".diff").exists()))
        return out

    def read(self, tenant_id: str, device_id: uuid.UUID, name: str, suffix: str = ".cfg") -> str:
        if not NAME.match(name):
            raise NotFound("backup: no such backup", table="devices")
        path = self.folder(tenant_id, device_id) / f"{name}{suffix}"
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFound("backup: no such backup", table="devices") from None

    def latest(self, tenant_id: str, device_id: uuid.UUID) -> BackupEntry | None:
        entries = self.entries(tenant_id, device_id)
        return entries[-1] if entries else None

    def save(self, tenant_id: str, device_id: uuid.UUID, config: str, at: dt.datetime) -> SavedBackup:
        """Store ``config`` unless it equals the latest backup; write its diff against the previous one."""
        folder = self.folder(tenant_id, device_id)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        previous = self.latest(tenant_id, device_id)
        old = self.read(tenant_id, device_id, previous.name) if previous else None
        if old == config and previous is not None:
            return SavedBackup(folder / f"{previous.name}.cfg", changed=False, diff_path=None)
        name = at.astimezone(dt.UTC).strftime(STAMP)
        path = folder / f"{name}.cfg"
        _write(path, config)
        diff_path = None
        if previous is not None and old is not None:
            diff = "".join(
                difflib.unified_diff(
                    old.splitlines(keepends=True),
                    config.splitlines(keepends=True),
                    fromfile=f"{previous.name}.cfg",
                    tofile=f"{name}.cfg",
                )
            )
            diff_path = path.with_suffix(".diff")
            _write(diff_path, diff)
        return SavedBackup(path, changed=True, diff_path=diff_path)


def _write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
