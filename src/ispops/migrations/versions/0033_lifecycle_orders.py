"""Lifecycle orders: ``service_activations`` becomes the durable saga of a service order (issue 18).

- New columns: the order's ``params`` (as submitted, validated) and ``state`` (the steps' results), the
  ``phase`` (forward / compensating), ``scheduled_for`` (a scheduled order's time), ``next_attempt_at``
  (when the engine next looks at it: a wait, a retry's backoff), per-step ``attempts``, ``pivot_passed``,
  the ``compensations`` log, ``cancel_requested_at``, ``last_error_at``, ``waiting_reason`` and
  ``queue_job_id`` (the advance job last queued for it).
- ``activation_type`` gains ``resumption``; ``workflow_status`` gains ``scheduled``, ``compensating`` and
  ``cancelled``.
- One open order per subscriber: a partial UNIQUE index over the open statuses (pending, scheduled,
  in_progress, compensating, failed — a failed order waits for an engineer's retry).
- Rows written before orders had an engine (the generic ``POST /service_activations`` stored rows nothing
  ever ran) that were still open are closed as ``cancelled`` so the index can be built.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-08
"""

from __future__ import annotations

from ispops.db.ddl import one_of, run

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

OLD_TYPES = ["new_service", "reactivation", "plan_change", "relocation", "suspension", "termination"]
NEW_TYPES = [*OLD_TYPES, "resumption"]
OLD_STATUSES = ["pending", "in_progress", "completed", "failed", "rolled_back"]
NEW_STATUSES = [*OLD_STATUSES, "scheduled", "compensating", "cancelled"]
PHASES = ["forward", "compensating"]
OPEN = "workflow_status IN ('pending', 'scheduled', 'in_progress', 'compensating', 'failed')"

COLUMNS = [
    "params jsonb NOT NULL DEFAULT '{}'::jsonb",
    "state jsonb NOT NULL DEFAULT '{}'::jsonb",
    "phase varchar(20) NOT NULL DEFAULT 'forward'",
    "scheduled_for timestamptz",
    "next_attempt_at timestamptz",
    "attempts jsonb NOT NULL DEFAULT '{}'::jsonb",
    "pivot_passed boolean NOT NULL DEFAULT false",
    "compensations jsonb NOT NULL DEFAULT '[]'::jsonb",
    "cancel_requested_at timestamptz",
    "last_error_at timestamptz",
    "waiting_reason text",
    "queue_job_id bigint",
]

UPGRADE = [
    "ALTER TABLE service_activations " + ", ".join(f"ADD COLUMN {c}" for c in COLUMNS),
    "ALTER TABLE service_activations DROP CONSTRAINT ck_service_activations__activation_type, "
    "DROP CONSTRAINT ck_service_activations__workflow_status, "
    "ADD " + one_of("service_activations", "activation_type", NEW_TYPES) + ", "
    "ADD " + one_of("service_activations", "workflow_status", NEW_STATUSES) + ", "
    "ADD " + one_of("service_activations", "phase", PHASES),
    "UPDATE service_activations SET workflow_status = 'cancelled', "
    "error_message = coalesce(error_message, 'recorded before orders had an engine (migration 0033); never run') "
    "WHERE workflow_status IN ('pending', 'in_progress', 'failed')",
    "CREATE UNIQUE INDEX uq_service_activations__subscriber_id ON service_activations (tenant_id, subscriber_id) "
    f"WHERE {OPEN}",
    "CREATE INDEX idx_service_activations_due ON service_activations (tenant_id, next_attempt_at) "
    "WHERE workflow_status IN ('pending', 'scheduled', 'in_progress', 'compensating')",
]

DOWNGRADE = [
    "DROP INDEX idx_service_activations_due",
    "DROP INDEX uq_service_activations__subscriber_id",
    "UPDATE service_activations SET activation_type = 'reactivation' WHERE activation_type = 'resumption'",
    "UPDATE service_activations SET workflow_status = CASE workflow_status "
    "WHEN 'scheduled' THEN 'pending' WHEN 'compensating' THEN 'in_progress' ELSE 'rolled_back' END "
    "WHERE workflow_status IN ('scheduled', 'compensating', 'cancelled')",
    "ALTER TABLE service_activations DROP CONSTRAINT ck_service_activations__phase, "
    "DROP CONSTRAINT ck_service_activations__activation_type, "
    "DROP CONSTRAINT ck_service_activations__workflow_status, "
    "ADD " + one_of("service_activations", "activation_type", OLD_TYPES) + ", "
    "ADD " + one_of("service_activations", "workflow_status", OLD_STATUSES),
    "ALTER TABLE service_activations " + ", ".join(f"DROP COLUMN {c.split()[0]}" for c in COLUMNS),
]


def upgrade() -> None:
    run(UPGRADE)


def downgrade() -> None:
    run(DOWNGRADE)
