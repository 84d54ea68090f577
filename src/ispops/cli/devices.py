"""``ispops devices …``: poll devices over SNMP and back up their configurations, now."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress
from sqlalchemy import select

from ispops.cli.common import console, fail, friendly_errors, open_database
from ispops.config import get_settings
from ispops.db.session import Database
from ispops.devices import jobs, service
from ispops.models import Tenant

app = typer.Typer(help="Network devices: SNMP polling and configuration backups.", no_args_is_help=True)

TenantOption = Annotated[
    str | None, typer.Option("--tenant", help="Only this tenant (default: every active or trial tenant).")
]


def _tenants(db: Database, only: str | None) -> list[str]:
    with db.platform() as session:
        stmt = select(Tenant.id).where(Tenant.deleted_at.is_(None)).order_by(Tenant.id)
        if only is not None:
            ids = list(session.scalars(stmt.where(Tenant.id == only)))
            if not ids:
                raise fail(f"no tenant {only!r}")
            return ids
        return list(session.scalars(stmt.where(Tenant.status.in_(("active", "trial")))))


def _device_count(db: Database, tenant: str) -> int:
    with db.tenant(tenant, enforce_status=False) as s:
        return len(list(s.execute(service.device_refs_query(tenant))))


@app.command()
@friendly_errors
def poll(
    tenant: TenantOption = None,
    concurrency: Annotated[int | None, typer.Option(min=1, max=1024, help="Devices at once.")] = None,
    timeout: Annotated[float | None, typer.Option(min=0.1, max=60, help="Seconds per SNMP request.")] = None,
) -> None:
    """Poll devices over SNMP: status online/offline/degraded, system group, interface counters.

    Offline devices are a result, not an error: the exit status is 0 whenever the poll ran."""
    settings = get_settings()
    with open_database(settings) as db:
        for tid in _tenants(db, tenant):
            with Progress(console=console, transient=True) as bar:
                task = bar.add_task(f"{tid}: polling", total=_device_count(db, tid))
                summary = jobs.poll_tenant(
                    db,
                    tid,
                    settings=settings,
                    concurrency=concurrency,
                    timeout=timeout,
                    progress=lambda task=task: bar.advance(task),  # type: ignore[misc]
                )
            console.print(
                f"{escape(tid)}: {summary.online} online, {summary.degraded} degraded, {summary.offline} offline, "
                f"{summary.skipped} not pollable ({summary.seconds:.1f} s)",
                highlight=False,
            )
            for line in summary.problems:
                console.print(f"  {escape(line)}", highlight=False)


@app.command()
@friendly_errors
def backup(tenant: TenantOption = None) -> None:
    """Back up the configuration of every device with credentials (SSH), with a diff per change.

    Exits 1 if any device could not be backed up (each is listed)."""
    settings = get_settings()
    failed = 0
    with open_database(settings) as db:
        for tid in _tenants(db, tenant):
            summary = jobs.backup_tenant(db, tid, settings=settings)
            console.print(
                f"{escape(tid)}: {summary.changed} changed, {summary.unchanged} unchanged, {summary.failed} failed "
                f"({summary.seconds:.1f} s) -> {escape(str(settings.backup_dir))}",
                highlight=False,
            )
            for line in summary.problems:
                console.print(f"  {escape(line)}", highlight=False)
            failed += summary.failed
    if failed:
        raise typer.Exit(1)
