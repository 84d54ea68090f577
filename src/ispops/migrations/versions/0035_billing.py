"""Billing hand-off: plan history with proration dates, closed cycles, what was pushed (issue 18).

- ``subscriber_plan_history``: a subscriber's service periods — plan (``bandwidth_profile_id``) and status
  from ``valid_from`` to ``valid_to`` (NULL: still open; at most one open period per subscriber). Written
  only by the triggers on ``subscribers`` (``ispops_billing_plan_history_insert``/``_update``, SECURITY
  DEFINER; the app role has no DELETE), and backfilled here with one open period per live subscriber,
  starting at its activation (else its creation).
- ``billing_settings``: one row per tenant: how long after a cycle's end it closes, whether a close pushes
  to the billing endpoint, and where the endpoint's URL and token live in the secret store (under the
  tenant's own prefix, a CHECK as in migration 0032).
- ``billing_cycles``: each cycle (month, billing day) once closed, with its totals; append-only for the app.
- ``billing_pushes``: every usage record or event the billing adapter delivered, by its idempotency key
  (unique per tenant), so a re-run never pushes twice; append-only for the app. ``subscriber_id`` is a
  plain value, not a key: the delivery log outlives the subscriber.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-08
"""

from __future__ import annotations

from ispops.db.ddl import (
    AUDIT_COLUMNS_NO_DELETE,
    TENANT_COLUMN,
    check,
    create_table,
    each_tenant,
    one_of,
    q,
    run,
    tenant_fk,
    tenant_key,
    tenant_table,
)

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

PUSH_KINDS = ("usage", "event")

HISTORY = [
    create_table(
        "subscriber_plan_history",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "subscriber_id uuid NOT NULL",
            "bandwidth_profile_id uuid",
            "status varchar(50) NOT NULL",
            "valid_from timestamptz NOT NULL",
            "valid_to timestamptz",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("subscriber_plan_history"),
            tenant_fk("subscriber_plan_history", "subscriber_id", "subscribers", on_delete="CASCADE"),
            tenant_fk("subscriber_plan_history", "bandwidth_profile_id", "bandwidth_profiles"),
            check("subscriber_plan_history", "valid_to", "valid_to IS NULL OR valid_to > valid_from"),
        ],
    ),
    "CREATE UNIQUE INDEX uq_subscriber_plan_history__open ON subscriber_plan_history (tenant_id, subscriber_id) "
    "WHERE valid_to IS NULL",
    "CREATE INDEX idx_subscriber_plan_history_subscriber ON subscriber_plan_history "
    "(tenant_id, subscriber_id, valid_from)",
    "CREATE INDEX idx_subscriber_plan_history_from ON subscriber_plan_history (tenant_id, valid_from)",
    *tenant_table("subscriber_plan_history", app_privileges="SELECT, INSERT, UPDATE"),
]

SETTINGS = [
    create_table(
        "billing_settings",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "close_after_hours integer NOT NULL DEFAULT 6",
            "push_on_close boolean NOT NULL DEFAULT false",
            "endpoint_vault_path varchar(500)",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("billing_settings"),
            "CONSTRAINT uq_billing_settings__tenant_id UNIQUE (tenant_id)",
            check("billing_settings", "close_after_hours", "close_after_hours BETWEEN 0 AND 720"),
            check(
                "billing_settings",
                "endpoint_vault_path",
                "endpoint_vault_path IS NULL OR starts_with(endpoint_vault_path, "
                + q("tenants/")
                + " || tenant_id || "
                + q("/")
                + ")",
            ),
        ],
    ),
    *tenant_table("billing_settings"),
]

CYCLES = [
    create_table(
        "billing_cycles",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "cycle date NOT NULL",
            "billing_day integer NOT NULL",
            "starts_at timestamptz NOT NULL",
            "ends_at timestamptz NOT NULL",
            "subscribers integer NOT NULL DEFAULT 0",
            "input_octets bigint NOT NULL DEFAULT 0",
            "output_octets bigint NOT NULL DEFAULT 0",
            "session_seconds bigint NOT NULL DEFAULT 0",
            "closed_at timestamptz NOT NULL DEFAULT now()",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("billing_cycles"),
            "CONSTRAINT uq_billing_cycles__tenant_id__cycle__billing_day UNIQUE (tenant_id, cycle, billing_day)",
            check("billing_cycles", "cycle", "extract(day FROM cycle) = 1"),
            check("billing_cycles", "billing_day", "billing_day BETWEEN 1 AND 28"),
            check("billing_cycles", "ends_at", "ends_at > starts_at"),
        ],
    ),
    *tenant_table("billing_cycles", app_privileges="SELECT, INSERT"),
]

PUSHES = [
    create_table(
        "billing_pushes",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "kind varchar(20) NOT NULL",
            "cycle date NOT NULL",
            "subscriber_id uuid",
            "event_type varchar(100)",
            "idempotency_key varchar(255) NOT NULL",
            "response_status integer",
            "payload_sha256 varchar(64) NOT NULL",
            "pushed_at timestamptz NOT NULL DEFAULT now()",
            tenant_key("billing_pushes"),
            "CONSTRAINT uq_billing_pushes__tenant_id__idempotency_key UNIQUE (tenant_id, idempotency_key)",
            one_of("billing_pushes", "kind", PUSH_KINDS),
        ],
    ),
    "CREATE INDEX idx_billing_pushes_cycle ON billing_pushes (tenant_id, cycle, kind)",
    *tenant_table("billing_pushes", audit=False, app_privileges="SELECT, INSERT"),
]

FUNCTIONS = [
    r"""
CREATE OR REPLACE FUNCTION public.ispops_billing_plan_history_insert()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
-- New subscribers (one statement, any number of rows: bulk imports): the first period starts when the
-- service was activated if that is already in the past (an imported subscriber), else now.
-- Without a tenant (the owner, a superuser) it acts for each row's tenant in turn and restores the setting;
-- a transaction acting for a tenant keeps it (RLS refuses any other tenant's rows).
DECLARE
  saved text := coalesce(current_setting('app.current_tenant_id', true), '');
  t text;
BEGIN
  FOR t IN SELECT DISTINCT n.tenant_id::text FROM new_rows n WHERE n.deleted_at IS NULL LOOP
    IF saved = '' THEN
      PERFORM set_config('app.current_tenant_id', t, true);
    END IF;
    INSERT INTO subscriber_plan_history (tenant_id, subscriber_id, bandwidth_profile_id, status, valid_from)
    SELECT n.tenant_id, n.id, n.bandwidth_profile_id, n.status, least(now(), coalesce(n.service_activated_at, now()))
      FROM new_rows n
     WHERE n.deleted_at IS NULL AND n.tenant_id::text = t;
  END LOOP;
  IF saved = '' THEN
    PERFORM set_config('app.current_tenant_id', '', true);
  END IF;
  RETURN NULL;
END
$function$
""",
    "REVOKE ALL ON FUNCTION public.ispops_billing_plan_history_insert() FROM PUBLIC",
    r"""
CREATE OR REPLACE FUNCTION public.ispops_billing_plan_history_update()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
-- A change of plan, status or deletion: the open period ends now and the next begins now. Two changes in
-- one transaction share now(): the period opened earlier in the transaction is rewritten in place, so no
-- period is ever empty. A deleted subscriber gets no next period; an undeleted one starts again.
-- Without a tenant (the owner, a superuser) it acts for the row's tenant and restores the setting.
DECLARE
  open_from timestamptz;
  saved text := coalesce(current_setting('app.current_tenant_id', true), '');
BEGIN
  IF saved = '' THEN
    PERFORM set_config('app.current_tenant_id', NEW.tenant_id::text, true);
  END IF;
  SELECT valid_from INTO open_from FROM subscriber_plan_history
   WHERE tenant_id = NEW.tenant_id AND subscriber_id = NEW.id AND valid_to IS NULL
   FOR UPDATE;
  IF open_from = now() THEN
    IF NEW.deleted_at IS NULL THEN
      UPDATE subscriber_plan_history SET bandwidth_profile_id = NEW.bandwidth_profile_id, status = NEW.status
       WHERE tenant_id = NEW.tenant_id AND subscriber_id = NEW.id AND valid_to IS NULL;
    ELSE
      DELETE FROM subscriber_plan_history
       WHERE tenant_id = NEW.tenant_id AND subscriber_id = NEW.id AND valid_to IS NULL;
    END IF;
  ELSE
    UPDATE subscriber_plan_history SET valid_to = now()
     WHERE tenant_id = NEW.tenant_id AND subscriber_id = NEW.id AND valid_to IS NULL;
    IF NEW.deleted_at IS NULL THEN
      INSERT INTO subscriber_plan_history (tenant_id, subscriber_id, bandwidth_profile_id, status, valid_from)
      VALUES (NEW.tenant_id, NEW.id, NEW.bandwidth_profile_id, NEW.status, now());
    END IF;
  END IF;
  IF saved = '' THEN
    PERFORM set_config('app.current_tenant_id', '', true);
  END IF;
  RETURN NULL;
END
$function$
""",
    "REVOKE ALL ON FUNCTION public.ispops_billing_plan_history_update() FROM PUBLIC",
    r"""
CREATE OR REPLACE TRIGGER subscribers_plan_history_insert
    AFTER INSERT ON subscribers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION ispops_billing_plan_history_insert()
""",
    r"""
CREATE OR REPLACE TRIGGER subscribers_plan_history_update
    AFTER UPDATE OF bandwidth_profile_id, status, deleted_at ON subscribers
    FOR EACH ROW
    WHEN (OLD.bandwidth_profile_id IS DISTINCT FROM NEW.bandwidth_profile_id OR OLD.status IS DISTINCT FROM NEW.status OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL))
    EXECUTE FUNCTION ispops_billing_plan_history_update()
""",
]

# One open period per live subscriber that has none, from its activation (or creation) until now.
BACKFILL = each_tenant(
    """
    INSERT INTO subscriber_plan_history (tenant_id, subscriber_id, bandwidth_profile_id, status, valid_from)
    SELECT s.tenant_id, s.id, s.bandwidth_profile_id, s.status,
           least(now(), coalesce(s.service_activated_at, s.created_at))
      FROM subscribers s
     WHERE s.tenant_id = t.id AND s.deleted_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM subscriber_plan_history h
                        WHERE h.tenant_id = s.tenant_id AND h.subscriber_id = s.id AND h.valid_to IS NULL);
"""
)

UPGRADE = [*HISTORY, *SETTINGS, *CYCLES, *PUSHES, *FUNCTIONS, BACKFILL]

DOWNGRADE = [
    "DROP TRIGGER subscribers_plan_history_update ON subscribers",
    "DROP TRIGGER subscribers_plan_history_insert ON subscribers",
    "DROP FUNCTION ispops_billing_plan_history_update()",
    "DROP FUNCTION ispops_billing_plan_history_insert()",
    "DROP TABLE billing_pushes",
    "DROP TABLE billing_cycles",
    "DROP TABLE billing_settings",
    "DROP TABLE subscriber_plan_history",
]


def upgrade() -> None:
    run(UPGRADE)


def downgrade() -> None:
    run(DOWNGRADE)
