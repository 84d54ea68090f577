"""Domain events and webhooks: the outbox, endpoints, deliveries and their log (migration 0034)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Identity, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ispops.models.base import AuditMixin, Base, SoftDeleteMixin, TenantMixin, tenant_fk, tenant_key, uuid_pk


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    SUCCEEDED = "succeeded"  # the endpoint answered 2xx
    DEAD = "dead"  # every attempt failed: on the dead-letter list until replayed


class OutboxEvent(TenantMixin, Base):
    """One domain event, written in the same transaction as the change it describes."""

    __tablename__ = "event_outbox"
    __table_args__ = (
        tenant_key("event_outbox"),
        UniqueConstraint("tenant_id", "dedupe_key", name="uq_event_outbox__tenant_id__dedupe_key"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    event_type: Mapped[str] = mapped_column(String(80))
    subject: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dedupe_key: Mapped[str | None] = mapped_column(String(255))


class WebhookEndpoint(TenantMixin, AuditMixin, SoftDeleteMixin, Base):
    """A tenant's receiver for some event types; its signing secret is in the secret store."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (tenant_key("webhook_endpoints"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    event_types: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    secret_vault_path: Mapped[str] = mapped_column(String(255))
    previous_secret_vault_path: Mapped[str | None] = mapped_column(String(255))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    secret_rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookDelivery(TenantMixin, AuditMixin, Base):
    """One event for one endpoint: its retry state and the last attempt's result."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        tenant_key("webhook_deliveries"),
        UniqueConstraint(
            "tenant_id", "endpoint_id", "event_id", name="uq_webhook_deliveries__tenant_id__endpoint_id__event_id"
        ),
        tenant_fk("webhook_deliveries", "endpoint_id", "webhook_endpoints", ondelete="CASCADE"),
        tenant_fk("webhook_deliveries", "event_id", "event_outbox", ondelete="CASCADE"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    endpoint_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    event_type: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_latency_ms: Mapped[int | None] = mapped_column(Integer)
    last_response_body: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dead_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replays: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class WebhookDeliveryAttempt(TenantMixin, Base):
    """The delivery log: one HTTP attempt of a delivery."""

    __tablename__ = "webhook_delivery_attempts"
    __table_args__ = (
        tenant_key("webhook_delivery_attempts"),
        tenant_fk("webhook_delivery_attempts", "delivery_id", "webhook_deliveries", ondelete="CASCADE"),
        tenant_fk("webhook_delivery_attempts", "endpoint_id", "webhook_endpoints", ondelete="CASCADE"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    delivery_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    endpoint_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
