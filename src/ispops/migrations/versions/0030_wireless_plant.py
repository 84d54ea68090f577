"""Wireless plant: coverage, link budgets, serviceability, CPE health (issue 16).

- ``wireless_sectors``: the radio (family, spatial streams, cable loss, radio MAC, oversubscription), the
  computed coverage (range, bounding ``box`` with a GiST index for the serviceability pre-filter — core
  PostgreSQL, no PostGIS —, when computed); azimuth is 0-359 (360 was allowed; such rows become 0).
- ``wireless_subscribers``: CPE gain and height, the predicted signal and SNR, the sector the CPE last
  registered to.
- ``wireless_settings``: one row per tenant (fade margin, bands and EIRP limits, radio tables, portal).
- ``wireless_leads``: addresses checked (staff or the public page), with the answer.
- ``wireless_cpe_readings``: CPE radio history, partitioned by day (each partition with RLS + FORCE + the
  policy, made only by ``ispops_wireless_readings_ensure_partition``), a DEFAULT partition.
- ``wireless_cpe_alarms``: open/cleared alarms per CPE and kind.

Functions (canonical text in ``ispops/wireless/sql/``): the partition maker and its upkeep, and the public
page's tenant lookup by slug.

Revision ID: 0030
Revises: 0029
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
    enable_tenant_rls,
    lat_lng_checks,
    live_index,
    one_of,
    run,
    tenant_fk,
    tenant_key,
    tenant_table,
)

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

# The coverage's bounding box as a core ``box`` (x = longitude, y = latitude), what the GiST index holds.
COVERAGE_BOX = "box(point(coverage_min_lng, coverage_min_lat), point(coverage_max_lng, coverage_max_lat))"
MAC = "'^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$'"

SECTORS = [
    "ALTER TABLE wireless_sectors DROP CONSTRAINT ck_wireless_sectors__azimuth",
    each_tenant("    UPDATE wireless_sectors SET azimuth = 0 WHERE azimuth = 360;"),
    "ALTER TABLE wireless_sectors ADD " + check("wireless_sectors", "azimuth", "azimuth BETWEEN 0 AND 359"),
    "ALTER TABLE wireless_sectors ADD COLUMN radio_family varchar(50) NOT NULL DEFAULT '802.11ac'",
    "ALTER TABLE wireless_sectors ADD COLUMN spatial_streams integer NOT NULL DEFAULT 2",
    "ALTER TABLE wireless_sectors ADD COLUMN cable_loss_db numeric(5,2) NOT NULL DEFAULT 0",
    "ALTER TABLE wireless_sectors ADD COLUMN radio_mac varchar(17)",
    "ALTER TABLE wireless_sectors ADD COLUMN oversubscription_ratio numeric(6,2)",
    "ALTER TABLE wireless_sectors ADD COLUMN coverage_range_km numeric(7,3)",
    "ALTER TABLE wireless_sectors ADD COLUMN coverage_min_lat numeric(10,7)",
    "ALTER TABLE wireless_sectors ADD COLUMN coverage_min_lng numeric(10,7)",
    "ALTER TABLE wireless_sectors ADD COLUMN coverage_max_lat numeric(10,7)",
    "ALTER TABLE wireless_sectors ADD COLUMN coverage_max_lng numeric(10,7)",
    "ALTER TABLE wireless_sectors ADD COLUMN coverage_computed_at timestamptz",
    "ALTER TABLE wireless_sectors ADD "
    + check("wireless_sectors", "spatial_streams", "spatial_streams BETWEEN 1 AND 8"),
    "ALTER TABLE wireless_sectors ADD " + check("wireless_sectors", "cable_loss_db", "cable_loss_db >= 0"),
    "ALTER TABLE wireless_sectors ADD "
    + check("wireless_sectors", "radio_mac", f"radio_mac IS NULL OR radio_mac ~ {MAC}"),
    "ALTER TABLE wireless_sectors ADD "
    + check(
        "wireless_sectors", "oversubscription_ratio", "oversubscription_ratio IS NULL OR oversubscription_ratio >= 1"
    ),
    live_index("idx_wireless_sectors_coverage", "wireless_sectors", COVERAGE_BOX, using="gist"),
]

SECTORS_DOWN = [
    "DROP INDEX idx_wireless_sectors_coverage",
    "ALTER TABLE wireless_sectors DROP COLUMN radio_family, DROP COLUMN spatial_streams, "
    "DROP COLUMN cable_loss_db, DROP COLUMN radio_mac, DROP COLUMN oversubscription_ratio, "
    "DROP COLUMN coverage_range_km, DROP COLUMN coverage_min_lat, DROP COLUMN coverage_min_lng, "
    "DROP COLUMN coverage_max_lat, DROP COLUMN coverage_max_lng, DROP COLUMN coverage_computed_at",
    "ALTER TABLE wireless_sectors DROP CONSTRAINT ck_wireless_sectors__azimuth",
    "ALTER TABLE wireless_sectors ADD " + check("wireless_sectors", "azimuth", "azimuth BETWEEN 0 AND 360"),
]

CPES = [
    "ALTER TABLE wireless_subscribers ADD COLUMN cpe_gain_dbi numeric(5,2)",
    "ALTER TABLE wireless_subscribers ADD COLUMN cpe_height_m numeric(6,2)",
    "ALTER TABLE wireless_subscribers ADD COLUMN predicted_signal_dbm numeric(6,2)",
    "ALTER TABLE wireless_subscribers ADD COLUMN predicted_snr_db numeric(6,2)",
    "ALTER TABLE wireless_subscribers ADD COLUMN registered_sector_id uuid",
    "ALTER TABLE wireless_subscribers ADD "
    + check("wireless_subscribers", "cpe_height_m", "cpe_height_m IS NULL OR cpe_height_m > 0"),
    "ALTER TABLE wireless_subscribers ADD "
    + tenant_fk("wireless_subscribers", "registered_sector_id", "wireless_sectors"),
    "CREATE INDEX idx_wireless_subscribers_registered_sector ON wireless_subscribers (tenant_id, registered_sector_id)",
]

CPES_DOWN = [
    "ALTER TABLE wireless_subscribers DROP COLUMN cpe_gain_dbi, DROP COLUMN cpe_height_m, "
    "DROP COLUMN predicted_signal_dbm, DROP COLUMN predicted_snr_db, DROP COLUMN registered_sector_id",
]

SETTINGS = [
    create_table(
        "wireless_settings",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "required_fade_margin_db numeric(5,2) NOT NULL",
            "noise_figure_db numeric(5,2) NOT NULL",
            "default_tx_power_dbm numeric(5,2) NOT NULL",
            "default_antenna_gain_dbi numeric(5,2) NOT NULL",
            "default_channel_width_mhz integer NOT NULL",
            "default_cpe_gain_dbi numeric(5,2) NOT NULL",
            "default_cpe_height_m numeric(6,2) NOT NULL",
            "default_tower_height_m numeric(6,2) NOT NULL",
            "mac_efficiency numeric(4,3) NOT NULL",
            "oversubscription_ratio numeric(6,2) NOT NULL",
            "utilisation_warning_percent integer NOT NULL",
            "k_factor numeric(4,3) NOT NULL",
            "bands jsonb NOT NULL",
            "radio_tables jsonb NOT NULL",
            "portal_enabled boolean NOT NULL",
            "portal_name varchar(100)",
            "portal_checks_per_hour integer NOT NULL",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("wireless_settings"),
            "CONSTRAINT uq_wireless_settings__tenant_id UNIQUE (tenant_id)",
            check("wireless_settings", "required_fade_margin_db", "required_fade_margin_db >= 0"),
            check("wireless_settings", "noise_figure_db", "noise_figure_db >= 0"),
            check("wireless_settings", "default_channel_width_mhz", "default_channel_width_mhz > 0"),
            check("wireless_settings", "default_cpe_height_m", "default_cpe_height_m > 0"),
            check("wireless_settings", "default_tower_height_m", "default_tower_height_m > 0"),
            check("wireless_settings", "mac_efficiency", "mac_efficiency > 0"),
            check("wireless_settings", "oversubscription_ratio", "oversubscription_ratio >= 1"),
            check("wireless_settings", "utilisation_warning_percent", "utilisation_warning_percent BETWEEN 1 AND 100"),
            check("wireless_settings", "k_factor", "k_factor > 0"),
            check("wireless_settings", "portal_checks_per_hour", "portal_checks_per_hour >= 0"),
        ],
    ),
    *tenant_table("wireless_settings"),
]

LEADS = [
    create_table(
        "wireless_leads",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "source varchar(20) NOT NULL",
            "status varchar(20) NOT NULL DEFAULT 'new'",
            "latitude numeric(10,8) NOT NULL",
            "longitude numeric(11,8) NOT NULL",
            "cpe_height_m numeric(6,2)",
            "address text",
            "contact_name varchar(200)",
            "contact_email varchar(255)",
            "contact_phone varchar(50)",
            "serviceable boolean NOT NULL",
            "best_sector_id uuid",
            "best_fade_margin_db numeric(6,2)",
            "answer jsonb NOT NULL DEFAULT '{}'::jsonb",
            "client_address inet",
            AUDIT_COLUMNS,
            tenant_key("wireless_leads"),
            tenant_fk("wireless_leads", "best_sector_id", "wireless_sectors"),
            one_of("wireless_leads", "source", ["portal", "staff"]),
            one_of("wireless_leads", "status", ["new", "contacted", "converted", "declined"]),
            *lat_lng_checks("wireless_leads", "latitude", "longitude"),
            check("wireless_leads", "cpe_height_m", "cpe_height_m IS NULL OR cpe_height_m > 0"),
        ],
    ),
    live_index("idx_wireless_leads_tenant", "wireless_leads", "tenant_id, created_at"),
    "CREATE INDEX idx_wireless_leads_client ON wireless_leads (tenant_id, client_address, created_at)",
    "CREATE INDEX idx_wireless_leads_best_sector ON wireless_leads (tenant_id, best_sector_id)",
    *tenant_table("wireless_leads"),
]

READINGS = [
    create_table(
        "wireless_cpe_readings",
        [
            "id bigint GENERATED BY DEFAULT AS IDENTITY",
            TENANT_COLUMN,
            "wireless_subscriber_id uuid NOT NULL",
            "read_at timestamptz NOT NULL",
            "source varchar(10) NOT NULL",
            "signal_dbm numeric(5,1)",
            "noise_dbm numeric(5,1)",
            "snr_db numeric(5,1)",
            "link_speed_mbps integer",
            "distance_km numeric(7,3)",
            "registered_sector_id uuid",
            "CONSTRAINT pk_wireless_cpe_readings PRIMARY KEY (id, read_at)",
            tenant_fk("wireless_cpe_readings", "wireless_subscriber_id", "wireless_subscribers", on_delete="CASCADE"),
            one_of("wireless_cpe_readings", "source", ["push", "snmp"]),
        ],
    )
    + " PARTITION BY RANGE (read_at)",
    "CREATE INDEX idx_wireless_cpe_readings_cpe ON wireless_cpe_readings (tenant_id, wireless_subscriber_id, read_at)",
    *enable_tenant_rls("wireless_cpe_readings"),
    "GRANT SELECT, INSERT ON wireless_cpe_readings TO ispops_app",
    "CREATE TABLE wireless_cpe_readings_default PARTITION OF wireless_cpe_readings DEFAULT",
    *enable_tenant_rls("wireless_cpe_readings_default"),
]

ALARMS = [
    create_table(
        "wireless_cpe_alarms",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "wireless_subscriber_id uuid NOT NULL",
            "kind varchar(30) NOT NULL",
            "detail text NOT NULL",
            "measured numeric(8,2)",
            "expected numeric(8,2)",
            "raised_at timestamptz NOT NULL DEFAULT now()",
            "last_seen_at timestamptz NOT NULL DEFAULT now()",
            "cleared_at timestamptz",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("wireless_cpe_alarms"),
            tenant_fk("wireless_cpe_alarms", "wireless_subscriber_id", "wireless_subscribers", on_delete="CASCADE"),
            one_of("wireless_cpe_alarms", "kind", ["snr_below_plan", "signal_drift", "wrong_sector"]),
        ],
    ),
    "CREATE UNIQUE INDEX uq_wireless_cpe_alarms__open ON wireless_cpe_alarms "
    "(tenant_id, wireless_subscriber_id, kind) WHERE cleared_at IS NULL",
    "CREATE INDEX idx_wireless_cpe_alarms_tenant ON wireless_cpe_alarms (tenant_id, raised_at)",
    *tenant_table("wireless_cpe_alarms"),
]

# Canonical text: ispops/wireless/sql/cpe_readings.sql and portal.sql (a snapshot; never import it).
FUNCTIONS = [
    r"""
CREATE OR REPLACE FUNCTION public.ispops_wireless_readings_ensure_partition(day date)
 RETURNS text
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    DECLARE
        part text := 'wireless_cpe_readings_p' || to_char(day, 'YYYYMMDD');
    BEGIN
        IF to_regclass('public.' || part) IS NOT NULL THEN
            RETURN NULL;
        END IF;
        EXECUTE format('CREATE TABLE public.%I PARTITION OF public.wireless_cpe_readings FOR VALUES FROM (%L) TO (%L)',
                       part, day::text || ' 00:00:00+00', (day + 1)::text || ' 00:00:00+00');
        EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', part);
        EXECUTE format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', part);
        EXECUTE format('CREATE POLICY tenant_isolation ON public.%I USING (tenant_id = current_setting(''app.current_tenant_id'', true)) WITH CHECK (tenant_id = current_setting(''app.current_tenant_id'', true))', part);
        RETURN part;
    END
    $function$
""",
    "REVOKE ALL ON FUNCTION public.ispops_wireless_readings_ensure_partition(day date) FROM PUBLIC",
    r"""
CREATE OR REPLACE FUNCTION public.ispops_wireless_readings_maintain(days_ahead integer, retention_days integer)
 RETURNS TABLE(action text, partition_name text, detail text)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    DECLARE
        today date := (now() AT TIME ZONE 'UTC')::date;
        cutoff date;
        made text;
        part text;
    BEGIN
        IF days_ahead IS NULL OR days_ahead < 0 OR days_ahead > 60
           OR retention_days IS NULL OR retention_days < 1 OR retention_days > 3660 THEN
            RAISE EXCEPTION 'days_ahead must be 0-60 and retention_days 1-3660'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        cutoff := today - retention_days;
        -- One day back (late pushes) through days_ahead.
        FOR offs IN -1 .. days_ahead LOOP
            CONTINUE WHEN today + offs < cutoff;
            BEGIN
                made := ispops_wireless_readings_ensure_partition(today + offs);
                IF made IS NOT NULL THEN
                    RETURN QUERY SELECT 'created'::text, made, NULL::text;
                END IF;
            EXCEPTION WHEN OTHERS THEN
                RETURN QUERY SELECT 'problem'::text, NULL::text,
                    format('cannot create the CPE readings partition for %s: %s', today + offs, SQLERRM);
            END;
        END LOOP;
        FOR part IN
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'public.wireless_cpe_readings'::regclass
              AND c.relname ~ '^wireless_cpe_readings_p[0-9]{8}$'
            ORDER BY c.relname
        LOOP
            IF to_date(right(part, 8), 'YYYYMMDD') < cutoff THEN
                EXECUTE format('DROP TABLE public.%I', part);
                RETURN QUERY SELECT 'dropped'::text, part, NULL::text;
            END IF;
        END LOOP;
    END
    $function$
""",
    "REVOKE ALL ON FUNCTION public.ispops_wireless_readings_maintain(days_ahead integer, retention_days integer) "
    "FROM PUBLIC",
    "GRANT EXECUTE ON FUNCTION public.ispops_wireless_readings_maintain(days_ahead integer, retention_days integer) "
    "TO ispops_app",
    r"""
CREATE OR REPLACE FUNCTION public.ispops_wireless_portal_tenant(public_slug text)
 RETURNS text
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    SELECT t.id::text FROM public.tenants t
    WHERE t.slug = public_slug AND t.deleted_at IS NULL AND t.status IN ('active', 'trial')
$function$
""",
    "REVOKE ALL ON FUNCTION public.ispops_wireless_portal_tenant(public_slug text) FROM PUBLIC",
    "GRANT EXECUTE ON FUNCTION public.ispops_wireless_portal_tenant(public_slug text) TO ispops_app",
    # Yesterday through two weeks ahead; `ispops db maintain` keeps the window moving (7 days ahead by
    # default, so a database migrated less than a week ago gets nothing new from it).
    "SELECT ispops_wireless_readings_ensure_partition(((now() AT TIME ZONE 'UTC')::date + d)) "
    "FROM generate_series(-1, 14) AS d",
]


def upgrade() -> None:
    run(SECTORS + CPES + SETTINGS + LEADS + READINGS + ALARMS + FUNCTIONS)


def downgrade() -> None:
    run(
        [
            "DROP FUNCTION ispops_wireless_portal_tenant(text)",
            "DROP FUNCTION ispops_wireless_readings_maintain(integer, integer)",
            "DROP TABLE wireless_cpe_alarms",
            "DROP TABLE wireless_cpe_readings",
            "DROP FUNCTION ispops_wireless_readings_ensure_partition(date)",
            "DROP TABLE wireless_leads",
            "DROP TABLE wireless_settings",
            *CPES_DOWN,
            *SECTORS_DOWN,
        ]
    )
