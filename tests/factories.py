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
        "insert into olts (tenant_id, device_id, technology) values (:t, cast(:devices as uuid), 'gpon') "
        "returning id::text",
    ),
    (
        "olt_pon_ports",
        "insert into olt_pon_ports (tenant_id, olt_id, frame, slot, port) "
        "values (:t, cast(:olts as uuid), 0, 1, 0) returning id::text",
    ),
    (
        "splitters",
        "insert into splitters (tenant_id, olt_id, name, split_ratio) "
        "values (:t, cast(:olts as uuid), 'SPL-1', '1x8') returning id::text",
    ),
    (
        "onus",
        "insert into onus (tenant_id, olt_id, subscriber_id, splitter_id, splitter_port, serial_number, "
        "pon_port_id, onu_id, status) values (:t, cast(:olts as uuid), cast(:subscribers as uuid), "
        "cast(:splitters as uuid), 1, "
        ":serial, cast(:olt_pon_ports as uuid), 1, 'online') returning id::text",
    ),
    (
        "onu_provisioning_jobs",
        "insert into onu_provisioning_jobs (tenant_id, olt_id, onu_id, action, driver) "
        "values (:t, cast(:olts as uuid), cast(:onus as uuid), 'reboot', 'lab') returning id::text",
    ),
    (
        "ftth_settings",
        "insert into ftth_settings (tenant_id, classes) values (:t, '{}') returning tenant_id",
    ),
    (
        "fiber_cables",
        # no end yet: an end is at one device, splitter or closure, so tests may set any one of them
        "insert into fiber_cables (tenant_id, cable_name, fiber_count) values (:t, 'CAB-1', 12) returning id::text",
    ),
    ("fiber_closures", "insert into fiber_closures (tenant_id, name) values (:t, 'CL-1') returning id::text"),
    (
        "fiber_strands",
        "insert into fiber_strands (tenant_id, cable_id, strand_number, color) "
        "values (:t, cast(:fiber_cables as uuid), 1, 'blue') returning id::text",
    ),
    (
        "fiber_links",
        "insert into fiber_links (tenant_id, strand_id, onu_id, splitter_id) "
        "values (:t, cast(:fiber_strands as uuid), cast(:onus as uuid), cast(:splitters as uuid)) returning id::text",
    ),
    (
        "fiber_splices",
        "insert into fiber_splices (tenant_id, closure_id, strand_a_id) "
        "values (:t, cast(:fiber_closures as uuid), cast(:fiber_strands as uuid)) returning id::text",
    ),
    (
        "fiber_connectors",
        "insert into fiber_connectors (tenant_id, strand_id, strand_end, closure_id) "
        "values (:t, cast(:fiber_strands as uuid), 'start', cast(:fiber_closures as uuid)) returning id::text",
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
        "wireless_settings",
        "insert into wireless_settings (tenant_id, required_fade_margin_db, noise_figure_db, default_tx_power_dbm, "
        "default_antenna_gain_dbi, default_channel_width_mhz, default_cpe_gain_dbi, default_cpe_height_m, "
        "default_tower_height_m, mac_efficiency, oversubscription_ratio, utilisation_warning_percent, k_factor, "
        "bands, radio_tables, portal_enabled, portal_checks_per_hour) values (:t, 10, 6, 20, 16, 20, 23, 6, 30, "
        '0.65, 4, 75, 1.333, \'[{"name": "5 GHz", "low_mhz": 5150, "high_mhz": 5850, "max_eirp_dbm": 36}]\', '
        "'{}', false, 30) returning id::text",
    ),
    (
        "wireless_leads",
        "insert into wireless_leads (tenant_id, source, latitude, longitude, serviceable, best_sector_id) "
        "values (:t, 'staff', -1.3, 36.8, true, cast(:wireless_sectors as uuid)) returning id::text",
    ),
    (
        "wireless_cpe_readings",
        "insert into wireless_cpe_readings (tenant_id, wireless_subscriber_id, read_at, source, signal_dbm) "
        "values (:t, cast(:wireless_subscribers as uuid), now(), 'push', -60) returning id::text",
    ),
    (
        "wireless_cpe_alarms",
        "insert into wireless_cpe_alarms (tenant_id, wireless_subscriber_id, kind, detail) "
        "values (:t, cast(:wireless_subscribers as uuid), 'signal_drift', 'drift') returning id::text",
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
    (
        "ansible_job_events",
        "insert into ansible_job_events (tenant_id, job_id, seq, event) "
        "values (:t, cast(:ansible_jobs as uuid), 1, 'playbook_on_start') returning id::text",
    ),
    (
        "automation_playbooks",
        "insert into automation_playbooks (tenant_id, name, source_type, source) "
        "values (:t, 'site', 'directory', '/srv/playbooks/site') returning id::text",
    ),
    (
        "automation_schedules",
        "insert into automation_schedules (tenant_id, name, playbook_name, cron, target_device_id) "
        "values (:t, 'nightly', 'backup.yml', '0 2 * * *', cast(:devices as uuid)) returning id::text",
    ),
    (
        "automation_endpoints",
        "insert into automation_endpoints (tenant_id, kind, url, netbox_tenant) "
        "values (:t, 'netbox', 'http://127.0.0.1:9/', :t) returning id::text",
    ),
    (
        "netbox_mappings",
        "insert into netbox_mappings (tenant_id, object_type, local_id, netbox_id) "
        "values (:t, 'device', cast(:devices as text), 7) returning id::text",
    ),
    (
        "netbox_syncs",
        "insert into netbox_syncs (tenant_id, direction) values (:t, 'import') returning id::text",
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
    (
        "onu_optical_readings",
        "insert into onu_optical_readings (tenant_id, onu_id, measured_at, rx_dbm) "
        "values (:t, cast(:onus as uuid), now(), -20.5) returning onu_id::text",
    ),
    (
        "onu_optical_hourly",
        "insert into onu_optical_hourly (tenant_id, onu_id, hour, samples, rx_avg_dbm) "
        "values (:t, cast(:onus as uuid), date_trunc('hour', now()), 1, -20.5) returning onu_id::text",
    ),
    (
        "onu_optical_daily",
        "insert into onu_optical_daily (tenant_id, onu_id, day, samples, rx_avg_dbm) "
        "values (:t, cast(:onus as uuid), current_date, 1, -20.5) returning onu_id::text",
    ),
    (
        "onu_optical_dirty_hours",
        # a different hour per tenant ('a' and 'b' differ), so the key alone tells the two rows apart
        "insert into onu_optical_dirty_hours (tenant_id, hour) "
        "values (:t, date_trunc('hour', now()) - make_interval(hours => ascii(right(cast(:t as varchar), 1)))) "
        "returning hour::text",
    ),
    (
        "ftth_alarms",
        "insert into ftth_alarms (tenant_id, kind, severity, olt_id, onu_id) "
        "values (:t, 'rx_low', 'warning', cast(:olts as uuid), cast(:onus as uuid)) returning id::text",
    ),
    (
        "event_outbox",
        # The radacct row above wrote its session.started event (trigger, migration 0038): that is the row.
        "select id::text from event_outbox where tenant_id = :t and dedupe_key = 'radacct:u1:start'",
    ),
    (
        "webhook_endpoints",
        "insert into webhook_endpoints (tenant_id, url, event_types, secret_vault_path) "
        "values (:t, 'https://hooks.example/in', '[\"subscriber.activated\"]'::jsonb, "
        "'tenants/' || cast(:t as varchar) || '/webhooks/e1/secret') returning id::text",
    ),
    (
        "webhook_deliveries",
        "insert into webhook_deliveries (tenant_id, endpoint_id, event_id, event_type) "
        "values (:t, cast(:webhook_endpoints as uuid), cast(:event_outbox as uuid), 'subscriber.activated') "
        "returning id::text",
    ),
    (
        "webhook_delivery_attempts",
        "insert into webhook_delivery_attempts (tenant_id, delivery_id, endpoint_id, attempt, status_code) "
        "values (:t, cast(:webhook_deliveries as uuid), cast(:webhook_endpoints as uuid), 1, 200) "
        "returning id::text",
    ),
]

# Billing (migration 0035): the subscriber's first service period is written by the subscribers trigger.
ROWS += [
    (
        "subscriber_plan_history",
        "select id::text from subscriber_plan_history "
        "where tenant_id = :t and subscriber_id = cast(:subscribers as uuid)",
    ),
    ("billing_settings", "insert into billing_settings (tenant_id) values (:t) returning id::text"),
    (
        "billing_cycles",
        "insert into billing_cycles (tenant_id, cycle, billing_day, starts_at, ends_at) "
        "values (:t, '2026-11-01', 1, '2026-11-01 00:00+00', '2026-12-01 00:00+00') returning id::text",
    ),
    (
        "billing_pushes",
        "insert into billing_pushes (tenant_id, kind, cycle, subscriber_id, idempotency_key, payload_sha256) "
        "values (:t, 'usage', '2026-11-01', cast(:subscribers as uuid), :email, repeat('0', 64)) "
        "returning id::text",
    ),
]

# Subscriber imports (migration 0037).
ROWS += [
    (
        "subscriber_imports",
        "insert into subscriber_imports (tenant_id, filename, total_rows) values (:t, 's.csv', 1) returning id::text",
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
    return {
        "radacct": "radacctid",
        "ftth_settings": "tenant_id",
        "onu_optical_readings": "onu_id",
        "onu_optical_hourly": "onu_id",
        "onu_optical_daily": "onu_id",
        "onu_optical_dirty_hours": "hour",
    }.get(table, "id")


def snapshot(admin: psycopg.Connection[Any], tenant: str) -> dict[str, list[Any]]:
    """Every row of a tenant, read by the admin (past RLS) as JSON, for before/after comparison."""
    out: dict[str, list[Any]] = {}
    for table in TENANT_TABLES:
        rows = admin.execute(
            f"select row_to_json(x)::text from {table} x where tenant_id = %s order by 1", (tenant,)
        ).fetchall()
        out[table] = [r[0] for r in rows]
    return out
