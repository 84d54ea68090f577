"""SNMP polling of one device with pysnmp's asyncio API: system group, interface table, reachability.

Nothing here touches the database: :func:`poll_device` takes a target and returns a :class:`PollResult`,
whatever happens on the network (no answer, wrong community, wrong v3 keys, a broken agent). It never
raises for a device problem, so one bad device cannot stop a tenant's poll.

Status rules (docs/devices.md):

- **offline**: the system group did not answer (timeout, authentication failure, closed port, …).
  An unknown community gets no answer at all from an SNMP agent, so it is offline too.
- **degraded**: the device answered, but an interface that is administratively up is operationally
  down (``down`` or ``lower_layer_down``), or the interface table could not be read.
- **online**: the device answered and every admin-up interface is up (or dormant/testing/…).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
    next_cmd,
    usm3DESEDEPrivProtocol,
    usmAesCfb128Protocol,
    usmAesCfb192Protocol,
    usmAesCfb256Protocol,
    usmDESPrivProtocol,
    usmHMAC128SHA224AuthProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC256SHA384AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
    usmNoAuthProtocol,
    usmNoPrivProtocol,
)
from pysnmp.proto.rfc1905 import EndOfMibView, NoSuchInstance, NoSuchObject

from ispops.models.network import DeviceOperationalStatus

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"

# ifTable (RFC 2863) and ifXTable columns, walked together.
COLUMNS: dict[str, str] = {
    "descr": "1.3.6.1.2.1.2.2.1.2",
    "type": "1.3.6.1.2.1.2.2.1.3",
    "speed": "1.3.6.1.2.1.2.2.1.5",
    "admin": "1.3.6.1.2.1.2.2.1.7",
    "oper": "1.3.6.1.2.1.2.2.1.8",
    "in_octets": "1.3.6.1.2.1.2.2.1.10",
    "in_errors": "1.3.6.1.2.1.2.2.1.14",
    "out_octets": "1.3.6.1.2.1.2.2.1.16",
    "out_errors": "1.3.6.1.2.1.2.2.1.20",
    "name": "1.3.6.1.2.1.31.1.1.1.1",
    "hc_in_octets": "1.3.6.1.2.1.31.1.1.1.6",
    "hc_out_octets": "1.3.6.1.2.1.31.1.1.1.10",
    "high_speed": "1.3.6.1.2.1.31.1.1.1.15",
    "alias": "1.3.6.1.2.1.31.1.1.1.18",
}
ADMIN_STATUS = {1: "up", 2: "down", 3: "testing"}
OPER_STATUS = {1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "not_present", 7: "lower_layer_down"}
DOWN = frozenset({"down", "lower_layer_down"})
MAX_INTERFACES = 20_000  # a walk that goes on longer than this is a broken agent
BULK_REPETITIONS = 10

AUTH_PROTOCOLS: dict[str, Any] = {
    "none": usmNoAuthProtocol,
    "md5": usmHMACMD5AuthProtocol,
    "sha": usmHMACSHAAuthProtocol,
    "sha224": usmHMAC128SHA224AuthProtocol,
    "sha256": usmHMAC192SHA256AuthProtocol,
    "sha384": usmHMAC256SHA384AuthProtocol,
    "sha512": usmHMAC384SHA512AuthProtocol,
}
PRIV_PROTOCOLS: dict[str, Any] = {
    "none": usmNoPrivProtocol,
    "des": usmDESPrivProtocol,
    "3des": usm3DESEDEPrivProtocol,
    "aes": usmAesCfb128Protocol,
    "aes128": usmAesCfb128Protocol,
    "aes192": usmAesCfb192Protocol,
    "aes256": usmAesCfb256Protocol,
}


class SnmpFailure(Exception):
    """The agent did not answer, refused, or answered with an error."""


@dataclass(frozen=True)
class SnmpCredentials:
    """How to authenticate: a community (v1/v2c) or a USM user (v3). ``repr`` hides the secrets."""

    version: str
    community: str | None = field(default=None, repr=False)
    user: str | None = None
    auth_protocol: str = "sha"
    auth_key: str | None = field(default=None, repr=False)
    priv_protocol: str = "aes"
    priv_key: str | None = field(default=None, repr=False)

    def auth_data(self) -> CommunityData | UsmUserData:
        if self.version in ("v1", "v2c"):
            if not self.community:
                raise SnmpFailure(f"SNMP {self.version}: no community configured")
            return CommunityData(self.community, mpModel=0 if self.version == "v1" else 1)
        if not self.user:
            raise SnmpFailure("SNMP v3: no user configured")
        auth = AUTH_PROTOCOLS.get(self.auth_protocol.lower()) if self.auth_key else usmNoAuthProtocol
        priv = PRIV_PROTOCOLS.get(self.priv_protocol.lower()) if self.priv_key else usmNoPrivProtocol
        if auth is None or priv is None:
            raise SnmpFailure(f"SNMP v3: unknown protocol {self.auth_protocol!r}/{self.priv_protocol!r}")
        return UsmUserData(self.user, self.auth_key, self.priv_key, authProtocol=auth, privProtocol=priv)


@dataclass(frozen=True)
class SnmpTarget:
    host: str
    port: int
    credentials: SnmpCredentials


@dataclass
class InterfaceSample:
    if_index: int
    name: str | None = None
    alias: str | None = None
    if_type: int | None = None
    speed_mbps: int | None = None
    admin_status: str | None = None
    oper_status: str | None = None
    in_octets: int | None = None
    out_octets: int | None = None
    in_errors: int | None = None
    out_errors: int | None = None
    hc_counters: bool = False


@dataclass
class PollResult:
    status: DeviceOperationalStatus
    polled_at: dt.datetime
    sys_name: str | None = None
    sys_descr: str | None = None
    sys_uptime_seconds: int | None = None
    interfaces: list[InterfaceSample] | None = None  # None: the walk did not complete
    error: str | None = None
    seconds: float = 0.0

    @property
    def reachable(self) -> bool:
        return self.status != DeviceOperationalStatus.OFFLINE


def classify(*, reachable: bool, interfaces: Sequence[InterfaceSample] | None) -> DeviceOperationalStatus:
    """online / offline / degraded from what the poll saw (rules in the module docstring)."""
    if not reachable:
        return DeviceOperationalStatus.OFFLINE
    if interfaces is None:
        return DeviceOperationalStatus.DEGRADED
    if any(i.admin_status == "up" and i.oper_status in DOWN for i in interfaces):
        return DeviceOperationalStatus.DEGRADED
    return DeviceOperationalStatus.ONLINE


def _text(value: Any, limit: int | None = 255) -> str | None:
    raw = bytes(value.asOctets()) if hasattr(value, "asOctets") else str(value).encode()
    text = raw.decode("utf-8", "replace").replace("\x00", "").strip()
    if not text:
        return None
    return text[:limit] if limit else text


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _missing(value: Any) -> bool:
    return isinstance(value, NoSuchObject | NoSuchInstance | EndOfMibView)


async def _get_system(engine: SnmpEngine, auth: Any, transport: Any) -> tuple[str | None, str | None, int | None]:
    oids = (SYS_DESCR, SYS_UPTIME, SYS_NAME)
    error_indication, error_status, error_index, var_binds = await get_cmd(
        engine, auth, transport, ContextData(), *(ObjectType(ObjectIdentity(o)) for o in oids)
    )
    if error_indication:
        raise SnmpFailure(str(error_indication))
    if error_status:
        raise SnmpFailure(f"agent error {error_status.prettyPrint()} at {error_index}")
    values = {str(oid): value for oid, value in var_binds}
    descr, uptime, name = (values.get(o) for o in oids)
    return (
        None if descr is None or _missing(descr) else _text(descr, None),
        None if name is None or _missing(name) else _text(name),
        None if uptime is None or _missing(uptime) else (_int(uptime) or 0) // 100,
    )


async def walk_columns(
    engine: SnmpEngine, auth: Any, transport: Any, columns: dict[str, str], *, bulk: bool
) -> dict[str, dict[int, Any]]:
    """Walk several table columns at once (GETBULK, or GETNEXT for v1): ``{column: {index: value}}``."""
    prefixes = {name: tuple(int(p) for p in oid.split(".")) for name, oid in columns.items()}
    cursor = dict(columns)
    found: dict[str, dict[int, Any]] = {name: {} for name in columns}
    active = list(columns)
    while active:
        var_binds = [ObjectType(ObjectIdentity(cursor[name])) for name in active]
        if bulk:
            error_indication, error_status, error_index, answer = await bulk_cmd(
                engine, auth, transport, ContextData(), 0, BULK_REPETITIONS, *var_binds
            )
        else:
            error_indication, error_status, error_index, answer = await next_cmd(
                engine, auth, transport, ContextData(), *var_binds
            )
        if error_indication:
            raise SnmpFailure(str(error_indication))
        if error_status:
            # SNMPv1 ends a walk past the last object with noSuchName on that varbind.
            if not bulk and int(error_status) == 2 and 0 < int(error_index) <= len(active):
                active.pop(int(error_index) - 1)
                continue
            raise SnmpFailure(f"agent error {error_status.prettyPrint()} at {error_index}")
        if not answer:
            break
        finished: set[str] = set()
        for position, (oid, value) in enumerate(answer):
            name = active[position % len(active)]
            if name in finished:
                continue
            prefix = prefixes[name]
            parts = tuple(oid)
            if _missing(value) or parts[: len(prefix)] != prefix or len(parts) <= len(prefix):
                finished.add(name)
                continue
            if parts <= tuple(int(p) for p in cursor[name].split(".")):  # not increasing: a broken agent
                finished.add(name)
                continue
            found[name][parts[len(prefix)]] = value
            cursor[name] = ".".join(str(p) for p in parts)
            if len(found[name]) > MAX_INTERFACES:
                raise SnmpFailure(f"more than {MAX_INTERFACES} rows in {name}: walk aborted")
        active = [name for name in active if name not in finished]
    return found


def interfaces_from(columns: dict[str, dict[int, Any]]) -> list[InterfaceSample]:
    indexes = sorted(set().union(*(set(v) for v in columns.values())))
    out: list[InterfaceSample] = []
    for index in indexes:
        if index <= 0 or index > 2**31 - 1:
            continue

        def get(name: str, index: int = index) -> Any:
            return columns.get(name, {}).get(index)

        hc_in, hc_out = get("hc_in_octets"), get("hc_out_octets")
        hc = hc_in is not None and hc_out is not None
        high_speed, speed = _int(get("high_speed")), _int(get("speed"))
        out.append(
            InterfaceSample(
                if_index=index,
                name=_text(get("name")) if get("name") is not None else None,
                alias=_text(get("alias")) if get("alias") is not None else None,
                if_type=_int(get("type")),
                speed_mbps=high_speed if high_speed else (speed // 1_000_000 if speed is not None else None),
                admin_status=ADMIN_STATUS.get(_int(get("admin")) or 0),
                oper_status=OPER_STATUS.get(_int(get("oper")) or 0),
                in_octets=_int(hc_in if hc else get("in_octets")),
                out_octets=_int(hc_out if hc else get("out_octets")),
                in_errors=_int(get("in_errors")),
                out_errors=_int(get("out_errors")),
                hc_counters=hc,
            )
        )
        if out[-1].name is None and get("descr") is not None:
            out[-1].name = _text(get("descr"))
    return out


async def poll_device(
    target: SnmpTarget,
    *,
    engine: SnmpEngine | None = None,
    timeout: float = 2.0,
    retries: int = 1,
    deadline: float = 30.0,
) -> PollResult:
    """Poll one device. Never raises for a device problem: the result carries status and error.

    ``timeout``/``retries`` apply to each request; ``deadline`` bounds the whole poll (system group and
    interface walk). A given ``engine`` is shared (fine for communities); without one, the device gets
    its own (v3: USM users of different devices may share a name with different keys).
    """
    started = time.monotonic()
    own = engine is None
    snmp = engine or SnmpEngine()
    try:
        return await asyncio.wait_for(
            _poll(snmp, target, timeout=timeout, retries=retries, started=started), timeout=deadline
        )
    except TimeoutError:
        return PollResult(
            status=DeviceOperationalStatus.OFFLINE,
            polled_at=dt.datetime.now(dt.UTC),
            error=f"no complete answer within {deadline:g} s",
            seconds=time.monotonic() - started,
        )
    finally:
        if own:
            snmp.close_dispatcher()


async def _poll(engine: SnmpEngine, target: SnmpTarget, *, timeout: float, retries: int, started: float) -> PollResult:
    now = dt.datetime.now(dt.UTC)
    try:
        auth = target.credentials.auth_data()
        transport = await UdpTransportTarget.create((target.host, target.port), timeout=timeout, retries=retries)
        descr, name, uptime = await _get_system(engine, auth, transport)
    except SnmpFailure as exc:
        return PollResult(
            status=DeviceOperationalStatus.OFFLINE, polled_at=now, error=str(exc), seconds=time.monotonic() - started
        )
    except Exception as exc:  # an unresolvable host, a refused socket, a pysnmp error: still just offline
        return PollResult(
            status=DeviceOperationalStatus.OFFLINE,
            polled_at=now,
            error=f"{type(exc).__name__}: {exc}",
            seconds=time.monotonic() - started,
        )
    interfaces: list[InterfaceSample] | None
    error: str | None = None
    try:
        columns = await walk_columns(engine, auth, transport, COLUMNS, bulk=target.credentials.version != "v1")
        interfaces = interfaces_from(columns)
    except Exception as exc:
        interfaces, error = None, f"interface table: {exc}"
    return PollResult(
        status=classify(reachable=True, interfaces=interfaces),
        polled_at=now,
        sys_name=name,
        sys_descr=descr,
        sys_uptime_seconds=uptime,
        interfaces=interfaces,
        error=error,
        seconds=time.monotonic() - started,
    )
