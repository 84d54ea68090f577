-- Rules on ip_allocations: status (the IpAllocationStatus list lives here, not in a CHECK), lease and
-- release columns, reserved/vpn pools kept from subscribers, tunnel addresses kept from release.
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ipam_allocation_guard()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    DECLARE
        pool record;
    BEGIN
        -- Migration 0020: 0004's CHECKs, for all but ipam_allocate (it checks its own values).
        IF NOT (NEW.lease_end IS NULL OR NEW.lease_start IS NULL OR NEW.lease_end > NEW.lease_start) THEN
            RAISE EXCEPTION 'lease_end % must be after lease_start %', NEW.lease_end, NEW.lease_start
                USING ERRCODE = 'check_violation', TABLE = 'ip_allocations', COLUMN = 'lease_end',
                      CONSTRAINT = 'ck_ip_allocations__lease_end';
        END IF;
        IF NOT (NEW.mac_address ~ '^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$') THEN
            RAISE EXCEPTION 'mac_address % is not a MAC address like 02:00:5e:00:53:01', NEW.mac_address
                USING ERRCODE = 'check_violation', TABLE = 'ip_allocations', COLUMN = 'mac_address',
                      CONSTRAINT = 'ck_ip_allocations__mac_address';
        END IF;
        IF NOT ((NEW.status = 'released') = (NEW.released_at IS NOT NULL)) THEN
            RAISE EXCEPTION 'released_at must be set when, and only when, status is released (status %)', NEW.status
                USING ERRCODE = 'check_violation', TABLE = 'ip_allocations', COLUMN = 'released_at',
                      CONSTRAINT = 'ck_ip_allocations__released_at';
        END IF;
        IF NOT (NEW.status IN ('allocated', 'active', 'reserved', 'released')) THEN
            RAISE EXCEPTION 'status must be allocated, active, reserved or released, not %', NEW.status
                USING ERRCODE = 'check_violation', TABLE = 'ip_allocations', COLUMN = 'status',
                      CONSTRAINT = 'ck_ip_allocations__status';
        END IF;
        IF NEW.status = 'released' THEN
            RETURN NEW;
        END IF;
        SELECT p.name, p.start_ip, p.end_ip, p.deleted_at INTO pool
          FROM ip_pools p WHERE p.tenant_id = NEW.tenant_id AND p.id = NEW.ip_pool_id;
        IF NOT FOUND THEN
            RETURN NEW;  -- the foreign key reports it
        END IF;
        IF pool.deleted_at IS NOT NULL THEN
            RAISE EXCEPTION 'pool % is deleted', pool.name
                USING ERRCODE = 'check_violation', TABLE = 'ip_allocations', COLUMN = 'ip_pool_id',
                      CONSTRAINT = 'ck_ip_allocations__ip_pool_id';
        END IF;
        IF masklen(NEW.ip_address) <> masklen(pool.start_ip) OR NEW.ip_address < pool.start_ip
           OR NEW.ip_address > pool.end_ip OR NEW.ip_address <> network(NEW.ip_address)::inet THEN
            RAISE EXCEPTION '% is outside pool % (% - %)', NEW.ip_address, pool.name, pool.start_ip, pool.end_ip
                USING ERRCODE = 'check_violation', TABLE = 'ip_allocations', COLUMN = 'ip_address',
                      CONSTRAINT = 'ck_ip_allocations__ip_address';
        END IF;
        RETURN NEW;
    END
    $function$;

CREATE OR REPLACE FUNCTION public.ipam_subscriber_guard()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public'
AS $function$
DECLARE pool record;
BEGIN
    SELECT p.name, p.pool_type INTO pool FROM public.ip_pools p
     WHERE p.tenant_id = NEW.tenant_id AND p.id = NEW.ip_pool_id;
    IF pool.pool_type IN ('reserved', 'vpn') THEN
        RAISE EXCEPTION 'ip_pools: pool % is %: its addresses are not handed to subscribers', pool.name, pool.pool_type
            USING ERRCODE = 'ISCFL', TABLE = 'ip_pools', COLUMN = 'pool_type';
    END IF;
    RETURN NEW;
END
$function$;

CREATE OR REPLACE FUNCTION public.ipam_tunnel_address_guard()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public'
AS $function$
DECLARE holder text;
BEGIN
    SELECT t.tunnel_name INTO holder FROM public.vpn_tunnels t
     WHERE t.tenant_id = NEW.tenant_id AND t.ip_allocation_id = NEW.id AND t.deleted_at IS NULL
     LIMIT 1;
    IF holder IS NOT NULL THEN
        RAISE EXCEPTION 'ip_allocations: % is the address of tunnel %; delete the tunnel to release it',
                        host(NEW.ip_address), holder
            USING ERRCODE = 'foreign_key_violation', TABLE = 'ip_allocations',
                  DETAIL = format('Key (id)=(%s) is still referenced from table "vpn_tunnels".', NEW.id);
    END IF;
    RETURN NEW;
END $function$;

CREATE OR REPLACE TRIGGER ip_allocations_ipam_guard
    BEFORE INSERT OR UPDATE OF ip_address, ip_pool_id, status, mac_address, lease_start, lease_end,
        released_at ON public.ip_allocations
    FOR EACH ROW
    WHEN ((current_setting('ispops.ipam_allocator'::text, true) IS DISTINCT FROM 'on'::text))
    EXECUTE FUNCTION ipam_allocation_guard();

CREATE OR REPLACE TRIGGER ip_allocations_subscriber
    BEFORE UPDATE OF subscriber_id ON ip_allocations
    FOR EACH ROW
    WHEN (((new.subscriber_id IS NOT NULL) AND (new.subscriber_id IS DISTINCT FROM old.subscriber_id)))
    EXECUTE FUNCTION ipam_subscriber_guard();

CREATE OR REPLACE TRIGGER ip_allocations_tunnel_address
    BEFORE UPDATE OF status ON ip_allocations
    FOR EACH ROW
    WHEN ((((new.status)::text = 'released'::text) AND ((old.status)::text <> 'released'::text)))
    EXECUTE FUNCTION ipam_tunnel_address_guard();
