"""Bandwidth profiles and subscribers, the service accounts of a tenant (migration 0001)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, Date, DateTime, Integer, Numeric, String, Text, text
from sqlalchemy.dialects.postgresql import INET, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ispops.models.base import AuditMixin, Base, SoftDeleteMixin, TenantMixin, tenant_fk, tenant_key, uuid_pk

if TYPE_CHECKING:
    from ispops.models.tenancy import Customer


class ServiceType(StrEnum):
    FTTH = "ftth"
    WIRELESS = "wireless"
    DSL = "dsl"
    CABLE = "cable"


class ConnectionType(StrEnum):
    PPPOE = "pppoe"
    DHCP = "dhcp"
    STATIC_IP = "static_ip"
    HOTSPOT = "hotspot"


class SubscriberStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"
    ON_HOLD = "on_hold"


class InstallationStatus(StrEnum):
    NOT_SCHEDULED = "not_scheduled"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"


class CapAction(StrEnum):
    THROTTLE = "throttle"
    SUSPEND = "suspend"


class BandwidthProfile(TenantMixin, AuditMixin, SoftDeleteMixin, Base):
    """A speed plan: rates, bursts, caps and the RADIUS attributes that enforce them."""

    __tablename__ = "bandwidth_profiles"
    __table_args__ = (tenant_key("bandwidth_profiles"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    download_mbps: Mapped[int] = mapped_column(Integer)
    upload_mbps: Mapped[int] = mapped_column(Integer)
    download_burst_mbps: Mapped[int | None] = mapped_column(Integer)
    upload_burst_mbps: Mapped[int | None] = mapped_column(Integer)
    burst_threshold_mbps: Mapped[int | None] = mapped_column(Integer)
    burst_time_seconds: Mapped[int | None] = mapped_column(Integer)
    priority: Mapped[int] = mapped_column(Integer, server_default=text("5"))
    monthly_data_cap_gb: Mapped[int | None] = mapped_column(Integer)
    daily_data_cap_gb: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    radius_attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    session_timeout_seconds: Mapped[int | None] = mapped_column(Integer)
    simultaneous_use: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    cap_action: Mapped[str] = mapped_column(Text, server_default=text("'throttle'"))
    fup_download_mbps: Mapped[int | None] = mapped_column(Integer)
    fup_upload_mbps: Mapped[int | None] = mapped_column(Integer)
    cisco_policy_in: Mapped[str | None] = mapped_column(Text)
    cisco_policy_out: Mapped[str | None] = mapped_column(Text)
    juniper_qos_profile: Mapped[str | None] = mapped_column(Text)


class Subscriber(TenantMixin, AuditMixin, SoftDeleteMixin, Base):
    """One service connection (FTTH, wireless, ...) at one address."""

    __tablename__ = "subscribers"
    __table_args__ = (
        tenant_key("subscribers"),
        tenant_fk("subscribers", "customer_id", "customers"),
        tenant_fk("subscribers", "bandwidth_profile_id", "bandwidth_profiles", ondelete="RESTRICT"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    customer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    subscriber_number: Mapped[str] = mapped_column(String(50))
    service_type: Mapped[str] = mapped_column(String(50))
    connection_type: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(50), server_default=text("'pending'"))
    suspension_reason: Mapped[str | None] = mapped_column(String(255))
    service_address_line1: Mapped[str | None] = mapped_column(String(255))
    service_address_line2: Mapped[str | None] = mapped_column(String(255))
    service_address_city: Mapped[str | None] = mapped_column(String(100))
    service_address_state: Mapped[str | None] = mapped_column(String(100))
    service_address_postal_code: Mapped[str | None] = mapped_column(String(20))
    service_address_country: Mapped[str | None] = mapped_column(String(100))
    service_location_lat: Mapped[Decimal | None] = mapped_column(Numeric(10, 8))
    service_location_lng: Mapped[Decimal | None] = mapped_column(Numeric(11, 8))
    installation_status: Mapped[str | None] = mapped_column(String(50))
    installation_date: Mapped[date | None] = mapped_column(Date)
    installed_by: Mapped[str | None] = mapped_column(String(255))
    installation_notes: Mapped[str | None] = mapped_column(Text)
    bandwidth_profile_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    static_ip_address: Mapped[str | None] = mapped_column(INET)
    vlan_id: Mapped[int | None] = mapped_column(Integer)
    pppoe_username: Mapped[str | None] = mapped_column(String(64))
    # Always NULL since migration 0009: the password lives only in radcheck (Cleartext-Password or
    # NT-Password, per the tenant's choice). The API accepts it as a write-only field.
    pppoe_password: Mapped[str | None] = mapped_column(String(64))
    mac_address: Mapped[str | None] = mapped_column(String(17))
    monthly_data_usage_gb: Mapped[Decimal] = mapped_column(Numeric(12, 2), server_default=text("0"))
    last_usage_reset_date: Mapped[date | None] = mapped_column(Date)
    service_activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    service_suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    service_terminated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    billing_subscription_id: Mapped[str | None] = mapped_column(String(255))
    billing_cycle_day: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    throttled_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notes: Mapped[str | None] = mapped_column(Text)

    # Joins carry tenant_id, but only the *_id column is written through the relationship: the
    # tenant of a row never changes because of what it points at.
    customer: Mapped[Customer | None] = relationship(
        primaryjoin="and_(Customer.tenant_id == Subscriber.tenant_id, Customer.id == foreign(Subscriber.customer_id))",
        lazy="raise",
    )
    bandwidth_profile: Mapped[BandwidthProfile | None] = relationship(
        primaryjoin="and_(BandwidthProfile.tenant_id == Subscriber.tenant_id, "
        "BandwidthProfile.id == foreign(Subscriber.bandwidth_profile_id))",
        lazy="raise",
    )
