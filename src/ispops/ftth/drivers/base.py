"""The one interface every OLT driver implements: discover, authorise, deauthorise, reboot, read status and
optics.

A driver talks to one OLT and knows nothing of the database: it gets an :class:`OltTarget` (address,
credentials, timeouts) and returns plain values. What it sends and what the OLT answers is recorded step by
step through a :class:`Transcript`, which the provisioning job stores with the job (rendered commands and
the whole console output). Errors are typed:

- :class:`CommandFailed`: the OLT refused a command; the sequence stopped there (``command``, ``output``).
- :class:`DriverTimeout`: no (complete) answer in time; the OLT's state is unknown, so the caller marks
  the ONU ``auth_failed`` and a retry starts again from the beginning (every operation is idempotent).
- :class:`Unsupported`: this driver cannot do that operation (e.g. optics through the VOLTHA NBI).
- :class:`DriverError`: anything else (login refused, unreachable, a malformed answer).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ispops.devices.service import DeviceCredentials
from ispops.devices.snmp import SnmpTarget

_PON = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{1,3})$")
SERIAL = re.compile(r"^[A-Za-z0-9]{4}[0-9A-Fa-f]{8}$")


@dataclass(frozen=True, order=True)
class PonAddress:
    """A PON port as operators write it: frame/slot/port (``0/1/3``)."""

    frame: int
    slot: int
    port: int

    def __str__(self) -> str:
        return f"{self.frame}/{self.slot}/{self.port}"

    @classmethod
    def parse(cls, text: str) -> PonAddress:
        m = _PON.match(text.strip())
        if m is None:
            raise ValueError(f"{text!r} is not frame/slot/port")
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3)))


@dataclass(frozen=True, order=True)
class OnuAddress:
    """One ONU on an OLT: its PON port and its ONU id on that port."""

    pon: PonAddress
    onu_id: int

    def __str__(self) -> str:
        return f"{self.pon} ont {self.onu_id}"


@dataclass(frozen=True)
class DiscoveredOnu:
    """An ONU the OLT has found on a port but that is not authorised (auto-find)."""

    pon: PonAddress
    serial_number: str  # 12 characters: 4-letter vendor id + 8 hex digits (``HWTC1A2B3C4D``)
    equipment_id: str | None = None
    software_version: str | None = None
    loid: str | None = None
    found_at: dt.datetime | None = None


# Why an ONU last went down, normalised across vendors (docs/ftth.md). ``dying_gasp`` is a power event
# at the subscriber, not a fibre fault.
DOWN_CAUSES = (
    "los",
    "losi",
    "lofi",
    "sfi",
    "loai",
    "loami",
    "deactivated",
    "reset",
    "reregistered",
    "dying_gasp",
    "loki",
)


@dataclass(frozen=True)
class OnuState:
    """An authorised ONU's run state as the OLT reports it."""

    address: OnuAddress
    serial_number: str | None
    online: bool | None  # None: the OLT did not say
    distance_m: int | None = None
    last_down_cause: str | None = None  # one of DOWN_CAUSES, or ``other:<raw>``
    description: str | None = None


@dataclass(frozen=True)
class OpticalReading:
    """Light levels of one ONU, in dBm (None: not reported, e.g. the ONU is offline)."""

    address: OnuAddress
    rx_dbm: float | None = None  # at the ONU (downstream)
    tx_dbm: float | None = None  # of the ONU's laser (upstream)
    olt_rx_dbm: float | None = None  # the ONU's light as the OLT receives it
    temperature_c: float | None = None
    voltage_v: float | None = None
    bias_ma: float | None = None
    distance_m: int | None = None


@dataclass(frozen=True)
class Authorisation:
    """What authorising an ONU needs (the ONU id is the one the database reserved)."""

    address: OnuAddress
    serial_number: str
    line_profile: str | None = None
    service_profile: str | None = None
    vlan_id: int | None = None
    gemport: int = 1
    description: str | None = None
    voltha_device_id: str | None = None  # VOLTHA: the ONU's child device id, when already known


@dataclass
class Step:
    """One command sent and what came back."""

    command: str
    output: str = ""
    ok: bool = True
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def as_dict(self) -> dict[str, object]:
        return {"command": self.command, "output": self.output, "ok": self.ok, "at": self.at.isoformat()}


class Transcript:
    """The commands of one operation, rendered before it starts, and each step as it completes.

    ``on_step`` (the job's progress writer) is called after every step."""

    def __init__(self, on_step: Callable[[Step], None] | None = None) -> None:
        self.planned: list[str] = []
        self.steps: list[Step] = []
        self._on_step = on_step

    def plan(self, commands: Sequence[str]) -> None:
        self.planned = list(commands)

    def record(self, step: Step) -> Step:
        self.steps.append(step)
        if self._on_step is not None:
            self._on_step(step)
        return step

    def text(self) -> str:
        return "".join(s.output for s in self.steps)


class DriverError(Exception):
    """The operation did not complete; ``message`` says why in words an operator can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DriverTimeout(DriverError):
    """No (complete) answer in time: what the OLT did is unknown."""


class CommandFailed(DriverError):
    """The OLT refused ``command``; nothing after it was sent."""

    def __init__(self, command: str, output: str) -> None:
        super().__init__(f"the OLT refused {command!r}: {output.strip()[-500:]}")
        self.command = command
        self.output = output


class Unsupported(DriverError):
    """This driver cannot do that."""


@dataclass(frozen=True)
class OltTarget:
    """How to reach one OLT. ``credentials`` are the OLT device's (``credentials_vault_path``)."""

    name: str
    host: str
    credentials: DeviceCredentials
    snmp: SnmpTarget | None = None
    port: int | None = None  # the driver's own port (VOLTHA NBI); SSH uses credentials.ssh_port
    olt_device_id: str | None = None  # VOLTHA: the OLT's device id
    timeout: float = 20.0


class OltDriver(Protocol):
    """What every driver does. Reads take the ONUs to read (None: every authorised ONU of the OLT)."""

    name: str

    def discover(self) -> list[DiscoveredOnu]: ...

    def authorise(self, request: Authorisation, transcript: Transcript) -> None: ...

    def deauthorise(self, address: OnuAddress, serial_number: str, transcript: Transcript) -> None: ...

    def reboot(self, address: OnuAddress, transcript: Transcript) -> None: ...

    def read_status(self, addresses: Sequence[OnuAddress] | None = None) -> list[OnuState]: ...

    def read_optics(self, addresses: Sequence[OnuAddress] | None = None) -> list[OpticalReading]: ...
