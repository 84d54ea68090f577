"""Phase 6, automation: service_activations, ansible_jobs (history tables: no soft delete).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

from ispops.db.ddl import (
    AUDIT_COLUMNS_NO_DELETE,
    TENANT_COLUMN,
    check,
    create_table,
    one_of,
    run,
    tenant_fk,
    tenant_key,
    tenant_table,
)

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ACTIVATIONS = [
    create_table(
        "service_activations",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "subscriber_id uuid NOT NULL",
            "activation_type varchar(50) NOT NULL",
            "workflow_id uuid",
            "workflow_status varchar(50) NOT NULL DEFAULT 'pending'",
            "steps_completed jsonb NOT NULL DEFAULT '[]'::jsonb",
            "current_step varchar(100)",
            "requested_at timestamptz NOT NULL DEFAULT now()",
            "started_at timestamptz",
            "completed_at timestamptz",
            "failed_at timestamptz",
            "duration_seconds integer",
            "bandwidth_profile_id uuid",
            "billing_plan_id varchar(255)",
            "error_message text",
            "error_step varchar(100)",
            "retry_count integer NOT NULL DEFAULT 0",
            "requested_by varchar(255)",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("service_activations"),
            tenant_fk("service_activations", "subscriber_id", "subscribers", on_delete="CASCADE"),
            tenant_fk("service_activations", "bandwidth_profile_id", "bandwidth_profiles"),
            one_of(
                "service_activations",
                "activation_type",
                ["new_service", "reactivation", "plan_change", "relocation", "suspension", "termination"],
            ),
            one_of(
                "service_activations",
                "workflow_status",
                ["pending", "in_progress", "completed", "failed", "rolled_back"],
            ),
            check("service_activations", "steps_completed", "jsonb_typeof(steps_completed) = 'array'"),
            check("service_activations", "retry_count", "retry_count >= 0"),
            check("service_activations", "duration_seconds", "duration_seconds IS NULL OR duration_seconds >= 0"),
        ],
    ),
    "CREATE INDEX idx_service_activations_tenant ON service_activations (tenant_id)",
    "CREATE INDEX idx_service_activations_subscriber ON service_activations (tenant_id, subscriber_id)",
    "CREATE INDEX idx_service_activations_status ON service_activations (tenant_id, workflow_status)",
    "CREATE INDEX idx_service_activations_date ON service_activations (tenant_id, requested_at)",
    *tenant_table("service_activations"),
]

ANSIBLE_JOBS = [
    create_table(
        "ansible_jobs",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "job_name varchar(100) NOT NULL",
            "playbook_name varchar(255) NOT NULL",
            "job_type varchar(50)",
            "target_device_id uuid",
            "inventory jsonb",
            "status varchar(50) NOT NULL DEFAULT 'pending'",
            "started_at timestamptz",
            "completed_at timestamptz",
            "duration_seconds integer",
            "exit_code integer",
            "stdout text",
            "stderr text",
            "ansible_facts jsonb",
            "changed_tasks integer",
            "failed_tasks integer",
            "awx_job_id integer",
            "triggered_by varchar(255)",
            "trigger_source varchar(50)",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("ansible_jobs"),
            tenant_fk("ansible_jobs", "target_device_id", "devices"),
            one_of("ansible_jobs", "job_type", ["provisioning", "backup", "firmware_update", "configuration"]),
            one_of("ansible_jobs", "status", ["pending", "running", "success", "failed", "cancelled"]),
            one_of("ansible_jobs", "trigger_source", ["manual", "scheduled", "workflow", "api"]),
            check("ansible_jobs", "changed_tasks", "changed_tasks IS NULL OR changed_tasks >= 0"),
            check("ansible_jobs", "failed_tasks", "failed_tasks IS NULL OR failed_tasks >= 0"),
            check("ansible_jobs", "duration_seconds", "duration_seconds IS NULL OR duration_seconds >= 0"),
        ],
    ),
    "CREATE INDEX idx_ansible_jobs_tenant ON ansible_jobs (tenant_id)",
    "CREATE INDEX idx_ansible_jobs_device ON ansible_jobs (tenant_id, target_device_id)",
    "CREATE INDEX idx_ansible_jobs_status ON ansible_jobs (tenant_id, status)",
    "CREATE INDEX idx_ansible_jobs_date ON ansible_jobs (tenant_id, started_at)",
    *tenant_table("ansible_jobs"),
]


def upgrade() -> None:
    run(ACTIVATIONS + ANSIBLE_JOBS)


def downgrade() -> None:
    run(["DROP TABLE ansible_jobs", "DROP TABLE service_activations"])
