"""Phase 3, network management: ip_pools, ip_allocations, devices, vpn_tunnels.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

from ispops.db.ddl import (
    AUDIT_COLUMNS,
    AUDIT_COLUMNS_NO_DELETE,
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

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MAC = "'^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$'"

IP_POOLS = [
    create_table(
        "ip_pools",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "name varchar(100) NOT NULL",
            "description text",
            "network_cidr cidr NOT NULL",
            "gateway inet",
            "dns_primary inet",
            "dns_secondary inet",
            "start_ip inet NOT NULL",
            "end_ip inet NOT NULL",
            "total_ips bigint NOT NULL",
            "allocated_ips bigint NOT NULL DEFAULT 0",
            # Derived, so it cannot drift: the seed stores it.
            "available_ips bigint GENERATED ALWAYS AS (total_ips - allocated_ips) STORED",
            "pool_type varchar(50) NOT NULL DEFAULT 'dynamic'",
            "vlan_id integer",
            "is_active boolean NOT NULL DEFAULT true",
            AUDIT_COLUMNS,
            tenant_key("ip_pools"),
            one_of("ip_pools", "pool_type", ["dynamic", "static", "reserved"]),
            check("ip_pools", "vlan_id", "vlan_id BETWEEN 1 AND 4094"),
            check("ip_pools", "start_ip", "start_ip <<= network_cidr"),
            check("ip_pools", "end_ip", "end_ip <<= network_cidr AND end_ip >= start_ip"),
            check("ip_pools", "gateway", "gateway IS NULL OR gateway <<= network_cidr"),
            check("ip_pools", "total_ips", "total_ips >= 0"),
            check("ip_pools", "allocated_ips", "allocated_ips >= 0 AND allocated_ips <= total_ips"),
        ],
    ),
    live_index("uq_ip_pools__tenant_id__name", "ip_pools", "tenant_id, name", unique=True),
    live_index("idx_ip_pools_tenant", "ip_pools", "tenant_id"),
    *tenant_table("ip_pools"),
]

IP_ALLOCATIONS = [
    create_table(
        "ip_allocations",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "ip_pool_id uuid NOT NULL",
            "subscriber_id uuid",
            "ip_address inet NOT NULL",
            "mac_address varchar(17)",
            "status varchar(50) NOT NULL DEFAULT 'allocated'",
            "lease_start timestamptz",
            "lease_end timestamptz",
            "allocated_at timestamptz NOT NULL DEFAULT now()",
            "released_at timestamptz",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("ip_allocations"),
            tenant_fk("ip_allocations", "ip_pool_id", "ip_pools", on_delete="CASCADE"),
            tenant_fk("ip_allocations", "subscriber_id", "subscribers"),
            one_of("ip_allocations", "status", ["allocated", "active", "reserved", "released"]),
            check("ip_allocations", "mac_address", f"mac_address ~ {MAC}"),
            check("ip_allocations", "lease_end", "lease_end IS NULL OR lease_start IS NULL OR lease_end > lease_start"),
            check(
                "ip_allocations",
                "released_at",
                "(status = 'released') = (released_at IS NOT NULL)",
            ),
        ],
    ),
    # The guarantee against double allocation: one live holder per address per tenant.
    "CREATE UNIQUE INDEX uq_ip_allocations__tenant_id__ip_address ON ip_allocations (tenant_id, ip_address) "
    "WHERE status <> 'released'",
    "CREATE INDEX idx_ip_allocations_pool ON ip_allocations (tenant_id, ip_pool_id)",
    "CREATE INDEX idx_ip_allocations_subscriber ON ip_allocations (tenant_id, subscriber_id)",
    "CREATE INDEX idx_ip_allocations_ip ON ip_allocations (tenant_id, ip_address)",
    "CREATE INDEX idx_ip_allocations_lease_end ON ip_allocations (lease_end) WHERE status <> 'released'",
    *tenant_table("ip_allocations"),
    counter("ip_allocations", "ip_pools", "ip_pool_id", "allocated_ips", "status <> 'released'"),
]

DEVICES = [
    create_table(
        "devices",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "name varchar(100) NOT NULL",
            "device_type varchar(50) NOT NULL",
            "vendor varchar(100)",
            "model varchar(100)",
            "serial_number varchar(100)",
            "primary_ip inet",
            "management_ip inet",
            "mac_address varchar(17)",
            "site_name varchar(100)",
            "location_address text",
            "location_lat numeric(10,8)",
            "location_lng numeric(11,8)",
            "rack_location varchar(50)",
            "status varchar(50) NOT NULL DEFAULT 'active'",
            "operational_status varchar(50)",
            "credentials_vault_path varchar(255)",
            "snmp_community varchar(100)",
            "snmp_version varchar(10) NOT NULL DEFAULT 'v2c'",
            "netbox_id integer",
            "voltha_id varchar(255)",
            "port_count integer",
            "ports_used integer NOT NULL DEFAULT 0",
            "firmware_version varchar(100)",
            "hardware_version varchar(100)",
            "notes text",
            "config_backup_path varchar(500)",
            "last_config_backup timestamptz",
            "last_seen timestamptz",
            AUDIT_COLUMNS,
            tenant_key("devices"),
            one_of("devices", "device_type", ["olt", "router", "switch", "wireless_ap", "tower", "cpe", "onu"]),
            one_of("devices", "status", ["active", "inactive", "maintenance", "failed"]),
            one_of("devices", "operational_status", ["online", "offline", "degraded"]),
            one_of("devices", "snmp_version", ["v1", "v2c", "v3"]),
            check("devices", "mac_address", f"mac_address ~ {MAC}"),
            *lat_lng_checks("devices", "location_lat", "location_lng"),
            check("devices", "port_count", "port_count IS NULL OR port_count >= 0"),
            check("devices", "ports_used", "ports_used >= 0 AND (port_count IS NULL OR ports_used <= port_count)"),
        ],
    ),
    live_index("uq_devices__tenant_id__name", "devices", "tenant_id, name", unique=True),
    live_index("idx_devices_tenant", "devices", "tenant_id"),
    live_index("idx_devices_type_status", "devices", "tenant_id, device_type, status"),
    "CREATE INDEX idx_devices_status ON devices (tenant_id, status)",
    "CREATE INDEX idx_devices_management_ip ON devices (tenant_id, management_ip)",
    geo_index("idx_devices_location", "devices", "location_lng", "location_lat"),
    *tenant_table("devices"),
    counter("devices", "tenants", "tenant_id", "current_routers", "deleted_at IS NULL AND device_type = 'router'"),
    counter(
        "devices",
        "tenants",
        "tenant_id",
        "current_wireless_aps",
        "deleted_at IS NULL AND device_type = 'wireless_ap'",
    ),
]

VPN_TUNNELS = [
    create_table(
        "vpn_tunnels",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "device_id uuid",
            "tunnel_name varchar(100) NOT NULL",
            "tunnel_type varchar(50) NOT NULL DEFAULT 'wireguard'",
            "public_key text",
            "private_key_vault_path varchar(255)",
            "vpn_ip inet NOT NULL",
            "vpn_network cidr",
            "server_endpoint varchar(255)",
            "peer_endpoint varchar(255)",
            "status varchar(50) NOT NULL DEFAULT 'configured'",
            "last_handshake timestamptz",
            "data_rx_bytes bigint NOT NULL DEFAULT 0",
            "data_tx_bytes bigint NOT NULL DEFAULT 0",
            "config_generated_at timestamptz",
            "config_downloaded_at timestamptz",
            AUDIT_COLUMNS,
            tenant_key("vpn_tunnels"),
            tenant_fk("vpn_tunnels", "device_id", "devices", on_delete="CASCADE"),
            one_of("vpn_tunnels", "tunnel_type", ["wireguard", "ipsec", "openvpn"]),
            one_of("vpn_tunnels", "status", ["configured", "active", "disconnected", "error"]),
            # A WireGuard key: 32 bytes in base64.
            check(
                "vpn_tunnels",
                "public_key",
                "public_key IS NULL OR tunnel_type <> 'wireguard' "
                "OR public_key ~ '^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$'",
            ),
            check("vpn_tunnels", "data_rx_bytes", "data_rx_bytes >= 0 AND data_tx_bytes >= 0"),
        ],
    ),
    live_index("uq_vpn_tunnels__tenant_id__vpn_ip", "vpn_tunnels", "tenant_id, vpn_ip", unique=True),
    live_index("uq_vpn_tunnels__tenant_id__tunnel_name", "vpn_tunnels", "tenant_id, tunnel_name", unique=True),
    live_index("idx_vpn_tunnels_tenant", "vpn_tunnels", "tenant_id"),
    "CREATE INDEX idx_vpn_tunnels_device ON vpn_tunnels (tenant_id, device_id)",
    "CREATE INDEX idx_vpn_tunnels_status ON vpn_tunnels (tenant_id, status)",
    *tenant_table("vpn_tunnels"),
]


def upgrade() -> None:
    run(IP_POOLS + IP_ALLOCATIONS + DEVICES + VPN_TUNNELS)


def downgrade() -> None:
    run(["DROP TABLE vpn_tunnels", "DROP TABLE devices", "DROP TABLE ip_allocations", "DROP TABLE ip_pools"])
