"""Wireless work for the workers: SNMP polling of CPE radios, coverage recomputation.

Polling reads each live CPE that has a management address (``cpe_ip``) with SNMP GETs of an OID profile,
outside any transaction (threads of the event loop, at most ``CONCURRENCY`` at once), then stores what
answered as readings (source ``snmp``) through :func:`ispops.wireless.telemetry.ingest` in one transaction:
history, latest values and alarms, as for pushed readings. The OIDs are a profile because every vendor
has its own MIB; ``AIRMAX`` is Ubiquiti's airMAX (UBNT-AirMAX-MIB, ``ubntWlStat*`` of the first radio).

:func:`poll_tenant` is the worker's periodic job (``wireless.poll_tenant``): it reads the tenant's CPE SNMP
credentials from the secret store (``settings.cpe_snmp_path``: the tenant's own prefix, so one tenant's
credentials are never used for another's CPEs) and polls; a tenant without credentials is skipped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import structlog
from pysnmp.hlapi.v3arch.asyncio import ContextData, ObjectIdentity, ObjectType, SnmpEngine, UdpTransportTarget, get_cmd
from pysnmp.proto.rfc1905 import EndOfMibView, NoSuchInstance, NoSuchObject
from sqlalchemy import func, select, text

from ispops.db.session import Database, set_context, translated_errors
from ispops.devices.snmp import SnmpCredentials, SnmpFailure
from ispops.models import WirelessSubscriber
from ispops.models.wireless import CpeReadingSource
from ispops.secrets import SecretStore
from ispops.secrets import runtime as secret_runtime
from ispops.wireless import service, settings, telemetry

log = structlog.get_logger(__name__)

CONCURRENCY = 32
Results = dict[uuid.UUID, telemetry.Reading | str]


@dataclass(frozen=True)
class OidProfile:
    """Where a CPE keeps its radio values (scalar OIDs, instance included)."""

    name: str
    signal_dbm: str
    noise_dbm: str
    tx_rate_kbps: str
    distance_m: str
    ap_mac: str


AIRMAX = OidProfile(
    name="airmax",
    signal_dbm="1.3.6.1.4.1.41112.1.4.5.1.5.1",  # ubntWlStatSignal
    noise_dbm="1.3.6.1.4.1.41112.1.4.5.1.8.1",  # ubntWlStatNoiseFloor
    tx_rate_kbps="1.3.6.1.4.1.41112.1.4.5.1.9.1",  # ubntWlStatTxRate
    distance_m="1.3.6.1.4.1.41112.1.4.1.1.7.1",  # ubntRadioDistance
    ap_mac="1.3.6.1.4.1.41112.1.4.5.1.4.1",  # ubntWlStatApMac
)


@dataclass
class PollReport:
    skipped: str | None = None  # why nothing was polled (no credentials)
    polled: int = 0
    answered: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # CPE id -> why
    ingest: telemetry.IngestReport | None = None


def _missing(value: Any) -> bool:
    return value is None or isinstance(value, NoSuchObject | NoSuchInstance | EndOfMibView)


def _number(value: Any) -> float | None:
    return None if _missing(value) else float(int(value))


def _mac(value: Any) -> str | None:
    """A MAC from six raw octets or from text such as ``0A:00:00:00:00:01``."""
    if _missing(value):
        return None
    raw = bytes(value.asOctets())
    if len(raw) == 6:
        return ":".join(f"{b:02x}" for b in raw)
    text = raw.decode(errors="replace").strip().lower().replace("-", ":")
    return text if len(text) == 17 else None


async def read_cpe(
    engine: SnmpEngine,
    host: str,
    port: int,
    credentials: SnmpCredentials,
    profile: OidProfile,
    *,
    timeout: float,
    retries: int,
) -> telemetry.Reading:
    """One GET of the profile's OIDs; raises :class:`SnmpFailure` when the CPE does not answer."""
    transport = await UdpTransportTarget.create((host, port), timeout=timeout, retries=retries)
    oids = (profile.signal_dbm, profile.noise_dbm, profile.tx_rate_kbps, profile.distance_m, profile.ap_mac)
    error, status, index, binds = await get_cmd(
        engine, credentials.auth_data(), transport, ContextData(), *(ObjectType(ObjectIdentity(o)) for o in oids)
    )
    if error:
        raise SnmpFailure(str(error))
    if status:
        raise SnmpFailure(f"agent error {status.prettyPrint()} at {index}")
    values = {str(oid): value for oid, value in binds}
    signal, noise, rate, distance = (_number(values.get(o)) for o in oids[:4])
    return telemetry.Reading(
        read_at=dt.datetime.now(dt.UTC),
        signal_dbm=signal,
        noise_dbm=noise,
        link_speed_mbps=None if rate is None else round(rate / 1000),
        distance_km=None if distance is None else distance / 1000,
        ap_mac=_mac(values.get(profile.ap_mac)),
    )


async def _read_all(
    targets: list[tuple[uuid.UUID, str]],
    port: int,
    credentials: SnmpCredentials,
    profile: OidProfile,
    timeout: float,
    retries: int,
) -> dict[uuid.UUID, telemetry.Reading | str]:
    engine = SnmpEngine()
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(cpe_id: uuid.UUID, host: str) -> tuple[uuid.UUID, telemetry.Reading | str]:
        async with gate:
            try:
                reading = await read_cpe(engine, host, port, credentials, profile, timeout=timeout, retries=retries)
            except Exception as exc:  # an unreachable CPE is a result, not a failure of the poll
                return cpe_id, f"{type(exc).__name__}: {exc}"
            return cpe_id, telemetry.Reading(**{**reading.__dict__, "wireless_subscriber_id": cpe_id})

    try:
        return dict(await asyncio.gather(*(one(i, h) for i, h in targets)))
    finally:
        engine.close_dispatcher()


def poll_cpes(
    db: Database,
    tenant_id: str,
    *,
    credentials: SnmpCredentials,
    port: int = 161,
    profile: OidProfile = AIRMAX,
    timeout: float = 2.0,
    retries: int = 1,
) -> PollReport:
    """Poll every live CPE of the tenant that has a ``cpe_ip``; store what answered."""
    with db.tenant(tenant_id, enforce_status=False) as session:
        targets = [
            (cpe_id, str(host))
            for cpe_id, host in session.execute(
                select(WirelessSubscriber.id, func.host(WirelessSubscriber.cpe_ip)).where(
                    WirelessSubscriber.tenant_id == tenant_id,
                    WirelessSubscriber.deleted_at.is_(None),
                    WirelessSubscriber.cpe_ip.is_not(None),
                )
            ).all()
        ]
    report = PollReport(polled=len(targets))
    if not targets:
        return report
    results = _run_blocking(_read_all(targets, port, credentials, profile, timeout, retries))
    readings = [r for r in results.values() if isinstance(r, telemetry.Reading)]
    report.failed = {str(k): v for k, v in results.items() if isinstance(v, str)}
    report.answered = len(readings)
    if readings:
        with db.tenant(tenant_id, enforce_status=False) as session:
            report.ingest = telemetry.ingest(session, tenant_id, readings, source=CpeReadingSource.SNMP)
    return report


def _run_blocking(coro: Coroutine[Any, Any, Results]) -> Results:
    """Run the reads to completion, also from a thread that already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def poll_tenant(
    db: Database,
    tenant_id: str,
    *,
    store: SecretStore | None = None,
    profile: OidProfile = AIRMAX,
    timeout: float = 2.0,
    retries: int = 1,
) -> PollReport:
    """The worker's ``wireless.poll_tenant``: poll the tenant's CPEs with the tenant's CPE SNMP credentials
    (``PUT /api/v1/wireless/cpe-snmp``). Without credentials the tenant is skipped and logged, not failed;
    a store that is down or a malformed secret fails the job (retried)."""
    creds = settings.load_cpe_snmp(store or secret_runtime.current(), tenant_id)
    if creds is None:
        log.info("wireless.poll_skipped", tenant=tenant_id, reason="no CPE SNMP credentials")
        return PollReport(skipped="no CPE SNMP credentials")
    report = poll_cpes(
        db, tenant_id, credentials=creds.snmp(), port=creds.port, profile=profile, timeout=timeout, retries=retries
    )
    log.info(
        "wireless.poll",
        tenant=tenant_id,
        polled=report.polled,
        answered=report.answered,
        failed=len(report.failed),
        alarms_raised=len(report.ingest.raised) if report.ingest else 0,
    )
    return report


def maintain_readings(db: Database, *, days_ahead: int = 7, retention_days: int = 90) -> dict[str, list[str]]:
    """The CPE readings' share of the worker's partition upkeep, as the application role (the SECURITY
    DEFINER ``ispops_wireless_readings_maintain``): days ahead, retention. Idempotent."""
    out: dict[str, list[str]] = {"created": [], "dropped": [], "problems": []}
    with translated_errors(), db.app_engine.begin() as conn:
        set_context(conn, None, None)  # no tenant: the function touches no tenant row
        for action, name, detail in conn.execute(
            text("select action, partition_name, detail from ispops_wireless_readings_maintain(:ahead, :keep)"),
            {"ahead": days_ahead, "keep": retention_days},
        ):
            out["problems" if action == "problem" else action].append(str(detail if action == "problem" else name))
    return out


def recompute_coverage(db: Database, tenant_id: str) -> int:
    """Every live sector's coverage again (after the tenant's rules changed)."""
    with db.tenant(tenant_id, enforce_status=False) as session:
        return service.recompute_coverage(session, tenant_id)
