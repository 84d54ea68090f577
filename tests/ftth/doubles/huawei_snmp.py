"""A Huawei MA5800's SNMP agent, as a double: real ``snmpd`` with a ``pass_persist`` program serving a walk
built here from HUAWEI-XPON-MIB's documented objects (the OIDs are spelled out below, independently of the
driver, so a wrong OID in the driver fails the tests).

The walk is what an MA5800 answers for a few ONUs: hwGponDeviceOntConfigInfoTable (43), ...ControlInfoTable
(46), ...AutoFindOntInfoTable (48) and ...OntOpticalDdmInfoTable (51), indexed ``ifIndex.ontId`` with the
GPON port's ifIndex ``0xFA000000 + slot*0x2000 + port*0x100``. Light levels are in 0.01 dBm; the OLT-side
level carries the +10000 offset MA5800 firmware reports.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.devices.conftest import Agent, start_snmpd

X = "1.3.6.1.4.1.2011.6.128.1.1.2"
NO_VALUE = 2147483647
HERE = Path(__file__).resolve().parent


@dataclass
class FakeOnu:
    slot: int
    port: int
    onu_id: int
    serial: str  # "HWTC1A2B3C4D"
    online: bool = True
    distance_m: int = 1200
    last_down_cause: int = -1  # 13 = dying-gasp, 1 = LOS
    rx_dbm: float | None = -19.5
    tx_dbm: float | None = 2.3
    olt_rx_dbm: float | None = -21.0
    temperature_c: int = 45
    voltage_mv: int = 3300
    bias_ma: int = 12
    description: str = ""


@dataclass
class FakeAutofind:
    slot: int
    port: int
    index: int
    serial: str
    equipment: str = "EG8145V5"
    software: str = "V5R020C00S115"


@dataclass
class OltWalk:
    onus: list[FakeOnu] = field(default_factory=list)
    autofind: list[FakeAutofind] = field(default_factory=list)

    def lines(self) -> list[str]:
        out: list[str] = []
        for o in self.onus:
            i = f"{ifindex(o.slot, o.port)}.{o.onu_id}"
            out += [
                f"{X}.43.1.3.{i} octet {hexbytes(o.serial)}",  # hwGponDeviceOntSn
                f"{X}.43.1.9.{i} string {o.description or o.serial}",  # hwGponDeviceOntDespt
                f"{X}.46.1.15.{i} integer {1 if o.online else 2}",  # hwGponDeviceOntControlRunStatus
                f"{X}.46.1.20.{i} integer {o.distance_m if o.online else -1}",  # ...ControlRanging
                f"{X}.46.1.24.{i} integer {o.last_down_cause}",  # ...ControlLastDownCause
                f"{X}.51.1.1.{i} integer {o.temperature_c if o.online else NO_VALUE}",  # ...DdmTemperature
                f"{X}.51.1.2.{i} integer {o.bias_ma if o.online else NO_VALUE}",  # ...DdmBiasCurrent
                f"{X}.51.1.3.{i} integer {centi(o.tx_dbm if o.online else None)}",  # ...DdmTxPower
                f"{X}.51.1.4.{i} integer {centi(o.rx_dbm if o.online else None)}",  # ...DdmRxPower
                f"{X}.51.1.5.{i} integer {o.voltage_mv if o.online else NO_VALUE}",  # ...DdmVoltage
                # hwGponOntOpticalDdmOltRxOntPower, with the firmware's +10000 offset
                f"{X}.51.1.6.{i} integer "
                + (str(NO_VALUE) if o.olt_rx_dbm is None or not o.online else str(round(o.olt_rx_dbm * 100) + 10000)),
            ]
        for a in self.autofind:
            i = f"{ifindex(a.slot, a.port)}.{a.index}"
            out += [
                f"{X}.48.1.2.{i} octet {hexbytes(a.serial)}",  # hwGponDeviceAutoFindOntInfoSn
                f"{X}.48.1.6.{i} string {a.software}",  # ...OntMainSoftVer
                f"{X}.48.1.7.{i} string {a.equipment}",  # ...OntEquipmentId
            ]
        return out

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(self.lines()) + "\n")
        tmp.replace(path)


def ifindex(slot: int, port: int) -> int:
    return 0xFA000000 + slot * 0x2000 + port * 0x100


def centi(dbm: float | None) -> int:
    return NO_VALUE if dbm is None else round(dbm * 100)


def hexbytes(serial: str) -> str:
    raw = serial[:4].encode("ascii") + bytes.fromhex(serial[4:])
    return " ".join(f"{b:02X}" for b in raw)


@dataclass
class HuaweiAgent:
    port: int
    walk_file: Path
    agent: Agent

    def serve(self, walk: OltWalk) -> None:
        walk.write(self.walk_file)


def start_huawei_agent(folder: Path) -> Iterator[HuaweiAgent]:
    folder.mkdir(parents=True, exist_ok=True)
    walk_file = folder / "olt.walk"
    OltWalk().write(walk_file)
    wrapper = folder / "pass-persist.sh"
    script = folder / "pass_persist.py"
    shutil.copy(HERE / "pass_persist.py", script)
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {script} {walk_file}\n")
    wrapper.chmod(0o755)
    for agent in start_snmpd(folder / "snmpd", [f"pass_persist .1.3.6.1.4.1.2011.6.128 {wrapper}"]):
        yield HuaweiAgent(agent.port, walk_file, agent)
