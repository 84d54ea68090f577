"""OLT drivers behind one interface (``base.OltDriver``): Huawei MA5800 (SNMP reads + SSH CLI
provisioning), the CLI alone, VOLTHA's NBI, and the lab driver of the demo. ``olts.driver`` names one.

:func:`build` turns an OLT's driver name and :class:`~base.OltTarget` into a driver; an unknown name or a
target the driver cannot use is a :class:`NotConfigured` naming the field to fix.
"""

from __future__ import annotations

from collections.abc import Sequence

from ispops.ftth.drivers.base import (
    Authorisation,
    DiscoveredOnu,
    OltDriver,
    OltTarget,
    OnuAddress,
    OnuState,
    OpticalReading,
    Transcript,
)
from ispops.ftth.drivers.cli import HuaweiCli
from ispops.ftth.drivers.lab import LabOlt
from ispops.ftth.drivers.snmp import HuaweiSnmp
from ispops.ftth.drivers.voltha import Voltha
from ispops.models.ftth_provisioning import OltDriverName

NAMES = tuple(d.value for d in OltDriverName)


class NotConfigured(ValueError):
    """The OLT cannot be driven as configured; ``field`` (of ``olts`` or its device) says what to fix."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class HuaweiMa5800:
    """A Huawei MA5800/MA5600T as operators run it: reads over SNMP (HUAWEI-XPON-MIB), provisioning over
    the SSH CLI."""

    name = "huawei_ma5800"

    def __init__(self, target: OltTarget) -> None:
        if target.snmp is None:
            raise NotConfigured("the OLT device has no SNMP credentials", "credentials_vault_path")
        self.reads = HuaweiSnmp(target.snmp, timeout=min(target.timeout, 5))
        self.writes = HuaweiCli(target)

    def discover(self) -> list[DiscoveredOnu]:
        return self.reads.discover()

    def authorise(self, request: Authorisation, transcript: Transcript) -> None:
        self.writes.authorise(request, transcript)

    def deauthorise(self, address: OnuAddress, serial_number: str, transcript: Transcript) -> None:
        self.writes.deauthorise(address, serial_number, transcript)

    def reboot(self, address: OnuAddress, transcript: Transcript) -> None:
        self.writes.reboot(address, transcript)

    def read_status(self, addresses: Sequence[OnuAddress] | None = None) -> list[OnuState]:
        return self.reads.read_status(addresses)

    def read_optics(self, addresses: Sequence[OnuAddress] | None = None) -> list[OpticalReading]:
        return self.reads.read_optics(addresses)


def build(name: str | None, target: OltTarget) -> OltDriver:
    """The driver ``name`` for ``target``."""
    if name is None:
        raise NotConfigured("the OLT has no driver: set olts.driver", "driver")
    if name == OltDriverName.LAB:
        return LabOlt(target.name)
    if name == OltDriverName.HUAWEI_MA5800:
        return HuaweiMa5800(target)
    if name == OltDriverName.HUAWEI_CLI:
        return HuaweiCli(target)
    if name == OltDriverName.VOLTHA:
        if not target.olt_device_id:
            raise NotConfigured("a VOLTHA OLT needs its voltha_device_id", "voltha_device_id")
        return Voltha(target)
    raise NotConfigured(f"unknown driver {name!r} (one of {', '.join(NAMES)})", "driver")


__all__ = ["NAMES", "HuaweiMa5800", "NotConfigured", "build"]
