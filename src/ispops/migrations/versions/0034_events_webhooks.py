"""Domain events and webhooks (issue 18)

- ``event_outbox``: the transactional outbox. One row per domain event, written by
  ``ispops.events.outbox.emit`` in the same transaction as the change it describes. ``seq`` orders events;
  ``dispatched_at`` is set once the event has been fanned out to webhook deliveries; ``dedupe_key`` (unique
  per tenant, optional) lets a job emit an event at most once (session started/stopped from radacct).
  No CHECK on the type's value (ispops.events.types lists them, so a domain adds one without a migration),
  only on its shape.
- ``webhook_endpoints``: a tenant's receivers, each for a list of event types; the signing secret lives in
  the secret store (``secret_vault_path``, and during a rotation's overlap ``previous_secret_vault_path``
  until ``previous_secret_expires_at``), under the tenant's own prefix (CHECKs).
- ``webhook_deliveries``: one event to one endpoint (unique), with its retry state and last result.
- ``webhook_delivery_attempts``: the delivery log, one row per HTTP attempt.

All four are tenant tables: RLS + FORCE, ``UNIQUE (tenant_id, id)``, composite tenant keys.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-08
"""

from __future__ import annotations

from ispops.db.ddl import (
    AUDIT_COLUMNS,
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

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

DELIVERY_STATUSES = ("pending", "succeeded", "dead")
VAULT_COLUMNS = ("secret_vault_path", "previous_secret_vault_path")
TYPE_SHAPE = "^[a-z][a-z0-9_]*([.][a-z][a-z0-9_]*)+$"


def _own_prefix(column: str) -> str:
    return f"{column} IS NULL OR starts_with({column}, {q('tenants/')} || tenant_id || {q('/')})"


UPGRADE = [
    create_table(
        "event_outbox",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "seq bigint GENERATED ALWAYS AS IDENTITY",
            "event_type varchar(80) NOT NULL",
            "subject varchar(255)",
            "payload jsonb NOT NULL DEFAULT '{}'::jsonb",
            "occurred_at timestamptz NOT NULL DEFAULT now()",
            "dispatched_at timestamptz",
            "dedupe_key varchar(255)",
            tenant_key("event_outbox"),
            "CONSTRAINT uq_event_outbox__tenant_id__dedupe_key UNIQUE (tenant_id, dedupe_key)",
            check("event_outbox", "event_type", f"event_type ~ {q(TYPE_SHAPE)}"),
        ],
    ),
    "CREATE INDEX idx_event_outbox_pending ON event_outbox (tenant_id, seq) WHERE dispatched_at IS NULL",
    "CREATE INDEX idx_event_outbox_occurred ON event_outbox (tenant_id, occurred_at)",
    *tenant_table("event_outbox", audit=False),
    create_table(
        "webhook_endpoints",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "url varchar(2048) NOT NULL",
            "description varchar(500)",
            "event_types jsonb NOT NULL DEFAULT '[]'::jsonb",
            "enabled boolean NOT NULL DEFAULT true",
            "secret_vault_path varchar(255) NOT NULL",
            "previous_secret_vault_path varchar(255)",
            "previous_secret_expires_at timestamptz",
            "secret_rotated_at timestamptz",
            AUDIT_COLUMNS,
            tenant_key("webhook_endpoints"),
            check("webhook_endpoints", "event_types", "jsonb_typeof(event_types) = 'array'"),
            *(check("webhook_endpoints", c, _own_prefix(c)) for c in VAULT_COLUMNS),
        ],
    ),
    "CREATE INDEX idx_webhook_endpoints_live ON webhook_endpoints (tenant_id) WHERE deleted_at IS NULL",
    *tenant_table("webhook_endpoints"),
    create_table(
        "webhook_deliveries",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "endpoint_id uuid NOT NULL",
            "event_id uuid NOT NULL",
            "event_type varchar(80) NOT NULL",
            "status varchar(20) NOT NULL DEFAULT 'pending'",
            "attempts integer NOT NULL DEFAULT 0",
            "next_attempt_at timestamptz NOT NULL DEFAULT now()",
            "locked_until timestamptz",
            "last_status_code integer",
            "last_error text",
            "last_latency_ms integer",
            "last_response_body text",
            "delivered_at timestamptz",
            "dead_at timestamptz",
            "replays integer NOT NULL DEFAULT 0",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("webhook_deliveries"),
            "CONSTRAINT uq_webhook_deliveries__tenant_id__endpoint_id__event_id "
            "UNIQUE (tenant_id, endpoint_id, event_id)",
            tenant_fk("webhook_deliveries", "endpoint_id", "webhook_endpoints", on_delete="CASCADE"),
            tenant_fk("webhook_deliveries", "event_id", "event_outbox", on_delete="CASCADE"),
            one_of("webhook_deliveries", "status", DELIVERY_STATUSES),
            check("webhook_deliveries", "attempts", "attempts >= 0"),
            check("webhook_deliveries", "replays", "replays >= 0"),
        ],
    ),
    "CREATE INDEX idx_webhook_deliveries_due ON webhook_deliveries (tenant_id, next_attempt_at) "
    "WHERE status = 'pending'",
    "CREATE INDEX idx_webhook_deliveries_endpoint ON webhook_deliveries (tenant_id, endpoint_id, created_at)",
    "CREATE INDEX idx_webhook_deliveries_dead ON webhook_deliveries (tenant_id, dead_at) WHERE status = 'dead'",
    "CREATE INDEX idx_webhook_deliveries_event ON webhook_deliveries (tenant_id, event_id)",
    *tenant_table("webhook_deliveries"),
    create_table(
        "webhook_delivery_attempts",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "delivery_id uuid NOT NULL",
            "endpoint_id uuid NOT NULL",
            "attempt integer NOT NULL",
            "status_code integer",
            "latency_ms integer",
            "error text",
            "response_body text",
            "attempted_at timestamptz NOT NULL DEFAULT now()",
            tenant_key("webhook_delivery_attempts"),
            tenant_fk("webhook_delivery_attempts", "delivery_id", "webhook_deliveries", on_delete="CASCADE"),
            tenant_fk("webhook_delivery_attempts", "endpoint_id", "webhook_endpoints", on_delete="CASCADE"),
            check("webhook_delivery_attempts", "attempt", "attempt >= 1"),
        ],
    ),
    "CREATE INDEX idx_webhook_delivery_attempts_delivery "
    "ON webhook_delivery_attempts (tenant_id, delivery_id, attempt)",
    *tenant_table("webhook_delivery_attempts", audit=False),
]

DOWNGRADE = [
    "DROP TABLE webhook_delivery_attempts",
    "DROP TABLE webhook_deliveries",
    "DROP TABLE webhook_endpoints",
    "DROP TABLE event_outbox",
]


def upgrade() -> None:
    run(UPGRADE)


def downgrade() -> None:
    run(DOWNGRADE)
