"""Phase 1, core: shared trigger functions, tenants, users, customers, bandwidth profiles, subscribers.

Revision ID: 0001
Revises:
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

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MAC = "'^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$'"
USER_ROLES = '["tenant_admin", "noc_engineer", "support_agent", "field_tech"]'

FUNCTIONS = [
    # created_at/updated_at and created_by/updated_by, from the acting user the request sets in
    # app.current_user_id. Updates made by another trigger (counters) do not count as edits.
    """
    CREATE FUNCTION ispops_audit_columns() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        actor text := NULLIF(current_setting('app.current_user_id', true), '');
    BEGIN
        IF TG_OP = 'INSERT' THEN
            -- The acting user and the clock win over values supplied by the INSERT; without an acting
            -- user (jobs, imports) a supplied created_by is kept.
            NEW.created_at := now();
            NEW.updated_at := NEW.created_at;
            NEW.created_by := COALESCE(actor, NEW.created_by);
            NEW.updated_by := COALESCE(NEW.updated_by, NEW.created_by);
        ELSIF pg_trigger_depth() = 1 THEN
            NEW.created_at := OLD.created_at;
            NEW.created_by := OLD.created_by;
            NEW.updated_at := now();
            NEW.updated_by := COALESCE(actor, NULLIF(NEW.updated_by, OLD.updated_by));
        END IF;
        RETURN NEW;
    END
    $$
    """,
    # Derived counters (errata 11), maintained in the same transaction as the change. Arguments:
    # target table, column of the source row naming the target row, counter column, and the SQL
    # predicate (over the source row's columns) that makes a row count.
    """
    CREATE FUNCTION ispops_bump_counter() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    DECLARE
        target text := TG_ARGV[0];
        fk text := TG_ARGV[1];
        col text := TG_ARGV[2];
        pred text := TG_ARGV[3];
        probe text := format('SELECT COALESCE((%s), false), r.%I::text FROM (SELECT ($1).*) AS r', pred, fk);
        old_hit boolean := false;
        new_hit boolean := false;
        old_key text;
        new_key text;
        tenant text;
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            EXECUTE probe INTO old_hit, old_key USING OLD;
            tenant := OLD.tenant_id;
        END IF;
        IF TG_OP <> 'DELETE' THEN
            EXECUTE probe INTO new_hit, new_key USING NEW;
            tenant := NEW.tenant_id;
        END IF;
        IF old_hit AND new_hit AND old_key IS NOT DISTINCT FROM new_key THEN
            RETURN NULL;
        END IF;
        IF old_hit AND old_key IS NOT NULL THEN
            PERFORM ispops_apply_counter(target, col, tenant, old_key, -1);
        END IF;
        IF new_hit AND new_key IS NOT NULL THEN
            PERFORM ispops_apply_counter(target, col, tenant, new_key, 1);
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE FUNCTION ispops_apply_counter(target text, col text, tenant text, key text, delta integer)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    DECLARE
        -- The owner is subject to FORCE RLS: look at the row's tenant (the composite FK guarantees the
        -- target is in the same tenant as the changed row), then put the caller's setting back. This
        -- keeps counters exact even when a superuser or maintenance job writes without a tenant set.
        saved text := current_setting('app.current_tenant_id', true);
        -- Tenant quotas: current_x is limited by max_x. Checked here, after the counter row is locked
        -- by the UPDATE, so concurrent creates cannot both slip under the limit.
        limit_col text := replace(col, 'current_', 'max_');
        used integer;
        allowed integer;
    BEGIN
        PERFORM set_config('app.current_tenant_id', tenant, true);
        IF target = 'tenants' THEN
            EXECUTE format('UPDATE tenants SET %I = %I + $1 WHERE id = $2 RETURNING %I, %I',
                           col, col, col, limit_col)
                INTO used, allowed USING delta, key;
            IF delta > 0 AND allowed IS NOT NULL AND used > allowed THEN
                RAISE EXCEPTION 'quota exceeded: % is %', limit_col, allowed
                    USING ERRCODE = 'IS409', TABLE = 'tenants', COLUMN = limit_col,
                          HINT = 'raise the tenant''s limit or remove unused records';
            END IF;
        ELSE
            EXECUTE format('UPDATE %I SET %I = %I + $1 WHERE tenant_id = $2 AND id = $3::uuid', target, col, col)
                USING delta, tenant, key;
        END IF;
        PERFORM set_config('app.current_tenant_id', COALESCE(saved, ''), true);
    END
    $$
    """,
    "REVOKE ALL ON FUNCTION ispops_apply_counter(text, text, text, text, integer) FROM PUBLIC",
]

TENANTS = [
    create_table(
        "tenants",
        [
            "id varchar(255) PRIMARY KEY",
            "name varchar(255) NOT NULL",
            "slug varchar(255) NOT NULL",
            "domain varchar(255)",
            "status varchar(50) NOT NULL DEFAULT 'trial'",
            "plan_type varchar(50) NOT NULL DEFAULT 'free'",
            "email varchar(255)",
            "phone varchar(50)",
            "billing_email varchar(255)",
            "billing_cycle varchar(50) NOT NULL DEFAULT 'monthly'",
            "trial_ends_at timestamptz",
            "subscription_starts_at timestamptz",
            "subscription_ends_at timestamptz",
            "max_users integer NOT NULL DEFAULT 5",
            "max_api_calls_per_month integer NOT NULL DEFAULT 10000",
            "max_storage_gb integer NOT NULL DEFAULT 10",
            "max_subscribers integer NOT NULL DEFAULT 100",
            "max_olts integer NOT NULL DEFAULT 2",
            "max_routers integer NOT NULL DEFAULT 5",
            "max_wireless_aps integer NOT NULL DEFAULT 10",
            "current_users integer NOT NULL DEFAULT 0",
            "current_api_calls integer NOT NULL DEFAULT 0",
            "current_storage_gb numeric(10,2) NOT NULL DEFAULT 0",
            "current_subscribers integer NOT NULL DEFAULT 0",
            "current_olts integer NOT NULL DEFAULT 0",
            "current_routers integer NOT NULL DEFAULT 0",
            "current_wireless_aps integer NOT NULL DEFAULT 0",
            "features jsonb NOT NULL DEFAULT '{}'::jsonb",
            "settings jsonb NOT NULL DEFAULT '{}'::jsonb",
            "custom_metadata jsonb NOT NULL DEFAULT '{}'::jsonb",
            "company_size varchar(50)",
            "industry varchar(100)",
            "country varchar(100)",
            "timezone varchar(50) NOT NULL DEFAULT 'UTC'",
            "logo_url varchar(500)",
            "primary_color varchar(20)",
            AUDIT_COLUMNS,
            check("tenants", "id", "id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'"),
            check("tenants", "slug", "slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'"),
            one_of("tenants", "status", ["active", "suspended", "trial", "inactive", "pending", "cancelled"]),
            one_of("tenants", "plan_type", ["free", "starter", "professional", "enterprise", "custom"]),
            one_of("tenants", "billing_cycle", ["monthly", "quarterly", "semiannual", "annual"]),
            check(
                "tenants",
                "max_subscribers",
                "max_users >= 0 AND max_subscribers >= 0 AND max_olts >= 0 AND max_routers >= 0 "
                "AND max_wireless_aps >= 0 AND max_api_calls_per_month >= 0 AND max_storage_gb >= 0",
            ),
            check(
                "tenants",
                "current_subscribers",
                "current_users >= 0 AND current_subscribers >= 0 AND current_olts >= 0 "
                "AND current_routers >= 0 AND current_wireless_aps >= 0",
            ),
            check("tenants", "settings", "jsonb_typeof(settings) = 'object' AND jsonb_typeof(features) = 'object'"),
        ],
    ),
    live_index("uq_tenants__slug", "tenants", "slug", unique=True),
    live_index("uq_tenants__domain", "tenants", "lower(domain)", unique=True),
    live_index("idx_tenants_status", "tenants", "status"),
    # tenants has no tenant_id: a tenant's staff see their own row; the platform role sees all;
    # the owner's policy serves the counter triggers (SECURITY DEFINER) and maintenance.
    "ALTER TABLE tenants ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE tenants FORCE ROW LEVEL SECURITY",
    "CREATE POLICY tenant_self ON tenants FOR SELECT TO ispops_app, ispops_radius "
    "USING (id = current_setting('app.current_tenant_id', true))",
    "CREATE POLICY platform_all ON tenants TO ispops_platform USING (true) WITH CHECK (true)",
    "CREATE POLICY owner_all ON tenants TO ispops_owner USING (true) WITH CHECK (true)",
    "GRANT SELECT ON tenants TO ispops_app, ispops_radius",
    "GRANT SELECT, INSERT, UPDATE ON tenants TO ispops_platform",
    "CREATE TRIGGER tenants_audit BEFORE INSERT OR UPDATE ON tenants "
    "FOR EACH ROW EXECUTE FUNCTION ispops_audit_columns()",
]

USERS = [
    create_table(
        "users",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "email varchar(255) NOT NULL",
            "username varchar(255)",
            "password_hash varchar(255)",
            "full_name varchar(255)",
            "is_active boolean NOT NULL DEFAULT true",
            "is_verified boolean NOT NULL DEFAULT false",
            "roles jsonb NOT NULL DEFAULT '[]'::jsonb",
            "mfa_enabled boolean NOT NULL DEFAULT false",
            "mfa_secret varchar(255)",
            "last_login_at timestamptz",
            "email_verified_at timestamptz",
            AUDIT_COLUMNS,
            tenant_key("users"),
            check("users", "email", "email ~ '^[^@[:space:]]+@[^@[:space:]]+$'"),
            check("users", "roles", f"jsonb_typeof(roles) = 'array' AND roles <@ '{USER_ROLES}'::jsonb"),
        ],
    ),
    live_index("uq_users__tenant_id__email", "users", "tenant_id, lower(email)", unique=True),
    "CREATE UNIQUE INDEX uq_users__tenant_id__username ON users (tenant_id, username) "
    "WHERE deleted_at IS NULL AND username IS NOT NULL",
    live_index("idx_users_tenant", "users", "tenant_id"),
    live_index("idx_users_email", "users", "lower(email)"),
    *tenant_table("users"),
    counter("users", "tenants", "tenant_id", "current_users", "deleted_at IS NULL"),
]

CUSTOMERS = [
    create_table(
        "customers",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "customer_number varchar(50) NOT NULL",
            "name varchar(255) NOT NULL",
            "company_name varchar(255)",
            "email varchar(255)",
            "phone varchar(50)",
            "status varchar(50) NOT NULL DEFAULT 'active'",
            "billing_reference varchar(255)",
            "notes text",
            AUDIT_COLUMNS,
            tenant_key("customers"),
            one_of("customers", "status", ["active", "inactive", "closed"]),
            check("customers", "email", "email IS NULL OR email ~ '^[^@[:space:]]+@[^@[:space:]]+$'"),
        ],
    ),
    live_index("uq_customers__tenant_id__customer_number", "customers", "tenant_id, customer_number", unique=True),
    live_index("idx_customers_tenant_name", "customers", "tenant_id, lower(name)"),
    *tenant_table("customers"),
]

BANDWIDTH_PROFILES = [
    create_table(
        "bandwidth_profiles",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "name varchar(100) NOT NULL",
            "description text",
            "download_mbps integer NOT NULL",
            "upload_mbps integer NOT NULL",
            "download_burst_mbps integer",
            "upload_burst_mbps integer",
            "burst_threshold_mbps integer",
            "burst_time_seconds integer",
            "priority integer NOT NULL DEFAULT 5",
            "monthly_data_cap_gb integer",
            "daily_data_cap_gb integer",
            "is_active boolean NOT NULL DEFAULT true",
            "radius_attributes jsonb NOT NULL DEFAULT '{}'::jsonb",
            AUDIT_COLUMNS,
            tenant_key("bandwidth_profiles"),
            check("bandwidth_profiles", "download_mbps", "download_mbps > 0"),
            check("bandwidth_profiles", "upload_mbps", "upload_mbps > 0"),
            check(
                "bandwidth_profiles",
                "download_burst_mbps",
                "download_burst_mbps IS NULL OR download_burst_mbps >= download_mbps",
            ),
            check(
                "bandwidth_profiles",
                "upload_burst_mbps",
                "upload_burst_mbps IS NULL OR upload_burst_mbps >= upload_mbps",
            ),
            check(
                "bandwidth_profiles", "burst_threshold_mbps", "burst_threshold_mbps IS NULL OR burst_threshold_mbps > 0"
            ),
            check("bandwidth_profiles", "burst_time_seconds", "burst_time_seconds IS NULL OR burst_time_seconds > 0"),
            check("bandwidth_profiles", "priority", "priority BETWEEN 1 AND 10"),
            check(
                "bandwidth_profiles", "monthly_data_cap_gb", "monthly_data_cap_gb IS NULL OR monthly_data_cap_gb > 0"
            ),
            check("bandwidth_profiles", "daily_data_cap_gb", "daily_data_cap_gb IS NULL OR daily_data_cap_gb > 0"),
            check("bandwidth_profiles", "radius_attributes", "jsonb_typeof(radius_attributes) = 'object'"),
        ],
    ),
    live_index("uq_bandwidth_profiles__tenant_id__name", "bandwidth_profiles", "tenant_id, name", unique=True),
    live_index("idx_bandwidth_profiles_tenant", "bandwidth_profiles", "tenant_id"),
    *tenant_table("bandwidth_profiles"),
]

SUBSCRIBERS = [
    create_table(
        "subscribers",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "customer_id uuid",
            "subscriber_number varchar(50) NOT NULL",
            "service_type varchar(50) NOT NULL",
            "connection_type varchar(50)",
            "status varchar(50) NOT NULL DEFAULT 'pending'",
            "suspension_reason varchar(255)",
            "service_address_line1 varchar(255)",
            "service_address_line2 varchar(255)",
            "service_address_city varchar(100)",
            "service_address_state varchar(100)",
            "service_address_postal_code varchar(20)",
            "service_address_country varchar(100)",
            "service_location_lat numeric(10,8)",
            "service_location_lng numeric(11,8)",
            "installation_status varchar(50)",
            "installation_date date",
            "installed_by varchar(255)",
            "installation_notes text",
            "bandwidth_profile_id uuid",
            "static_ip_address inet",
            "vlan_id integer",
            "pppoe_username varchar(64)",
            "pppoe_password varchar(64)",
            "mac_address varchar(17)",
            "monthly_data_usage_gb numeric(12,2) NOT NULL DEFAULT 0",
            "last_usage_reset_date date",
            "service_activated_at timestamptz",
            "service_suspended_at timestamptz",
            "service_terminated_at timestamptz",
            "billing_subscription_id varchar(255)",
            "billing_cycle_day integer NOT NULL DEFAULT 1",
            "notes text",
            AUDIT_COLUMNS,
            tenant_key("subscribers"),
            tenant_fk("subscribers", "customer_id", "customers"),
            tenant_fk("subscribers", "bandwidth_profile_id", "bandwidth_profiles", on_delete="RESTRICT"),
            one_of("subscribers", "service_type", ["ftth", "wireless", "dsl", "cable"]),
            one_of("subscribers", "connection_type", ["pppoe", "dhcp", "static_ip", "hotspot"]),
            one_of("subscribers", "status", ["pending", "active", "suspended", "terminated", "on_hold"]),
            one_of(
                "subscribers",
                "installation_status",
                ["not_scheduled", "scheduled", "in_progress", "completed", "failed"],
            ),
            *lat_lng_checks("subscribers", "service_location_lat", "service_location_lng"),
            check("subscribers", "vlan_id", "vlan_id BETWEEN 1 AND 4094"),
            check("subscribers", "mac_address", f"mac_address ~ {MAC}"),
            check("subscribers", "billing_cycle_day", "billing_cycle_day BETWEEN 1 AND 28"),
            check("subscribers", "monthly_data_usage_gb", "monthly_data_usage_gb >= 0"),
        ],
    ),
    live_index(
        "uq_subscribers__tenant_id__subscriber_number", "subscribers", "tenant_id, subscriber_number", unique=True
    ),
    "CREATE UNIQUE INDEX uq_subscribers__tenant_id__pppoe_username ON subscribers (tenant_id, pppoe_username) "
    "WHERE deleted_at IS NULL AND pppoe_username IS NOT NULL",
    live_index("idx_subscribers_tenant", "subscribers", "tenant_id"),
    live_index("idx_subscribers_status", "subscribers", "tenant_id, status"),
    "CREATE INDEX idx_subscribers_number ON subscribers (subscriber_number)",
    "CREATE INDEX idx_subscribers_customer ON subscribers (tenant_id, customer_id)",
    "CREATE INDEX idx_subscribers_profile ON subscribers (tenant_id, bandwidth_profile_id)",
    geo_index("idx_subscribers_location", "subscribers", "service_location_lng", "service_location_lat", live=False),
    *tenant_table("subscribers"),
    counter(
        "subscribers", "tenants", "tenant_id", "current_subscribers", "deleted_at IS NULL AND status <> 'terminated'"
    ),
]


def upgrade() -> None:
    run(FUNCTIONS + TENANTS + USERS + CUSTOMERS + BANDWIDTH_PROFILES + SUBSCRIBERS)


def downgrade() -> None:
    run(
        [
            "DROP TABLE subscribers",
            "DROP TABLE bandwidth_profiles",
            "DROP TABLE customers",
            "DROP TABLE users",
            "DROP TABLE tenants",
            "DROP FUNCTION ispops_bump_counter()",
            "DROP FUNCTION ispops_apply_counter(text, text, text, text, integer)",
            "DROP FUNCTION ispops_audit_columns()",
        ]
    )
