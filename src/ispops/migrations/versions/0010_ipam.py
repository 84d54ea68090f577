"""IPAM allocator (issue 5): pool rules, a per-pool cursor plus free list, leases, static addresses.

How an address is found (``ipam_allocate``): the pool's advisory lock is taken (allocations from one
pool are serialised until commit; they update the pool row's exact ``allocated_ips`` anyway); the
lowest address on the pool's free list (``ip_pool_free``: addresses given back by releases) is taken
first, else the cursor ``ip_pools.next_ip`` is used and advanced. Both are O(1) however full the pool
is. The partial unique index on ``ip_allocations (tenant_id, ip_address)`` stays the guarantee: the
allocator only keeps the common case fast. An address held by a row written some other way is skipped
(free-list entries are checked before use), and if the cursor is spent while the counter says space is
left, the pool is scanned for the first gap (self-healing after writes that bypassed the triggers).

Pools may share a network (a static and a dynamic range in one /24) but their ranges may not overlap
within a tenant, nor contain another pool's gateway; other tenants may reuse the same space. Under RLS
the hot predicates use leakproof operators only (``=``, ``<``, ``>=`` on inet, uuid and text).

IPv6 prefix-delegation pools have ``delegated_prefix_length`` (up to 64): ``start_ip``/``end_ip`` and
every allocation are prefixes of that length (``2001:db8:0:100::/56``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24
"""

from __future__ import annotations

from ispops.db.ddl import TENANT_COLUMN, counter, create_table, steps, tenant_fk, tenant_table

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

HELPERS = [
    # The first and the last address of a value, as host addresses (/32, /128): for range comparisons
    # that must not depend on a prefix length (inet orders by the common prefix, then by mask length).
    "CREATE FUNCTION ipam_first(a inet) RETURNS inet LANGUAGE sql IMMUTABLE PARALLEL SAFE "
    "RETURN set_masklen(a, CASE family(a) WHEN 4 THEN 32 ELSE 128 END)",
    "CREATE FUNCTION ipam_last(a inet) RETURNS inet LANGUAGE sql IMMUTABLE PARALLEL SAFE "
    "RETURN set_masklen(broadcast(a), CASE family(a) WHEN 4 THEN 32 ELSE 128 END)",
    # The slot after ``cur`` (an address, or a prefix of cur's length), NULL past ``last``.
    "CREATE FUNCTION ipam_next(cur inet, last inet) RETURNS inet LANGUAGE sql IMMUTABLE PARALLEL SAFE "
    "RETURN CASE WHEN cur >= last THEN NULL ELSE set_masklen(broadcast(cur) + 1, masklen(cur)) END",
]

# Every column of ip_pools but the counter (allocated_ips), the cursor (next_ip) and the generated ones.
POOL_EDITABLE = [
    "id",
    "tenant_id",
    "name",
    "description",
    "network_cidr",
    "gateway",
    "dns_primary",
    "dns_secondary",
    "start_ip",
    "end_ip",
    "total_ips",
    "pool_type",
    "vlan_id",
    "is_active",
    "delegated_prefix_length",
    "default_lease_seconds",
    "warning_threshold_percent",
    "created_at",
    "updated_at",
    "deleted_at",
    "created_by",
    "updated_by",
]

POOL_COLUMNS = [
    "ALTER TABLE ip_pools ADD COLUMN delegated_prefix_length integer",
    "ALTER TABLE ip_pools ADD COLUMN next_ip inet",
    "ALTER TABLE ip_pools ADD COLUMN default_lease_seconds integer",
    "ALTER TABLE ip_pools ADD COLUMN warning_threshold_percent integer NOT NULL DEFAULT 90",
    "ALTER TABLE ip_pools ADD COLUMN utilisation_percent numeric(5,2) GENERATED ALWAYS AS "
    "(CASE WHEN total_ips > 0 THEN round(allocated_ips::numeric * 100 / total_ips, 2) ELSE 0 END) STORED",
    "ALTER TABLE ip_pools ADD COLUMN warning boolean GENERATED ALWAYS AS "
    "(total_ips > 0 AND allocated_ips::numeric * 100 >= total_ips::numeric * warning_threshold_percent) STORED",
    "UPDATE ip_pools SET next_ip = start_ip",
    # The counter and the cursor change with every allocation and are not edits (errata 11): the audit
    # trigger watches the other columns only, so the allocator's update of the pool row neither bumps
    # updated_at/updated_by nor pays for the trigger.
    "DROP TRIGGER ip_pools_audit ON ip_pools",
    f"CREATE TRIGGER ip_pools_audit BEFORE INSERT OR UPDATE OF {', '.join(POOL_EDITABLE)} ON ip_pools "
    "FOR EACH ROW EXECUTE FUNCTION ispops_audit_columns()",
]

# The rules below are what CHECK constraints would say, but PostgreSQL re-reads and re-plans every CHECK
# of a table on every UPDATE of a row, and the allocator updates the pool row once per allocation (the
# counter and the cursor): ~70 us per allocation for these four. The trigger runs only when one of the
# columns involved changes. Errors carry ck_ names, so they name the field like a CHECK would.
POOL_RULES = """
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
"""

FREE_LIST = [
    create_table(
        "ip_pool_free",
        [
            "id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            TENANT_COLUMN,
            "ip_pool_id uuid NOT NULL",
            "ip_address inet NOT NULL",
            "CONSTRAINT uq_ip_pool_free__tenant_id__ip_pool_id__ip_address UNIQUE (tenant_id, ip_pool_id, ip_address)",
            tenant_fk("ip_pool_free", "ip_pool_id", "ip_pools", on_delete="CASCADE"),
        ],
    ),
    *tenant_table("ip_pool_free", audit=False),
]

# Raised with our constraint names so ispops.errors.translate reports the field (422) or a 409.
POOL_GUARD = [
    """
    CREATE FUNCTION ipam_pool_guard() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        lo inet := ipam_first(NEW.start_ip);
        hi inet := ipam_last(NEW.end_ip);
        other text;
    BEGIN"""
    + POOL_RULES
    + """
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
    $$
    """,
    "CREATE TRIGGER ip_pools_ipam BEFORE INSERT OR UPDATE OF network_cidr, start_ip, end_ip, "
    "delegated_prefix_length, gateway, deleted_at, tenant_id, default_lease_seconds, warning_threshold_percent "
    "ON ip_pools "
    "FOR EACH ROW EXECUTE FUNCTION ipam_pool_guard()",
]

# The allocator's own fast path counts, checks and mirrors its row itself (one update of the pool row
# instead of two, no dynamic SQL): while it inserts, it sets this transaction-local flag and these
# triggers stand aside. Every other writer (requests for a given address, releases, the generic API,
# imports) goes through them.
NOT_ALLOCATOR = "current_setting('ispops.ipam_allocator', true) IS DISTINCT FROM 'on'"
COUNTER_ARGS = "'ip_pools', 'ip_pool_id', 'allocated_ips', 'status <> ''released'''"

ALLOCATION_GUARD = [
    # A live allocation lies in its pool's range, has the pool's prefix length, and its pool is live.
    """
    CREATE FUNCTION ipam_allocation_guard() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        pool record;
    BEGIN
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
    $$
    """,
    "CREATE TRIGGER ip_allocations_ipam_guard BEFORE INSERT OR UPDATE OF ip_address, ip_pool_id, status "
    f"ON ip_allocations FOR EACH ROW WHEN ({NOT_ALLOCATOR}) EXECUTE FUNCTION ipam_allocation_guard()",
    "DROP TRIGGER ip_allocations_count_allocated_ips ON ip_allocations",
    "CREATE TRIGGER ip_allocations_count_allocated_ips AFTER INSERT OR UPDATE OR DELETE ON ip_allocations "
    f"FOR EACH ROW WHEN ({NOT_ALLOCATOR}) EXECUTE FUNCTION ispops_bump_counter({COUNTER_ARGS})",
    # Reclaiming leases looks at one tenant's live rows with a lease (the 0004 index held every NULL too).
    "DROP INDEX idx_ip_allocations_lease_end",
    "CREATE INDEX idx_ip_allocations_lease_end ON ip_allocations (tenant_id, lease_end) "
    "WHERE lease_end IS NOT NULL AND status <> 'released'",
]

# After a change: an address given back goes on its pool's free list; a static IPv4 address held by a
# subscriber is mirrored in subscribers.static_ip_address (the newest one it holds), which RADIUS
# provisioning renders as Framed-IP-Address.
ALLOCATION_EFFECTS = [
    """
    CREATE FUNCTION ipam_static_address(p_tenant text, p_pool uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE AS $$
    BEGIN
        RETURN EXISTS (SELECT 1 FROM ip_pools p WHERE p.tenant_id = p_tenant AND p.id = p_pool
                       AND p.pool_type = 'static' AND p.delegated_prefix_length IS NULL
                       AND family(p.network_cidr) = 4);
    END
    $$
    """,
    """
    CREATE FUNCTION ipam_allocation_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
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
    $$
    """,
    "CREATE TRIGGER ip_allocations_ipam_insert AFTER INSERT ON ip_allocations FOR EACH ROW "
    f"WHEN ({NOT_ALLOCATOR} AND NEW.subscriber_id IS NOT NULL AND NEW.status IN ('allocated', 'active')) "
    "EXECUTE FUNCTION ipam_allocation_changed()",
    "CREATE TRIGGER ip_allocations_ipam_update AFTER UPDATE ON ip_allocations FOR EACH ROW "
    "WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.ip_address IS DISTINCT FROM NEW.ip_address "
    "OR OLD.ip_pool_id IS DISTINCT FROM NEW.ip_pool_id OR OLD.subscriber_id IS DISTINCT FROM NEW.subscriber_id) "
    "EXECUTE FUNCTION ipam_allocation_changed()",
    "CREATE TRIGGER ip_allocations_ipam_delete AFTER DELETE ON ip_allocations FOR EACH ROW "
    "WHEN (OLD.subscriber_id IS NOT NULL AND OLD.status IN ('allocated', 'active')) "
    "EXECUTE FUNCTION ipam_allocation_changed()",
]

# The allocator. SECURITY INVOKER: row-level security applies to every statement in it. Returns the new
# row, or no row when the pool is missing, deleted, inactive, reserved (for a subscriber) or full; the
# caller tells which. A requested address is inserted like any other write (the triggers check it).
ALLOCATE = [
    """
    CREATE FUNCTION ipam_allocate(
        p_tenant text, p_pool uuid, p_ip inet, p_subscriber uuid, p_status text, p_mac text,
        p_lease_seconds integer, p_now timestamptz
    ) RETURNS SETOF ip_allocations
    LANGUAGE plpgsql AS $$
    DECLARE
        pool record;
        cand inet;
        cursor_after inet;
        held inet;
        lease integer;
        made ip_allocations;
    BEGIN
        -- One allocation per pool at a time, until commit. A transaction-level advisory lock rather than
        -- SELECT ... FOR UPDATE: a waiter then simply reads the row afresh (a new snapshot per statement)
        -- instead of chasing the updated row version (EvalPlanQual), which cost ~100 us per contended
        -- allocation. Writers that do not allocate (releases) update the row under its row lock as usual.
        PERFORM pg_advisory_xact_lock(hashtextextended('ispops.ipam.pool:' || p_pool, 0));
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
           AND (p_subscriber IS NULL OR p.pool_type <> 'reserved');
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
        WHILE pool.has_free AND EXISTS (
            SELECT 1 FROM ip_pool_free f WHERE f.tenant_id = p_tenant AND f.ip_pool_id = p_pool) LOOP
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
            WHILE pool.cursor_taken AND cand IS NOT NULL AND EXISTS (
                SELECT 1 FROM ip_allocations a
                 WHERE a.tenant_id = p_tenant AND a.ip_address = cand AND a.status <> 'released') LOOP
                cand := ipam_next(cand, pool.end_ip);
            END LOOP;
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
        UPDATE ip_pools SET allocated_ips = allocated_ips + 1, next_ip = cursor_after
         WHERE tenant_id = p_tenant AND id = p_pool;
        IF pool.static4 AND p_subscriber IS NOT NULL AND p_status <> 'reserved' THEN
            UPDATE subscribers SET static_ip_address = cand
             WHERE tenant_id = p_tenant AND id = p_subscriber AND static_ip_address IS DISTINCT FROM cand;
        END IF;
        PERFORM set_config('ispops.ipam_allocator', 'on', true);
        INSERT INTO ip_allocations (tenant_id, ip_pool_id, subscriber_id, ip_address, mac_address, status,
                                    lease_start, lease_end)
        VALUES (p_tenant, p_pool, p_subscriber, cand, p_mac, p_status,
                CASE WHEN lease IS NOT NULL THEN p_now END, p_now + make_interval(secs => lease))
        RETURNING * INTO made;
        PERFORM set_config('ispops.ipam_allocator', '', true);
        RETURN NEXT made;
    END
    $$
    """,
]

UPGRADE: list[str] = HELPERS + POOL_COLUMNS + FREE_LIST + POOL_GUARD + ALLOCATION_GUARD + ALLOCATION_EFFECTS + ALLOCATE

DOWNGRADE: list[str] = [
    "DROP FUNCTION ipam_allocate(text, uuid, inet, uuid, text, text, integer, timestamptz)",
    "DROP TRIGGER ip_allocations_ipam_delete ON ip_allocations",
    "DROP TRIGGER ip_allocations_ipam_update ON ip_allocations",
    "DROP TRIGGER ip_allocations_ipam_insert ON ip_allocations",
    "DROP FUNCTION ipam_allocation_changed()",
    "DROP FUNCTION ipam_static_address(text, uuid)",
    "DROP INDEX idx_ip_allocations_lease_end",
    "CREATE INDEX idx_ip_allocations_lease_end ON ip_allocations (lease_end) WHERE status <> 'released'",
    "DROP TRIGGER ip_allocations_count_allocated_ips ON ip_allocations",
    counter("ip_allocations", "ip_pools", "ip_pool_id", "allocated_ips", "status <> 'released'"),
    "DROP TRIGGER ip_allocations_ipam_guard ON ip_allocations",
    "DROP FUNCTION ipam_allocation_guard()",
    "DROP TRIGGER ip_pools_ipam ON ip_pools",
    "DROP FUNCTION ipam_pool_guard()",
    "DROP TABLE ip_pool_free",
    "DROP TRIGGER ip_pools_audit ON ip_pools",
    "CREATE TRIGGER ip_pools_audit BEFORE INSERT OR UPDATE ON ip_pools "
    "FOR EACH ROW EXECUTE FUNCTION ispops_audit_columns()",
    "ALTER TABLE ip_pools DROP COLUMN warning",
    "ALTER TABLE ip_pools DROP COLUMN utilisation_percent",
    "ALTER TABLE ip_pools DROP COLUMN warning_threshold_percent",
    "ALTER TABLE ip_pools DROP COLUMN default_lease_seconds",
    "ALTER TABLE ip_pools DROP COLUMN next_ip",
    "ALTER TABLE ip_pools DROP COLUMN delegated_prefix_length",
    "DROP FUNCTION ipam_next(inet, inet)",
    "DROP FUNCTION ipam_last(inet)",
    "DROP FUNCTION ipam_first(inet)",
]

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
