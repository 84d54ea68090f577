"""Automation history: service activation workflows and Ansible jobs (migration 0007).

History tables: rows are never soft-deleted, so there is no ``deleted_at``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ispops.models.base import AuditMixin, Base, TenantMixin, tenant_fk, tenant_key, uuid_pk


class ActivationType(StrEnum):
    NEW_SERVICE = "new_service"
    REACTIVATION = "reactivation"
    PLAN_CHANGE = "plan_change"
    RELOCATION = "relocation"
    SUSPENSION = "suspension"
    TERMINATION = "termination"


class WorkflowStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


class AnsibleJobType(StrEnum):
    PROVISIONING = "provisioning"
    BACKUP = "backup"
    FIRMWARE_UPDATE = "firmware_update"
    CONFIGURATION = "configuration"


class AnsibleJobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"


class AnsibleTriggerSource(StrEnum):
    MANUAL = "manual"
    SCHEDULED = "scheduled"
    WORKFLOW = "workflow"
    API = "api"


class ServiceActivation(TenantMixin, AuditMixin, Base):
    """One run of a service workflow (activation, suspension, plan change, ...) for a subscriber."""

    __tablename__ = "service_activations"
    __table_args__ = (
        tenant_key("service_activations"),
        tenant_fk("service_activations", "subscriber_id", "subscribers", ondelete="CASCADE"),
        tenant_fk("service_activations", "bandwidth_profile_id", "bandwidth_profiles"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    subscriber_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    activation_type: Mapped[str] = mapped_column(String(50))
    workflow_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    workflow_status: Mapped[str] = mapped_column(String(50), server_default=text("'pending'"))
    steps_completed: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    current_step: Mapped[str | None] = mapped_column(String(100))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    bandwidth_profile_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    billing_plan_id: Mapped[str | None] = mapped_column(String(255))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_step: Mapped[str | None] = mapped_column(String(100))
    retry_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    requested_by: Mapped[str | None] = mapped_column(String(255))


class AnsibleJob(TenantMixin, AuditMixin, Base):
    """One playbook run, with its output, against a device (or an inventory)."""

    __tablename__ = "ansible_jobs"
    __table_args__ = (
        tenant_key("ansible_jobs"),
        tenant_fk("ansible_jobs", "target_device_id", "devices"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    job_name: Mapped[str] = mapped_column(String(100))
    playbook_name: Mapped[str] = mapped_column(String(255))
    job_type: Mapped[str | None] = mapped_column(String(50))
    target_device_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    inventory: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(50), server_default=text("'pending'"))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    stdout: Mapped[str | None] = mapped_column(Text)
    stderr: Mapped[str | None] = mapped_column(Text)
    ansible_facts: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    changed_tasks: Mapped[int | None] = mapped_column(Integer)
    failed_tasks: Mapped[int | None] = mapped_column(Integer)
    awx_job_id: Mapped[int | None] = mapped_column(Integer)
    triggered_by: Mapped[str | None] = mapped_column(String(255))
    trigger_source: Mapped[str | None] = mapped_column(String(50))
