"""FTTH provisioning: driver jobs with their rendered commands and transcripts, TR-069 secrets (issue 15)

- ``olts.driver`` (``huawei_ma5800``, ``huawei_cli``, ``voltha``, ``lab``: ispops.ftth.drivers) and
  ``olts.driver_port`` (the driver's own port, e.g. the VOLTHA NBI's; NULL: its default).
- ``onu_provisioning_jobs``: one driver operation (authorise, deauthorise, reboot, replace, move, discover,
  poll) with its rendered commands, each step's command and answer, the whole transcript, progress and
  outcome. A tenant table: RLS + FORCE, ``UNIQUE (tenant_id, id)``, composite keys to its OLT and ONU.
- ``onus.acs_password_vault_path`` and ``onus.wifi_password_vault_path`` must be under the ONU's own
  tenant's prefix ``tenants/<tenant_id>/`` (the rule ``devices.credentials_vault_path`` has in the API,
  here as CHECKs): a row can never point at another tenant's secret.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07
"""

from __future__ import annotations

from ispops.db.ddl import (
    AUDIT_COLUMNS_NO_DELETE,
    TENANT_COLUMN,
    check,
    create_table,
    one_of,
    q,
    run,
    tenant_fk,
    tenant_key,
    tenant_table,
)

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

DRIVERS = ("huawei_ma5800", "huawei_cli", "voltha", "lab")
ACTIONS = ("authorise", "deauthorise", "reboot", "replace", "move", "discover", "poll")
STATUSES = ("queued", "running", "succeeded", "failed")
ERROR_KINDS = ("refused", "timeout", "unsupported", "error")
VAULT_COLUMNS = ("acs_password_vault_path", "wifi_password_vault_path")


def _own_prefix(column: str) -> str:
    return f"{column} IS NULL OR starts_with({column}, {q('tenants/')} || tenant_id || {q('/')})"


UPGRADE = [
    "ALTER TABLE olts ADD COLUMN driver varchar(30), ADD " + one_of("olts", "driver", DRIVERS),
    "ALTER TABLE olts ADD COLUMN driver_port integer, ADD "
    + check("olts", "driver_port", "driver_port IS NULL OR driver_port BETWEEN 1 AND 65535"),
    *(f"ALTER TABLE onus ADD {check('onus', c, _own_prefix(c))}" for c in VAULT_COLUMNS),
    create_table(
        "onu_provisioning_jobs",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "olt_id uuid NOT NULL",
            "onu_id uuid",
            "action varchar(20) NOT NULL",
            "driver varchar(30) NOT NULL",
            "status varchar(20) NOT NULL DEFAULT 'queued'",
            "params jsonb NOT NULL DEFAULT '{}'::jsonb",
            "commands jsonb NOT NULL DEFAULT '[]'::jsonb",
            "steps jsonb NOT NULL DEFAULT '[]'::jsonb",
            "steps_done integer NOT NULL DEFAULT 0",
            "transcript text NOT NULL DEFAULT ''",
            "result jsonb",
            "error text",
            "error_kind varchar(20)",
            "failed_command text",
            "attempts integer NOT NULL DEFAULT 0",
            "queue_job_id bigint",
            "started_at timestamptz",
            "finished_at timestamptz",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("onu_provisioning_jobs"),
            tenant_fk("onu_provisioning_jobs", "olt_id", "olts", on_delete="CASCADE"),
            tenant_fk("onu_provisioning_jobs", "onu_id", "onus"),
            one_of("onu_provisioning_jobs", "action", ACTIONS),
            one_of("onu_provisioning_jobs", "driver", DRIVERS),
            one_of("onu_provisioning_jobs", "status", STATUSES),
            one_of("onu_provisioning_jobs", "error_kind", ERROR_KINDS),
            check("onu_provisioning_jobs", "steps_done", "steps_done >= 0"),
            check("onu_provisioning_jobs", "attempts", "attempts >= 0"),
        ],
    ),
    "CREATE INDEX idx_onu_provisioning_jobs_onu ON onu_provisioning_jobs (tenant_id, onu_id, created_at)",
    "CREATE INDEX idx_onu_provisioning_jobs_olt ON onu_provisioning_jobs (tenant_id, olt_id, created_at)",
    *tenant_table("onu_provisioning_jobs"),
]

DOWNGRADE = [
    "DROP TABLE onu_provisioning_jobs",
    *(f"ALTER TABLE onus DROP CONSTRAINT ck_onus__{c}" for c in VAULT_COLUMNS),
    "ALTER TABLE olts DROP COLUMN driver_port",
    "ALTER TABLE olts DROP COLUMN driver",
]


def upgrade() -> None:
    run(UPGRADE)


def downgrade() -> None:
    run(DOWNGRADE)
