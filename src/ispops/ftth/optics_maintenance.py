"""Optical readings upkeep: partitions ahead, retention, and the hourly/daily rollups.

Partitions (``ispops db maintain``, as the owner, through ``ispops_optics_maintain_at``; the worker through
``ispops_optics_maintain``, migration 0029): readings one per UTC day, kept ``RAW_RETENTION_DAYS``; rollups
one per month, kept ``ROLLUP_RETENTION_MONTHS``. Retention drops whole partitions, never deletes rows.

Rollups (``rollup``, per tenant): the ingest marks every hour that received readings in
``onu_optical_dirty_hours``. Once such an hour has closed (plus ``GRACE`` for late polls), its hourly rows are
recomputed from the raw readings of that hour only, and the daily rows of its day from that day's hourly
rows. Recomputed, not added to: a replayed or late reading re-marks its hour and the numbers come out the
same as if it had arrived on time. A reading for a closed hour locks that hour's mark, so a rollup of the
hour running at the same moment either waits for it or has already removed the mark, which is then made
again; marks of the open hour are written once and never locked (concurrent pollers do not queue).
Daily averages weight each hour's average by its number of samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

DAYS_AHEAD = 2
RAW_RETENTION_DAYS = 31
ROLLUP_RETENTION_MONTHS = 25
GRACE = timedelta(minutes=10)
PARENTS = ("onu_optical_readings", "onu_optical_hourly", "onu_optical_daily")


@dataclass
class OpticsPartitions:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def maintain_partitions(
    conn: Connection,
    *,
    today: date | None = None,
    days_ahead: int = DAYS_AHEAD,
    raw_retention_days: int = RAW_RETENTION_DAYS,
    rollup_retention_months: int = ROLLUP_RETENTION_MONTHS,
) -> OpticsPartitions:
    """As the owner (``Database.owner()``): create ahead, drop past retention. Idempotent."""
    report = OpticsPartitions()
    rows = conn.execute(
        text("select action, partition_name, detail from ispops_optics_maintain_at(:d, :ahead, :raw, :rollup)"),
        {
            "d": today or datetime.now(UTC).date(),
            "ahead": days_ahead,
            "raw": raw_retention_days,
            "rollup": rollup_retention_months,
        },
    ).all()
    for action, name, detail in rows:
        if action == "created":
            report.created.append(name)
        elif action == "dropped":
            report.dropped.append(name)
        else:
            report.problems.append(f"{detail} (rows for that period are in the DEFAULT partition; move them out first)")
    return report


def list_partitions(conn: Connection, parent: str) -> list[str]:
    rows = conn.execute(
        text(
            "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
            "where i.inhparent = cast(:p as regclass) order by c.relname"
        ),
        {"p": f"public.{parent}"},
    )
    return [r[0] for r in rows]


def default_rows(session: Session, tenant_id: str) -> int:
    """The tenant's rows in the three DEFAULT partitions (none when partitions are made far enough ahead)."""
    return int(
        session.execute(
            text(
                "select (select count(*) from onu_optical_readings where tenant_id = :t "
                "        and tableoid = 'public.onu_optical_readings_default'::regclass)"
                " + (select count(*) from onu_optical_hourly where tenant_id = :t "
                "        and tableoid = 'public.onu_optical_hourly_default'::regclass)"
                " + (select count(*) from onu_optical_daily where tenant_id = :t "
                "        and tableoid = 'public.onu_optical_daily_default'::regclass)"
            ),
            {"t": tenant_id},
        ).scalar_one()
    )


@dataclass
class RollupResult:
    hours: list[datetime] = field(default_factory=list)
    days: list[date] = field(default_factory=list)
    hourly_rows: int = 0
    daily_rows: int = 0


HOURLY = text(
    """
    insert into onu_optical_hourly (tenant_id, onu_id, hour, samples, rx_min_dbm, rx_avg_dbm, rx_max_dbm,
                                    tx_avg_dbm, olt_rx_min_dbm, olt_rx_avg_dbm, temperature_max_c, voltage_min_v)
    select :t, r.onu_id, h.hour, count(*), min(r.rx_dbm), round(avg(r.rx_dbm), 2), max(r.rx_dbm),
           round(avg(r.tx_dbm), 2), min(r.olt_rx_dbm), round(avg(r.olt_rx_dbm), 2), max(r.temperature_c),
           min(r.voltage_v)
      from unnest(cast(:hours as timestamptz[])) as h(hour)
      join onu_optical_readings r
        on r.tenant_id = :t and r.measured_at >= h.hour and r.measured_at < h.hour + interval '1 hour'
     group by r.onu_id, h.hour
    on conflict (tenant_id, onu_id, hour) do update set
        samples = excluded.samples, rx_min_dbm = excluded.rx_min_dbm, rx_avg_dbm = excluded.rx_avg_dbm,
        rx_max_dbm = excluded.rx_max_dbm, tx_avg_dbm = excluded.tx_avg_dbm,
        olt_rx_min_dbm = excluded.olt_rx_min_dbm, olt_rx_avg_dbm = excluded.olt_rx_avg_dbm,
        temperature_max_c = excluded.temperature_max_c, voltage_min_v = excluded.voltage_min_v
    """
)


def _weighted(column: str) -> str:
    return f"round(sum({column} * samples) / nullif(sum(samples) filter (where {column} is not null), 0), 2)"


DAILY = text(
    f"""
    insert into onu_optical_daily (tenant_id, onu_id, day, samples, rx_min_dbm, rx_avg_dbm, rx_max_dbm,
                                   tx_avg_dbm, olt_rx_min_dbm, olt_rx_avg_dbm, temperature_max_c, voltage_min_v)
    select :t, onu_id, d.day, sum(samples), min(rx_min_dbm), {_weighted("rx_avg_dbm")}, max(rx_max_dbm),
           {_weighted("tx_avg_dbm")}, min(olt_rx_min_dbm), {_weighted("olt_rx_avg_dbm")}, max(temperature_max_c),
           min(voltage_min_v)
      from unnest(cast(:days as date[])) as d(day)
      join onu_optical_hourly h
        on h.tenant_id = :t and h.hour >= (d.day::timestamp at time zone 'UTC')
       and h.hour < ((d.day + 1)::timestamp at time zone 'UTC')
     group by onu_id, d.day
    on conflict (tenant_id, onu_id, day) do update set
        samples = excluded.samples, rx_min_dbm = excluded.rx_min_dbm, rx_avg_dbm = excluded.rx_avg_dbm,
        rx_max_dbm = excluded.rx_max_dbm, tx_avg_dbm = excluded.tx_avg_dbm,
        olt_rx_min_dbm = excluded.olt_rx_min_dbm, olt_rx_avg_dbm = excluded.olt_rx_avg_dbm,
        temperature_max_c = excluded.temperature_max_c, voltage_min_v = excluded.voltage_min_v
    """
)


def rollup(session: Session, tenant_id: str, *, now: datetime | None = None, grace: timedelta = GRACE) -> RollupResult:
    """Recompute the hourly rows of every closed hour that received readings, then their days' rows."""
    result = RollupResult()
    at = now or datetime.now(UTC)
    hours = (
        session.execute(
            text(
                "delete from onu_optical_dirty_hours where tenant_id = :t and hour + interval '1 hour' <= :until "
                "returning hour"
            ),
            {"t": tenant_id, "until": at - grace},
        )
        .scalars()
        .all()
    )
    if not hours:
        return result
    result.hours = sorted(hours)
    hourly = session.execute(HOURLY, {"t": tenant_id, "hours": result.hours})
    result.hourly_rows = int(hourly.rowcount)  # type: ignore[attr-defined]
    result.days = sorted({h.astimezone(UTC).date() for h in result.hours})
    daily = session.execute(DAILY, {"t": tenant_id, "days": result.days})
    result.daily_rows = int(daily.rowcount)  # type: ignore[attr-defined]
    session.flush()
    return result
