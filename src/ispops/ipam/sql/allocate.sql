-- Allocation without duplicates: the next free address of a pool (or a named one), in one statement.
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ipam_allocate(p_tenant text, p_pool uuid, p_ip inet, p_subscriber uuid, p_status text, p_mac text, p_lease_seconds integer, p_now timestamp with time zone)
 RETURNS SETOF ip_allocations
 LANGUAGE plpgsql
AS $function$
    DECLARE
        pool record;
        cand inet;
        cursor_after inet;
        held inet;
        lease integer;
        made ip_allocations;
        done text;  -- what a call made for its effect returns
    BEGIN
        -- One allocation per pool at a time, until commit. A transaction-level advisory lock rather than
        -- SELECT ... FOR UPDATE: a waiter then simply reads the row afresh (a new snapshot per statement)
        -- instead of chasing the updated row version (EvalPlanQual), which cost ~100 us per contended
        -- allocation. Writers that do not allocate (releases) update the row under its row lock as usual.
        IF p_subscriber IS NOT NULL THEN
            PERFORM 1 FROM subscribers s WHERE s.tenant_id = p_tenant AND s.id = p_subscriber FOR KEY SHARE;
        END IF;
        done := pg_advisory_xact_lock(hashtextextended('ispops.ipam.pool:' || p_pool, 0))::text;
        -- One statement reads the pool and whether its free list has entries and its cursor is taken.
        SELECT p.start_ip, p.end_ip, p.next_ip, p.total_ips, p.allocated_ips, p.default_lease_seconds,
               (p.pool_type = 'static' AND p.delegated_prefix_length IS NULL AND family(p.start_ip) = 4) AS static4,
               EXISTS (SELECT 1 FROM ip_pool_free f WHERE f.tenant_id = p_tenant AND f.ip_pool_id = p_pool)
                   AS has_free,
               EXISTS (SELECT 1 FROM ip_allocations a
                        WHERE a.tenant_id = p_tenant AND a.ip_address = p.next_ip AND a.status <> 'released')
                   AS cursor_taken
          INTO pool
          FROM ip_pools p
         WHERE p.tenant_id = p_tenant AND p.id = p_pool AND p.deleted_at IS NULL AND p.is_active
           AND (p_subscriber IS NULL OR p.pool_type NOT IN ('reserved', 'vpn'));
        IF NOT FOUND THEN
            RETURN;
        END IF;
        lease := COALESCE(p_lease_seconds, CASE WHEN p_status <> 'reserved' THEN pool.default_lease_seconds END);
        IF p_ip IS NOT NULL THEN
            DELETE FROM ip_pool_free WHERE tenant_id = p_tenant AND ip_pool_id = p_pool AND ip_address = p_ip;
            INSERT INTO ip_allocations (tenant_id, ip_pool_id, subscriber_id, ip_address, mac_address, status,
                                        lease_start, lease_end)
            VALUES (p_tenant, p_pool, p_subscriber, p_ip, p_mac, p_status,
                    CASE WHEN lease IS NOT NULL THEN p_now END, p_now + make_interval(secs => lease))
            RETURNING * INTO made;
            RETURN NEXT made;
            RETURN;
        END IF;
        IF pool.allocated_ips >= pool.total_ips THEN
            RETURN;
        END IF;
        cursor_after := pool.next_ip;
        -- The free list, lowest first (an entry taken meanwhile by another writer is dropped).
        WHILE pool.has_free LOOP
            EXIT WHEN NOT EXISTS (
                SELECT 1 FROM ip_pool_free f WHERE f.tenant_id = p_tenant AND f.ip_pool_id = p_pool);
            DELETE FROM ip_pool_free WHERE id = (
                SELECT f.id FROM ip_pool_free f WHERE f.tenant_id = p_tenant AND f.ip_pool_id = p_pool
                 ORDER BY f.ip_address LIMIT 1)
            RETURNING ip_address INTO cand;
            EXIT WHEN NOT EXISTS (
                SELECT 1 FROM ip_allocations a
                 WHERE a.tenant_id = p_tenant AND a.ip_address = cand AND a.status <> 'released');
            cand := NULL;
        END LOOP;
        IF cand IS NULL THEN  -- the cursor, skipping addresses taken by request
            cand := pool.next_ip;
            IF pool.cursor_taken THEN
                WHILE cand IS NOT NULL AND EXISTS (
                    SELECT 1 FROM ip_allocations a
                     WHERE a.tenant_id = p_tenant AND a.ip_address = cand AND a.status <> 'released') LOOP
                    cand := ipam_next(cand, pool.end_ip);
                END LOOP;
            END IF;
            cursor_after := ipam_next(cand, pool.end_ip);
        END IF;
        IF cand IS NULL THEN  -- the counter says there is room, cursor and list say not: find a gap
            cand := pool.start_ip;
            FOR held IN
                SELECT a.ip_address FROM ip_allocations a
                 WHERE a.tenant_id = p_tenant AND a.ip_address >= pool.start_ip AND a.ip_address <= pool.end_ip
                   AND a.status <> 'released'
                 ORDER BY a.ip_address
            LOOP
                EXIT WHEN held > cand;
                cand := ipam_next(cand, pool.end_ip);
                EXIT WHEN cand IS NULL;
            END LOOP;
            IF cand IS NULL THEN
                RETURN;
            END IF;
        END IF;
        -- The rules ipam_allocation_guard keeps for other writers (migration 0020), on what is inserted below.
        IF NOT ((p_now + make_interval(secs => lease)) IS NULL OR (CASE WHEN lease IS NOT NULL THEN p_now END) IS NULL OR (p_now + make_interval(secs => lease)) > (CASE WHEN lease IS NOT NULL THEN p_now END)) THEN
            RAISE EXCEPTION 'lease_end % must be after lease_start %', (p_now + make_interval(secs => lease)), (CASE WHEN lease IS NOT NULL THEN p_now END)
                USING ERRCODE = 'check_violation', TABLE = 'ip_allocations', COLUMN = 'lease_end',
                      CONSTRAINT = 'ck_ip_allocations__lease_end';
        END IF;
        IF NOT (p_mac ~ '^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$') THEN
            RAISE EXCEPTION 'mac_address % is not a MAC address like 02:00:5e:00:53:01', p_mac
                USING ERRCODE = 'check_violation', TABLE = 'ip_allocations', COLUMN = 'mac_address',
                      CONSTRAINT = 'ck_ip_allocations__mac_address';
        END IF;
        IF NOT ((p_status = 'released') = (NULL::timestamptz IS NOT NULL)) THEN
            RAISE EXCEPTION 'released_at must be set when, and only when, status is released (status %)', p_status
                USING ERRCODE = 'check_violation', TABLE = 'ip_allocations', COLUMN = 'released_at',
                      CONSTRAINT = 'ck_ip_allocations__released_at';
        END IF;
        IF NOT (p_status IN ('allocated', 'active', 'reserved', 'released')) THEN
            RAISE EXCEPTION 'status must be allocated, active, reserved or released, not %', p_status
                USING ERRCODE = 'check_violation', TABLE = 'ip_allocations', COLUMN = 'status',
                      CONSTRAINT = 'ck_ip_allocations__status';
        END IF;
        -- From here on the generic triggers stand aside: this function keeps the pool row and the
        -- new allocation right itself (migration 0018: the derived columns of the pool too).
        done := set_config('ispops.ipam_allocator', 'on', true);
        UPDATE ip_pools SET allocated_ips = allocated_ips + 1, next_ip = cursor_after,
                            available_ips = total_ips - (allocated_ips + 1),
                            utilisation_percent = CASE WHEN total_ips > 0 THEN round((allocated_ips + 1)::numeric * 100 / total_ips, 2) ELSE 0 END,
                            warning = total_ips > 0 AND (allocated_ips + 1)::numeric * 100 >= total_ips::numeric * warning_threshold_percent
         WHERE tenant_id = p_tenant AND id = p_pool;
        IF pool.static4 AND p_subscriber IS NOT NULL AND p_status <> 'reserved' THEN
            UPDATE subscribers SET static_ip_address = cand
             WHERE tenant_id = p_tenant AND id = p_subscriber AND static_ip_address IS DISTINCT FROM cand;
        END IF;
        INSERT INTO ip_allocations (tenant_id, ip_pool_id, subscriber_id, ip_address, mac_address, status,
                                    lease_start, lease_end)
        VALUES (p_tenant, p_pool, p_subscriber, cand, p_mac, p_status,
                CASE WHEN lease IS NOT NULL THEN p_now END, p_now + make_interval(secs => lease))
        RETURNING * INTO made;
        done := set_config('ispops.ipam_allocator', '', true);
        RETURN NEXT made;
    END
    $function$;

CREATE OR REPLACE FUNCTION public.ipam_static_address(p_tenant text, p_pool uuid)
 RETURNS boolean
 LANGUAGE plpgsql
 STABLE
AS $function$
    BEGIN
        RETURN EXISTS (SELECT 1 FROM ip_pools p WHERE p.tenant_id = p_tenant AND p.id = p_pool
                       AND p.pool_type = 'static' AND p.delegated_prefix_length IS NULL
                       AND family(p.network_cidr) = 4);
    END
    $function$;
