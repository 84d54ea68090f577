"""Automation: Ansible runs, playbooks, NetBox mapping (issue 17)

- ``ansible_jobs`` gains what a run needs and what it leaves: the registered playbook it runs
  (``playbook_id``), the engine (``runner``: ansible-runner on the workers; ``awx``: a job template on an
  AWX / Automation Platform), extra vars, check and diff mode, a timeout, the retry chain (``retry_of_id``,
  ``attempt``), the schedule or lifecycle order that triggered it, the play recap (``stats``), changed and
  failed tasks per host (``host_results``), the error, the cancel request and the queue job's id. Status
  ``timed_out`` and trigger sources ``cli`` and ``lifecycle`` are new.
- ``ansible_job_events``: the runner's events of a run, in order (progress, paged by ``seq``).
- ``automation_playbooks``: playbooks a tenant registers from its own directory or git repository.
- ``automation_schedules``: cron schedules that launch a playbook.
- ``automation_endpoints``: a tenant's AWX and NetBox (URL, token path in the secret store, NetBox
  tenant or tag that scopes every NetBox query).
- ``netbox_mappings``: ispops object <-> NetBox id, both ways, per object type.
- ``netbox_syncs``: each import or export (dry run or not), with its diff.

The downgrade turns the new statuses and trigger sources back into old ones (``failed``, ``manual``), tenant
by tenant (FORCE RLS: even the owner sees one tenant at a time).

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07
"""

from __future__ import annotations

from ispops.db.ddl import (
    AUDIT_COLUMNS,
    AUDIT_COLUMNS_NO_DELETE,
    TENANT_COLUMN,
    check,
    create_table,
    each_tenant,
    live_index,
    one_of,
    run,
    tenant_fk,
    tenant_key,
    tenant_table,
)

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

OLD_STATUS = ["pending", "running", "success", "failed", "cancelled"]
NEW_STATUS = [*OLD_STATUS, "timed_out"]
OLD_TRIGGER = ["manual", "scheduled", "workflow", "api"]
NEW_TRIGGER = [*OLD_TRIGGER, "cli", "lifecycle"]

PLAYBOOKS = [
    create_table(
        "automation_playbooks",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "name varchar(100) NOT NULL",
            "description text",
            "source_type varchar(20) NOT NULL",
            "source varchar(1000) NOT NULL",
            "git_ref varchar(255)",
            "playbook_file varchar(255) NOT NULL DEFAULT 'site.yml'",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("automation_playbooks"),
            "CONSTRAINT uq_automation_playbooks__name UNIQUE (tenant_id, name)",
            one_of("automation_playbooks", "source_type", ["directory", "git"]),
        ],
    ),
    *tenant_table("automation_playbooks"),
]

SCHEDULES = [
    create_table(
        "automation_schedules",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "name varchar(100) NOT NULL",
            "playbook_name varchar(255) NOT NULL",
            "cron varchar(100) NOT NULL",
            "target_device_id uuid",
            "extra_vars jsonb NOT NULL DEFAULT '{}'::jsonb",
            "check_mode boolean NOT NULL DEFAULT false",
            "enabled boolean NOT NULL DEFAULT true",
            "last_run_at timestamptz",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("automation_schedules"),
            "CONSTRAINT uq_automation_schedules__name UNIQUE (tenant_id, name)",
            tenant_fk("automation_schedules", "target_device_id", "devices"),
        ],
    ),
    *tenant_table("automation_schedules"),
]

ENDPOINTS = [
    create_table(
        "automation_endpoints",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "kind varchar(20) NOT NULL",
            "url varchar(500) NOT NULL",
            "token_vault_path varchar(255)",
            "netbox_tenant varchar(100)",
            "netbox_tag varchar(100)",
            "verify_tls boolean NOT NULL DEFAULT true",
            AUDIT_COLUMNS,
            tenant_key("automation_endpoints"),
            one_of("automation_endpoints", "kind", ["awx", "netbox"]),
        ],
    ),
    live_index("idx_automation_endpoints__kind", "automation_endpoints", "tenant_id, kind"),
    *tenant_table("automation_endpoints"),
]

JOB_COLUMNS = [
    "ADD COLUMN playbook_id uuid",
    "ADD COLUMN engine varchar(20) NOT NULL DEFAULT 'runner'",
    "ADD COLUMN awx_job_template_id integer",
    "ADD COLUMN extra_vars jsonb NOT NULL DEFAULT '{}'::jsonb",
    "ADD COLUMN check_mode boolean NOT NULL DEFAULT false",
    "ADD COLUMN diff_mode boolean NOT NULL DEFAULT false",
    "ADD COLUMN timeout_seconds integer",
    "ADD COLUMN schedule_id uuid",
    "ADD COLUMN lifecycle_order_id uuid",
    "ADD COLUMN retry_of_id uuid",
    "ADD COLUMN attempt integer NOT NULL DEFAULT 1",
    "ADD COLUMN stats jsonb",
    "ADD COLUMN host_results jsonb",
    "ADD COLUMN error text",
    "ADD COLUMN cancel_requested_at timestamptz",
    "ADD COLUMN queue_job_id bigint",
]

JOBS_UP = [
    "ALTER TABLE ansible_jobs " + ", ".join(JOB_COLUMNS),
    "ALTER TABLE ansible_jobs "
    + ", ".join(
        [
            "DROP CONSTRAINT ck_ansible_jobs__status",
            "DROP CONSTRAINT ck_ansible_jobs__trigger_source",
            "ADD " + one_of("ansible_jobs", "status", NEW_STATUS),
            "ADD " + one_of("ansible_jobs", "trigger_source", NEW_TRIGGER),
            "ADD " + one_of("ansible_jobs", "engine", ["runner", "awx"]),
            "ADD "
            + check(
                "ansible_jobs", "timeout_seconds", "timeout_seconds IS NULL OR timeout_seconds BETWEEN 1 AND 86400"
            ),
            "ADD " + check("ansible_jobs", "attempt", "attempt >= 1"),
            "ADD " + tenant_fk("ansible_jobs", "playbook_id", "automation_playbooks"),
            "ADD " + tenant_fk("ansible_jobs", "schedule_id", "automation_schedules"),
            "ADD " + tenant_fk("ansible_jobs", "retry_of_id", "ansible_jobs"),
        ]
    ),
    "CREATE INDEX idx_ansible_jobs_running ON ansible_jobs (tenant_id) WHERE status = 'running'",
    "CREATE INDEX idx_ansible_jobs_playbook ON ansible_jobs (tenant_id, playbook_id)",
    "CREATE INDEX idx_ansible_jobs_schedule ON ansible_jobs (tenant_id, schedule_id)",
    "CREATE INDEX idx_ansible_jobs_retry_of ON ansible_jobs (tenant_id, retry_of_id)",
]

EVENTS = [
    create_table(
        "ansible_job_events",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "job_id uuid NOT NULL",
            "seq integer NOT NULL",
            "event varchar(100) NOT NULL",
            "host varchar(255)",
            "task text",
            "stdout text",
            "data jsonb",
            "occurred_at timestamptz",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("ansible_job_events"),
            "CONSTRAINT uq_ansible_job_events__seq UNIQUE (tenant_id, job_id, seq)",
            tenant_fk("ansible_job_events", "job_id", "ansible_jobs", on_delete="CASCADE"),
        ],
    ),
    *tenant_table("ansible_job_events"),
]

NETBOX = [
    create_table(
        "netbox_mappings",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "object_type varchar(20) NOT NULL",
            "local_id varchar(255) NOT NULL",
            "netbox_id integer NOT NULL",
            "synced_at timestamptz",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("netbox_mappings"),
            "CONSTRAINT uq_netbox_mappings__netbox_id UNIQUE (tenant_id, object_type, netbox_id)",
            "CONSTRAINT uq_netbox_mappings__local_id UNIQUE (tenant_id, object_type, local_id)",
            one_of("netbox_mappings", "object_type", ["device", "prefix", "ip_range", "site"]),
        ],
    ),
    *tenant_table("netbox_mappings"),
    create_table(
        "netbox_syncs",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "direction varchar(10) NOT NULL",
            "dry_run boolean NOT NULL DEFAULT true",
            "status varchar(20) NOT NULL DEFAULT 'pending'",
            "diff jsonb",
            "summary jsonb",
            "error text",
            "started_at timestamptz",
            "completed_at timestamptz",
            "triggered_by varchar(255)",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("netbox_syncs"),
            one_of("netbox_syncs", "direction", ["import", "export"]),
            one_of("netbox_syncs", "status", ["pending", "running", "success", "failed"]),
        ],
    ),
    "CREATE INDEX idx_netbox_syncs_tenant ON netbox_syncs (tenant_id, created_at)",
    *tenant_table("netbox_syncs"),
]

JOBS_DOWN = [
    each_tenant(
        """
    UPDATE ansible_jobs SET status = 'failed' WHERE tenant_id = t.id AND status = 'timed_out';
    UPDATE ansible_jobs SET trigger_source = 'manual'
     WHERE tenant_id = t.id AND trigger_source IN ('cli', 'lifecycle');"""
    ),
    "DROP INDEX idx_ansible_jobs_running",
    "DROP INDEX idx_ansible_jobs_playbook",
    "DROP INDEX idx_ansible_jobs_schedule",
    "DROP INDEX idx_ansible_jobs_retry_of",
    "ALTER TABLE ansible_jobs "
    + ", ".join(
        [
            "DROP CONSTRAINT ck_ansible_jobs__status",
            "DROP CONSTRAINT ck_ansible_jobs__trigger_source",
            "ADD " + one_of("ansible_jobs", "status", OLD_STATUS),
            "ADD " + one_of("ansible_jobs", "trigger_source", OLD_TRIGGER),
        ]
    ),
    "ALTER TABLE ansible_jobs " + ", ".join("DROP COLUMN " + c.split()[2] for c in JOB_COLUMNS),
]


def upgrade() -> None:
    run(PLAYBOOKS + SCHEDULES + ENDPOINTS + JOBS_UP + EVENTS + NETBOX)


def downgrade() -> None:
    run(
        [
            "DROP TABLE netbox_syncs",
            "DROP TABLE netbox_mappings",
            "DROP TABLE ansible_job_events",
            *JOBS_DOWN,
            "DROP TABLE automation_endpoints",
            "DROP TABLE automation_schedules",
            "DROP TABLE automation_playbooks",
        ]
    )
