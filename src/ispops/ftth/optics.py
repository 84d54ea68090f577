"""FTTH optical health: ingest of ONU readings (polling and push), current values, history.

The ingest service, for the OLT pollers (drivers) and the push API::

    from ispops.ftth.optics import OpticalReading, ingest_readings

    readings = [OpticalReading(onu_id=onu.id, measured_at=when, rx_dbm=-21.4, tx_dbm=2.1, olt_rx_dbm=-24.0,
                               temperature_c=41.5, voltage_v=3.28, distance_m=3120, uptime_seconds=86400)]
    result = ingest_readings(session, tenant_id=tenant, readings=readings)   # an IngestResult

- ``session``: the caller's unit of work (``Database.tenant(...)`` in a job, ``run_sync`` in the API); the
  service flushes, never commits. ``tenant_id``: that unit of work's tenant.
- ``readings``: a list of ``OpticalReading`` (pydantic, validated when built: a value outside what an ONU
  can report, e.g. Rx +50 dBm, cannot be built). Every field but ``onu_id`` and ``measured_at`` may be None
  (the OLT did not report it). ``measured_at`` must be timezone-aware, at most ``MAX_AGE`` old and at most
  ``MAX_AHEAD`` in the future. Several readings of one ONU in one call are fine (a push backlog); one ONU
  read twice at the same instant is stored once (a retried push changes nothing).
- A driver value outside those bounds raises ``pydantic.ValidationError`` when that one reading is built: the
  poller drops (and logs) that reading and ingests the rest of the poll.
- All or nothing: an ONU that is not the tenant's (or is deleted) is a ``NotFound`` naming it and nothing is
  written; a reading outside the time window a ``ValidationFailed`` naming ``readings.<i>.measured_at``.

What one call does, in the caller's transaction: COPY the readings into a temporary table; refuse unknown
ONUs; insert them into ``onu_optical_readings`` (partitioned by day; duplicates skipped) and mark their
hours for the rollups (``onu_optical_dirty_hours``); set each ONU's current values on its row
(``onus.rx_power_dbm``, ``tx_power_dbm``, ``distance_meters``, ``uptime_seconds``, ``last_seen``) from its
newest reading when that is newer than ``last_seen``; raise/move/clear the optical alarms of the ONUs whose
newest Rx is near a threshold or that have one open (``ispops.ftth.alarms``). Link alarms (LOS, dying gasp,
power events) come from the ONUs' link state: call ``ispops.ftth.alarms.reconcile_link_alarms`` after
setting those states. Rollups, partitions and retention: ``ispops.ftth.optics_maintenance``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only

from ispops.errors import NotFound, ValidationFailed
from ispops.ftth import alarms

# How old or how far ahead a reading may be: readings partitions exist two days back (ispops_optics_maintain).
MAX_AGE = timedelta(days=2)
MAX_AHEAD = timedelta(minutes=5)
Resolution = Literal["raw", "hourly", "daily"]
HISTORY_LIMIT = 10_000


class OpticalReading(BaseModel):
    """One reading of one ONU. Bounds are what an ONU or OLT can physically report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    onu_id: uuid.UUID
    measured_at: AwareDatetime
    rx_dbm: float | None = Field(default=None, ge=-50, le=10, description="ONU receive power, dBm")
    tx_dbm: float | None = Field(default=None, ge=-10, le=12, description="ONU transmit power, dBm")
    olt_rx_dbm: float | None = Field(default=None, ge=-50, le=10, description="OLT receive power from the ONU, dBm")
    temperature_c: float | None = Field(default=None, ge=-55, le=150, description="ONU transceiver, degrees C")
    voltage_v: float | None = Field(default=None, ge=0, le=10, description="ONU transceiver supply, volts")
    distance_m: int | None = Field(default=None, ge=0, le=100_000, description="OLT to ONU (ranging), metres")
    uptime_seconds: int | None = Field(default=None, ge=0, le=3_153_600_000, description="since the ONU's boot")


@dataclass
class IngestResult:
    received: int
    stored: int  # new rows (a reading already stored is skipped)
    onus_updated: int  # ONU rows whose current values moved to a newer reading
    alarms_raised: int
    alarms_cleared: int
    alarms_changed: int


STAGE_COLUMNS = (
    "onu_id",
    "measured_at",
    "rx_dbm",
    "tx_dbm",
    "olt_rx_dbm",
    "temperature_c",
    "voltage_v",
    "distance_m",
    "uptime_seconds",
)
STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS ispops_optics_stage (onu_id uuid NOT NULL, measured_at timestamptz NOT NULL, "
    "rx_dbm numeric(5,2), tx_dbm numeric(5,2), olt_rx_dbm numeric(5,2), temperature_c numeric(5,2), "
    "voltage_v numeric(5,2), distance_m integer, uptime_seconds bigint) ON COMMIT DROP"
)
COPY_STAGE = f"COPY ispops_optics_stage ({', '.join(STAGE_COLUMNS)}) FROM STDIN"
UNKNOWN = text(
    "select s.onu_id from (select distinct onu_id from ispops_optics_stage) s where not exists "
    "(select 1 from onus o where o.tenant_id = :t and o.id = s.onu_id and o.deleted_at is null) "
    "order by 1 limit 5"
)
INSERT = text(
    """
    with ins as (
        insert into onu_optical_readings (tenant_id, onu_id, measured_at, rx_dbm, tx_dbm, olt_rx_dbm,
                                          temperature_c, voltage_v, distance_m, uptime_seconds, pushed)
        select :t, onu_id, measured_at, rx_dbm, tx_dbm, olt_rx_dbm, temperature_c, voltage_v, distance_m,
               uptime_seconds, :pushed
          from ispops_optics_stage
        on conflict do nothing
        returning measured_at
    ), hours as (
        select distinct date_trunc('hour', measured_at, 'UTC') as hour from ins
    ), this_hour as (
        -- The hour still open: its rollup cannot be running. Mark it once, without locking the mark, so
        -- that the pollers of one tenant's OLTs do not wait for each other.
        insert into onu_optical_dirty_hours (tenant_id, hour)
        select :t, h.hour from hours h
         where h.hour >= date_trunc('hour', now(), 'UTC')
           and not exists (select 1 from onu_optical_dirty_hours d where d.tenant_id = :t and d.hour = h.hour)
        on conflict do nothing
    ), late_hours as (
        -- A closed hour: lock its mark (or make it) so that a rollup of that hour running now either waits
        -- for these readings or has finished and the mark is new: the readings are never left out.
        insert into onu_optical_dirty_hours (tenant_id, hour)
        select :t, h.hour from hours h where h.hour < date_trunc('hour', now(), 'UTC')
        on conflict (tenant_id, hour) do update set hour = excluded.hour
    )
    select count(*) from ins
    """
)
# The newest reading of each ONU becomes its current values when it is newer than what the row has. Only
# ONUs whose newest Rx is outside the quiet band, or that have an optical alarm open, come back.
CURRENT = text(
    """
    with latest as (
        select distinct on (onu_id) * from ispops_optics_stage order by onu_id, measured_at desc
    ), upd as (
        update onus o
           set rx_power_dbm = coalesce(l.rx_dbm, o.rx_power_dbm),
               tx_power_dbm = coalesce(l.tx_dbm, o.tx_power_dbm),
               distance_meters = coalesce(l.distance_m, o.distance_meters),
               uptime_seconds = coalesce(l.uptime_seconds, o.uptime_seconds),
               last_seen = l.measured_at
          from latest l
         where o.tenant_id = :t and o.id = l.onu_id and o.deleted_at is null
           and (o.last_seen is null or o.last_seen < l.measured_at)
        returning o.id, o.olt_id, o.pon_port, o.splitter_id, l.rx_dbm, l.measured_at
    )
    select (select count(*) from upd) as n, u.id, u.olt_id, u.pon_port, u.splitter_id, u.rx_dbm, u.measured_at
      from (select 1) one
      left join upd u on u.rx_dbm is not null
           and (u.rx_dbm <= :low or u.rx_dbm >= :high or u.id = any(cast(:alarmed as uuid[])))
    """
)


def _num(value: float | None) -> str:
    return "\\N" if value is None else f"{value:.2f}"


def _int(value: int | None) -> str:
    return "\\N" if value is None else str(value)


def copy_rows(readings: Sequence[OpticalReading]) -> bytes:
    """The readings in COPY text format (the columns of ``STAGE_COLUMNS``)."""
    lines = [
        f"{r.onu_id}\t{r.measured_at.isoformat()}\t{_num(r.rx_dbm)}\t{_num(r.tx_dbm)}\t{_num(r.olt_rx_dbm)}\t"
        f"{_num(r.temperature_c)}\t{_num(r.voltage_v)}\t{_int(r.distance_m)}\t{_int(r.uptime_seconds)}\n"
        for r in readings
    ]
    return "".join(lines).encode()


def copy_into(session: Session, statement: str, data: bytes) -> None:
    """``COPY … FROM STDIN`` on the session's own connection (sync driver, or the async one under
    ``run_sync``), inside its transaction."""
    raw = session.connection().connection.driver_connection
    if isinstance(raw, psycopg.AsyncConnection):
        await_only(_copy_async(raw, statement, data))
        return
    assert isinstance(raw, psycopg.Connection)
    with raw.cursor() as cur, cur.copy(statement) as copy:
        copy.write(data)


async def _copy_async(raw: psycopg.AsyncConnection[Any], statement: str, data: bytes) -> None:
    async with raw.cursor() as cur, cur.copy(statement) as copy:
        await copy.write(data)


def check_window(readings: Sequence[OpticalReading], now: datetime) -> None:
    """Every ``measured_at`` within [now - MAX_AGE, now + MAX_AHEAD], or a 422 naming the first that is not."""
    earliest, latest = now - MAX_AGE, now + MAX_AHEAD
    problems = [
        {
            "field": f"readings.{i}.measured_at",
            "message": f"must be between {earliest.isoformat(timespec='seconds')} and "
            f"{latest.isoformat(timespec='seconds')} (got {r.measured_at.isoformat()})",
        }
        for i, r in enumerate(readings)
        if not earliest <= r.measured_at <= latest
    ]
    if problems:
        raise ValidationFailed(
            f"{len(problems)} reading(s) outside the accepted time window: {problems[0]['message']}",
            table="onu_optical_readings",
            field=problems[0]["field"],
            errors=problems[:20],
        )


def ingest_readings(
    session: Session,
    *,
    tenant_id: str,
    readings: Sequence[OpticalReading],
    pushed: bool = False,
    now: datetime | None = None,
) -> IngestResult:
    """Store ``readings`` (all or nothing), update the ONUs' current values and their optical alarms."""
    if not readings:
        return IngestResult(0, 0, 0, 0, 0, 0)
    check_window(readings, now or datetime.now(UTC))
    session.execute(text(STAGE))
    session.execute(text("truncate ispops_optics_stage"))
    copy_into(session, COPY_STAGE, copy_rows(readings))
    unknown = session.execute(UNKNOWN, {"t": tenant_id}).scalars().all()
    if unknown:
        index = {str(r.onu_id): i for i, r in reversed(list(enumerate(readings)))}
        first = str(unknown[0])
        raise NotFound(
            f"onus: no ONU {first} in this tenant" + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""),
            table="onus",
            field=f"readings.{index[first]}.onu_id",
        )
    stored = session.execute(INSERT, {"t": tenant_id, "pushed": pushed}).scalar_one()
    settings = alarms.load_settings(session, tenant_id)
    ctx = alarms.optical_context(session, tenant_id, settings)
    low, high = ctx.quiet_band
    rows = session.execute(
        CURRENT, {"t": tenant_id, "low": low, "high": high, "alarmed": [str(a) for a in ctx.alarmed_onus]}
    ).all()
    updated = int(rows[0].n) if rows else 0
    latest = [
        alarms.LatestRx(r.id, r.olt_id, r.pon_port, r.splitter_id, float(r.rx_dbm), r.measured_at)
        for r in rows
        if r.id is not None
    ]
    changes = alarms.evaluate_optical(session, tenant_id, latest, ctx)
    session.flush()
    return IngestResult(len(readings), int(stored), updated, changes.raised, changes.cleared, changes.changed)


# ---------------------------------------------------------------------------------------------------------
# History


HISTORY = {
    "raw": (
        "select measured_at as at, rx_dbm, tx_dbm, olt_rx_dbm, temperature_c, voltage_v, distance_m, "
        "uptime_seconds from onu_optical_readings where tenant_id = :t and onu_id = :onu "
        "and measured_at >= :start and measured_at < :end order by measured_at limit :limit"
    ),
    "hourly": (
        "select hour as at, samples, rx_min_dbm, rx_avg_dbm, rx_max_dbm, tx_avg_dbm, olt_rx_min_dbm, "
        "olt_rx_avg_dbm, temperature_max_c, voltage_min_v from onu_optical_hourly where tenant_id = :t "
        "and onu_id = :onu and hour >= :start and hour < :end order by hour limit :limit"
    ),
    "daily": (
        "select day as at, samples, rx_min_dbm, rx_avg_dbm, rx_max_dbm, tx_avg_dbm, olt_rx_min_dbm, "
        "olt_rx_avg_dbm, temperature_max_c, voltage_min_v from onu_optical_daily where tenant_id = :t "
        "and onu_id = :onu and day >= cast(:start as date) and day < cast(:end as date) order by day limit :limit"
    ),
}


def require_onu(session: Session, tenant_id: str, onu_id: uuid.UUID) -> None:
    """NotFound unless the ONU is the tenant's (a deleted ONU's history stays readable)."""
    found = session.execute(
        text("select 1 from onus where tenant_id = :t and id = :onu"), {"t": tenant_id, "onu": onu_id}
    ).first()
    if found is None:
        raise NotFound(f"onus: no ONU {onu_id}", table="onus")


def history(
    session: Session,
    tenant_id: str,
    onu_id: uuid.UUID,
    *,
    start: datetime,
    end: datetime,
    resolution: Resolution = "raw",
) -> list[dict[str, Any]]:
    """An ONU's readings (or its hourly/daily rollups) in [start, end), oldest first, at most HISTORY_LIMIT."""
    if end <= start:
        raise ValidationFailed("end must be after start", field="end")
    require_onu(session, tenant_id, onu_id)
    rows = session.execute(
        text(HISTORY[resolution]),
        {"t": tenant_id, "onu": onu_id, "start": start, "end": end, "limit": HISTORY_LIMIT},
    ).mappings()
    return [dict(r) for r in rows]


def onu_ids_by_serial(session: Session, tenant_id: str, serials: Sequence[str | None]) -> list[uuid.UUID | None]:
    """The tenant's live ONU for each serial number (None stays None); an unknown serial is a NotFound
    naming ``readings.<i>.serial_number`` (the push API identifies ONUs by id or by serial)."""
    wanted = sorted({s for s in serials if s is not None})
    if not wanted:
        return [None for _ in serials]
    found = {
        r.serial_number: r.id
        for r in session.execute(
            text(
                "select serial_number, id from onus where tenant_id = :t and deleted_at is null "
                "and serial_number = any(:serials)"
            ),
            {"t": tenant_id, "serials": wanted},
        )
    }
    for i, serial in enumerate(serials):
        if serial is not None and serial not in found:
            raise NotFound(
                f"onus: no ONU with serial number {serial!r}", table="onus", field=f"readings.{i}.serial_number"
            )
    return [found[s] if s is not None else None for s in serials]
