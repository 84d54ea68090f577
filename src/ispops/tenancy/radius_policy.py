"""A tenant's RADIUS policy: ``GET/PATCH /api/v1/tenant/radius-policy`` (and ``ispops tenant radius-policy``).

The columns live on ``tenants`` (migrations 0009 and 0025); the ranges below are the database's CHECKs, so
a bad value is a 422 naming the field before anything is written. Changing a rendered column re-renders
every subscriber's radcheck/radreply rows in the same transaction (trigger ``tenants_radius_policy``,
migration 0013); ``radius_password_type`` applies at each subscriber's next password set.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from ispops.api import permissions
from ispops.auth.deps import Scope
from ispops.errors import NotFound
from ispops.models import Tenant

RESOURCE = "tenant_radius_policy"
# The CHECKs on tenants (migration 0009; 0025 for the stale-session factor).
LIST_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Kbps = Annotated[int, Field(ge=8, le=10_000_000, description="kbit/s, 8 to 10,000,000")]
Interim = Annotated[int, Field(ge=60, le=86_400, description="seconds, 60 to 86,400")]
Timeout = Annotated[int, Field(ge=60, le=31_536_000, description="seconds, 60 to 31,536,000 (a year)")]
Stale = Annotated[int, Field(ge=2, le=100, description="interim intervals, 2 to 100")]
ListName = Annotated[
    str,
    Field(
        pattern=LIST_NAME,
        description="MikroTik address-list name: 1-64 of A-Z a-z 0-9 _ . -, starting with a letter or digit",
    ),
]
PasswordType = Literal["cleartext", "nt_password"]
SuspendedAction = Literal["reject", "walled_garden"]

FIELDS = (
    "radius_password_type",
    "radius_suspended_action",
    "radius_walled_garden_download_kbps",
    "radius_walled_garden_upload_kbps",
    "radius_walled_garden_list",
    "radius_interim_interval",
    "radius_session_timeout",
    "radius_stale_after_intervals",
)


class RadiusPolicy(BaseModel):
    """The tenant's RADIUS policy as FreeRADIUS and the renderer use it (docs/radius.md)."""

    model_config = ConfigDict(from_attributes=True)

    radius_password_type: PasswordType = Field(
        description="how new passwords are stored: Cleartext-Password "
        "(PAP, CHAP, MS-CHAP) or NT-Password (PAP, MS-CHAP)"
    )
    radius_suspended_action: SuspendedAction = Field(description="what a suspended subscriber gets")
    radius_walled_garden_download_kbps: int
    radius_walled_garden_upload_kbps: int
    radius_walled_garden_list: str = Field(description="Mikrotik-Address-List of walled-garden sessions")
    radius_interim_interval: int = Field(description="Acct-Interim-Interval, seconds")
    radius_session_timeout: int | None = Field(description="Session-Timeout when the plan sets none; null: none")
    radius_stale_after_intervals: int = Field(description="a session silent this many interim intervals is stale")


class RadiusPolicyUpdate(BaseModel):
    """Fields to change; only ``radius_session_timeout`` may be null (no Session-Timeout)."""

    model_config = ConfigDict(extra="forbid")

    radius_password_type: PasswordType | None = None
    radius_suspended_action: SuspendedAction | None = None
    radius_walled_garden_download_kbps: Kbps | None = None
    radius_walled_garden_upload_kbps: Kbps | None = None
    radius_walled_garden_list: ListName | None = None
    radius_interim_interval: Interim | None = None
    radius_session_timeout: Timeout | None = None
    radius_stale_after_intervals: Stale | None = None

    @field_validator(*[f for f in FIELDS if f != "radius_session_timeout"], mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null")
        return value


def apply(tenant: Tenant, update: RadiusPolicyUpdate) -> dict[str, list[Any]]:
    """Set the fields sent on ``tenant``; returns ``{field: [old, new]}`` of those that changed."""
    changes: dict[str, list[Any]] = {}
    for key, value in update.model_dump(exclude_unset=True).items():
        old = getattr(tenant, key)
        if old != value:
            changes[key] = [old, value]
            setattr(tenant, key, value)
    return changes


def update_policy(session: Session, tenant_id: str, update: RadiusPolicyUpdate) -> tuple[Tenant, dict[str, Any]]:
    """Apply ``update`` to the tenant's policy (the API through ``run_sync``, and the CLI); the caller commits."""
    tenant = session.get(Tenant, tenant_id, with_for_update=True)
    if tenant is None or tenant.deleted_at is not None:
        raise NotFound(f"tenants: no tenant {tenant_id!r}", table="tenants")
    changes = apply(tenant, update)
    session.flush()
    session.refresh(tenant)
    return tenant, changes


router = APIRouter(tags=["tenants"])


@router.get(
    "/api/v1/tenant/radius-policy",
    response_model=RadiusPolicy,
    summary="Your tenant's RADIUS policy (tenant admins, NOC engineers)",
)
async def get_radius_policy(scope: Scope) -> Any:
    permissions.require(scope.principal, RESOURCE, "read")
    tenant_id = scope.tenant_id
    async with scope.session() as s:
        tenant = await s.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("tenants: no such tenant", table="tenants")
        return RadiusPolicy.model_validate(tenant)


@router.patch(
    "/api/v1/tenant/radius-policy",
    response_model=RadiusPolicy,
    summary="Change your tenant's RADIUS policy; re-renders every subscriber's RADIUS rows (tenant admins)",
)
async def update_radius_policy(body: RadiusPolicyUpdate, scope: Scope) -> Any:
    permissions.require(scope.principal, RESOURCE, "update")
    tenant_id = scope.tenant_id
    async with scope.session() as s:
        # the trigger re-renders radcheck/radreply in the service's flush, in this transaction
        tenant, changes = await s.run_sync(update_policy, tenant_id, body)
        if changes:
            scope.audit(s, "tenants", tenant_id, "update", changes)
        return RadiusPolicy.model_validate(tenant)
