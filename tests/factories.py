"""One row in every tenant table, inserted as the application role (RLS on), for isolation tests."""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy import text

from ispops.db.session import Database

# (table, INSERT … RETURNING the row's key as text). :t is the tenant; :email, :nasip, :pw, :serial and
# :mac are unique per tenant; other parameters are the ids of rows made earlier in this list.
ROWS: list[tuple[str, str]] = [
    (
        "users",
        "insert into users (tenant_id, email, roles) values (:t, :email, '[\"tenant_admin\"]') returning id::text",
    ),
    (
        "customers",
        "insert into customers (tenant_id, customer_number, name) values (:t, 'C-1', 'Ada') returning id::text",
    ),
    (
        "bandwidth_profiles",
        "insert into bandwidth_profiles (tenant_id, name, download_mbps, upload_mbps) "
        "values (:t, '50M', 50, 10) returning id::text",
    ),
    (
        "subscribers",
        # No pppoe_username: a subscriber with one gets its radcheck/radreply rows rendered by triggers
        # (migration 0013); this list wants exactly one row per table, inserted below.
        "insert into subscribers (tenant_id, customer_id, subscriber_number, service_type, status, "
        "bandwidth_profile_id) values (:t, cast(:customers as uuid), 'SUB-1', 'ftth', 'active', "
        "cast(:bandwidth_profiles as uuid)) returning id::text",
    ),
    (
        "nas",
        "insert into nas (tenant_id, nasname, shortname, type, secret) "
        "values (:t, :nasip, 'bras1', 'mikrotik', 'testing123') returning id::text",
    ),
    (
        "radcheck",
        "insert into radcheck (tenant_id, subscriber_id, username, attribute, op, value) "
        "values (:t, cast(:subscribers as uuid), 'user1', 'Cleartext-Password', ':=', :pw) returning id::text",
    ),
    (
        "radreply",
        "insert into radreply (tenant_id, subscriber_id, username, attribute, op, value) "
        "values (:t, cast(:subscribers as uuid), 'user1', 'Mikrotik-Rate-Limit', ':=', '10M/50M') returning id::text",
    ),
    (
        "radpostauth",
        "insert into radpostauth (tenant_id, username, reply) values (:t, 'user1', 'Access-Accept') returning id::text",
    ),
    (
        "radacct",
        "insert into radacct (tenant_id, subscriber_id, acctsessionid, acctuniqueid, username, nasipaddress, "
        "acctstarttime) values (:t, cast(:subscribers as uuid), 's1', 'u1', 'user1', '192.0.2.1', now()) "
        "returning radacctid::text",
    ),
    (
        "ip_pools",
        "insert into ip_pools (tenant_id, name, network_cidr, gateway, start_ip, end_ip, total_ips) "
        "values (:t, 'pool-1', '10.0.0.0/24', '10.0.0.1', '10.0.0.10', '10.0.0.200', 191) returning id::text",
    ),
    (
        "ip_allocations",
        "insert into ip_allocations (tenant_id, ip_pool_id, subscriber_id, ip_address) "
        "values (:t, cast(:ip_pools as uuid), cast(:subscribers as uuid), '10.0.0.10') returning id::text",
    ),
    (
        "ip_pool_free",
        "insert into ip_pool_free (tenant_id, ip_pool_id, ip_address) "
        "values (:t, cast(:ip_pools as uuid), '10.0.0.11') returning id::text",
    ),
    (
        "devices",
        "insert into devices (tenant_id, name, device_type, location_lat, location_lng) "
        "values (:t, 'olt-1', 'olt', -1.28, 36.82) returning id::text",
    ),
    (
        "device_interfaces",
        "insert into device_interfaces (tenant_id, device_id, if_index, name, admin_status, oper_status, "
        "in_octets, out_octets, polled_at) values (:t, cast(:devices as uuid), 1, 'ge-0/0/1', 'up', 'up', "
        "1000, 2000, now()) returning id::text",
    ),
    (
        "vpn_tunnels",
        "insert into vpn_tunnels (tenant_id, device_id, tunnel_name, vpn_ip) "
        "values (:t, cast(:devices as uuid), 'wg-olt-1', '10.99.0.2') returning id::text",
    ),
    (
        "olts",
        "insert into olts (tenant_id, device_id, olt_type) values (:t, cast(:devices as uuid), 'gpon') "
        "returning id::text",
    ),
    (
        "splitters",
        "insert into splitters (tenant_id, olt_id, name, split_ratio) "
        "values (:t, cast(:olts as uuid), 'SPL-1', '1x8') returning id::text",
    ),
    (
        "onus",
        "insert into onus (tenant_id, olt_id, subscriber_id, splitter_id, splitter_port, serial_number, "
        "pon_port, onu_id, status) values (:t, cast(:olts as uuid), cast(:subscribers as uuid), "
        "cast(:splitters as uuid), 1, "
        ":serial, 0, 1, 'active') returning id::text",
    ),
    (
        "fiber_cables",
        "insert into fiber_cables (tenant_id, cable_name, fiber_count, start_device_id) "
        "values (:t, 'CAB-1', 12, cast(:devices as uuid)) returning id::text",
    ),
    (
        "wireless_towers",
        "insert into wireless_towers (tenant_id, name, latitude, longitude) "
        "values (:t, 'Hill', -1.3, 36.8) returning id::text",
    ),
    (
        "wireless_sectors",
        "insert into wireless_sectors (tenant_id, tower_id, device_id, name, frequency_mhz, azimuth, "
        "beamwidth_degrees) values (:t, cast(:wireless_towers as uuid), cast(:devices as uuid), 'S1', 5800, 0, 90) "
        "returning id::text",
    ),
    (
        "wireless_subscribers",
        "insert into wireless_subscribers (tenant_id, subscriber_id, sector_id, cpe_mac, install_latitude, "
        "install_longitude) values (:t, cast(:subscribers as uuid), cast(:wireless_sectors as uuid), "
        ":mac, -1.31, 36.81) returning id::text",
    ),
    (
        "service_activations",
        "insert into service_activations (tenant_id, subscriber_id, activation_type, bandwidth_profile_id) "
        "values (:t, cast(:subscribers as uuid), 'new_service', cast(:bandwidth_profiles as uuid)) returning id::text",
    ),
    (
        "ansible_jobs",
        "insert into ansible_jobs (tenant_id, job_name, playbook_name, target_device_id) "
        "values (:t, 'backup', 'backup.yml', cast(:devices as uuid)) returning id::text",
    ),
]

ROWS += [
    (
        "audit_events",
        "insert into audit_events (tenant_id, actor_kind, actor_id, entity, entity_id, action) "
        "values (:t, 'user', cast(:users as text), 'devices', cast(:devices as text), 'create') returning id::text",
    ),
    (
        "refresh_tokens",
        "insert into refresh_tokens (tenant_id, user_id, family_id, token_hash, expires_at) "
        "values (:t, cast(:users as uuid), gen_random_uuid(), :tokenhash, now() + interval '1 day') returning id::text",
    ),
    ("login_failures", "insert into login_failures (tenant_id, email) values (:t, :email) returning id::text"),
    (
        "radius_coa_attempts",
        "insert into radius_coa_attempts (tenant_id, subscriber_id, nas_id, username, kind, reason, result) "
        "values (:t, cast(:subscribers as uuid), cast(:nas as bigint), 'user1', 'coa', 'manual', 'ack') "
        "returning id::text",
    ),
    (
        "subscriber_usage_daily",
        "insert into subscriber_usage_daily (tenant_id, subscriber_id, day, input_octets, output_octets) "
        "values (:t, cast(:subscribers as uuid), current_date, 1000, 5000) returning id::text",
    ),
    (
        "radius_coa_queue",
        "insert into radius_coa_queue (tenant_id, subscriber_id, username, kind, reason) "
        "values (:t, cast(:subscribers as uuid), 'user1', 'disconnect', 'suspend') returning id::text",
    ),
]

TENANT_TABLES = [table for table, _ in ROWS]


def make_tenant(db: Database, tenant_id: str, *, status: str = "active") -> None:
    with db.platform() as session:
        session.execute(
            text("insert into tenants (id, name, slug, status) values (:id, :id, :id, :s)"),
            {"id": tenant_id, "s": status},
        )


def populate(db: Database, tenant_id: str, n: int) -> dict[str, str]:
    """Create the tenant and one row in every tenant table; return table -> row key."""
    make_tenant(db, tenant_id)
    ids: dict[str, str] = {}
    with db.tenant(tenant_id) as session:
        for table, sql in ROWS:
            params = {
                "t": tenant_id,
                "email": f"admin@{tenant_id}.example",
                "nasip": f"192.0.2.{n}",
                "pw": f"pw-{tenant_id}",
                "serial": f"HWTC{n:08d}",
                "mac": f"00:11:22:33:44:{n:02x}",
                "tokenhash": f"hash-of-a-token-{tenant_id}",
                **ids,
            }
            ids[table] = session.execute(text(sql), params).scalar_one()
    return ids


def key_column(table: str) -> str:
    return "radacctid" if table == "radacct" else "id"


def snapshot(admin: psycopg.Connection[Any], tenant: str) -> dict[str, list[Any]]:
    """Every row of a tenant, read by the admin (past RLS) as JSON, for before/after comparison."""
    out: dict[str, list[Any]] = {}
    for table in TENANT_TABLES:
        rows = admin.execute(
            f"select row_to_json(x)::text from {table} x where tenant_id = %s order by 1", (tenant,)
        ).fetchall()
        out[table] = [r[0] for r in rows]
    return out
