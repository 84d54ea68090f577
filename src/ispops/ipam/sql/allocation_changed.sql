-- The free list (ip_pool_free) and RADIUS re-rendering when an allocation changes hands.
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ipam_allocation_changed()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    DECLARE
        held_before boolean := TG_OP <> 'INSERT' AND OLD.subscriber_id IS NOT NULL
                               AND OLD.status IN ('allocated', 'active');
        held_after boolean := TG_OP <> 'DELETE' AND NEW.subscriber_id IS NOT NULL
                              AND NEW.status IN ('allocated', 'active');
        same boolean := held_before AND held_after AND OLD.subscriber_id = NEW.subscriber_id
                        AND OLD.ip_address = NEW.ip_address AND OLD.ip_pool_id = NEW.ip_pool_id;
    BEGIN
        IF TG_OP = 'UPDATE' AND OLD.status <> 'released'
           AND (NEW.status = 'released' OR OLD.ip_address <> NEW.ip_address OR OLD.ip_pool_id <> NEW.ip_pool_id) THEN
            INSERT INTO ip_pool_free (tenant_id, ip_pool_id, ip_address)
            VALUES (OLD.tenant_id, OLD.ip_pool_id, OLD.ip_address) ON CONFLICT DO NOTHING;
        END IF;
        IF held_before AND NOT same AND ipam_static_address(OLD.tenant_id, OLD.ip_pool_id) THEN
            UPDATE subscribers s SET static_ip_address = (
                SELECT a.ip_address FROM ip_allocations a
                 WHERE a.tenant_id = OLD.tenant_id AND a.subscriber_id = OLD.subscriber_id
                   AND a.status IN ('allocated', 'active') AND a.id <> OLD.id
                   AND ipam_static_address(a.tenant_id, a.ip_pool_id)
                 ORDER BY a.allocated_at DESC, a.id DESC LIMIT 1)
             WHERE s.tenant_id = OLD.tenant_id AND s.id = OLD.subscriber_id
               AND s.static_ip_address = OLD.ip_address;
        END IF;
        IF held_after AND NOT same AND ipam_static_address(NEW.tenant_id, NEW.ip_pool_id) THEN
            UPDATE subscribers s SET static_ip_address = NEW.ip_address
             WHERE s.tenant_id = NEW.tenant_id AND s.id = NEW.subscriber_id
               AND s.static_ip_address IS DISTINCT FROM NEW.ip_address;
        END IF;
        RETURN NULL;
    END
    $function$;

CREATE OR REPLACE TRIGGER ip_allocations_ipam_delete
    AFTER DELETE ON ip_allocations
    FOR EACH ROW
    WHEN (OLD.subscriber_id IS NOT NULL AND OLD.status IN ('allocated', 'active'))
    EXECUTE FUNCTION ipam_allocation_changed();

CREATE OR REPLACE TRIGGER ip_allocations_ipam_insert
    AFTER INSERT ON ip_allocations
    FOR EACH ROW
    WHEN (current_setting('ispops.ipam_allocator',
        true) IS DISTINCT FROM 'on' AND NEW.subscriber_id IS NOT NULL AND NEW.status IN ('allocated',
        'active'))
    EXECUTE FUNCTION ipam_allocation_changed();

CREATE OR REPLACE TRIGGER ip_allocations_ipam_update
    AFTER UPDATE ON ip_allocations
    FOR EACH ROW
    WHEN ((((old.status)::text IS DISTINCT FROM (new.status)::text) OR (old.ip_address IS DISTINCT FROM new.ip_address) OR (old.ip_pool_id IS DISTINCT FROM new.ip_pool_id) OR (old.subscriber_id IS DISTINCT FROM new.subscriber_id)))
    EXECUTE FUNCTION ipam_allocation_changed();
