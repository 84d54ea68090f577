-- A deleted tunnel (or one moved to another address) gives its address back to the pool.
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ispops_vpn_tunnel_release_address()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    BEGIN
        IF OLD.ip_allocation_id IS NOT NULL AND (
            TG_OP = 'DELETE'
            OR (NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL)
            OR NEW.ip_allocation_id IS DISTINCT FROM OLD.ip_allocation_id
        ) THEN
            UPDATE public.ip_allocations SET status = 'released', released_at = now()
                WHERE tenant_id = OLD.tenant_id AND id = OLD.ip_allocation_id AND status <> 'released';
        END IF;
        RETURN NULL;
    END $function$;

CREATE OR REPLACE TRIGGER vpn_tunnels_release_address
    AFTER DELETE OR UPDATE OF deleted_at, ip_allocation_id ON vpn_tunnels
    FOR EACH ROW
    EXECUTE FUNCTION ispops_vpn_tunnel_release_address();
