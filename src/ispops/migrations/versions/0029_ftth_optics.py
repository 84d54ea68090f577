"""FTTH optical health: readings partitioned by time, hourly/daily rollups, alarms (issue 15)

- ``onu_optical_readings``: one narrow row per ONU per poll (Rx, Tx, OLT-side Rx, temperature, voltage,
  distance, uptime), ``PARTITION BY RANGE (measured_at)`` with one partition per UTC day and a DEFAULT
  partition. 100k ONUs every 5 minutes is ~29M rows a day: a day is the unit of retention (a partition
  dropped, never rows deleted). Keys: the primary key ``(tenant_id, onu_id, measured_at)`` (a repeated
  reading is one row; per-ONU history) and a BRIN on ``measured_at`` (the rollups' hour scans), nothing else.
- ``onu_optical_hourly`` / ``onu_optical_daily``: the rollups, partitioned by month, recomputed for the hours
  that received readings (``onu_optical_dirty_hours``, written by the ingest) once those hours have closed.
- ``ftth_alarms``: optical alarms (Rx low with warning/critical, Rx overload) raised and cleared with
  hysteresis, link alarms (LOS, dying gasp) and power events (a dying-gasp storm under one splitter).

Every partition is made by ``ispops_optics_ensure_partition`` and gets its own RLS + FORCE + policy, like
radacct's; no role is granted anything on a partition. ``ispops_optics_maintain`` (SECURITY DEFINER, for the
worker) and ``ispops_optics_maintain_at`` (the owner's, with a calendar date, for ``ispops db maintain``)
create partitions ahead and drop those past retention. Canonical text: ``src/ispops/ftth/sql/optics.sql``.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07
"""

from __future__ import annotations

from ispops.db.ddl import (
    AUDIT_COLUMNS_NO_DELETE,
    TENANT_COLUMN,
    TENANT_SETTING,
    create_table,
    one_of,
    run,
    tenant_table,
)

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

POLICY = f"USING (tenant_id = {TENANT_SETTING}) WITH CHECK (tenant_id = {TENANT_SETTING})"
ALARM_KINDS = ("rx_low", "rx_high", "los", "dying_gasp", "power_event")
ALARM_SEVERITIES = ("info", "warning", "critical")
ONU_FK = "FOREIGN KEY (tenant_id, onu_id) REFERENCES onus (tenant_id, id) ON DELETE CASCADE"


def rls(table: str) -> list[str]:
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} {POLICY}",
    ]


ENSURE_PARTITION = r"""
CREATE FUNCTION ispops_optics_ensure_partition(parent text, at date) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    lo date;
    hi date;
    part text;
    lo_bound text;
    hi_bound text;
BEGIN
    -- Readings: one partition per UTC day. Rollups: one per month.
    IF parent = 'onu_optical_readings' THEN
        lo := at;
        hi := at + 1;
        part := parent || '_p' || to_char(lo, 'YYYYMMDD');
    ELSIF parent IN ('onu_optical_hourly', 'onu_optical_daily') THEN
        lo := date_trunc('month', at)::date;
        hi := (date_trunc('month', at) + interval '1 month')::date;
        part := parent || '_p' || to_char(lo, 'YYYYMM');
    ELSE
        RAISE EXCEPTION 'not a partitioned optics table: %', parent USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regclass('public.' || part) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    IF parent = 'onu_optical_daily' THEN  -- a date key
        lo_bound := lo::text;
        hi_bound := hi::text;
    ELSE  -- timestamptz keys: UTC bounds
        lo_bound := lo::text || ' 00:00:00+00';
        hi_bound := hi::text || ' 00:00:00+00';
    END IF;
    EXECUTE format('CREATE TABLE public.%I PARTITION OF public.%I FOR VALUES FROM (%L) TO (%L)',
                   part, parent, lo_bound, hi_bound);
    EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', part);
    EXECUTE format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', part);
    EXECUTE format('CREATE POLICY tenant_isolation ON public.%I USING (tenant_id = current_setting(''app.current_tenant_id'', true)) WITH CHECK (tenant_id = current_setting(''app.current_tenant_id'', true))', part);
    RETURN part;
END
$$
"""

MAINTAIN_AT = r"""
CREATE FUNCTION ispops_optics_maintain_at(today date, days_ahead integer, raw_retention_days integer,
                                          rollup_retention_months integer)
RETURNS TABLE (action text, partition_name text, detail text)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    raw_cutoff date;
    rollup_cutoff date;
    this_month date := date_trunc('month', today)::date;
    d date;
    made text;
    parent text;
    part text;
    covers date;
BEGIN
    IF today IS NULL OR days_ahead IS NULL OR days_ahead < 0 OR days_ahead > 60
       OR raw_retention_days IS NULL OR raw_retention_days < 1 OR raw_retention_days > 3650
       OR rollup_retention_months IS NULL OR rollup_retention_months < 1 OR rollup_retention_months > 240 THEN
        RAISE EXCEPTION 'days_ahead must be 0-60, raw_retention_days 1-3650 and rollup_retention_months 1-240'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    raw_cutoff := today - raw_retention_days;
    rollup_cutoff := (this_month - make_interval(months => rollup_retention_months))::date;
    -- Readings: two days back (late pushes) through days_ahead; rollups: last month through two ahead.
    FOR offs IN -2 .. days_ahead LOOP
        d := today + offs;
        CONTINUE WHEN d < raw_cutoff;
        BEGIN
            made := ispops_optics_ensure_partition('onu_optical_readings', d);
            IF made IS NOT NULL THEN
                RETURN QUERY SELECT 'created'::text, made, NULL::text;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            RETURN QUERY SELECT 'problem'::text, NULL::text,
                format('cannot create the readings partition for %s: %s', d, SQLERRM);
        END;
    END LOOP;
    FOREACH parent IN ARRAY ARRAY['onu_optical_hourly', 'onu_optical_daily'] LOOP
        FOR offs IN -1 .. 2 + days_ahead / 28 LOOP
            d := (this_month + make_interval(months => offs))::date;
            CONTINUE WHEN d < rollup_cutoff;
            BEGIN
                made := ispops_optics_ensure_partition(parent, d);
                IF made IS NOT NULL THEN
                    RETURN QUERY SELECT 'created'::text, made, NULL::text;
                END IF;
            EXCEPTION WHEN OTHERS THEN
                RETURN QUERY SELECT 'problem'::text, NULL::text,
                    format('cannot create the %s partition for %s: %s', parent, to_char(d, 'YYYY-MM'), SQLERRM);
            END;
        END LOOP;
    END LOOP;
    FOR parent, part IN
        SELECT p.relname, c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname IN ('onu_optical_readings', 'onu_optical_hourly', 'onu_optical_daily')
          AND p.relnamespace = 'public'::regnamespace AND c.relname ~ '_p[0-9]{6,8}$'
        ORDER BY c.relname
    LOOP
        IF parent = 'onu_optical_readings' THEN
            covers := to_date(right(part, 8), 'YYYYMMDD');
            CONTINUE WHEN covers >= raw_cutoff;
        ELSE
            covers := to_date(right(part, 6), 'YYYYMM');
            CONTINUE WHEN covers >= rollup_cutoff;
        END IF;
        EXECUTE format('DROP TABLE public.%I', part);
        RETURN QUERY SELECT 'dropped'::text, part, NULL::text;
    END LOOP;
END
$$
"""

MAINTAIN = r"""
CREATE FUNCTION ispops_optics_maintain(days_ahead integer, raw_retention_days integer,
                                       rollup_retention_months integer)
RETURNS TABLE (action text, partition_name text, detail text)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT m.action, m.partition_name, m.detail
      FROM ispops_optics_maintain_at((now() AT TIME ZONE 'UTC')::date, days_ahead, raw_retention_days,
                                     rollup_retention_months) AS m
$$
"""

READINGS = [
    """
    CREATE TABLE onu_optical_readings (
        tenant_id varchar(255) NOT NULL,
        onu_id uuid NOT NULL,
        measured_at timestamptz NOT NULL,
        rx_dbm numeric(5,2),
        tx_dbm numeric(5,2),
        olt_rx_dbm numeric(5,2),
        temperature_c numeric(5,2),
        voltage_v numeric(5,2),
        distance_m integer,
        uptime_seconds bigint,
        pushed boolean NOT NULL DEFAULT false,
        CONSTRAINT pk_onu_optical_readings PRIMARY KEY (tenant_id, onu_id, measured_at),
        CONSTRAINT fk_onu_optical_readings__onu_id """
    + ONU_FK
    + """
    ) PARTITION BY RANGE (measured_at)
    """,
    "CREATE INDEX idx_onu_optical_readings_time ON onu_optical_readings USING brin (measured_at)",
    *rls("onu_optical_readings"),
    "GRANT SELECT, INSERT, DELETE ON onu_optical_readings TO ispops_app",
    "CREATE TABLE onu_optical_readings_default PARTITION OF onu_optical_readings DEFAULT",
    *rls("onu_optical_readings_default"),
]

ROLLUP_COLUMNS = """
        samples integer NOT NULL,
        rx_min_dbm numeric(5,2),
        rx_avg_dbm numeric(5,2),
        rx_max_dbm numeric(5,2),
        tx_avg_dbm numeric(5,2),
        olt_rx_min_dbm numeric(5,2),
        olt_rx_avg_dbm numeric(5,2),
        temperature_max_c numeric(5,2),
        voltage_min_v numeric(5,2),"""


def rollup(table: str, key: str, key_type: str) -> list[str]:
    return [
        f"""
    CREATE TABLE {table} (
        tenant_id varchar(255) NOT NULL,
        onu_id uuid NOT NULL,
        {key} {key_type} NOT NULL,{ROLLUP_COLUMNS}
        CONSTRAINT pk_{table} PRIMARY KEY (tenant_id, onu_id, {key}),
        CONSTRAINT fk_{table}__onu_id {ONU_FK}
    ) PARTITION BY RANGE ({key})
    """,
        f"CREATE INDEX idx_{table}_time ON {table} USING brin ({key})",
        *rls(table),
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO ispops_app",
        f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT",
        *rls(f"{table}_default"),
    ]


DIRTY = [
    create_table(
        "onu_optical_dirty_hours",
        [
            TENANT_COLUMN,
            "hour timestamptz NOT NULL",
            "CONSTRAINT pk_onu_optical_dirty_hours PRIMARY KEY (tenant_id, hour)",
        ],
    ),
    *tenant_table("onu_optical_dirty_hours", audit=False, app_privileges="SELECT, INSERT, UPDATE, DELETE"),
]

ALARMS = [
    create_table(
        "ftth_alarms",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "kind varchar(20) NOT NULL",
            "severity varchar(20) NOT NULL",
            "olt_id uuid NOT NULL",
            "pon_port integer",
            "onu_id uuid",
            "splitter_id uuid",
            "onu_count integer NOT NULL DEFAULT 1",
            "members jsonb NOT NULL DEFAULT '[]'::jsonb",
            "value_dbm numeric(5,2)",
            "threshold_dbm numeric(5,2)",
            "cause varchar(20)",
            "raised_at timestamptz NOT NULL DEFAULT now()",
            "cleared_at timestamptz",
            "detail text",
            AUDIT_COLUMNS_NO_DELETE,
            "CONSTRAINT uq_ftth_alarms__tenant_id__id UNIQUE (tenant_id, id)",
            "CONSTRAINT fk_ftth_alarms__olt_id FOREIGN KEY (tenant_id, olt_id) "
            "REFERENCES olts (tenant_id, id) ON DELETE CASCADE",
            "CONSTRAINT fk_ftth_alarms__onu_id FOREIGN KEY (tenant_id, onu_id) "
            "REFERENCES onus (tenant_id, id) ON DELETE CASCADE",
            "CONSTRAINT fk_ftth_alarms__splitter_id FOREIGN KEY (tenant_id, splitter_id) "
            "REFERENCES splitters (tenant_id, id) ON DELETE SET NULL (splitter_id)",
            one_of("ftth_alarms", "kind", ALARM_KINDS),
            one_of("ftth_alarms", "severity", ALARM_SEVERITIES),
        ],
    ),
    # At most one open alarm of a kind per ONU, and one open power event per splitter.
    "CREATE UNIQUE INDEX uq_ftth_alarms__open_onu ON ftth_alarms (tenant_id, onu_id, kind) "
    "WHERE cleared_at IS NULL AND onu_id IS NOT NULL",
    "CREATE UNIQUE INDEX uq_ftth_alarms__open_splitter ON ftth_alarms (tenant_id, splitter_id, kind) "
    "WHERE cleared_at IS NULL AND onu_id IS NULL",
    "CREATE INDEX idx_ftth_alarms_open ON ftth_alarms (tenant_id, olt_id, pon_port) WHERE cleared_at IS NULL",
    "CREATE INDEX idx_ftth_alarms_raised ON ftth_alarms (tenant_id, raised_at)",
    "CREATE INDEX idx_ftth_alarms_onu ON ftth_alarms (tenant_id, onu_id, raised_at)",
    *tenant_table("ftth_alarms", app_privileges="SELECT, INSERT, UPDATE"),
]

# The ingest writes every polled ONU's current values on its row (100k rows per poll). The ONU counters
# depend only on these columns: fire them only when one is written, not on every telemetry update.
ONU_COUNTERS = (
    (
        "onus_count_active_onus",
        "olt_id, status, deleted_at",
        "'olts', 'olt_id', 'active_onus', 'deleted_at IS NULL AND status = ''online'''",
    ),
    (
        "onus_count_ports_used",
        "splitter_id, deleted_at",
        "'splitters', 'splitter_id', 'ports_used', 'deleted_at IS NULL'",
    ),
)


def onu_counters(narrow: bool) -> list[str]:
    return [
        f"CREATE OR REPLACE TRIGGER {name} AFTER INSERT OR DELETE OR UPDATE{' OF ' + columns if narrow else ''} "
        f"ON onus FOR EACH ROW EXECUTE FUNCTION ispops_bump_counter({args})"
        for name, columns, args in ONU_COUNTERS
    ]


FUNCTIONS = [
    ENSURE_PARTITION,
    "REVOKE ALL ON FUNCTION ispops_optics_ensure_partition(text, date) FROM PUBLIC",
    MAINTAIN_AT,
    "REVOKE ALL ON FUNCTION ispops_optics_maintain_at(date, integer, integer, integer) FROM PUBLIC",
    MAINTAIN,
    "REVOKE ALL ON FUNCTION ispops_optics_maintain(integer, integer, integer) FROM PUBLIC",
    "GRANT EXECUTE ON FUNCTION ispops_optics_maintain(integer, integer, integer) TO ispops_app",
]


def upgrade() -> None:
    run(
        [
            *READINGS,
            *rollup("onu_optical_hourly", "hour", "timestamptz"),
            *rollup("onu_optical_daily", "day", "date"),
            *DIRTY,
            *ALARMS,
            *FUNCTIONS,
            *onu_counters(narrow=True),
            # Half of each page of onus left free: the telemetry update of an ONU's current values (no indexed
            # column) then stays on its page (a HOT update, no new index entries).
            "ALTER TABLE onus SET (fillfactor = 50)",
            # Two days back through two days ahead (rollups: last month through next); `ispops db maintain`
            # keeps the window moving.
            "SELECT count(*) FROM ispops_optics_maintain_at((now() AT TIME ZONE 'UTC')::date, 2, 31, 13)",
        ]
    )


def downgrade() -> None:
    run(
        [
            *onu_counters(narrow=False),
            "ALTER TABLE onus RESET (fillfactor)",
            "DROP FUNCTION ispops_optics_maintain(integer, integer, integer)",
            "DROP FUNCTION ispops_optics_maintain_at(date, integer, integer, integer)",
            "DROP FUNCTION ispops_optics_ensure_partition(text, date)",
            "DROP TABLE ftth_alarms",
            "DROP TABLE onu_optical_dirty_hours",
            "DROP TABLE onu_optical_daily",
            "DROP TABLE onu_optical_hourly",
            "DROP TABLE onu_optical_readings",
        ]
    )
