"""radacct partition maintenance (errata 2): months ahead, retention, and the DEFAULT partition.

Partitions are named ``radacct_pYYYYMM`` and made only by the SQL function
``ispops_radacct_ensure_partition`` (migration 0003), which also gives each its own RLS policy.
The same run keeps the FTTH optical readings and rollups (``ispops.ftth.optics_maintenance``, migration
0029): their partitions ahead and past retention, the rollups of closed hours, rows in their DEFAULTs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from ispops.db.session import Database
from ispops.ftth import optics_maintenance
from ispops.tenancy.service import list_tenant_ids

PARTITION_NAME = re.compile(r"^radacct_p(?P<year>\d{4})(?P<month>\d{2})$")
DEFAULT_PARTITION = "radacct_default"
# Months before this one that must have a partition: late or replayed accounting (a session that
# started up to ~59 days ago always has one).
BACKFILL_MONTHS = 2


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + (day.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass
class MaintenanceReport:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    default_rows: int = 0
    optics_hours_rolled_up: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def list_partitions(conn: Connection) -> list[str]:
    rows = conn.execute(
        text(
            "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
            "where i.inhparent = 'public.radacct'::regclass order by c.relname"
        )
    )
    return [r[0] for r in rows]


def partition_month(name: str) -> date | None:
    m = PARTITION_NAME.match(name)
    return date(int(m.group("year")), int(m.group("month")), 1) if m else None


def maintain(
    db: Database,
    *,
    months_ahead: int = 3,
    retention_months: int = 24,
    today: date | None = None,
    cpe_days_ahead: int = 7,
    cpe_retention_days: int = 90,
) -> MaintenanceReport:
    """Create partitions up to ``months_ahead``, drop those older than the retention, report DEFAULT rows.

    Idempotent: a second run creates and drops nothing.
    """
    if months_ahead < 0 or retention_months < 1:
        raise ValueError("months_ahead must be >= 0 and retention_months >= 1")
    report = MaintenanceReport()
    this_month = month_start(today or datetime.now(UTC).date())
    cutoff = add_months(this_month, -retention_months)

    with db.owner() as conn:
        for offset in range(-BACKFILL_MONTHS, months_ahead + 1):
            month = add_months(this_month, offset)
            if month < cutoff:
                continue
            savepoint = conn.begin_nested()
            try:
                made = conn.execute(text("select ispops_radacct_ensure_partition(:m)"), {"m": month}).scalar_one()
                savepoint.commit()
            except DBAPIError as exc:
                savepoint.rollback()
                report.problems.append(
                    f"cannot create the partition for {month:%Y-%m}: {str(exc.orig).splitlines()[0]} "
                    f"(rows for that month are in {DEFAULT_PARTITION}; move them out first)"
                )
                continue
            if made:
                report.created.append(str(made))
        for name in list_partitions(conn):
            covers = partition_month(name)
            if covers is not None and covers < cutoff:
                conn.execute(text(f'drop table public."{name}"'))
                report.dropped.append(name)
        # Accounting updates reach each monthly partition directly (migration 0017): regenerate that
        # routing for the partitions there are now (creating one already did; a drop or a partition made
        # by hand needs this).
        conn.execute(text("select ispops_radacct_build_router()"))
        report.existing = [p for p in list_partitions(conn) if p != DEFAULT_PARTITION]
        # CPE radio readings (migration 0030): daily partitions, each with its own RLS policy.
        for action, name, detail in conn.execute(
            text("select action, partition_name, detail from ispops_wireless_readings_maintain(:ahead, :keep)"),
            {"ahead": cpe_days_ahead, "keep": cpe_retention_days},
        ):
            {"created": report.created, "dropped": report.dropped}.get(action, report.problems).append(
                str(name if action != "problem" else detail)
            )
        # FTTH optical readings and rollups (migration 0029): daily/monthly partitions, retention.
        optics = optics_maintenance.maintain_partitions(conn, today=today)
        report.created += optics.created
        report.dropped += optics.dropped
        report.problems += optics.problems

    add_default_rows(db, report)
    add_optics_rollups(db, report)
    return report


def add_optics_rollups(db: Database, report: MaintenanceReport) -> None:
    """Roll up each tenant's closed hours of optical readings; rows in the optics DEFAULTs are a problem."""
    for tenant_id in list_tenant_ids(db):
        with db.tenant(tenant_id, enforce_status=False) as session:
            report.optics_hours_rolled_up += len(optics_maintenance.rollup(session, tenant_id).hours)
            stray = optics_maintenance.default_rows(session, tenant_id)
        if stray:
            report.problems.append(
                f"{stray} optical reading/rollup row(s) of tenant {tenant_id} are in a DEFAULT partition: "
                "their time has no partition (partitions not created far enough ahead)"
            )


def add_default_rows(db: Database, report: MaintenanceReport) -> None:
    """Count the rows in the DEFAULT partition into ``report``; any is a problem."""
    report.default_rows = count_default_rows(db)
    if report.default_rows:
        report.problems.append(
            f"{report.default_rows} accounting row(s) are in {DEFAULT_PARTITION}: their start time has no "
            "monthly partition (clock skew on a NAS, or partitions not created far enough ahead)"
        )


def count_default_rows(db: Database) -> int:
    """Rows in the DEFAULT partition, counted tenant by tenant through the parent (RLS applies)."""
    total = 0
    for tenant_id in list_tenant_ids(db):
        with db.tenant(tenant_id, enforce_status=False) as session:
            total += session.execute(
                text(
                    "select count(*) from radacct where tenant_id = :t "
                    f"and tableoid = 'public.{DEFAULT_PARTITION}'::regclass"
                ),
                {"t": tenant_id},
            ).scalar_one()
    return total
