"""CPE health: radio readings in, history (COPY into the day-partitioned ``wireless_cpe_readings``), the
CPE's latest values, and alarms.

One sync service for both front doors: the push API calls :func:`ingest` through ``run_sync`` (the COPY
then goes through the async driver on SQLAlchemy's greenlet bridge), the SNMP poll job calls it as it is.

Alarms, evaluated on each CPE's newest reading of the batch (one open alarm per CPE and kind; raised again
only refreshes it; cleared when the condition is gone):

- ``snr_below_plan``: SNR below what the subscriber's plan needs — the least SNR whose expected throughput
  (radio family, channel width, streams, MAC efficiency) reaches the plan's download speed;
- ``signal_drift``: signal more than ``DRIFT_DB`` from the link budget's prediction for the install point;
- ``wrong_sector``: registered to a sector other than the one on record.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only

from ispops.errors import ValidationFailed
from ispops.events.outbox import emit
from ispops.models import BandwidthProfile, Subscriber, WirelessCpeAlarm, WirelessSector, WirelessSubscriber
from ispops.models.wireless import CpeAlarmKind, CpeReadingSource
from ispops.wireless.settings import Rules, load

DRIFT_DB = 6.0
MAX_BATCH = 100_000
COLUMNS = (
    "tenant_id",
    "wireless_subscriber_id",
    "read_at",
    "source",
    "signal_dbm",
    "noise_dbm",
    "snr_db",
    "link_speed_mbps",
    "distance_km",
    "registered_sector_id",
)
# PostgreSQL refuses COPY FROM into a table under row-level security: the rows are copied into a temporary
# table of the transaction, then inserted through the policy in one statement.
STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS ispops_wireless_stage (tenant_id varchar(255), wireless_subscriber_id uuid, "
    "read_at timestamptz, source varchar(10), signal_dbm numeric(5,1), noise_dbm numeric(5,1), snr_db numeric(5,1), "
    "link_speed_mbps integer, distance_km numeric(7,3), registered_sector_id uuid) ON COMMIT DROP"
)
COPY_SQL = f"COPY ispops_wireless_stage ({', '.join(COLUMNS)}) FROM STDIN"
FROM_STAGE = (
    f"INSERT INTO wireless_cpe_readings ({', '.join(COLUMNS)}) SELECT {', '.join(COLUMNS)} FROM ispops_wireless_stage"
)


@dataclass(frozen=True)
class Reading:
    """One reading: the CPE by id or MAC, the sector it is registered to by id or by its radio MAC."""

    read_at: dt.datetime
    wireless_subscriber_id: uuid.UUID | None = None
    cpe_mac: str | None = None
    signal_dbm: float | None = None
    noise_dbm: float | None = None
    snr_db: float | None = None
    link_speed_mbps: int | None = None
    distance_km: float | None = None
    registered_sector_id: uuid.UUID | None = None
    ap_mac: str | None = None


@dataclass
class IngestReport:
    accepted: int = 0
    cpes: int = 0
    raised: list[dict[str, Any]] = field(default_factory=list)
    cleared: int = 0


@dataclass(frozen=True)
class _Cpe:
    id: uuid.UUID
    mac: str
    sector_id: uuid.UUID
    predicted_signal_dbm: float | None
    plan_mbps: int | None
    family: str
    width: int | None
    streams: int


def copy_rows(session: Session, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """COPY ``rows`` on the session's own connection (its transaction), sync or async driver alike."""
    dbapi: Any = session.connection().connection.driver_connection
    if isinstance(dbapi, psycopg.AsyncConnection):

        async def write() -> None:
            async with dbapi.cursor() as cur, cur.copy(sql) as copy:
                for row in rows:
                    await copy.write_row(row)

        await_only(write())
        return
    with dbapi.cursor() as cur, cur.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def _finite(value: float | None, name: str, index: int) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValidationFailed(f"readings.{index}.{name}: must be a finite number", field=f"readings.{index}.{name}")
    return value


def _cpes(session: Session, tenant_id: str, readings: Sequence[Reading]) -> dict[str, _Cpe]:
    """The CPEs the readings name, by id and by lower-case MAC."""
    ids = {r.wireless_subscriber_id for r in readings if r.wireless_subscriber_id is not None}
    macs = {r.cpe_mac.lower() for r in readings if r.cpe_mac}
    if not ids and not macs:
        return {}
    cond = []
    if ids:
        cond.append(WirelessSubscriber.id.in_(ids))
    if macs:
        cond.append(func.lower(WirelessSubscriber.cpe_mac).in_(macs))
    rows = session.execute(
        select(
            WirelessSubscriber.id,
            WirelessSubscriber.cpe_mac,
            WirelessSubscriber.sector_id,
            WirelessSubscriber.predicted_signal_dbm,
            BandwidthProfile.download_mbps,
            WirelessSector.radio_family,
            WirelessSector.channel_width_mhz,
            WirelessSector.spatial_streams,
        )
        .join(
            WirelessSector,
            (WirelessSector.tenant_id == WirelessSubscriber.tenant_id)
            & (WirelessSector.id == WirelessSubscriber.sector_id),
        )
        .join(
            Subscriber,
            (Subscriber.tenant_id == WirelessSubscriber.tenant_id)
            & (Subscriber.id == WirelessSubscriber.subscriber_id),
        )
        .outerjoin(
            BandwidthProfile,
            (BandwidthProfile.tenant_id == Subscriber.tenant_id)
            & (BandwidthProfile.id == Subscriber.bandwidth_profile_id),
        )
        .where(WirelessSubscriber.tenant_id == tenant_id, WirelessSubscriber.deleted_at.is_(None), or_(*cond))
    ).all()
    out: dict[str, _Cpe] = {}
    for r in rows:
        cpe = _Cpe(r[0], r[1], r[2], None if r[3] is None else float(r[3]), r[4], r[5], r[6], r[7] or 2)
        out[str(cpe.id)] = cpe
        out[cpe.mac.lower()] = cpe
    return out


def _sectors_by_mac(session: Session, tenant_id: str, macs: set[str]) -> dict[str, uuid.UUID]:
    if not macs:
        return {}
    rows = session.execute(
        select(func.lower(WirelessSector.radio_mac), WirelessSector.id).where(
            WirelessSector.tenant_id == tenant_id,
            WirelessSector.deleted_at.is_(None),
            func.lower(WirelessSector.radio_mac).in_(macs),
        )
    ).all()
    return {str(mac): sid for mac, sid in rows}


def _known_sectors(session: Session, tenant_id: str, ids: set[uuid.UUID]) -> set[uuid.UUID]:
    if not ids:
        return set()
    return set(
        session.scalars(
            select(WirelessSector.id).where(WirelessSector.tenant_id == tenant_id, WirelessSector.id.in_(ids))
        ).all()
    )


def ingest(
    session: Session,
    tenant_id: str,
    readings: Sequence[Reading],
    *,
    source: CpeReadingSource,
    rules: Rules | None = None,
) -> IngestReport:
    """Validate and store ``readings`` (all or none), update each CPE's latest values, evaluate alarms."""
    if len(readings) > MAX_BATCH:
        raise ValidationFailed(f"readings: at most {MAX_BATCH} per batch", field="readings")
    rules = rules or load(session, tenant_id)
    cpes = _cpes(session, tenant_id, readings)
    by_mac = _sectors_by_mac(session, tenant_id, {r.ap_mac.lower() for r in readings if r.ap_mac})
    sector_ids = _known_sectors(
        session, tenant_id, {r.registered_sector_id for r in readings if r.registered_sector_id}
    )
    rows: list[tuple[Any, ...]] = []
    newest: dict[uuid.UUID, tuple[Reading, uuid.UUID | None]] = {}
    for i, r in enumerate(readings):
        key = str(r.wireless_subscriber_id) if r.wireless_subscriber_id is not None else (r.cpe_mac or "").lower()
        cpe = cpes.get(key)
        if cpe is None:
            name = "wireless_subscriber_id" if r.wireless_subscriber_id is not None else "cpe_mac"
            raise ValidationFailed(f"readings.{i}.{name}: no such CPE", field=f"readings.{i}.{name}")
        if r.read_at.tzinfo is None:
            raise ValidationFailed(f"readings.{i}.read_at: needs a time zone", field=f"readings.{i}.read_at")
        for name in ("signal_dbm", "noise_dbm", "snr_db", "distance_km"):
            _finite(getattr(r, name), name, i)
        registered = r.registered_sector_id
        if registered is not None and registered not in sector_ids:
            raise ValidationFailed(
                f"readings.{i}.registered_sector_id: no such wireless sector",
                field=f"readings.{i}.registered_sector_id",
            )
        if registered is None and r.ap_mac:
            registered = by_mac.get(r.ap_mac.lower())
        snr = r.snr_db
        if snr is None and r.signal_dbm is not None and r.noise_dbm is not None:
            snr = r.signal_dbm - r.noise_dbm
        rows.append(
            (
                tenant_id,
                cpe.id,
                r.read_at,
                source.value,
                r.signal_dbm,
                r.noise_dbm,
                snr,
                r.link_speed_mbps,
                r.distance_km,
                registered,
            )
        )
        seen = newest.get(cpe.id)
        if seen is None or r.read_at >= seen[0].read_at:
            newest[cpe.id] = (replace(r, snr_db=snr), registered)
    if not rows:
        return IngestReport()
    session.execute(text(STAGE))
    session.execute(text("TRUNCATE ispops_wireless_stage"))
    copy_rows(session, COPY_SQL, rows)
    session.execute(text(FROM_STAGE))
    report = IngestReport(accepted=len(rows), cpes=len(newest))
    session.execute(LATEST, {"t": tenant_id})
    _alarms(session, tenant_id, newest, {c.id: c for c in cpes.values()}, rules, report)
    return report


# Each CPE's newest staged reading becomes its latest values, only forward in time (a late batch does not
# move them back); one statement for the batch.
LATEST = text(
    """
    UPDATE wireless_subscribers w SET
        signal_strength_dbm = greatest(-120, least(0, round(s.signal_dbm)))::integer,
        noise_floor_dbm = round(s.noise_dbm)::integer,
        snr_db = round(s.snr_db)::integer,
        link_speed_mbps = s.link_speed_mbps,
        distance_km = coalesce(round(s.distance_km, 3), w.distance_km),
        last_seen = s.read_at,
        registered_sector_id = coalesce(s.registered_sector_id, w.registered_sector_id)
    FROM (
        SELECT DISTINCT ON (wireless_subscriber_id) * FROM ispops_wireless_stage
        ORDER BY wireless_subscriber_id, read_at DESC
    ) s
    WHERE w.tenant_id = :t AND w.id = s.wireless_subscriber_id AND (w.last_seen IS NULL OR w.last_seen <= s.read_at)
    """
)


RAISE = text(
    "INSERT INTO wireless_cpe_alarms (tenant_id, wireless_subscriber_id, kind, detail, measured, expected) "
    "VALUES (:t, :cpe, :kind, :detail, :measured, :expected) "
    "ON CONFLICT (tenant_id, wireless_subscriber_id, kind) WHERE cleared_at IS NULL DO UPDATE SET "
    "detail = excluded.detail, measured = excluded.measured, expected = excluded.expected, last_seen_at = now()"
)
CLEAR = text(
    "UPDATE wireless_cpe_alarms SET cleared_at = now() WHERE tenant_id = :t AND wireless_subscriber_id = :cpe "
    "AND kind = :kind AND cleared_at IS NULL"
)


def needed_snr(cpe: _Cpe, rules: Rules) -> float | None:
    """The SNR the CPE's plan needs (None: no plan, or no MCS of the family reaches it)."""
    family = rules.families().get(cpe.family)
    if family is None or not cpe.plan_mbps:
        return None
    return family.snr_for(
        cpe.plan_mbps, cpe.width or rules.default_channel_width_mhz, cpe.streams, rules.mac_efficiency
    )


def plan_snr(session: Session, tenant_id: str, cpe: WirelessSubscriber, rules: Rules | None = None) -> float | None:
    """The SNR this CPE's plan needs on its sector (None: no plan, or beyond every MCS)."""
    found = _cpes(session, tenant_id, [Reading(read_at=dt.datetime.now(dt.UTC), wireless_subscriber_id=cpe.id)])
    row = found.get(str(cpe.id))
    return None if row is None else needed_snr(row, rules or load(session, tenant_id))


def _alarms(
    session: Session,
    tenant_id: str,
    newest: dict[uuid.UUID, tuple[Reading, uuid.UUID | None]],
    cpes: dict[uuid.UUID, _Cpe],
    rules: Rules,
    report: IngestReport,
) -> None:
    raise_rows: list[dict[str, Any]] = []
    clear_rows: list[dict[str, Any]] = []
    for cpe_id, (r, registered) in newest.items():
        cpe = cpes[cpe_id]
        found: dict[CpeAlarmKind, tuple[str, float | None, float | None] | None] = {}
        need = needed_snr(cpe, rules)
        if r.snr_db is not None and need is not None:
            found[CpeAlarmKind.SNR_BELOW_PLAN] = (
                (f"SNR {r.snr_db:g} dB is below the {need:g} dB the {cpe.plan_mbps} Mbps plan needs", r.snr_db, need)
                if r.snr_db < need
                else None
            )
        if r.signal_dbm is not None and cpe.predicted_signal_dbm is not None:
            drift = r.signal_dbm - cpe.predicted_signal_dbm
            found[CpeAlarmKind.SIGNAL_DRIFT] = (
                (
                    f"signal {r.signal_dbm:g} dBm is {abs(drift):.1f} dB {'below' if drift < 0 else 'above'} "
                    f"the predicted {cpe.predicted_signal_dbm:g} dBm",
                    r.signal_dbm,
                    cpe.predicted_signal_dbm,
                )
                if abs(drift) > DRIFT_DB
                else None
            )
        if registered is not None:
            found[CpeAlarmKind.WRONG_SECTOR] = (
                (f"registered to sector {registered}, on record at sector {cpe.sector_id}", None, None)
                if registered != cpe.sector_id
                else None
            )
        for kind, alarm in found.items():
            base = {"t": tenant_id, "cpe": cpe_id, "kind": kind.value}
            if alarm is None:
                clear_rows.append(base)
            else:
                detail, measured, expected = alarm
                raise_rows.append({**base, "detail": detail, "measured": measured, "expected": expected})
    if clear_rows:
        # Only the alarms that are open: one read instead of a statement per CPE and kind.
        open_now = {
            (cpe_id, kind)
            for cpe_id, kind in session.execute(
                select(WirelessCpeAlarm.wireless_subscriber_id, WirelessCpeAlarm.kind).where(
                    WirelessCpeAlarm.tenant_id == tenant_id,
                    WirelessCpeAlarm.cleared_at.is_(None),
                    WirelessCpeAlarm.wireless_subscriber_id.in_(list(newest)),
                )
            )
        }
        clear_rows = [row for row in clear_rows if (row["cpe"], row["kind"]) in open_now]
    if clear_rows:
        session.execute(CLEAR, clear_rows)
        report.cleared = len(clear_rows)
        for row in clear_rows:  # cpe.signal_alarm events (docs/events.md): only changes, not every reading
            emit(
                session,
                event_type="cpe.signal_alarm",
                subject=f"wireless_subscribers/{row['cpe']}",
                payload={"state": "cleared", "wireless_subscriber_id": row["cpe"], "kind": row["kind"]},
            )
    if raise_rows:
        already = {
            (cpe_id, str(kind))
            for cpe_id, kind in session.execute(
                select(WirelessCpeAlarm.wireless_subscriber_id, WirelessCpeAlarm.kind).where(
                    WirelessCpeAlarm.tenant_id == tenant_id,
                    WirelessCpeAlarm.cleared_at.is_(None),
                    WirelessCpeAlarm.wireless_subscriber_id.in_({row["cpe"] for row in raise_rows}),
                )
            )
        }
        session.execute(RAISE, raise_rows)
        report.raised = [{k: v for k, v in row.items() if k != "t"} for row in raise_rows]
        for row in raise_rows:
            if (row["cpe"], row["kind"]) not in already:
                emit(
                    session,
                    event_type="cpe.signal_alarm",
                    subject=f"wireless_subscribers/{row['cpe']}",
                    payload={
                        "state": "raised",
                        "wireless_subscriber_id": row["cpe"],
                        "kind": row["kind"],
                        "detail": row["detail"],
                        "measured": row["measured"],
                        "expected": row["expected"],
                    },
                )
