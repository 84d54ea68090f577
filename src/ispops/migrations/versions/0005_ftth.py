"""Phase 4, FTTH: olts, splitters, onus, fiber_cables.

Splitters come before ONUs here because an ONU records the splitter port it hangs off (an addition
to the seed: without it ``splitters.ports_used`` has nothing to count).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

from ispops.db.ddl import (
    AUDIT_COLUMNS,
    TENANT_COLUMN,
    check,
    counter,
    create_table,
    geo_index,
    lat_lng_checks,
    live_index,
    one_of,
    run,
    tenant_fk,
    tenant_key,
    tenant_table,
)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

RATIOS = [f"{i}x{o}" for i in (1, 2) for o in (2, 4, 8, 16, 32, 64, 128)]

OLTS = [
    create_table(
        "olts",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            "device_id uuid NOT NULL",
            TENANT_COLUMN,
            "olt_type varchar(50)",
            "max_pon_ports integer",
            "active_pon_ports integer NOT NULL DEFAULT 0",
            "voltha_device_id varchar(255)",
            "voltha_parent_id varchar(255)",
            "total_onu_capacity integer",
            "active_onus integer NOT NULL DEFAULT 0",
            "management_protocol varchar(50)",
            AUDIT_COLUMNS,
            tenant_key("olts"),
            tenant_fk("olts", "device_id", "devices", on_delete="CASCADE"),
            one_of("olts", "olt_type", ["gpon", "xgspon", "epon", "xgepon"]),
            one_of("olts", "management_protocol", ["snmp", "ssh", "telnet", "netconf", "voltha"]),
            check("olts", "max_pon_ports", "max_pon_ports IS NULL OR max_pon_ports > 0"),
            check(
                "olts",
                "active_pon_ports",
                "active_pon_ports >= 0 AND (max_pon_ports IS NULL OR active_pon_ports <= max_pon_ports)",
            ),
            check("olts", "total_onu_capacity", "total_onu_capacity IS NULL OR total_onu_capacity > 0"),
            check("olts", "active_onus", "active_onus >= 0"),
        ],
    ),
    live_index("uq_olts__tenant_id__device_id", "olts", "tenant_id, device_id", unique=True),
    live_index("idx_olts_tenant", "olts", "tenant_id"),
    *tenant_table("olts"),
    counter("olts", "tenants", "tenant_id", "current_olts", "deleted_at IS NULL"),
]

SPLITTERS = [
    create_table(
        "splitters",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "olt_id uuid",
            "name varchar(100) NOT NULL",
            "split_ratio varchar(20) NOT NULL",
            "splitter_type varchar(50) NOT NULL DEFAULT 'plc'",
            "location_name varchar(100)",
            "location_address text",
            "location_lat numeric(10,8)",
            "location_lng numeric(11,8)",
            "installation_type varchar(50)",
            # Derived from the ratio so they cannot disagree with it (the seed stores them).
            "input_ports integer GENERATED ALWAYS AS (split_part(split_ratio, 'x', 1)::integer) STORED",
            "output_ports integer GENERATED ALWAYS AS (split_part(split_ratio, 'x', 2)::integer) STORED",
            "ports_used integer NOT NULL DEFAULT 0",
            "parent_splitter_id uuid",
            "parent_output_port integer",
            "status varchar(50) NOT NULL DEFAULT 'active'",
            "installation_date date",
            "notes text",
            AUDIT_COLUMNS,
            tenant_key("splitters"),
            tenant_fk("splitters", "olt_id", "olts"),
            tenant_fk("splitters", "parent_splitter_id", "splitters"),
            one_of("splitters", "split_ratio", RATIOS),
            one_of("splitters", "splitter_type", ["plc", "fbt"]),
            one_of("splitters", "installation_type", ["pole_mount", "underground", "indoor", "nap", "fdh"]),
            one_of("splitters", "status", ["active", "inactive", "maintenance"]),
            *lat_lng_checks("splitters", "location_lat", "location_lng"),
            check("splitters", "ports_used", "ports_used >= 0 AND ports_used <= output_ports"),
            check("splitters", "parent_splitter_id", "parent_splitter_id IS NULL OR parent_splitter_id <> id"),
            check("splitters", "parent_output_port", "parent_output_port IS NULL OR parent_output_port >= 1"),
        ],
    ),
    live_index("uq_splitters__tenant_id__name", "splitters", "tenant_id, name", unique=True),
    "CREATE UNIQUE INDEX uq_splitters__parent_splitter_id__parent_output_port ON splitters "
    "(tenant_id, parent_splitter_id, parent_output_port) WHERE deleted_at IS NULL AND parent_output_port IS NOT NULL",
    live_index("idx_splitters_tenant", "splitters", "tenant_id"),
    "CREATE INDEX idx_splitters_olt ON splitters (tenant_id, olt_id)",
    "CREATE INDEX idx_splitters_parent ON splitters (tenant_id, parent_splitter_id)",
    geo_index("idx_splitters_location", "splitters", "location_lng", "location_lat"),
    *tenant_table("splitters"),
    counter("splitters", "splitters", "parent_splitter_id", "ports_used", "deleted_at IS NULL"),
]

ONUS = [
    create_table(
        "onus",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "olt_id uuid NOT NULL",
            "subscriber_id uuid",
            "splitter_id uuid",
            "splitter_port integer",
            "serial_number varchar(100) NOT NULL",
            "vendor varchar(100)",
            "model varchar(100)",
            "pon_port integer NOT NULL",
            "onu_id integer NOT NULL",
            "status varchar(50) NOT NULL DEFAULT 'discovered'",
            "admin_status varchar(50) NOT NULL DEFAULT 'disabled'",
            "operational_status varchar(50)",
            "rx_power_dbm numeric(6,2)",
            "tx_power_dbm numeric(6,2)",
            "distance_meters integer",
            "service_profile varchar(100)",
            "vlan_id integer",
            "acs_url varchar(255)",
            "acs_username varchar(100)",
            "acs_password_vault_path varchar(255)",
            "wifi_ssid varchar(64)",
            "wifi_password_vault_path varchar(255)",
            "lan_ip inet",
            "voltha_device_id varchar(255)",
            "genieacs_device_id varchar(255)",
            "last_seen timestamptz",
            "uptime_seconds bigint",
            AUDIT_COLUMNS,
            tenant_key("onus"),
            tenant_fk("onus", "olt_id", "olts", on_delete="CASCADE"),
            tenant_fk("onus", "subscriber_id", "subscribers"),
            tenant_fk("onus", "splitter_id", "splitters"),
            one_of("onus", "status", ["discovered", "provisioned", "active", "offline", "failed"]),
            one_of("onus", "admin_status", ["enabled", "disabled"]),
            one_of("onus", "operational_status", ["up", "down", "degraded"]),
            check("onus", "pon_port", "pon_port BETWEEN 0 AND 255"),
            check("onus", "onu_id", "onu_id BETWEEN 0 AND 1023"),
            check("onus", "splitter_port", "splitter_port IS NULL OR splitter_port >= 1"),
            check("onus", "rx_power_dbm", "rx_power_dbm IS NULL OR rx_power_dbm BETWEEN -50 AND 10"),
            check("onus", "tx_power_dbm", "tx_power_dbm IS NULL OR tx_power_dbm BETWEEN -20 AND 20"),
            check("onus", "distance_meters", "distance_meters IS NULL OR distance_meters >= 0"),
            check("onus", "vlan_id", "vlan_id BETWEEN 1 AND 4094"),
            check("onus", "uptime_seconds", "uptime_seconds IS NULL OR uptime_seconds >= 0"),
        ],
    ),
    live_index("uq_onus__tenant_id__serial_number", "onus", "tenant_id, serial_number", unique=True),
    live_index("uq_onus__olt_id__pon_port__onu_id", "onus", "tenant_id, olt_id, pon_port, onu_id", unique=True),
    "CREATE UNIQUE INDEX uq_onus__splitter_id__splitter_port ON onus (tenant_id, splitter_id, splitter_port) "
    "WHERE deleted_at IS NULL AND splitter_port IS NOT NULL",
    live_index("idx_onus_tenant", "onus", "tenant_id"),
    "CREATE INDEX idx_onus_olt ON onus (tenant_id, olt_id)",
    "CREATE INDEX idx_onus_subscriber ON onus (tenant_id, subscriber_id)",
    "CREATE INDEX idx_onus_splitter ON onus (tenant_id, splitter_id)",
    "CREATE INDEX idx_onus_status ON onus (tenant_id, status)",
    "CREATE INDEX idx_onus_serial ON onus (serial_number)",
    *tenant_table("onus"),
    counter("onus", "olts", "olt_id", "active_onus", "deleted_at IS NULL AND status = 'active'"),
    counter("onus", "splitters", "splitter_id", "ports_used", "deleted_at IS NULL"),
]

FIBER_CABLES = [
    create_table(
        "fiber_cables",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "cable_name varchar(100) NOT NULL",
            "cable_type varchar(50)",
            "fiber_count integer NOT NULL",
            "start_device_id uuid",
            "start_device_port varchar(50)",
            "start_location_name varchar(100)",
            "start_location_lat numeric(10,8)",
            "start_location_lng numeric(11,8)",
            "end_device_id uuid",
            "end_device_port varchar(50)",
            "end_location_name varchar(100)",
            "end_location_lat numeric(10,8)",
            "end_location_lng numeric(11,8)",
            "length_meters numeric(10,2)",
            "color_code varchar(50)",
            "installation_method varchar(50)",
            "geojson_path jsonb",
            "status varchar(50) NOT NULL DEFAULT 'active'",
            "installation_date date",
            "notes text",
            AUDIT_COLUMNS,
            tenant_key("fiber_cables"),
            tenant_fk("fiber_cables", "start_device_id", "devices"),
            tenant_fk("fiber_cables", "end_device_id", "devices"),
            one_of("fiber_cables", "cable_type", ["single_mode", "multi_mode", "armored", "aerial", "underground"]),
            one_of("fiber_cables", "installation_method", ["aerial", "underground", "duct", "direct_burial"]),
            one_of("fiber_cables", "status", ["active", "inactive", "damaged", "maintenance"]),
            check("fiber_cables", "fiber_count", "fiber_count > 0"),
            check("fiber_cables", "length_meters", "length_meters IS NULL OR length_meters >= 0"),
            check(
                "fiber_cables",
                "geojson_path",
                "geojson_path IS NULL OR (geojson_path->>'type' = 'LineString' "
                "AND jsonb_typeof(geojson_path->'coordinates') = 'array')",
            ),
            *lat_lng_checks("fiber_cables", "start_location_lat", "start_location_lng"),
            *lat_lng_checks("fiber_cables", "end_location_lat", "end_location_lng"),
        ],
    ),
    live_index("uq_fiber_cables__tenant_id__cable_name", "fiber_cables", "tenant_id, cable_name", unique=True),
    live_index("idx_fiber_cables_tenant", "fiber_cables", "tenant_id"),
    "CREATE INDEX idx_fiber_cables_start_device ON fiber_cables (tenant_id, start_device_id)",
    "CREATE INDEX idx_fiber_cables_end_device ON fiber_cables (tenant_id, end_device_id)",
    *tenant_table("fiber_cables"),
]


# A splitter output port holds one thing: an ONU or a child splitter, and exists (<= output_ports).
# The two claims live in two tables, so no index can see both: this trigger checks, after locking the
# splitter row so two claims on one port cannot pass together. Errors carry our constraint names, so the
# API reports them as a 409/422 naming the port field.
PORT_CHECK = [
    """
    CREATE FUNCTION ispops_splitter_port_free() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
    DECLARE
        splitter uuid;
        port integer;
        port_col text;
        ports integer;
    BEGIN
        IF TG_TABLE_NAME = 'onus' THEN
            splitter := NEW.splitter_id; port := NEW.splitter_port; port_col := 'splitter_port';
        ELSE
            splitter := NEW.parent_splitter_id; port := NEW.parent_output_port; port_col := 'parent_output_port';
        END IF;
        IF splitter IS NULL OR port IS NULL OR NEW.deleted_at IS NOT NULL THEN
            RETURN NEW;
        END IF;
        SELECT output_ports INTO ports FROM public.splitters
            WHERE tenant_id = NEW.tenant_id AND id = splitter FOR UPDATE;
        IF ports IS NOT NULL AND port > ports THEN
            RAISE EXCEPTION 'port % does not exist on a splitter with % outputs', port, ports
                USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, COLUMN = port_col,
                      CONSTRAINT = 'ck_' || TG_TABLE_NAME || '__' || port_col;
        END IF;
        IF (TG_TABLE_NAME <> 'onus' AND EXISTS (
                SELECT 1 FROM public.onus o WHERE o.tenant_id = NEW.tenant_id AND o.splitter_id = splitter
                AND o.splitter_port = port AND o.deleted_at IS NULL))
           OR (TG_TABLE_NAME = 'onus' AND EXISTS (
                SELECT 1 FROM public.splitters s WHERE s.tenant_id = NEW.tenant_id
                AND s.parent_splitter_id = splitter AND s.parent_output_port = port AND s.deleted_at IS NULL)) THEN
            RAISE EXCEPTION 'splitter port % is already in use', port
                USING ERRCODE = 'unique_violation', TABLE = TG_TABLE_NAME, COLUMN = port_col,
                      CONSTRAINT = 'uq_' || TG_TABLE_NAME || '__' || port_col;
        END IF;
        RETURN NEW;
    END
    $$
    """,
    "CREATE TRIGGER onus_splitter_port BEFORE INSERT OR UPDATE OF splitter_id, splitter_port, deleted_at ON onus "
    "FOR EACH ROW EXECUTE FUNCTION ispops_splitter_port_free()",
    "CREATE TRIGGER splitters_parent_port BEFORE INSERT OR UPDATE OF parent_splitter_id, parent_output_port, "
    "deleted_at ON splitters FOR EACH ROW EXECUTE FUNCTION ispops_splitter_port_free()",
]


def upgrade() -> None:
    run(OLTS + SPLITTERS + ONUS + FIBER_CABLES + PORT_CHECK)


def downgrade() -> None:
    run(
        [
            "DROP TABLE fiber_cables",
            "DROP TABLE onus",
            "DROP TABLE splitters",
            "DROP TABLE olts",
            "DROP FUNCTION ispops_splitter_port_free()",
        ]
    )
