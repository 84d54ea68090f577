"""Provisioning over SSH with per-vendor command templates (netmiko).

A vendor's templates (:class:`CliTemplates`) render an operation into the exact commands to type; the
driver sends them one by one, records each command with the OLT's answer in the job's transcript, and
stops at the first answer that is a failure (``Failure:``, ``% Unknown command``, ``% Parameter error``,
``Error:``), raising :class:`~ispops.ftth.drivers.base.CommandFailed` with that output. ``(y/n)[n]:``
confirmations are answered ``y`` and recorded.

Huawei MA5800/MA5600T (SmartAX, netmiko's ``huawei_smartax``) is the vendor here, following the MA5800
command reference: ``ont add``/``ont delete``/``ont reset``/``ont port native-vlan`` in
``interface gpon F/S``, ``service-port``/``undo service-port`` in config mode, ``display ont autofind all``
and ``display ont info by-sn``.

Retrying is safe: authorising first asks the OLT for the serial (``display ont info by-sn``). Already there
at the reserved place (a previous attempt got that far) → it is removed and added again from a clean
state; somewhere else → refused, nothing changed. Deauthorising an ONU or service port that is already gone
is not a failure (``does not exist`` is tolerated in that sequence only).
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import paramiko
import structlog
from netmiko import ConnectHandler, NetmikoAuthenticationException, NetmikoTimeoutException, ReadTimeout

from ispops.ftth.drivers.base import (
    SERIAL,
    Authorisation,
    CommandFailed,
    DiscoveredOnu,
    DriverError,
    DriverTimeout,
    OltTarget,
    OnuAddress,
    OnuState,
    OpticalReading,
    PonAddress,
    Step,
    Transcript,
    Unsupported,
)

log = structlog.get_logger(__name__)
PROFILE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
DESCRIPTION = re.compile(r"^[A-Za-z0-9 _.:/@#-]{0,64}$")
FAILURE = re.compile(r"^\s*(Failure:|% ?Unknown command|% ?Parameter error|% ?Incomplete command|Error:)", re.MULTILINE)
CONFIRM = re.compile(r"\(y/n\)\[n\]:\s*$")


@dataclass(frozen=True)
class Command:
    """One line to type. ``tolerate``: failure answers that mean "already done" for this line."""

    text: str
    tolerate: tuple[str, ...] = ()


class CliTemplates:
    """Huawei MA5800 (SmartAX) command templates."""

    vendor = "huawei_ma5800"
    netmiko_type = "huawei_smartax"

    @staticmethod
    def _profile(kind: str, value: str | None) -> str:
        if value is None or not PROFILE.match(value):
            raise DriverError(f"{kind}: a profile id or name (letters, digits, _.-; at most 32) is required")
        return f"ont-{kind}-id {value}" if value.isdigit() else f"ont-{kind}-name {value}"

    def authorise(self, r: Authorisation) -> list[Command]:
        pon, onu = r.address.pon, r.address.onu_id
        if not SERIAL.match(r.serial_number):
            raise DriverError(f"serial_number {r.serial_number!r}: 4 letters or digits then 8 hex digits")
        description = r.description or r.serial_number
        if not DESCRIPTION.match(description):
            raise DriverError("description: letters, digits, spaces and _.:/@#- only, at most 64")
        commands = [
            Command("config"),
            Command(f"interface gpon {pon.frame}/{pon.slot}"),
            Command(
                f"ont add {pon.port} {onu} sn-auth {r.serial_number.upper()} omci "
                f"{self._profile('lineprofile', r.line_profile)} {self._profile('srvprofile', r.service_profile)} "
                f'desc "{description}"'
            ),
        ]
        if r.vlan_id is not None:
            commands += [
                Command(f"ont port native-vlan {pon.port} {onu} eth 1 vlan {r.vlan_id}"),
                Command("quit"),
                Command(
                    f"service-port vlan {r.vlan_id} gpon {pon} ont {onu} gemport {r.gemport} multi-service "
                    f"user-vlan {r.vlan_id} tag-transform translate"
                ),
            ]
        else:
            commands.append(Command("quit"))
        commands.append(Command("return"))
        return commands

    def deauthorise(self, address: OnuAddress) -> list[Command]:
        pon, onu = address.pon, address.onu_id
        gone = ("does not exist",)
        return [
            Command("config"),
            Command(f"undo service-port port {pon} ont {onu}", tolerate=gone),
            Command(f"interface gpon {pon.frame}/{pon.slot}"),
            Command(f"ont delete {pon.port} {onu}", tolerate=gone),
            Command("quit"),
            Command("return"),
        ]

    def reboot(self, address: OnuAddress) -> list[Command]:
        pon = address.pon
        return [
            Command("config"),
            Command(f"interface gpon {pon.frame}/{pon.slot}"),
            Command(f"ont reset {pon.port} {address.onu_id}"),
            Command("quit"),
            Command("return"),
        ]

    @staticmethod
    def where_is(serial_number: str) -> str:
        return f"display ont info by-sn {serial_number.upper()}"

    @staticmethod
    def parse_where(output: str) -> OnuAddress | None:
        fsp = re.search(r"F/S/P\s*:\s*(\d+/\d+/\d+)", output)
        onu = re.search(r"ONT-ID\s*:\s*(\d+)", output)
        if fsp is None or onu is None:
            return None
        return OnuAddress(PonAddress.parse(fsp.group(1)), int(onu.group(1)))

    @staticmethod
    def parse_autofind(output: str) -> list[DiscoveredOnu]:
        found = []
        for block in re.split(r"-{20,}", output):
            fsp = re.search(r"F/S/P\s*:\s*(\d+/\d+/\d+)", block)
            sn = re.search(r"Ont SN\s*:\s*([A-Za-z0-9]{12})", block)
            if fsp is None or sn is None:
                continue
            equipment = re.search(r"Ont EquipmentID\s*:\s*(\S+)", block)
            software = re.search(r"Ont SoftwareVersion\s*:\s*(\S+)", block)
            found.append(
                DiscoveredOnu(
                    pon=PonAddress.parse(fsp.group(1)),
                    serial_number=sn.group(1).upper(),
                    equipment_id=equipment.group(1) if equipment else None,
                    software_version=software.group(1) if software else None,
                )
            )
        return found


def _number(pattern: str, text: str) -> float | None:
    m = re.search(pattern + r"\s*:\s*(-?\d+(?:\.\d+)?)", text)
    return float(m.group(1)) if m else None


CAUSES = {
    "los": "los",
    "losi": "losi",
    "lofi": "lofi",
    "dying-gasp": "dying_gasp",
    "deactive": "deactivated",
    "sfi": "sfi",
}


class HuaweiCli:
    """The MA5800 over SSH: every operation, reads included (one ONU at a time: prefer SNMP for many)."""

    name = "huawei_cli"

    def __init__(self, target: OltTarget, templates: CliTemplates | None = None) -> None:
        self.target = target
        self.templates = templates or CliTemplates()

    # -- the session -----------------------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Any]:
        creds = self.target.credentials
        if not creds.has_ssh:
            raise DriverError(
                "credentials_vault_path: the OLT's credentials have no SSH username with a password or private_key"
            )
        timeout = self.target.timeout
        params: dict[str, Any] = {
            "device_type": self.templates.netmiko_type,
            "host": self.target.host,
            "port": creds.ssh_port,
            "username": creds.username,
            "password": creds.password or "",
            "conn_timeout": timeout,
            "auth_timeout": timeout,
            "banner_timeout": timeout,
            "timeout": timeout,
            "read_timeout_override": timeout,
            "allow_agent": False,
            "use_keys": False,
            "fast_cli": False,
        }
        if creds.private_key:
            params["pkey"] = _private_key(creds.private_key)
        with tempfile.TemporaryDirectory(prefix="ispops-olt-") as folder:
            if creds.ssh_host_key is not None:
                name = self.target.host if creds.ssh_port == 22 else f"[{self.target.host}]:{creds.ssh_port}"
                path = os.path.join(folder, "known_hosts")
                with open(path, "w", encoding="ascii") as f:
                    f.write(f"{name} {creds.ssh_host_key}\n")
                params.update(ssh_strict=True, system_host_keys=False, alt_host_keys=True, alt_key_file=path)
            try:
                conn = ConnectHandler(**params)
            except (NetmikoTimeoutException, ReadTimeout, TimeoutError) as exc:
                raise DriverTimeout(f"SSH {self.target.host}:{creds.ssh_port}: {_first_line(exc)}") from None
            except NetmikoAuthenticationException as exc:
                raise DriverError(f"SSH {self.target.host}: login refused ({_first_line(exc)})") from None
            except (OSError, paramiko.SSHException, ValueError) as exc:
                raise DriverError(
                    f"SSH {self.target.host}:{creds.ssh_port}: {type(exc).__name__}: {_first_line(exc)}"
                ) from None
            hung = False
            try:
                if not conn.check_enable_mode():
                    conn.enable()
                yield conn
            except DriverTimeout:
                hung = True
                raise
            finally:
                _close(conn, graceful=not hung)

    def _send(self, conn: Any, command: Command, transcript: Transcript) -> str:
        prompt = re.escape(conn.base_prompt) + r"[^\n]*[>#]\s*$|\(y/n\)\[n\]:\s*$"
        try:
            output = str(
                conn.send_command(
                    command.text,
                    expect_string=prompt,
                    read_timeout=self.target.timeout,
                    strip_prompt=False,
                    strip_command=False,
                )
            )
            while CONFIRM.search(output):
                transcript.record(Step(command.text, output.replace("\r\n", "\n"), ok=True))
                command = Command("y", command.tolerate)
                output = str(
                    conn.send_command(
                        "y",
                        expect_string=prompt,
                        read_timeout=self.target.timeout,
                        strip_prompt=False,
                        strip_command=False,
                    )
                )
        except (ReadTimeout, NetmikoTimeoutException, TimeoutError, OSError) as exc:
            transcript.record(Step(command.text, f"(no answer: {_first_line(exc)})\n", ok=False))
            raise DriverTimeout(f"no answer to {command.text!r} within {self.target.timeout:g} s") from None
        output = output.replace("\r\n", "\n")
        failed = FAILURE.search(output) is not None and not any(t in output for t in command.tolerate)
        transcript.record(Step(command.text, output, ok=not failed))
        if failed:
            raise CommandFailed(command.text, output)
        return output

    def run(self, commands: Sequence[Command], transcript: Transcript) -> None:
        """Send ``commands`` in order in one session, stopping at the first failure."""
        with self.session() as conn:
            for command in commands:
                self._send(conn, command, transcript)

    # -- the interface ---------------------------------------------------------------------------------

    def authorise(self, request: Authorisation, transcript: Transcript) -> None:
        commands = self.templates.authorise(request)
        where = Command(self.templates.where_is(request.serial_number), tolerate=("does not exist",))
        transcript.plan([where.text, *(c.text for c in commands)])
        with self.session() as conn:
            found = self.templates.parse_where(self._send(conn, where, transcript))
            if found is not None and found != request.address:
                raise CommandFailed(where.text, f"serial {request.serial_number} is already authorised at {found}\n")
            if found is not None:  # a previous attempt got this far: start again from a clean state
                cleanup = self.templates.deauthorise(found)
                transcript.plan([*transcript.planned, *(c.text for c in cleanup)])
                for command in cleanup:
                    self._send(conn, command, transcript)
            for command in commands:
                self._send(conn, command, transcript)

    def deauthorise(self, address: OnuAddress, serial_number: str, transcript: Transcript) -> None:
        commands = self.templates.deauthorise(address)
        transcript.plan([c.text for c in commands])
        self.run(commands, transcript)

    def reboot(self, address: OnuAddress, transcript: Transcript) -> None:
        commands = self.templates.reboot(address)
        transcript.plan([c.text for c in commands])
        self.run(commands, transcript)

    def discover(self) -> list[DiscoveredOnu]:
        transcript = Transcript()
        with self.session() as conn:
            output = self._send(conn, Command("display ont autofind all", tolerate=("do not exist",)), transcript)
        return self.templates.parse_autofind(output)

    def read_status(self, addresses: Sequence[OnuAddress] | None = None) -> list[OnuState]:
        if addresses is None:
            raise Unsupported("the CLI driver reads named ONUs only: walk the OLT over SNMP")
        out = []
        transcript = Transcript()
        with self.session() as conn:
            for address in addresses:
                pon = address.pon
                self._send(conn, Command("config"), transcript)
                self._send(conn, Command(f"interface gpon {pon.frame}/{pon.slot}"), transcript)
                try:
                    text = self._send(conn, Command(f"display ont info {pon.port} {address.onu_id}"), transcript)
                finally:
                    self._send(conn, Command("return"), transcript)
                run = re.search(r"Run state\s*:\s*(\S+)", text)
                sn = re.search(r"\bSN\s*:\s*([A-Za-z0-9]{12})", text)
                cause = re.search(r"Last down cause\s*:\s*(\S+)", text)
                distance = _number(r"ONT distance\(m\)", text)
                raw_cause = cause.group(1).lower() if cause else "-"
                out.append(
                    OnuState(
                        address=address,
                        serial_number=sn.group(1) if sn else None,
                        online=None if run is None else run.group(1).lower() == "online",
                        distance_m=int(distance) if distance is not None else None,
                        last_down_cause=None if raw_cause == "-" else CAUSES.get(raw_cause, f"other:{raw_cause}"),
                    )
                )
        return out

    def read_optics(self, addresses: Sequence[OnuAddress] | None = None) -> list[OpticalReading]:
        if addresses is None:
            raise Unsupported("the CLI driver reads named ONUs only: walk the OLT over SNMP")
        out = []
        transcript = Transcript()
        with self.session() as conn:
            for address in addresses:
                pon = address.pon
                self._send(conn, Command("config"), transcript)
                self._send(conn, Command(f"interface gpon {pon.frame}/{pon.slot}"), transcript)
                try:
                    text = self._send(
                        conn,
                        Command(f"display ont optical-info {pon.port} {address.onu_id}", tolerate=("not online",)),
                        transcript,
                    )
                finally:
                    self._send(conn, Command("return"), transcript)
                out.append(
                    OpticalReading(
                        address=address,
                        rx_dbm=_number(r"Rx optical power\(dBm\)", text),
                        tx_dbm=_number(r"Tx optical power\(dBm\)", text),
                        olt_rx_dbm=_number(r"OLT Rx ONT optical power\(dBm\)", text),
                        temperature_c=_number(r"Temperature\(C\)", text),
                        voltage_v=_number(r"Voltage\(V\)", text),
                        bias_ma=_number(r"Laser bias current\(mA\)", text),
                    )
                )
        return out


def _close(conn: Any, *, graceful: bool) -> None:
    """Log out (``quit``, confirmed); a console that stopped answering is dropped at once instead."""
    try:
        if graceful:
            conn.disconnect()
        elif conn.remote_conn_pre is not None:
            conn.remote_conn_pre.close()
    except Exception as exc:  # the OLT may already have closed the session
        log.debug("ftth.cli_close", error=str(exc))


def _private_key(text: str) -> paramiko.PKey:
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise DriverError("credentials: private_key is not an unencrypted Ed25519, ECDSA or RSA key")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
