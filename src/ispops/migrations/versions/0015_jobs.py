"""Background jobs: procrastinate's queue in its own schema, and partition upkeep the worker may call.

procrastinate (DESIGN.md, "Background work") keeps its jobs in this database. Its objects go in a schema
of their own, ``procrastinate``, so ``public`` keeps only ispops tables and every rule about ``public``
(the tenancy check, the model/table tests) stays as it is. The SQL is procrastinate's own ``schema.sql``,
read from the installed package: pyproject.toml pins the version exactly and this revision refuses any
other, so it always creates the same objects (docs/jobs.md, "Upgrading procrastinate").

- The schema is created by the migrator's own login role and handed to ``ispops_owner`` (the owner role
  may lack CREATE on a database it does not own); everything inside it is created as ``ispops_owner``.
- procrastinate names its objects without a schema. Each of its functions is pinned to
  ``search_path = pg_catalog, procrastinate`` so it works whatever the caller's path; the worker's own
  connections put ``procrastinate`` on their path (``ispops.jobs.app``), and ``defer_in`` adds it for the
  one statement that queues a job on a request's connection.
- ``ispops_app`` (API and workers) gets exactly what procrastinate's queries and functions use. The
  queue is not tenant data: jobs carry ids only (docs/jobs.md).
- ``ispops_radacct_maintain``: the radacct partition upkeep of ``ispops db maintain`` as one SECURITY
  DEFINER function, so the worker (``ispops_app``) keeps partitions without ever acting as the owner. The
  app role could already delete every tenant's accounting rows one tenant at a time, so this widens
  nothing: the function only creates the window of months and drops months past the retention it is given
  (1-240 months, as the settings allow).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-24
"""

from __future__ import annotations

from importlib import metadata, resources

from alembic import op

from ispops.db.ddl import run

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

PROCRASTINATE_VERSION = "3.10.0"  # keep equal to the pin in pyproject.toml
SCHEMA = "procrastinate"
FUNCTION_PATH = f"pg_catalog, {SCHEMA}"

GRANTS = [
    f"GRANT USAGE ON SCHEMA {SCHEMA} TO ispops_app",
    f"GRANT SELECT, INSERT, UPDATE, DELETE ON {SCHEMA}.procrastinate_jobs TO ispops_app",
    f"GRANT SELECT, INSERT, UPDATE, DELETE ON {SCHEMA}.procrastinate_workers TO ispops_app",
    f"GRANT SELECT, INSERT, UPDATE, DELETE ON {SCHEMA}.procrastinate_periodic_defers TO ispops_app",
    # Written by triggers running as the caller; rows go away by ON DELETE CASCADE (run as the owner).
    f"GRANT SELECT, INSERT ON {SCHEMA}.procrastinate_events TO ispops_app",
    f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {SCHEMA} TO ispops_app",
    f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {SCHEMA} FROM PUBLIC",
    f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {SCHEMA} TO ispops_app",
]

PIN_FUNCTIONS = f"""
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p WHERE p.pronamespace = '{SCHEMA}'::regnamespace LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = {FUNCTION_PATH}', f);
    END LOOP;
END
$$
"""

RADACCT_MAINTAIN = [
    """
    CREATE FUNCTION ispops_radacct_maintain(months_ahead integer, retention_months integer)
    RETURNS TABLE (action text, partition_name text, detail text)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    DECLARE
        this_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
        cutoff date;
        m date;
        made text;
        part text;
    BEGIN
        IF months_ahead IS NULL OR months_ahead < 0 OR months_ahead > 24
           OR retention_months IS NULL OR retention_months < 1 OR retention_months > 240 THEN
            RAISE EXCEPTION 'months_ahead must be 0-24 and retention_months 1-240'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        cutoff := (this_month - make_interval(months => retention_months))::date;
        -- Two months back (late or replayed accounting) through months_ahead, as `ispops db maintain`.
        FOR offs IN -2 .. months_ahead LOOP
            m := (this_month + make_interval(months => offs))::date;
            CONTINUE WHEN m < cutoff;
            BEGIN
                made := ispops_radacct_ensure_partition(m);
                IF made IS NOT NULL THEN
                    RETURN QUERY SELECT 'created'::text, made, NULL::text;
                END IF;
            EXCEPTION WHEN OTHERS THEN
                RETURN QUERY SELECT 'problem'::text, NULL::text,
                    format('cannot create the partition for %s: %s', to_char(m, 'YYYY-MM'), SQLERRM);
            END;
        END LOOP;
        FOR part IN
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'public.radacct'::regclass AND c.relname ~ '^radacct_p[0-9]{6}$'
            ORDER BY c.relname
        LOOP
            IF to_date(substr(part, 10, 6), 'YYYYMM') < cutoff THEN
                EXECUTE format('DROP TABLE public.%I', part);
                RETURN QUERY SELECT 'dropped'::text, part, NULL::text;
            END IF;
        END LOOP;
    END
    $$
    """,
    "REVOKE ALL ON FUNCTION ispops_radacct_maintain(integer, integer) FROM PUBLIC",
    "GRANT EXECUTE ON FUNCTION ispops_radacct_maintain(integer, integer) TO ispops_app",
]


def procrastinate_schema_sql() -> str:
    """procrastinate's schema.sql from the installed package, after checking it is the pinned version."""
    installed = metadata.version("procrastinate")
    if installed != PROCRASTINATE_VERSION:
        raise RuntimeError(
            f"migration 0015 creates the procrastinate {PROCRASTINATE_VERSION} schema, but procrastinate "
            f"{installed} is installed: install the version pyproject.toml pins"
        )
    return (resources.files("procrastinate.sql") / "schema.sql").read_text(encoding="utf-8")


def upgrade() -> None:
    schema_sql = procrastinate_schema_sql()
    run(
        [
            "SET LOCAL ROLE NONE",
            f"CREATE SCHEMA {SCHEMA} AUTHORIZATION ispops_owner",
            "SET LOCAL ROLE ispops_owner",
            f"REVOKE ALL ON SCHEMA {SCHEMA} FROM PUBLIC",
        ]
    )
    # The raw driver connection takes the multi-statement file as is (no bind-parameter parsing);
    # it is the migration's own connection, inside the migration's transaction.
    raw = op.get_bind().connection.driver_connection
    assert raw is not None
    previous = raw.execute("SELECT current_setting('search_path')").fetchone()
    assert previous is not None
    raw.execute(f"SELECT set_config('search_path', '{SCHEMA}', true)")
    raw.execute(schema_sql)
    raw.execute("SELECT set_config('search_path', %s, true)", (previous[0],))
    run([PIN_FUNCTIONS, *GRANTS, *RADACCT_MAINTAIN])


def downgrade() -> None:
    run(
        [
            "DROP FUNCTION ispops_radacct_maintain(integer, integer)",
            f"DROP SCHEMA {SCHEMA} CASCADE",
        ]
    )
