"""``ispops tenant …`` and ``ispops user …``: the platform operator's first steps."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from ispops.cli.common import console, friendly_errors, open_database
from ispops.errors import ValidationFailed
from ispops.models import PlatformOperator, Tenant
from ispops.models.tenancy import PlanType, TenantStatus, UserRole
from ispops.tenancy.purge import purge_tenant
from ispops.tenancy.service import EMAIL, create_tenant, create_user, get_tenant, hash_password


def password_option(envvar: str) -> Any:
    """A password: prompted twice without echo, or taken from ``envvar`` in scripts."""
    return typer.Option(
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar=envvar,
        help=f"At least 12 characters. Prompted if not given; or set {envvar}.",
    )


tenant_app = typer.Typer(help="Tenants (ISPs) on this installation.", no_args_is_help=True)
user_app = typer.Typer(help="Staff users of a tenant.", no_args_is_help=True)
operator_app = typer.Typer(help="Platform operators: the people who run this installation.", no_args_is_help=True)


@tenant_app.command("create")
@friendly_errors
def tenant_create(
    name: Annotated[str, typer.Argument(help="The ISP's name, e.g. 'Lakeside Fibre'.")],
    slug: Annotated[str, typer.Option(help="Short id used everywhere (lowercase, digits, '-'); also the tenant id.")],
    status: Annotated[TenantStatus, typer.Option(help="Starting status.")] = TenantStatus.TRIAL,
    plan: Annotated[PlanType, typer.Option(help="Commercial plan.")] = PlanType.FREE,
    email: Annotated[str | None, typer.Option(help="Contact email.")] = None,
    max_subscribers: Annotated[int | None, typer.Option(min=0, help="Subscriber quota (default 100).")] = None,
    max_users: Annotated[int | None, typer.Option(min=0, help="Staff user quota (default 5).")] = None,
    max_olts: Annotated[int | None, typer.Option(min=0, help="OLT quota (default 2).")] = None,
    max_routers: Annotated[int | None, typer.Option(min=0, help="Router quota (default 5).")] = None,
    max_wireless_aps: Annotated[int | None, typer.Option(min=0, help="Wireless AP quota (default 10).")] = None,
) -> None:
    """Create a tenant. Trials end after 14 days unless the status is changed."""
    limits = {
        key: value
        for key, value in {
            "max_subscribers": max_subscribers,
            "max_users": max_users,
            "max_olts": max_olts,
            "max_routers": max_routers,
            "max_wireless_aps": max_wireless_aps,
        }.items()
        if value is not None
    }
    with open_database() as db, db.platform() as session:
        tenant = create_tenant(
            session, name=name, slug=slug, status=status.value, plan_type=plan.value, email=email, limits=limits
        )
        console.print(f"Created tenant [bold]{tenant.id}[/] ({tenant.name}), status {tenant.status}.")


@tenant_app.command("list")
@friendly_errors
def tenant_list() -> None:
    """List tenants with their status and usage against quota."""
    with open_database() as db, db.platform() as session:
        tenants = session.scalars(select(Tenant).where(Tenant.deleted_at.is_(None)).order_by(Tenant.id)).all()
        table = Table("id", "name", "status", "plan", "subscribers", "users", "OLTs", "routers", "APs")
        for t in tenants:
            table.add_row(
                t.id,
                t.name,
                t.status,
                t.plan_type,
                f"{t.current_subscribers}/{t.max_subscribers}",
                f"{t.current_users}/{t.max_users}",
                f"{t.current_olts}/{t.max_olts}",
                f"{t.current_routers}/{t.max_routers}",
                f"{t.current_wireless_aps}/{t.max_wireless_aps}",
            )
    Console(soft_wrap=True).print(table)  # measured now: honours COLUMNS when not on a terminal


@tenant_app.command("purge")
@friendly_errors
def tenant_purge(
    tenant: Annotated[str, typer.Argument(help="Tenant id (its slug). The tenant must be cancelled first.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a cancelled tenant and ALL its data (subscribers, accounting, plant, audit trail). Irreversible."""
    if not yes:
        typed = typer.prompt(f"This erases every record of {tenant!r} for good. Type the tenant id to confirm")
        if typed != tenant:
            raise typer.Abort()
    with open_database() as db:
        report = purge_tenant(db, tenant)
    total = sum(report.rows.values())
    console.print(
        f"Purged tenant {tenant}: {total} rows in {sum(1 for n in report.rows.values() if n)} tables, "
        f"{len(report.secrets_deleted)} secrets."
    )
    for problem in report.secret_problems:
        console.print(f"[yellow]secret not deleted:[/yellow] {problem}")


@user_app.command("create")
@friendly_errors
def user_create(
    tenant: Annotated[str, typer.Option(help="Tenant id (its slug).")],
    email: Annotated[str, typer.Option(help="Login email, unique within the tenant.")],
    role: Annotated[list[UserRole], typer.Option(help="Role; repeat for several.")],
    password: Annotated[str, password_option("ISPOPS_USER_PASSWORD")],
    full_name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Create a staff user in a tenant (password hashed with argon2id)."""
    with open_database() as db:
        with db.platform() as session:
            get_tenant(session, tenant)
        with db.tenant(tenant, enforce_status=False) as session:
            user = create_user(
                session,
                tenant_id=tenant,
                email=email,
                password=password,
                roles=[r.value for r in role],
                full_name=full_name,
            )
            console.print(f"Created user {user.email} ({', '.join(user.roles)}) in tenant {tenant}.")


@operator_app.command("create")
@friendly_errors
def operator_create(
    email: Annotated[str, typer.Option(help="Login email of the operator.")],
    password: Annotated[str, password_option("ISPOPS_OPERATOR_PASSWORD")],
    full_name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Create a platform operator (signs in at /api/v1/auth/operator/login, manages tenants)."""
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise ValidationFailed("platform_operators.email: not an email address", field="email")
    password_hash = hash_password(password)
    with open_database() as db, db.platform() as session:
        session.add(PlatformOperator(email=email, password_hash=password_hash, full_name=full_name))
        session.flush()
    console.print(f"Created platform operator {email}.")
