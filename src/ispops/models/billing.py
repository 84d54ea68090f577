"""Billing hand-off (migration 0035): plan history, the tenant's billing settings, closed cycles, pushes."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Integer, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from ispops.models.base import AuditMixin, Base, TenantMixin, tenant_fk, tenant_key, uuid_pk


class BillingPushKind(StrEnum):
    USAGE = "usage"  # one subscriber's usage and plan periods for one cycle
    EVENT = "event"  # a domain event (billing.cycle_closed)


class SubscriberPlanHistory(TenantMixin, AuditMixin, Base):
    """One service period of a subscriber: its plan and status from ``valid_from`` until ``valid_to``
    (NULL: open). Written by the triggers on ``subscribers`` (ispops/billing/sql/plan_history.sql); the app
    role cannot delete it."""

    __tablename__ = "subscriber_plan_history"
    __table_args__ = (
        tenant_key("subscriber_plan_history"),
        tenant_fk("subscriber_plan_history", "subscriber_id", "subscribers", ondelete="CASCADE"),
        tenant_fk("subscriber_plan_history", "bandwidth_profile_id", "bandwidth_profiles"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    subscriber_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    bandwidth_profile_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(50))
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BillingSettings(TenantMixin, AuditMixin, Base):
    """The tenant's billing hand-off settings: one row per tenant (ispops.billing.service holds the defaults)."""

    __tablename__ = "billing_settings"
    __table_args__ = (
        tenant_key("billing_settings"),
        UniqueConstraint("tenant_id", name="uq_billing_settings__tenant_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    close_after_hours: Mapped[int] = mapped_column(Integer, server_default=text("6"))
    push_on_close: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    endpoint_vault_path: Mapped[str | None] = mapped_column(String(500))


class BillingCycle(TenantMixin, AuditMixin, Base):
    """A closed billing cycle (month ``cycle``, subscribers on ``billing_day``) with its totals at closing."""

    __tablename__ = "billing_cycles"
    __table_args__ = (
        tenant_key("billing_cycles"),
        UniqueConstraint("tenant_id", "cycle", "billing_day", name="uq_billing_cycles__tenant_id__cycle__billing_day"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    cycle: Mapped[date] = mapped_column(Date)
    billing_day: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    subscribers: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    input_octets: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    output_octets: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    session_seconds: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    closed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class BillingPush(TenantMixin, Base):
    """What the billing adapter delivered, by idempotency key: a re-run skips what is recorded here."""

    __tablename__ = "billing_pushes"
    __table_args__ = (
        tenant_key("billing_pushes"),
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_billing_pushes__tenant_id__idempotency_key"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(String(20))
    cycle: Mapped[date] = mapped_column(Date)
    subscriber_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    event_type: Mapped[str | None] = mapped_column(String(100))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    response_status: Mapped[int | None] = mapped_column(Integer)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    pushed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
