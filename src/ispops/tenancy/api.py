"""Tenants (platform operators), a tenant's own settings and RADIUS policy, and its staff users (tenant admins).

(No ``from __future__ import annotations``: FastAPI reads the route functions' annotations.)
"""

import asyncio
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_jsonable_python
from sqlalchemy import func, select

from ispops.api.crud import Page, Resource
from ispops.api.schemas import Str, read_schema
from ispops.auth.deps import Db, Meta, Scope, get_full_principal
from ispops.auth.principal import Principal, RequestMeta
from ispops.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from ispops.models import PlatformAuditEvent, Tenant, User
from ispops.models.tenancy import PlanType, TenantStatus, UserRole
from ispops.tenancy.radius_policy import router as radius_policy_router
from ispops.tenancy.service import EMAIL, SLUG, TRIAL_DAYS, hash_password

Password = Annotated[str, Field(min_length=12, max_length=256, description="at least 12 characters")]
Roles = Annotated[list[UserRole], Field(min_length=1, max_length=4)]


async def _create_user(session: Any, tenant_id: str, body: BaseModel) -> Any:
    data = body.model_dump(exclude_unset=True)
    password = data.pop("password")
    data["email"] = str(data["email"]).strip().lower()
    if not EMAIL.match(data["email"]):
        raise ValidationFailed("users.email: not an email address", table="users", field="email")
    data["roles"] = sorted(set(data["roles"]))
    password_hash = await asyncio.to_thread(hash_password, password)  # argon2id: ~50 ms, off the loop
    user = User(**data, password_hash=password_hash, tenant_id=tenant_id)
    session.add(user)
    return user


USERS = Resource(
    "users",
    User,
    tag="users",
    filters=("is_active", "email"),
    search=("email", "full_name", "username"),
    sort=("created_at", "email"),
    hidden=frozenset({"password_hash", "mfa_secret", "mfa_recovery_codes", "mfa_last_step"}),
    read_only=frozenset({"mfa_enabled", "last_login_at", "email_verified_at", "is_verified"}),
    create_hook=_create_user,
    create_extra={"password": (Password, ...), "roles": (Roles, ...)},
    update_extra={"roles": (Roles | None, None)},
)
RESOURCES: list[Resource] = [USERS]

TenantRead = read_schema(Tenant, hidden=("custom_metadata",))


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    name: Annotated[Str, Field(min_length=1, max_length=255)]
    slug: Annotated[str, Field(pattern=SLUG.pattern, description="also the tenant id; lowercase, digits, '-'")]
    status: TenantStatus = TenantStatus.TRIAL
    plan_type: PlanType = PlanType.FREE
    email: Annotated[Str, Field(max_length=255)] | None = None
    max_users: Annotated[int, Field(ge=0, le=1_000_000)] = 5
    max_subscribers: Annotated[int, Field(ge=0, le=100_000_000)] = 100
    max_olts: Annotated[int, Field(ge=0, le=1_000_000)] = 2
    max_routers: Annotated[int, Field(ge=0, le=1_000_000)] = 5
    max_wireless_aps: Annotated[int, Field(ge=0, le=1_000_000)] = 10
    settings: dict[str, Any] = Field(default_factory=dict)


class TenantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    name: Annotated[Str, Field(min_length=1, max_length=255)] | None = None
    status: TenantStatus | None = None
    plan_type: PlanType | None = None
    email: Annotated[Str, Field(max_length=255)] | None = None
    trial_ends_at: dt.datetime | None = None
    max_users: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    max_subscribers: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    max_olts: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    max_routers: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    max_wireless_aps: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    settings: dict[str, Any] | None = None


def _operator(principal: Principal) -> Principal:
    if not principal.is_operator:
        raise PermissionDenied("platform operators only")
    return principal


Operator = Annotated[Principal, Depends(get_full_principal)]
TenantId = Annotated[str, Path(max_length=63, pattern=SLUG.pattern)]

router = APIRouter(tags=["tenants"])
router.include_router(radius_policy_router)  # /api/v1/tenant/radius-policy


def register(api: APIRouter) -> None:
    api.include_router(router)


async def _platform_audit(
    s: Any, principal: Principal, meta: RequestMeta, tenant: str, action: str, changes: dict[str, Any]
) -> None:
    s.add(
        PlatformAuditEvent(
            operator_id=principal.id,
            ip=meta.ip,
            request_id=meta.request_id,
            target_tenant_id=tenant,
            entity="tenants",
            entity_id=tenant,
            action=action,
            changes=to_jsonable_python(changes),
        )
    )


@router.get("/api/v1/tenants", response_model=Page[TenantRead], summary="List tenants and their usage (operators)")  # type: ignore[valid-type]
async def list_tenants(
    principal: Operator,
    db: Db,
    limit: Annotated[int, Field(ge=1, le=500)] = 100,
    offset: Annotated[int, Field(ge=0)] = 0,
    status: TenantStatus | None = None,
) -> Any:
    _operator(principal)
    async with db.platform(user_id=principal.id) as s:
        stmt = select(Tenant).where(Tenant.deleted_at.is_(None))
        if status is not None:
            stmt = stmt.where(Tenant.status == status.value)
        rows = (await s.scalars(stmt.order_by(Tenant.id).limit(limit).offset(offset))).all()
        total = await s.scalar(select(func.count()).select_from(stmt.subquery()))
        return {"items": [TenantRead.model_validate(t) for t in rows], "total": total, "limit": limit, "offset": offset}


@router.get("/api/v1/tenants/{tenant_id}", response_model=TenantRead, summary="One tenant (operators)")
async def get_tenant(tenant_id: TenantId, principal: Operator, db: Db) -> Any:
    _operator(principal)
    async with db.platform(user_id=principal.id) as s:
        tenant = await s.get(Tenant, tenant_id)
        if tenant is None or tenant.deleted_at is not None:
            raise NotFound("tenants: no such tenant", table="tenants")
        return TenantRead.model_validate(tenant)


@router.post("/api/v1/tenants", response_model=TenantRead, status_code=201, summary="Create a tenant (operators)")
async def create_tenant(body: TenantCreate, principal: Operator, db: Db, meta: Meta) -> Any:
    _operator(principal)
    async with db.platform(user_id=principal.id) as s:
        if await s.get(Tenant, body.slug) is not None:
            raise Conflict(f"tenants: the slug {body.slug!r} is taken", table="tenants", field="slug")
        data = body.model_dump()
        tenant = Tenant(id=body.slug, **data)
        if body.status == TenantStatus.TRIAL.value:
            tenant.trial_ends_at = dt.datetime.now(dt.UTC) + dt.timedelta(days=TRIAL_DAYS)
        s.add(tenant)
        await s.flush()
        await s.refresh(tenant)
        await _platform_audit(s, principal, meta, tenant.id, "create", {"name": tenant.name, "status": tenant.status})
        return TenantRead.model_validate(tenant)


@router.patch(
    "/api/v1/tenants/{tenant_id}",
    response_model=TenantRead,
    summary="Change a tenant: suspend, reactivate, limits (operators)",
)
async def update_tenant(tenant_id: TenantId, body: TenantUpdate, principal: Operator, db: Db, meta: Meta) -> Any:
    _operator(principal)
    data = body.model_dump(exclude_unset=True)
    async with db.platform(user_id=principal.id) as s:
        tenant = await s.get(Tenant, tenant_id, with_for_update=True)
        if tenant is None or tenant.deleted_at is not None:
            raise NotFound("tenants: no such tenant", table="tenants")
        changes = {k: [getattr(tenant, k), v] for k, v in data.items() if getattr(tenant, k) != v}
        for k, v in data.items():
            setattr(tenant, k, v)
        await s.flush()
        await s.refresh(tenant)
        if changes:
            await _platform_audit(s, principal, meta, tenant.id, "update", changes)
        return TenantRead.model_validate(tenant)


@router.get("/api/v1/tenant", response_model=TenantRead, summary="Your own tenant: status, limits and usage")
async def my_tenant(scope: Scope) -> Any:
    async with scope.session() as s:
        tenant = await s.get(Tenant, scope.tenant_id)
        if tenant is None:
            raise NotFound("tenants: no such tenant", table="tenants")
        return TenantRead.model_validate(tenant)


class TenantSelfUpdate(BaseModel):
    """What a tenant admin may change about their own tenant."""

    model_config = ConfigDict(extra="forbid")

    email: Annotated[Str, Field(max_length=255)] | None = None
    phone: Annotated[Str, Field(max_length=50)] | None = None
    billing_email: Annotated[Str, Field(max_length=255)] | None = None
    timezone: Annotated[Str, Field(max_length=50)] | None = None
    require_mfa: bool | None = Field(None, description="staff must enrol TOTP MFA before using the API")


@router.patch("/api/v1/tenant", response_model=TenantRead, summary="Change your tenant's contact details and settings")
async def update_my_tenant(body: TenantSelfUpdate, scope: Scope) -> Any:
    if "tenant_admin" not in scope.principal.roles:
        raise PermissionDenied("only tenant admins may change the tenant's settings")
    data = body.model_dump(exclude_unset=True)
    require_mfa = data.pop("require_mfa", None)
    async with scope.session() as s:
        tenant = await s.get(Tenant, scope.tenant_id, with_for_update=True)
        if tenant is None:
            raise NotFound("tenants: no such tenant", table="tenants")
        changes = {k: [getattr(tenant, k), v] for k, v in data.items() if getattr(tenant, k) != v}
        for k, v in data.items():
            setattr(tenant, k, v)
        if require_mfa is not None and bool(tenant.settings.get("require_mfa")) != require_mfa:
            changes["require_mfa"] = [bool(tenant.settings.get("require_mfa")), require_mfa]
            tenant.settings = {**tenant.settings, "require_mfa": require_mfa}
        await s.flush()
        await s.refresh(tenant)
        if changes:
            scope.audit(s, "tenants", tenant.id, "update", changes)
        return TenantRead.model_validate(tenant)
