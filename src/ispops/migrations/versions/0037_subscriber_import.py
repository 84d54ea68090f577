"""Subscriber import from CSV: the import table, and two subscriber triggers that step aside for it (issue 19)

- ``subscriber_imports``: one uploaded CSV file of subscribers — its status (validated, refused, queued,
  running, succeeded, failed), the per-row errors (row, column, message), progress (rows processed), the
  summary, and the file itself until the import has run (``ispops.subscribers.bulk_import``). A tenant
  table: RLS + FORCE, ``UNIQUE (tenant_id, id)``.
- ``subscribers_count_current_subscribers`` and ``subscribers_radius_insert`` get
  ``WHEN (current_setting('ispops.subscriber_import', true) IS DISTINCT FROM 'on')``: an import sets that
  transaction-local flag around its own INSERT … SELECT and then counts the rows once (with the same quota
  check) and renders their radcheck/radreply rows from ``ispops_radius_rows`` set-based. Per row, the
  counter's UPDATE of the tenant row is quadratic in one transaction (100k rows: minutes), and the generic
  render costs ~0.3 ms a subscriber. The canonical texts are in ``db/sql/counters.sql`` and
  ``radius/sql/provisioning.sql``.
- ``ispops_subscriber_import_count(tenant, ids)`` (SECURITY DEFINER, only while the flag is on): adds the
  imported live subscribers to ``tenants.current_subscribers`` with the quota check of
  ``ispops_apply_counter`` (canonical text: ``subscribers/sql/bulk_import.sql``).
- ``ispops_subscriber_import_analyze()`` (SECURITY DEFINER): ANALYZE subscribers if it has no statistics
  yet. Without them the planner checks every foreign key to subscribers through an index on tenant_id
  alone, one check per row: an import into a new installation was quadratic (10k rows: 40 s).

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-08
"""

from __future__ import annotations

from ispops.db.ddl import AUDIT_COLUMNS_NO_DELETE, TENANT_COLUMN, create_table, one_of, run, tenant_key, tenant_table

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None

STATUSES = ("validated", "refused", "queued", "running", "succeeded", "failed")
FLAG_OFF = "WHEN (current_setting('ispops.subscriber_import', true) IS DISTINCT FROM 'on')\n    "


def _counter_trigger(when: str) -> str:
    return (
        "CREATE OR REPLACE TRIGGER subscribers_count_current_subscribers\n"
        "    AFTER INSERT OR DELETE OR UPDATE ON subscribers\n"
        "    FOR EACH ROW\n"
        f"    {when}EXECUTE FUNCTION ispops_bump_counter('tenants', 'tenant_id', 'current_subscribers',\n"
        "        'deleted_at IS NULL AND status <> ''terminated''')"
    )


def _render_trigger(when: str) -> str:
    return (
        "CREATE OR REPLACE TRIGGER subscribers_radius_insert\n"
        "    AFTER INSERT ON subscribers\n"
        "    REFERENCING NEW TABLE AS new_rows\n"
        "    FOR EACH STATEMENT\n"
        f"    {when}EXECUTE FUNCTION ispops_radius_subscribers_changed()"
    )


# ispops.subscribers.bulk_import's counter step (canonical text: subscribers/sql/bulk_import.sql).
COUNT_FUNCTION = r"""
CREATE OR REPLACE FUNCTION public.ispops_subscriber_import_count(p_tenant text, p_ids uuid[])
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
DECLARE
    n integer;
BEGIN
    IF p_tenant IS DISTINCT FROM current_setting('app.current_tenant_id', true) THEN
        RAISE EXCEPTION 'ispops_subscriber_import_count: this transaction does not act for tenant %', p_tenant
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF current_setting('ispops.subscriber_import', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'ispops_subscriber_import_count: only inside a subscriber import'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT count(*) INTO n FROM subscribers s
     WHERE s.tenant_id = p_tenant AND s.id = ANY (p_ids) AND s.deleted_at IS NULL AND s.status <> 'terminated';
    IF n > 0 THEN
        PERFORM ispops_apply_counter('tenants', 'current_subscribers', p_tenant, p_tenant, n);
    END IF;
    RETURN n;
END
$function$
"""
COUNT_SIGNATURE = "public.ispops_subscriber_import_count(p_tenant text, p_ids uuid[])"
# Statistics for a never-analyzed subscribers table (canonical text: subscribers/sql/bulk_import.sql).
ANALYZE_FUNCTION = r"""
CREATE OR REPLACE FUNCTION public.ispops_subscriber_import_analyze()
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_stats WHERE schemaname = 'public' AND tablename = 'subscribers' AND attname = 'id') THEN
        RETURN false;
    END IF;
    ANALYZE public.subscribers;
    RETURN true;
END
$function$
"""
ANALYZE_SIGNATURE = "public.ispops_subscriber_import_analyze()"

UPGRADE = [
    create_table(
        "subscriber_imports",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "filename varchar(255) NOT NULL",
            "status varchar(20) NOT NULL DEFAULT 'validated'",
            "total_rows integer NOT NULL DEFAULT 0",
            "processed_rows integer NOT NULL DEFAULT 0",
            "imported_rows integer NOT NULL DEFAULT 0",
            "error_count integer NOT NULL DEFAULT 0",
            "errors jsonb NOT NULL DEFAULT '[]'::jsonb",
            "summary jsonb NOT NULL DEFAULT '{}'::jsonb",
            "content bytea",
            "failure text",
            "queue_job_id bigint",
            "started_at timestamptz",
            "finished_at timestamptz",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("subscriber_imports"),
            one_of("subscriber_imports", "status", STATUSES),
        ],
    ),
    "CREATE INDEX idx_subscriber_imports_created ON subscriber_imports (tenant_id, created_at)",
    *tenant_table("subscriber_imports"),
    COUNT_FUNCTION,
    f"REVOKE ALL ON FUNCTION {COUNT_SIGNATURE} FROM PUBLIC",
    f"GRANT EXECUTE ON FUNCTION {COUNT_SIGNATURE} TO ispops_app",
    ANALYZE_FUNCTION,
    f"REVOKE ALL ON FUNCTION {ANALYZE_SIGNATURE} FROM PUBLIC",
    f"GRANT EXECUTE ON FUNCTION {ANALYZE_SIGNATURE} TO ispops_app",
    _counter_trigger(FLAG_OFF),
    _render_trigger(FLAG_OFF),
]

DOWNGRADE = [
    _render_trigger(""),
    _counter_trigger(""),
    f"DROP FUNCTION {ANALYZE_SIGNATURE}",
    f"DROP FUNCTION {COUNT_SIGNATURE}",
    "DROP TABLE subscriber_imports",
]


def upgrade() -> None:
    run(UPGRADE)


def downgrade() -> None:
    run(DOWNGRADE)
