"""Huawei MA56xx/MA58xx GPON over SNMP (HUAWEI-XPON-MIB): the ONU list, run state, distance, last-down
cause, light levels and the auto-find list. Reads only: Huawei's own tools and ours provision through the
CLI (``cli.py``).

Every table is indexed by ``ifIndex.ontId``. The ifIndex of a GPON port on frame 0 is
``0xFA000000 + slot * 0x2000 + port * 0x100`` (``GPON_IFINDEX_BASE``; docs/ftth.md lists every OID, its
unit and the scaling applied here). Values of ``0x7FFFFFFF`` or ``-1`` mean "no value" (an offline ONU has
no light levels).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pysnmp.hlapi.v3arch.asyncio import (
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    bulk_cmd,
)
from pysnmp.proto.rfc1905 import EndOfMibView, NoSuchInstance, NoSuchObject

from ispops.devices.snmp import SnmpFailure, SnmpTarget
from ispops.ftth.drivers.base import (
    Authorisation,
    DiscoveredOnu,
    DriverError,
    DriverTimeout,
    OnuAddress,
    OnuState,
    OpticalReading,
    PonAddress,
    Transcript,
    Unsupported,
)

# hwXponDeviceControlObjects (HUAWEI-XPON-MIB)
XPON = "1.3.6.1.4.1.2011.6.128.1.1.2"
ONT_SN = f"{XPON}.43.1.3"  # hwGponDeviceOntSn, OCTET STRING (SIZE 8): vendor id (4 ASCII) + 4 bytes
ONT_DESCR = f"{XPON}.43.1.9"  # hwGponDeviceOntDespt
RUN_STATUS = f"{XPON}.46.1.15"  # hwGponDeviceOntControlRunStatus: up(1), down(2), invalid(-1)
RANGING = f"{XPON}.46.1.20"  # hwGponDeviceOntControlRanging: metres
LAST_DOWN_CAUSE = f"{XPON}.46.1.24"  # hwGponDeviceOntControlLastDownCause
AUTOFIND_SN = f"{XPON}.48.1.2"  # hwGponDeviceAutoFindOntInfoSn
AUTOFIND_SOFTWARE = f"{XPON}.48.1.6"  # hwGponDeviceAutoFindOntInfoOntMainSoftVer
AUTOFIND_EQUIPMENT = f"{XPON}.48.1.7"  # hwGponDeviceAutoFindOntInfoOntEquipmentId
AUTOFIND_LOID = f"{XPON}.48.1.9"  # hwGponDeviceAutoFindOntInfoLoid
DDM_TEMPERATURE = f"{XPON}.51.1.1"  # hwGponOntOpticalDdmTemperature: °C
DDM_BIAS = f"{XPON}.51.1.2"  # hwGponOntOpticalDdmBiasCurrent: mA
DDM_TX = f"{XPON}.51.1.3"  # hwGponOntOpticalDdmTxPower: 0.01 dBm
DDM_RX = f"{XPON}.51.1.4"  # hwGponOntOpticalDdmRxPower: 0.01 dBm
DDM_VOLTAGE = f"{XPON}.51.1.5"  # hwGponOntOpticalDdmVoltage: mV
DDM_OLT_RX = f"{XPON}.51.1.6"  # hwGponOntOpticalDdmOltRxOntPower: 0.01 dBm (see olt_rx_dbm)

GPON_IFINDEX_BASE = 0xFA000000
NO_VALUE = frozenset({0x7FFFFFFF, -1})
# hwGponDeviceOntControlLastDownCause -> ours (base.DOWN_CAUSES)
DOWN_CAUSE = {
    1: "los",
    2: "losi",
    3: "lofi",
    4: "sfi",
    5: "loai",
    6: "loami",
    7: "deactivated",  # "deactive ONT fails"
    8: "deactivated",
    9: "reset",
    10: "reregistered",
    13: "dying_gasp",
    15: "loki",
}
MAX_ROWS = 200_000
BULK = 25


def if_index(pon: PonAddress) -> int:
    """The ifIndex of a GPON port (frame 0 only: the encoding of other frames is not documented)."""
    if pon.frame != 0:
        raise Unsupported(f"PON {pon}: Huawei SNMP addressing is implemented for frame 0 only")
    if not (0 <= pon.slot < 64 and 0 <= pon.port < 32):
        raise DriverError(f"PON {pon}: slot or port out of range")
    return GPON_IFINDEX_BASE + pon.slot * 0x2000 + pon.port * 0x100


def pon_of(index: int) -> PonAddress | None:
    """The PON port of a GPON ifIndex, or None for another kind of interface."""
    offset = index - GPON_IFINDEX_BASE
    if offset < 0 or offset >= 64 * 0x2000 or offset % 0x100:
        return None
    return PonAddress(0, offset // 0x2000, (offset % 0x2000) // 0x100)


def serial_text(raw: bytes) -> str:
    """``HWTC`` + the last four bytes in hex: how the CLI and the sticker write it (``HWTC1A2B3C4D``)."""
    if len(raw) != 8:
        return raw.hex().upper()
    return raw[:4].decode("ascii", "replace") + raw[4:].hex().upper()


def serial_octets(text: str) -> bytes:
    return text[:4].encode("ascii") + bytes.fromhex(text[4:])


def scaled(value: int | None, factor: float) -> float | None:
    if value is None or value in NO_VALUE:
        return None
    return round(value * factor, 2)


def olt_rx_dbm(value: int | None) -> float | None:
    """The MIB says 0.01 dBm (-99…100 as dBm). MA5600T/MA5800 firmware reports it offset by +10000
    (``7900`` for -21.00 dBm); no real upstream power is above +50 dBm, so a raw value ≥ 5000 is read
    with the offset."""
    if value is None or value in NO_VALUE:
        return None
    return round((value - 10000) / 100 if value >= 5000 else value / 100, 2)


def _run(factory: Any) -> Any:
    """Run a coroutine to completion from sync code, also from a thread that runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


def _missing(value: Any) -> bool:
    return isinstance(value, NoSuchObject | NoSuchInstance | EndOfMibView)


class HuaweiSnmp:
    """Reads of a Huawei GPON OLT through HUAWEI-XPON-MIB."""

    name = "huawei_snmp"

    def __init__(self, target: SnmpTarget, *, timeout: float = 2.0, retries: int = 1, deadline: float = 60.0) -> None:
        self.target = target
        self.timeout = timeout
        self.retries = retries
        self.deadline = deadline

    # -- the walk -------------------------------------------------------------------------------------

    def walk(self, columns: dict[str, str]) -> dict[str, dict[tuple[int, ...], Any]]:
        """``{name: {index suffix: value}}`` for every column, walked with GETBULK."""

        async def go() -> dict[str, dict[tuple[int, ...], Any]]:
            return await asyncio.wait_for(self._walk(columns), timeout=self.deadline)

        try:
            result: dict[str, dict[tuple[int, ...], Any]] = _run(go)
        except TimeoutError:
            raise DriverTimeout(
                f"SNMP: no complete answer from {self.target.host} within {self.deadline:g} s"
            ) from None
        except SnmpFailure as exc:
            text = str(exc)
            if "timeout" in text.lower() or "no snmp response" in text.lower():
                raise DriverTimeout(f"SNMP {self.target.host}: {text}") from None
            raise DriverError(f"SNMP {self.target.host}: {text}") from None
        return result

    async def _walk(self, columns: dict[str, str]) -> dict[str, dict[tuple[int, ...], Any]]:
        engine = SnmpEngine()
        try:
            auth = self.target.credentials.auth_data()
            transport = await UdpTransportTarget.create(
                (self.target.host, self.target.port), timeout=self.timeout, retries=self.retries
            )
            found: dict[str, dict[tuple[int, ...], Any]] = {name: {} for name in columns}
            for name, oid in columns.items():
                prefix = tuple(int(p) for p in oid.split("."))
                cursor = prefix
                while True:
                    error, status, index, answer = await bulk_cmd(
                        engine, auth, transport, ContextData(), 0, BULK, ObjectType(ObjectIdentity(cursor))
                    )
                    if error:
                        raise SnmpFailure(str(error))
                    if status:
                        raise SnmpFailure(f"agent error {status.prettyPrint()} at {index}")
                    done = not answer
                    for got, value in answer:
                        parts = tuple(got)
                        if _missing(value) or parts[: len(prefix)] != prefix or parts <= cursor:
                            done = True
                            break
                        found[name][parts[len(prefix) :]] = value
                        cursor = parts
                    if len(found[name]) > MAX_ROWS:
                        raise SnmpFailure(f"more than {MAX_ROWS} rows under {oid}: walk aborted")
                    if done:
                        break
            return found
        finally:
            engine.close_dispatcher()

    # -- the interface ---------------------------------------------------------------------------------

    def discover(self) -> list[DiscoveredOnu]:
        cols = self.walk(
            {"sn": AUTOFIND_SN, "equipment": AUTOFIND_EQUIPMENT, "software": AUTOFIND_SOFTWARE, "loid": AUTOFIND_LOID}
        )
        out: list[DiscoveredOnu] = []
        for suffix, raw in sorted(cols["sn"].items()):
            pon = pon_of(suffix[0]) if suffix else None
            if pon is None:
                continue
            out.append(
                DiscoveredOnu(
                    pon=pon,
                    serial_number=serial_text(bytes(raw.asOctets())),
                    equipment_id=_text(cols["equipment"].get(suffix)),
                    software_version=_text(cols["software"].get(suffix)),
                    loid=_text(cols["loid"].get(suffix)),
                    found_at=dt.datetime.now(dt.UTC),
                )
            )
        return out

    def read_status(self, addresses: Sequence[OnuAddress] | None = None) -> list[OnuState]:
        cols = self.walk(
            {"sn": ONT_SN, "descr": ONT_DESCR, "run": RUN_STATUS, "ranging": RANGING, "cause": LAST_DOWN_CAUSE}
        )
        wanted = set(addresses) if addresses is not None else None
        out: list[OnuState] = []
        for suffix, raw in sorted(cols["sn"].items()):
            address = _address(suffix)
            if address is None or (wanted is not None and address not in wanted):
                continue
            run = _int(cols["run"].get(suffix))
            cause = _int(cols["cause"].get(suffix))
            distance = _int(cols["ranging"].get(suffix))
            out.append(
                OnuState(
                    address=address,
                    serial_number=serial_text(bytes(raw.asOctets())),
                    online={1: True, 2: False}.get(run) if run is not None else None,
                    distance_m=None if distance is None or distance in NO_VALUE else distance,
                    last_down_cause=None if cause is None or cause == -1 else DOWN_CAUSE.get(cause, f"other:{cause}"),
                    description=_text(cols["descr"].get(suffix)),
                )
            )
        return out

    def read_optics(self, addresses: Sequence[OnuAddress] | None = None) -> list[OpticalReading]:
        cols = self.walk(
            {
                "rx": DDM_RX,
                "tx": DDM_TX,
                "olt_rx": DDM_OLT_RX,
                "temperature": DDM_TEMPERATURE,
                "voltage": DDM_VOLTAGE,
                "bias": DDM_BIAS,
                "ranging": RANGING,
            }
        )
        wanted = set(addresses) if addresses is not None else None
        out: list[OpticalReading] = []
        for suffix in sorted(set(cols["rx"]) | set(cols["olt_rx"])):
            address = _address(suffix)
            if address is None or (wanted is not None and address not in wanted):
                continue
            distance = _int(cols["ranging"].get(suffix))
            out.append(
                OpticalReading(
                    address=address,
                    rx_dbm=scaled(_int(cols["rx"].get(suffix)), 0.01),
                    tx_dbm=scaled(_int(cols["tx"].get(suffix)), 0.01),
                    olt_rx_dbm=olt_rx_dbm(_int(cols["olt_rx"].get(suffix))),
                    temperature_c=scaled(_int(cols["temperature"].get(suffix)), 1),
                    voltage_v=scaled(_int(cols["voltage"].get(suffix)), 0.001),
                    bias_ma=scaled(_int(cols["bias"].get(suffix)), 1),
                    distance_m=None if distance is None or distance in NO_VALUE else distance,
                )
            )
        return out

    def authorise(self, request: Authorisation, transcript: Transcript) -> None:
        raise Unsupported("the SNMP driver only reads: authorise through the CLI driver")

    def deauthorise(self, address: OnuAddress, serial_number: str, transcript: Transcript) -> None:
        raise Unsupported("the SNMP driver only reads: deauthorise through the CLI driver")

    def reboot(self, address: OnuAddress, transcript: Transcript) -> None:
        raise Unsupported("the SNMP driver only reads: reboot through the CLI driver")


def _address(suffix: tuple[int, ...]) -> OnuAddress | None:
    if len(suffix) != 2:
        return None
    pon = pon_of(suffix[0])
    return None if pon is None else OnuAddress(pon, suffix[1])


def _int(value: Any) -> int | None:
    if value is None or _missing(value):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    if value is None or _missing(value):
        return None
    raw = bytes(value.asOctets()) if hasattr(value, "asOctets") else str(value).encode()
    text = raw.decode("utf-8", "replace").replace("\x00", "").strip()
    return text or None
