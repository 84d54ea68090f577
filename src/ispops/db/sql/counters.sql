-- Derived counters kept in the same transaction as the change (errata 11): ispops_bump_counter is the
-- trigger function, its arguments name target table, key column, counter column and the predicate a row
-- must match to count. `ispops db check` reads these triggers back to recompute every counter.
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ispops_bump_counter()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
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
    $function$;

CREATE OR REPLACE FUNCTION public.ispops_apply_counter(target text, col text, tenant text, key text, delta integer)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
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
    $function$;
REVOKE ALL ON FUNCTION public.ispops_apply_counter(target text, col text, tenant text, key text, delta integer) FROM PUBLIC;

CREATE OR REPLACE TRIGGER devices_count_current_routers
    AFTER INSERT OR DELETE OR UPDATE ON devices
    FOR EACH ROW
    EXECUTE FUNCTION ispops_bump_counter('tenants', 'tenant_id', 'current_routers',
        'deleted_at IS NULL AND device_type = ''router''');

CREATE OR REPLACE TRIGGER devices_count_current_wireless_aps
    AFTER INSERT OR DELETE OR UPDATE ON devices
    FOR EACH ROW
    EXECUTE FUNCTION ispops_bump_counter('tenants', 'tenant_id', 'current_wireless_aps',
        'deleted_at IS NULL AND device_type = ''wireless_ap''');

CREATE OR REPLACE TRIGGER ip_allocations_count_allocated_ips
    AFTER INSERT OR DELETE OR UPDATE ON ip_allocations
    FOR EACH ROW
    WHEN ((current_setting('ispops.ipam_allocator'::text, true) IS DISTINCT FROM 'on'::text))
    EXECUTE FUNCTION ispops_bump_counter('ip_pools', 'ip_pool_id', 'allocated_ips', 'status <> ''released''');

CREATE OR REPLACE TRIGGER olts_count_current_olts
    AFTER INSERT OR DELETE OR UPDATE ON olts
    FOR EACH ROW
    EXECUTE FUNCTION ispops_bump_counter('tenants', 'tenant_id', 'current_olts', 'deleted_at IS NULL');

CREATE OR REPLACE TRIGGER olt_pon_ports_count_active_pon_ports
    AFTER INSERT OR DELETE OR UPDATE ON olt_pon_ports
    FOR EACH ROW
    EXECUTE FUNCTION ispops_bump_counter('olts', 'olt_id', 'active_pon_ports', 'status = ''active''');

-- ONUs: only the columns a counter depends on fire it (migration 0029: the optical ingest updates every
-- polled ONU's current values, which must not run the counters).
CREATE OR REPLACE TRIGGER onus_count_active_onus
    AFTER INSERT OR DELETE OR UPDATE OF olt_id, status, deleted_at ON onus
    FOR EACH ROW
    EXECUTE FUNCTION ispops_bump_counter('olts', 'olt_id', 'active_onus',
        'deleted_at IS NULL AND status = ''online''');

CREATE OR REPLACE TRIGGER onus_count_ports_used
    AFTER INSERT OR DELETE OR UPDATE OF splitter_id, deleted_at ON onus
    FOR EACH ROW
    EXECUTE FUNCTION ispops_bump_counter('splitters', 'splitter_id', 'ports_used', 'deleted_at IS NULL');

CREATE OR REPLACE TRIGGER splitters_count_ports_used
    AFTER INSERT OR DELETE OR UPDATE ON splitters
    FOR EACH ROW
    EXECUTE FUNCTION ispops_bump_counter('splitters', 'parent_splitter_id', 'ports_used',
        'deleted_at IS NULL');

-- A subscriber import (ispops.subscribers.bulk_import) counts its rows itself, once, with the same quota
-- check: one UPDATE of the tenant row per inserted subscriber is quadratic in one transaction.
CREATE OR REPLACE TRIGGER subscribers_count_current_subscribers
    AFTER INSERT OR DELETE OR UPDATE ON subscribers
    FOR EACH ROW
    WHEN (current_setting('ispops.subscriber_import', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION ispops_bump_counter('tenants', 'tenant_id', 'current_subscribers',
        'deleted_at IS NULL AND status <> ''terminated''');

CREATE OR REPLACE TRIGGER users_count_current_users
    AFTER INSERT OR DELETE OR UPDATE ON users
    FOR EACH ROW
    EXECUTE FUNCTION ispops_bump_counter('tenants', 'tenant_id', 'current_users', 'deleted_at IS NULL');

CREATE OR REPLACE TRIGGER wireless_subscribers_count_current_subscribers
    AFTER INSERT OR DELETE OR UPDATE ON wireless_subscribers
    FOR EACH ROW
    EXECUTE FUNCTION ispops_bump_counter('wireless_sectors', 'sector_id', 'current_subscribers',
        'deleted_at IS NULL');
