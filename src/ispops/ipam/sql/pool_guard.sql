-- Rules on ip_pools: ranges, gateway, pool types (the IpPoolType list lives here, not in a CHECK),
-- and the derived usage columns.
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ipam_pool_guard()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    DECLARE
        lo inet := ipam_first(NEW.start_ip);
        hi inet := ipam_last(NEW.end_ip);
        other text;
    BEGIN
        IF NEW.default_lease_seconds IS NOT NULL AND NEW.default_lease_seconds <= 0 THEN
            RAISE EXCEPTION 'default_lease_seconds must be positive'
                USING ERRCODE = 'check_violation', TABLE = 'ip_pools', COLUMN = 'default_lease_seconds',
                      CONSTRAINT = 'ck_ip_pools__default_lease_seconds';
        END IF;
        IF NEW.warning_threshold_percent NOT BETWEEN 1 AND 100 THEN
            RAISE EXCEPTION 'warning_threshold_percent must be between 1 and 100'
                USING ERRCODE = 'check_violation', TABLE = 'ip_pools', COLUMN = 'warning_threshold_percent',
                      CONSTRAINT = 'ck_ip_pools__warning_threshold_percent';
        END IF;
        -- Address pools hold host addresses; delegation pools (IPv6, up to /64) hold aligned prefixes.
        IF NOT (CASE WHEN NEW.delegated_prefix_length IS NULL
                     THEN masklen(NEW.start_ip) = masklen(ipam_first(NEW.start_ip))
                          AND masklen(NEW.end_ip) = masklen(ipam_first(NEW.end_ip))
                     ELSE family(NEW.network_cidr) = 6 AND NEW.delegated_prefix_length > masklen(NEW.network_cidr)
                          AND NEW.delegated_prefix_length <= 64 AND masklen(NEW.start_ip) = NEW.delegated_prefix_length
                          AND masklen(NEW.end_ip) = NEW.delegated_prefix_length
                          AND NEW.start_ip = network(NEW.start_ip)::inet AND NEW.end_ip = network(NEW.end_ip)::inet
                END) THEN
            RAISE EXCEPTION 'start_ip and end_ip must be % of the pool', (CASE WHEN NEW.delegated_prefix_length IS NULL
                THEN 'host addresses' ELSE '/' || NEW.delegated_prefix_length || ' prefixes' END)
                USING ERRCODE = 'check_violation', TABLE = 'ip_pools', COLUMN = 'delegated_prefix_length',
                      CONSTRAINT = 'ck_ip_pools__delegated_prefix_length';
        END IF;
        -- The gateway (in the network: CHECK ck_ip_pools__gateway) is not handed out.
        IF ipam_first(NEW.gateway) >= lo AND ipam_first(NEW.gateway) <= hi THEN
            RAISE EXCEPTION 'gateway % is inside the range % - %', NEW.gateway, NEW.start_ip, NEW.end_ip
                USING ERRCODE = 'check_violation', TABLE = 'ip_pools', COLUMN = 'gateway',
                      CONSTRAINT = 'ck_ip_pools__gateway';
        END IF;
        -- Migration 0023: no pool becomes reserved or vpn while subscribers hold addresses in it.
        IF TG_OP = 'UPDATE' AND NEW.pool_type IN ('reserved', 'vpn') AND OLD.pool_type IS DISTINCT FROM NEW.pool_type
           AND EXISTS (SELECT 1 FROM ip_allocations a WHERE a.tenant_id = NEW.tenant_id AND a.ip_pool_id = NEW.id
                        AND a.subscriber_id IS NOT NULL AND a.status <> 'released') THEN
            RAISE EXCEPTION 'ip_pools: subscribers hold addresses in pool %: release them before it becomes %',
                NEW.name, NEW.pool_type
                USING ERRCODE = 'ISCFL', TABLE = 'ip_pools', COLUMN = 'pool_type';
        END IF;
        -- Migration 0018: 0004's CHECKs on the editable columns.
        IF NOT (NEW.end_ip <<= NEW.network_cidr AND NEW.end_ip >= NEW.start_ip) THEN
            RAISE EXCEPTION 'end_ip % must be inside the network % and not before start_ip %', NEW.end_ip, NEW.network_cidr, NEW.start_ip
                USING ERRCODE = 'check_violation', TABLE = 'ip_pools', COLUMN = 'end_ip',
                      CONSTRAINT = 'ck_ip_pools__end_ip';
        END IF;
        IF NOT (NEW.gateway IS NULL OR NEW.gateway <<= NEW.network_cidr) THEN
            RAISE EXCEPTION 'gateway % is outside the network %', NEW.gateway, NEW.network_cidr
                USING ERRCODE = 'check_violation', TABLE = 'ip_pools', COLUMN = 'gateway',
                      CONSTRAINT = 'ck_ip_pools__gateway';
        END IF;
        IF NOT (NEW.pool_type IN ('dynamic', 'static', 'reserved', 'vpn')) THEN
            RAISE EXCEPTION 'pool_type must be dynamic, static, reserved or vpn, not %', NEW.pool_type
                USING ERRCODE = 'check_violation', TABLE = 'ip_pools', COLUMN = 'pool_type',
                      CONSTRAINT = 'ck_ip_pools__pool_type';
        END IF;
        IF NOT (NEW.start_ip <<= NEW.network_cidr) THEN
            RAISE EXCEPTION 'start_ip % is outside the network %', NEW.start_ip, NEW.network_cidr
                USING ERRCODE = 'check_violation', TABLE = 'ip_pools', COLUMN = 'start_ip',
                      CONSTRAINT = 'ck_ip_pools__start_ip';
        END IF;
        IF NOT (NEW.total_ips >= 0) THEN
            RAISE EXCEPTION 'total_ips must not be negative (%)', NEW.total_ips
                USING ERRCODE = 'check_violation', TABLE = 'ip_pools', COLUMN = 'total_ips',
                      CONSTRAINT = 'ck_ip_pools__total_ips';
        END IF;
        IF NOT (NEW.vlan_id BETWEEN 1 AND 4094) THEN
            RAISE EXCEPTION 'vlan_id must be between 1 and 4094, not %', NEW.vlan_id
                USING ERRCODE = 'check_violation', TABLE = 'ip_pools', COLUMN = 'vlan_id',
                      CONSTRAINT = 'ck_ip_pools__vlan_id';
        END IF;

        IF TG_OP = 'INSERT' THEN
            NEW.next_ip := NEW.start_ip;
        ELSIF (NEW.network_cidr, NEW.start_ip, NEW.end_ip, NEW.delegated_prefix_length)
              IS DISTINCT FROM (OLD.network_cidr, OLD.start_ip, OLD.end_ip, OLD.delegated_prefix_length) THEN
            IF OLD.allocated_ips > 0 THEN
                RAISE EXCEPTION 'the range of pool % cannot change while it has live allocations', OLD.name
                    USING ERRCODE = 'check_violation', TABLE = 'ip_pools', COLUMN = 'start_ip',
                          CONSTRAINT = 'ck_ip_pools__start_ip';
            END IF;
            NEW.next_ip := NEW.start_ip;
            DELETE FROM ip_pool_free WHERE tenant_id = OLD.tenant_id AND ip_pool_id = OLD.id;
        ELSIF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL THEN
            IF NEW.allocated_ips > 0 THEN
                RAISE EXCEPTION 'pool % still has % live allocations', OLD.name, NEW.allocated_ips
                    USING ERRCODE = 'foreign_key_violation', TABLE = 'ip_pools',
                          CONSTRAINT = 'fk_ip_allocations__ip_pool_id',
                          DETAIL = format('Key (id)=(%s) is still referenced from table "ip_allocations".', OLD.id);
            END IF;
            RETURN NEW;
        ELSIF NEW.gateway IS NOT DISTINCT FROM OLD.gateway AND NEW.tenant_id = OLD.tenant_id
              AND NOT (OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL) THEN
            RETURN NEW;
        END IF;
        IF NEW.deleted_at IS NOT NULL OR NEW.start_ip IS NULL OR NEW.end_ip IS NULL THEN
            RETURN NEW;
        END IF;
        -- One pool change at a time per tenant: the check below then sees every committed pool.
        PERFORM pg_advisory_xact_lock(hashtextextended('ispops.ip_pools:' || NEW.tenant_id, 0));
        SELECT p.name INTO other FROM ip_pools p
         WHERE p.tenant_id = NEW.tenant_id AND p.deleted_at IS NULL AND p.id <> NEW.id
           AND ((ipam_first(p.start_ip) <= hi AND ipam_last(p.end_ip) >= lo)
                OR (p.network_cidr && NEW.network_cidr AND p.network_cidr <> NEW.network_cidr)
                OR (ipam_first(NEW.gateway) >= ipam_first(p.start_ip)
                    AND ipam_first(NEW.gateway) <= ipam_last(p.end_ip))
                OR (ipam_first(p.gateway) >= lo AND ipam_first(p.gateway) <= hi))
         LIMIT 1;
        IF other IS NOT NULL THEN
            RAISE EXCEPTION 'pool % overlaps pool %', NEW.name, other
                USING ERRCODE = 'unique_violation', TABLE = 'ip_pools', COLUMN = 'network_cidr',
                      CONSTRAINT = 'uq_ip_pools__network_cidr';
        END IF;
        RETURN NEW;
    END
    $function$;

CREATE OR REPLACE FUNCTION public.ipam_pool_usage()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    BEGIN
        -- What 0004 and 0010 generated; ipam_allocate sets the same itself (this trigger stands aside then).
        NEW.available_ips := NEW.total_ips - NEW.allocated_ips;
        NEW.utilisation_percent := CASE WHEN NEW.total_ips > 0 THEN round(NEW.allocated_ips::numeric * 100 / NEW.total_ips, 2) ELSE 0 END;
        NEW.warning := NEW.total_ips > 0 AND NEW.allocated_ips::numeric * 100 >= NEW.total_ips::numeric * NEW.warning_threshold_percent;
        RETURN NEW;
    END
    $function$;

CREATE OR REPLACE TRIGGER ip_pools_ipam
    BEFORE INSERT OR UPDATE OF network_cidr, start_ip, end_ip, delegated_prefix_length, gateway, deleted_at,
        tenant_id, default_lease_seconds, warning_threshold_percent, pool_type, total_ips,
        vlan_id ON public.ip_pools
    FOR EACH ROW
    EXECUTE FUNCTION ipam_pool_guard();

CREATE OR REPLACE TRIGGER ip_pools_ipam_usage
    BEFORE INSERT OR UPDATE OF allocated_ips, total_ips, warning_threshold_percent, available_ips,
        utilisation_percent, warning ON public.ip_pools
    FOR EACH ROW
    WHEN ((current_setting('ispops.ipam_allocator'::text, true) IS DISTINCT FROM 'on'::text))
    EXECUTE FUNCTION ipam_pool_usage();
