"""Phase 5, wireless: wireless_towers, wireless_sectors, wireless_subscribers.

Revision ID: 0006
Revises: 0005
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

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

MAC = "'^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$'"

TOWERS = [
    create_table(
        "wireless_towers",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "name varchar(100) NOT NULL",
            "tower_type varchar(50)",
            "height_meters numeric(6,2)",
            "site_address text",
            "latitude numeric(10,8) NOT NULL",
            "longitude numeric(11,8) NOT NULL",
            "elevation_meters numeric(8,2)",
            "access_notes text",
            "site_contact_name varchar(100)",
            "site_contact_phone varchar(50)",
            "power_type varchar(50)",
            "has_backup_power boolean NOT NULL DEFAULT false",
            "status varchar(50) NOT NULL DEFAULT 'active'",
            "construction_date date",
            "notes text",
            AUDIT_COLUMNS,
            tenant_key("wireless_towers"),
            one_of("wireless_towers", "tower_type", ["monopole", "guyed", "lattice", "rooftop", "water_tower"]),
            one_of("wireless_towers", "power_type", ["grid", "solar", "generator", "battery_backup"]),
            one_of("wireless_towers", "status", ["active", "inactive", "planned", "under_construction"]),
            check("wireless_towers", "height_meters", "height_meters IS NULL OR height_meters > 0"),
            *lat_lng_checks("wireless_towers", "latitude", "longitude"),
        ],
    ),
    live_index("uq_wireless_towers__tenant_id__name", "wireless_towers", "tenant_id, name", unique=True),
    live_index("idx_wireless_towers_tenant", "wireless_towers", "tenant_id"),
    geo_index("idx_wireless_towers_location", "wireless_towers", "longitude", "latitude"),
    *tenant_table("wireless_towers"),
]

SECTORS = [
    create_table(
        "wireless_sectors",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "tower_id uuid NOT NULL",
            "device_id uuid",
            "name varchar(100) NOT NULL",
            "sector_number integer",
            "frequency_mhz integer NOT NULL",
            "channel_width_mhz integer",
            "channel_number integer",
            "antenna_model varchar(100)",
            "antenna_gain_dbi numeric(5,2)",
            "azimuth integer NOT NULL",
            "beamwidth_degrees integer NOT NULL",
            "downtilt_degrees integer NOT NULL DEFAULT 0",
            "max_range_km numeric(6,2)",
            "coverage_area_geojson jsonb",
            "max_capacity_mbps integer",
            "max_subscribers integer",
            "current_subscribers integer NOT NULL DEFAULT 0",
            "tx_power_dbm integer",
            "status varchar(50) NOT NULL DEFAULT 'active'",
            "operational_status varchar(50)",
            "installation_date date",
            "notes text",
            AUDIT_COLUMNS,
            tenant_key("wireless_sectors"),
            tenant_fk("wireless_sectors", "tower_id", "wireless_towers", on_delete="CASCADE"),
            tenant_fk("wireless_sectors", "device_id", "devices"),
            one_of("wireless_sectors", "status", ["active", "inactive", "maintenance"]),
            one_of("wireless_sectors", "operational_status", ["online", "offline", "degraded"]),
            check("wireless_sectors", "frequency_mhz", "frequency_mhz BETWEEN 1 AND 100000"),
            check("wireless_sectors", "channel_width_mhz", "channel_width_mhz IS NULL OR channel_width_mhz > 0"),
            check("wireless_sectors", "azimuth", "azimuth BETWEEN 0 AND 360"),
            check("wireless_sectors", "beamwidth_degrees", "beamwidth_degrees BETWEEN 1 AND 360"),
            check("wireless_sectors", "downtilt_degrees", "downtilt_degrees BETWEEN -90 AND 90"),
            check("wireless_sectors", "max_range_km", "max_range_km IS NULL OR max_range_km > 0"),
            check("wireless_sectors", "max_subscribers", "max_subscribers IS NULL OR max_subscribers >= 0"),
            check(
                "wireless_sectors",
                "current_subscribers",
                "current_subscribers >= 0 AND (max_subscribers IS NULL OR current_subscribers <= max_subscribers)",
            ),
            check(
                "wireless_sectors",
                "coverage_area_geojson",
                "coverage_area_geojson IS NULL OR coverage_area_geojson->>'type' IN ('Polygon', 'MultiPolygon')",
            ),
        ],
    ),
    live_index(
        "uq_wireless_sectors__tenant_id__tower_id__name", "wireless_sectors", "tenant_id, tower_id, name", unique=True
    ),
    live_index("idx_wireless_sectors_tenant", "wireless_sectors", "tenant_id"),
    "CREATE INDEX idx_wireless_sectors_tower ON wireless_sectors (tenant_id, tower_id)",
    "CREATE INDEX idx_wireless_sectors_device ON wireless_sectors (tenant_id, device_id)",
    *tenant_table("wireless_sectors"),
]

CPES = [
    create_table(
        "wireless_subscribers",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "subscriber_id uuid NOT NULL",
            "sector_id uuid NOT NULL",
            "cpe_mac varchar(17) NOT NULL",
            "cpe_model varchar(100)",
            "cpe_ip inet",
            "install_latitude numeric(10,8) NOT NULL",
            "install_longitude numeric(11,8) NOT NULL",
            "install_elevation_meters numeric(8,2)",
            "install_address text",
            "signal_strength_dbm integer",
            "signal_quality_percent integer",
            "noise_floor_dbm integer",
            "snr_db integer",
            "distance_km numeric(6,3)",
            "link_speed_mbps integer",
            "frequency_mhz integer",
            "status varchar(50) NOT NULL DEFAULT 'active'",
            "last_seen timestamptz",
            "installation_date date",
            "notes text",
            AUDIT_COLUMNS,
            tenant_key("wireless_subscribers"),
            tenant_fk("wireless_subscribers", "subscriber_id", "subscribers", on_delete="CASCADE"),
            tenant_fk("wireless_subscribers", "sector_id", "wireless_sectors", on_delete="CASCADE"),
            one_of("wireless_subscribers", "status", ["active", "inactive", "offline"]),
            check("wireless_subscribers", "cpe_mac", f"cpe_mac ~ {MAC}"),
            *lat_lng_checks("wireless_subscribers", "install_latitude", "install_longitude"),
            check(
                "wireless_subscribers",
                "signal_quality_percent",
                "signal_quality_percent IS NULL OR signal_quality_percent BETWEEN 0 AND 100",
            ),
            check(
                "wireless_subscribers",
                "signal_strength_dbm",
                "signal_strength_dbm IS NULL OR signal_strength_dbm BETWEEN -120 AND 0",
            ),
            check("wireless_subscribers", "distance_km", "distance_km IS NULL OR distance_km >= 0"),
        ],
    ),
    live_index(
        "uq_wireless_subscribers__tenant_id__cpe_mac", "wireless_subscribers", "tenant_id, lower(cpe_mac)", unique=True
    ),
    live_index("idx_wireless_subscribers_tenant", "wireless_subscribers", "tenant_id"),
    "CREATE INDEX idx_wireless_subscribers_subscriber ON wireless_subscribers (tenant_id, subscriber_id)",
    "CREATE INDEX idx_wireless_subscribers_sector ON wireless_subscribers (tenant_id, sector_id)",
    geo_index("idx_wireless_subscribers_location", "wireless_subscribers", "install_longitude", "install_latitude"),
    *tenant_table("wireless_subscribers"),
    counter("wireless_subscribers", "wireless_sectors", "sector_id", "current_subscribers", "deleted_at IS NULL"),
]


def upgrade() -> None:
    run(TOWERS + SECTORS + CPES)


def downgrade() -> None:
    run(["DROP TABLE wireless_subscribers", "DROP TABLE wireless_sectors", "DROP TABLE wireless_towers"])
