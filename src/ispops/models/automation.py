"""Automation history: service activation workflows and Ansible jobs (migration 0007); the runs' events,
tenant playbooks, schedules, AWX/NetBox endpoints and the NetBox mapping (migration 0031).

History tables (``ansible_jobs``, ``ansible_job_events``, ``netbox_mappings``, ``netbox_syncs``): rows are
never soft-deleted, so there is no ``deleted_at``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ispops.models.base import AuditMixin, Base, SoftDeleteMixin, TenantMixin, tenant_fk, tenant_key, uuid_pk


class ActivationType(StrEnum):
    NEW_SERVICE = "new_service"
    REACTIVATION = "reactivation"
    PLAN_CHANGE = "plan_change"
    RELOCATION = "relocation"
    SUSPENSION = "suspension"
    TERMINATION = "termination"
    RESUMPTION = "resumption"


class WorkflowStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    SCHEDULED = "scheduled"
    COMPENSATING = "compensating"
    CANCELLED = "cancelled"


class OrderPhase(StrEnum):
    """Which way a lifecycle order runs: its steps forward, or their compensations backward."""

    FORWARD = "forward"
    COMPENSATING = "compensating"


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
    TIMED_OUT = "timed_out"


FINISHED = frozenset(
    {AnsibleJobStatus.SUCCESS, AnsibleJobStatus.FAILED, AnsibleJobStatus.CANCELLED, AnsibleJobStatus.TIMED_OUT}
)


class AnsibleTriggerSource(StrEnum):
    """Who or what launched a run; ``triggered_by`` says which one (user id, schedule id, order id)."""

    MANUAL = "manual"
    SCHEDULED = "scheduled"
    WORKFLOW = "workflow"
    API = "api"
    CLI = "cli"
    LIFECYCLE = "lifecycle"


class AnsibleEngine(StrEnum):
    RUNNER = "runner"  # ansible-runner on the platform's workers
    AWX = "awx"  # a job template on the tenant's AWX / Ansible Automation Platform


class PlaybookSourceType(StrEnum):
    DIRECTORY = "directory"
    GIT = "git"


class EndpointKind(StrEnum):
    AWX = "awx"
    NETBOX = "netbox"


class NetboxObjectType(StrEnum):
    DEVICE = "device"
    PREFIX = "prefix"
    IP_RANGE = "ip_range"
    SITE = "site"


class NetboxSyncDirection(StrEnum):
    IMPORT = "import"
    EXPORT = "export"


class NetboxSyncStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"


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
    # lifecycle orders (migration 0033, ispops.lifecycle.saga)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    state: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    phase: Mapped[str] = mapped_column(String(20), server_default=text("'forward'"))
    scheduled_for: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    pivot_passed: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    compensations: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"), info={"json": "list"})
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    waiting_reason: Mapped[str | None] = mapped_column(Text)
    queue_job_id: Mapped[int | None] = mapped_column(BigInteger)


class AnsibleJob(TenantMixin, AuditMixin, Base):
    """One playbook run, with its output, against a device (or an inventory)."""

    __tablename__ = "ansible_jobs"
    __table_args__ = (
        tenant_key("ansible_jobs"),
        tenant_fk("ansible_jobs", "target_device_id", "devices"),
        tenant_fk("ansible_jobs", "playbook_id", "automation_playbooks"),
        tenant_fk("ansible_jobs", "schedule_id", "automation_schedules"),
        tenant_fk("ansible_jobs", "retry_of_id", "ansible_jobs"),
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
    # Migration 0031: what the run needs and what it leaves.
    playbook_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    engine: Mapped[str] = mapped_column(String(20), server_default=text("'runner'"))
    awx_job_template_id: Mapped[int | None] = mapped_column(Integer)
    extra_vars: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    check_mode: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    diff_mode: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    timeout_seconds: Mapped[int | None] = mapped_column(Integer)
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    lifecycle_order_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    retry_of_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    attempt: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    host_results: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    queue_job_id: Mapped[int | None] = mapped_column(BigInteger)


class AnsibleJobEvent(TenantMixin, AuditMixin, Base):
    """One event of a run as ansible-runner reported it (``seq`` is the runner's counter)."""

    __tablename__ = "ansible_job_events"
    __table_args__ = (
        tenant_key("ansible_job_events"),
        UniqueConstraint("tenant_id", "job_id", "seq", name="uq_ansible_job_events__seq"),
        tenant_fk("ansible_job_events", "job_id", "ansible_jobs", ondelete="CASCADE"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    job_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    seq: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(100))
    host: Mapped[str | None] = mapped_column(String(255))
    task: Mapped[str | None] = mapped_column(Text)
    stdout: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AutomationPlaybook(TenantMixin, AuditMixin, Base):
    """A playbook a tenant registered: ``playbook_file`` inside a directory under the allowed roots, or
    inside a git repository (``source`` its URL, ``git_ref`` a branch or tag)."""

    __tablename__ = "automation_playbooks"
    __table_args__ = (
        tenant_key("automation_playbooks"),
        UniqueConstraint("tenant_id", "name", name="uq_automation_playbooks__name"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    source_type: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(1000))
    git_ref: Mapped[str | None] = mapped_column(String(255))
    playbook_file: Mapped[str] = mapped_column(String(255), server_default=text("'site.yml'"))


class AutomationSchedule(TenantMixin, AuditMixin, Base):
    """Launch ``playbook_name`` whenever ``cron`` (UTC) comes round."""

    __tablename__ = "automation_schedules"
    __table_args__ = (
        tenant_key("automation_schedules"),
        UniqueConstraint("tenant_id", "name", name="uq_automation_schedules__name"),
        tenant_fk("automation_schedules", "target_device_id", "devices"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(100))
    playbook_name: Mapped[str] = mapped_column(String(255))
    cron: Mapped[str] = mapped_column(String(100))
    target_device_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    extra_vars: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    check_mode: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AutomationEndpoint(TenantMixin, AuditMixin, SoftDeleteMixin, Base):
    """The tenant's AWX or NetBox: where it is, where its API token is kept, and (NetBox) the NetBox tenant
    or tag that scopes every query, so that one NetBox shared by several ISPs is never crossed."""

    __tablename__ = "automation_endpoints"
    __table_args__ = (tenant_key("automation_endpoints"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(String(20))
    url: Mapped[str] = mapped_column(String(500))
    token_vault_path: Mapped[str | None] = mapped_column(String(255))
    netbox_tenant: Mapped[str | None] = mapped_column(String(100))
    netbox_tag: Mapped[str | None] = mapped_column(String(100))
    verify_tls: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class NetboxMapping(TenantMixin, AuditMixin, Base):
    """One ispops object and its NetBox twin (``local_id``: a uuid, or a site's name)."""

    __tablename__ = "netbox_mappings"
    __table_args__ = (
        tenant_key("netbox_mappings"),
        UniqueConstraint("tenant_id", "object_type", "netbox_id", name="uq_netbox_mappings__netbox_id"),
        UniqueConstraint("tenant_id", "object_type", "local_id", name="uq_netbox_mappings__local_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    object_type: Mapped[str] = mapped_column(String(20))
    local_id: Mapped[str] = mapped_column(String(255))
    netbox_id: Mapped[int] = mapped_column(Integer)
    synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NetboxSync(TenantMixin, AuditMixin, Base):
    """One import from or export to NetBox; a dry run only computes ``diff``."""

    __tablename__ = "netbox_syncs"
    __table_args__ = (tenant_key("netbox_syncs"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    direction: Mapped[str] = mapped_column(String(10))
    dry_run: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    status: Mapped[str] = mapped_column(String(20), server_default=text("'pending'"))
    diff: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    triggered_by: Mapped[str | None] = mapped_column(String(255))
