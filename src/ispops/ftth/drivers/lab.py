"""The lab driver, for the demo data and development: an OLT that does not exist.

It answers every operation at once and deterministically (the same OLT and ONU always give the same
answers), renders the Huawei MA5800 commands the CLI driver would send into the transcript, and marks
every step ``lab:``. Never use it for a real OLT: nothing leaves the process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ispops.ftth.drivers.base import (
    Authorisation,
    DiscoveredOnu,
    OnuAddress,
    OnuState,
    OpticalReading,
    PonAddress,
    Step,
    Transcript,
)
from ispops.ftth.drivers.cli import CliTemplates


def _unit(*parts: object) -> float:
    """A number in [0, 1) fixed by ``parts``."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


class LabOlt:
    name = "lab"

    def __init__(self, olt_name: str, *, discovered: int = 2) -> None:
        self.olt_name = olt_name
        self.discovered = discovered
        self.templates = CliTemplates()

    def _run(self, commands: list[str], transcript: Transcript) -> None:
        transcript.plan(commands)
        for command in commands:
            transcript.record(Step(command, f"lab: {self.olt_name}: ok\n"))

    def discover(self) -> list[DiscoveredOnu]:
        return [
            DiscoveredOnu(
                pon=PonAddress(0, 1, n % 4),
                serial_number="LABO" + hashlib.sha256(f"{self.olt_name}/{n}".encode()).hexdigest()[:8].upper(),
                equipment_id="LAB-ONU",
            )
            for n in range(self.discovered)
        ]

    def authorise(self, request: Authorisation, transcript: Transcript) -> None:
        self._run([c.text for c in self.templates.authorise(request)], transcript)

    def deauthorise(self, address: OnuAddress, serial_number: str, transcript: Transcript) -> None:
        self._run([c.text for c in self.templates.deauthorise(address)], transcript)

    def reboot(self, address: OnuAddress, transcript: Transcript) -> None:
        self._run([c.text for c in self.templates.reboot(address)], transcript)

    def read_status(self, addresses: Sequence[OnuAddress] | None = None) -> list[OnuState]:
        return [
            OnuState(address=a, serial_number=None, online=True, distance_m=500 + int(_unit(self.olt_name, a) * 9000))
            for a in addresses or ()
        ]

    def read_optics(self, addresses: Sequence[OnuAddress] | None = None) -> list[OpticalReading]:
        out = []
        for a in addresses or ():
            u = _unit(self.olt_name, a, "light")
            out.append(
                OpticalReading(
                    address=a,
                    rx_dbm=round(-16.0 - u * 8, 2),
                    tx_dbm=round(1.5 + u, 2),
                    olt_rx_dbm=round(-18.0 - u * 8, 2),
                    temperature_c=round(40 + u * 10, 1),
                    voltage_v=3.3,
                    bias_ma=10.0,
                    distance_m=500 + int(_unit(self.olt_name, a) * 9000),
                )
            )
        return out
