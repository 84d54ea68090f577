"""Tenants, their staff users and their customers (migration 0001)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, Numeric, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ispops.models.base import AuditMixin, Base, SoftDeleteMixin, TenantMixin, tenant_key, uuid_pk


class TenantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TRIAL = "trial"
    INACTIVE = "inactive"
    PENDING = "pending"
    CANCELLED = "cancelled"


class PlanType(StrEnum):
    FREE = "free"
    STARTER = "starter"
    PROFESSIONAL = "professional"
    ENTERPRISE = "enterprise"
    CUSTOM = "custom"


class BillingCycle(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMIANNUAL = "semiannual"
    ANNUAL = "annual"


class RadiusPasswordType(StrEnum):
    CLEARTEXT = "cleartext"
    NT_PASSWORD = "nt_password"  # noqa: S105 (a storage format, not a password)


class RadiusSuspendedAction(StrEnum):
    REJECT = "reject"
    WALLED_GARDEN = "walled_garden"


class UserRole(StrEnum):
    """The values ``users.roles`` (a JSON array) may hold."""

    TENANT_ADMIN = "tenant_admin"
    NOC_ENGINEER = "noc_engineer"
    SUPPORT_AGENT = "support_agent"
    FIELD_TECH = "field_tech"


class CustomerStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    CLOSED = "closed"


class Tenant(AuditMixin, SoftDeleteMixin, Base):
    """An ISP using the platform. Global table: the id is the tenant's slug at creation."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    slug: Mapped[str] = mapped_column(String(255))
    domain: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(50), server_default=text("'trial'"))
    plan_type: Mapped[str] = mapped_column(String(50), server_default=text("'free'"))
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(50))
    billing_email: Mapped[str | None] = mapped_column(String(255))
    billing_cycle: Mapped[str] = mapped_column(String(50), server_default=text("'monthly'"))
    trial_ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    subscription_starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    subscription_ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    max_users: Mapped[int] = mapped_column(Integer, server_default=text("5"))
    max_api_calls_per_month: Mapped[int] = mapped_column(Integer, server_default=text("10000"))
    max_storage_gb: Mapped[int] = mapped_column(Integer, server_default=text("10"))
    max_subscribers: Mapped[int] = mapped_column(Integer, server_default=text("100"))
    max_olts: Mapped[int] = mapped_column(Integer, server_default=text("2"))
    max_routers: Mapped[int] = mapped_column(Integer, server_default=text("5"))
    max_wireless_aps: Mapped[int] = mapped_column(Integer, server_default=text("10"))

    # Counters below are maintained by triggers (errata 11); the application only reads them.
    current_users: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    current_api_calls: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    current_storage_gb: Mapped[Decimal] = mapped_column(Numeric(10, 2), server_default=text("0"))
    current_subscribers: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    current_olts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    current_routers: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    current_wireless_aps: Mapped[int] = mapped_column(Integer, server_default=text("0"))

    features: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    custom_metadata: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    company_size: Mapped[str | None] = mapped_column(String(50))
    industry: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(50), server_default=text("'UTC'"))
    logo_url: Mapped[str | None] = mapped_column(String(500))
    primary_color: Mapped[str | None] = mapped_column(String(20))

    # RADIUS policy (migration 0009): how passwords are stored for FreeRADIUS, what a suspended
    # subscriber gets, and session defaults.
    radius_password_type: Mapped[str] = mapped_column(Text, server_default=text("'cleartext'"))
    radius_suspended_action: Mapped[str] = mapped_column(Text, server_default=text("'reject'"))
    radius_walled_garden_download_kbps: Mapped[int] = mapped_column(Integer, server_default=text("256"))
    radius_walled_garden_upload_kbps: Mapped[int] = mapped_column(Integer, server_default=text("256"))
    radius_walled_garden_list: Mapped[str] = mapped_column(Text, server_default=text("'ispops-suspended'"))
    radius_interim_interval: Mapped[int] = mapped_column(Integer, server_default=text("300"))
    radius_session_timeout: Mapped[int | None] = mapped_column(Integer)
    # A session silent for this many interim intervals is stale (migration 0025).
    radius_stale_after_intervals: Mapped[int] = mapped_column(Integer, server_default=text("3"))


class User(TenantMixin, AuditMixin, SoftDeleteMixin, Base):
    """A tenant's staff member (not a subscriber)."""

    __tablename__ = "users"
    __table_args__ = (tenant_key("users"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    email: Mapped[str] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    full_name: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    is_verified: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    roles: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    mfa_enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    mfa_secret: Mapped[str | None] = mapped_column(String(255))
    mfa_recovery_codes: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    mfa_last_step: Mapped[int | None] = mapped_column(BigInteger)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Customer(TenantMixin, AuditMixin, SoftDeleteMixin, Base):
    """The billing party behind one or more subscriptions."""

    __tablename__ = "customers"
    __table_args__ = (tenant_key("customers"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    customer_number: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(255))
    company_name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(50), server_default=text("'active'"))
    billing_reference: Mapped[str | None] = mapped_column(String(255))
    notes: Mapped[str | None] = mapped_column(Text)
