"""Platform upkeep the worker runs on a schedule, as the application role.

radacct partitions: the same steps as ``ispops db maintain`` (``ispops.db.partitions``), through the
SECURITY DEFINER function ``ispops_radacct_maintain`` (migration 0015), so the worker never connects as,
or becomes, the owner. Rows in the DEFAULT partition are counted tenant by tenant through the parent,
with row-level security on. The same job keeps the FTTH optical history (``optics_maintenance``).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text

from ispops.config import get_settings
from ispops.db.partitions import DEFAULT_PARTITION, MaintenanceReport, add_default_rows, add_optics_rollups
from ispops.db.session import Database, set_context, translated_errors
from ispops.ftth.optics_maintenance import DAYS_AHEAD, RAW_RETENTION_DAYS, ROLLUP_RETENTION_MONTHS
from ispops.wireless.jobs import maintain_readings

log = logging.getLogger("ispops.jobs")


def radacct_maintenance(db: Database, *, months_ahead: int, retention_months: int) -> MaintenanceReport:
    """Create the months ahead, drop those past retention, report rows in DEFAULT. Idempotent."""
    report = MaintenanceReport()
    with translated_errors(), db.app_engine.begin() as conn:
        set_context(conn, None, None)  # no tenant: the function touches no tenant row
        rows = conn.execute(
            text("select action, partition_name, detail from ispops_radacct_maintain(:ahead, :keep)"),
            {"ahead": months_ahead, "keep": retention_months},
        ).all()
        existing = conn.execute(
            text(
                "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
                "where i.inhparent = 'public.radacct'::regclass and c.relname <> :default order by 1"
            ),
            {"default": DEFAULT_PARTITION},
        ).scalars()
        report.existing = list(existing)
    for action, name, detail in rows:
        if action == "created":
            report.created.append(name)
        elif action == "dropped":
            report.dropped.append(name)
        else:
            report.problems.append(f"{detail} (rows for that month are in {DEFAULT_PARTITION}; move them out first)")
    add_default_rows(db, report)
    return report


def maintain_radacct_partitions(
    db: Database, *, months_ahead: int | None = None, retention_months: int | None = None
) -> dict[str, Any]:
    """The scheduled job. Problems are logged (they need a person, not a retry); the job succeeds."""
    settings = get_settings()
    report = radacct_maintenance(
        db,
        months_ahead=settings.radacct_months_ahead if months_ahead is None else months_ahead,
        retention_months=settings.radacct_retention_months if retention_months is None else retention_months,
    )
    for problem in report.problems:
        log.warning("radacct maintenance: %s", problem)
    optics = optics_maintenance(db)
    for problem in optics.problems:
        log.warning("optics maintenance: %s", problem)
    cpe = maintain_readings(db)  # CPE radio readings' daily partitions (docs/wireless.md)
    for problem in cpe["problems"]:
        log.warning("CPE readings maintenance: %s", problem)
    return {
        "created": report.created,
        "dropped": report.dropped,
        "partitions": len(report.existing),
        "default_rows": report.default_rows,
        "problems": len(report.problems),
        "optics_created": optics.created,
        "optics_dropped": optics.dropped,
        "optics_hours_rolled_up": optics.optics_hours_rolled_up,
        "cpe_readings_created": cpe["created"],
        "cpe_readings_dropped": cpe["dropped"],
    }


def optics_maintenance(db: Database) -> MaintenanceReport:
    """The FTTH optical history's share of ``ispops db maintain``, as the application role: partitions ahead
    and past retention (``ispops_optics_maintain``, SECURITY DEFINER, migration 0029), then each tenant's
    rollups of closed hours and rows in the DEFAULT partitions."""
    report = MaintenanceReport()
    with translated_errors(), db.app_engine.begin() as conn:
        set_context(conn, None, None)  # no tenant: the function touches no tenant row
        rows = conn.execute(
            text("select action, partition_name, detail from ispops_optics_maintain(:ahead, :raw, :rollup)"),
            {"ahead": DAYS_AHEAD, "raw": RAW_RETENTION_DAYS, "rollup": ROLLUP_RETENTION_MONTHS},
        ).all()
    for action, name, detail in rows:
        {"created": report.created, "dropped": report.dropped}.get(action, report.problems).append(
            str(name if action != "problem" else detail)
        )
    add_optics_rollups(db, report)
    return report
