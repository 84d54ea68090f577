"""Tenants and their staff. Keyword-only services over a unit of work they never commit."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ispops.db.session import Database
from ispops.errors import Conflict, NotFound, ValidationFailed
from ispops.models import Tenant, User
from ispops.models.tenancy import UserRole

# OWASP password storage cheat sheet: argon2id, m=19 MiB, t=2, p=1.
PASSWORD_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_PASSWORD_LENGTH = 12
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TRIAL_DAYS = 14


def list_tenant_ids(db: Database) -> list[str]:
    """Every tenant, including suspended and soft-deleted ones (maintenance covers them all)."""
    with db.platform() as session:
        return list(session.scalars(select(Tenant.id).order_by(Tenant.id)))


def create_tenant(
    session: Session,
    *,
    name: str,
    slug: str,
    status: str = "trial",
    plan_type: str = "free",
    email: str | None = None,
    limits: dict[str, int] | None = None,
    settings: dict[str, Any] | None = None,
) -> Tenant:
    """Create a tenant (platform operator only). The tenant id is its slug."""
    if not name.strip():
        raise ValidationFailed("tenants.name: must not be empty", table="tenants", field="name")
    if not SLUG.match(slug):
        raise ValidationFailed(
            "tenants.slug: lowercase letters, digits and '-', starting with a letter or digit, at most 63",
            table="tenants",
            field="slug",
        )
    if session.scalar(select(Tenant.id).where(Tenant.slug == slug, Tenant.deleted_at.is_(None))):
        raise Conflict(f"tenants: a tenant with slug {slug!r} already exists", table="tenants", field="slug")
    if session.get(Tenant, slug) is not None:
        raise Conflict(f"tenants: the tenant id {slug!r} was used before", table="tenants", field="slug")
    tenant = Tenant(id=slug, name=name.strip(), slug=slug, status=status, plan_type=plan_type, email=email)
    if status == "trial":
        tenant.trial_ends_at = datetime.now(UTC) + timedelta(days=TRIAL_DAYS)
    for key, value in (limits or {}).items():
        if not key.startswith("max_") or not hasattr(Tenant, key):
            raise ValidationFailed(f"tenants.{key}: not a tenant limit", table="tenants", field=key)
        setattr(tenant, key, value)
    if settings is not None:
        tenant.settings = settings
    session.add(tenant)
    session.flush()
    return tenant


def get_tenant(session: Session, tenant_id: str) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None or tenant.deleted_at is not None:
        raise NotFound(f"tenants: no tenant {tenant_id!r}", table="tenants")
    return tenant


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"users.password: at least {MIN_PASSWORD_LENGTH} characters", table="users", field="password"
        )
    return PASSWORD_HASHER.hash(password)


def create_user(
    session: Session,
    *,
    tenant_id: str,
    email: str,
    password: str,
    roles: list[str],
    full_name: str | None = None,
) -> User:
    """Create a staff user in the tenant of the current unit of work."""
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise ValidationFailed("users.email: not an email address", table="users", field="email")
    allowed = {r.value for r in UserRole}
    unknown = sorted(set(roles) - allowed)
    if unknown or not roles:
        raise ValidationFailed(
            f"users.roles: {', '.join(unknown) or 'none given'}; choose from {', '.join(sorted(allowed))}",
            table="users",
            field="roles",
        )
    existing = session.scalar(
        select(User.id).where(User.tenant_id == tenant_id, func.lower(User.email) == email, User.deleted_at.is_(None))
    )
    if existing is not None:
        raise Conflict(f"users: {email} already exists in this tenant", table="users", field="email")
    user = User(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        email=email,
        password_hash=hash_password(password),
        roles=sorted(set(roles)),
        full_name=full_name,
        is_active=True,
    )
    session.add(user)
    session.flush()
    return user
