"""The ``ispops`` command."""

from __future__ import annotations

import typer

from ispops.cli import (
    automation,
    billing,
    db,
    devices,
    imports,
    ipam,
    orders,
    platform,
    radius,
    radius_coa,
    tenant_radius,
    tenants,
    worker,
)

app = typer.Typer(
    name="ispops",
    help="ispops: the operations platform for Internet service providers.\n\n"
    "Start with `ispops up`; it starts the database (embedded unless ISPOPS_DATABASE_URL is set), "
    "applies migrations and creates demo data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(platform.up)
app.command()(platform.seed)
app.command()(worker.worker)
app.add_typer(db.app, name="db")
radius.app.command("coa-drain")(radius_coa.coa_drain)
app.add_typer(radius.app, name="radius")
tenants.tenant_app.command("radius-policy")(tenant_radius.radius_policy)
app.add_typer(tenants.tenant_app, name="tenant")
app.add_typer(tenants.user_app, name="user")
app.add_typer(tenants.operator_app, name="operator")
app.add_typer(devices.app, name="devices")
app.add_typer(ipam.app, name="ipam")
app.add_typer(automation.app, name="automation")
app.add_typer(orders.app, name="orders")
app.add_typer(billing.app, name="billing")
app.add_typer(imports.app, name="import")


def main() -> None:
    app()
