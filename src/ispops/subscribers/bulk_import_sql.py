"""The subscriber import's SQL: the staging table, the checks against the tenant's data, the set-based writes.

Every statement names the tenant (``:t``) beside row-level security. ``:a``/``:b`` bound one chunk of the
staged rows by ``seq`` (1..n in file order).
"""

from __future__ import annotations

STAGE_COLUMNS = (
    "seq",
    "row_no",
    "id",
    "subscriber_number",
    "service_type",
    "connection_type",
    "status",
    "plan",
    "plan_id",
    "username",
    "credential",
    "static_ip",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "country",
    "latitude",
    "longitude",
    "mac_address",
    "vlan_id",
    "notes",
)
STAGE = """
CREATE TEMP TABLE IF NOT EXISTS ispops_import_stage (
    seq integer NOT NULL, row_no integer NOT NULL, id uuid NOT NULL, subscriber_number text NOT NULL,
    service_type text NOT NULL, connection_type text, status text NOT NULL, plan text NOT NULL, plan_id uuid,
    username text NOT NULL, credential text NOT NULL, static_ip inet, address_line1 text, address_line2 text,
    city text, state text, postal_code text, country text, latitude numeric, longitude numeric,
    mac_address text, vlan_id integer, notes text, profile_id uuid, pool_id uuid
) ON COMMIT DROP
"""
COPY_STAGE = f"COPY ispops_import_stage ({', '.join(STAGE_COLUMNS)}) FROM STDIN"

# --- checks against the tenant's data: (row_no, column, message) -------------------------------------------

RESOLVE_PLANS = """
UPDATE ispops_import_stage s SET profile_id = p.id
  FROM bandwidth_profiles p
 WHERE p.tenant_id = :t AND p.deleted_at IS NULL AND (p.id = s.plan_id OR p.name = s.plan)
"""
CHECKS = [
    """
    SELECT s.row_no, 'plan', 'no plan ' || quote_literal(s.plan) || ' in this tenant (by name or id)'
      FROM ispops_import_stage s WHERE s.profile_id IS NULL
    """,
    """
    SELECT s.row_no, 'plan', 'plan ' || quote_literal(p.name) || ' is not active'
      FROM ispops_import_stage s JOIN bandwidth_profiles p ON p.tenant_id = :t AND p.id = s.profile_id
     WHERE NOT p.is_active
    """,
    """
    SELECT s.row_no, 'subscriber_number', quote_literal(s.subscriber_number) || ' already exists in this tenant'
      FROM ispops_import_stage s
      JOIN subscribers x ON x.tenant_id = :t AND x.deleted_at IS NULL AND x.subscriber_number = s.subscriber_number
    """,
    """
    SELECT s.row_no, 'username', quote_literal(s.username) || ' is already the user name of subscriber '
           || x.subscriber_number
      FROM ispops_import_stage s
      JOIN subscribers x ON x.tenant_id = :t AND x.deleted_at IS NULL AND x.pppoe_username = s.username
    """,
]
# The pool whose range holds each static address (ranges of a tenant's live pools never overlap).
RESOLVE_POOLS = """
UPDATE ispops_import_stage s SET pool_id = p.id
  FROM ip_pools p
 WHERE p.tenant_id = :t AND p.deleted_at IS NULL AND s.static_ip IS NOT NULL
   AND p.delegated_prefix_length IS NULL AND family(p.start_ip) = 4
   AND s.static_ip >= p.start_ip AND s.static_ip <= p.end_ip
"""
IP_CHECKS = [
    """
    SELECT s.row_no, 'static_ip', host(s.static_ip) || ' is not inside any IP pool of this tenant'
      FROM ispops_import_stage s WHERE s.static_ip IS NOT NULL AND s.pool_id IS NULL
    """,
    """
    SELECT s.row_no, 'static_ip', host(s.static_ip) || ' is in pool ' || quote_literal(p.name) || ', a '
           || p.pool_type || ' pool: a static address comes from a static pool'
      FROM ispops_import_stage s JOIN ip_pools p ON p.tenant_id = :t AND p.id = s.pool_id
     WHERE p.pool_type <> 'static'
    """,
    """
    SELECT s.row_no, 'static_ip', 'pool ' || quote_literal(p.name) || ' is not active'
      FROM ispops_import_stage s JOIN ip_pools p ON p.tenant_id = :t AND p.id = s.pool_id
     WHERE p.pool_type = 'static' AND NOT p.is_active
    """,
    """
    SELECT s.row_no, 'static_ip', host(s.static_ip) || ' is already allocated (pool ' || quote_literal(p.name) || ')'
      FROM ispops_import_stage s JOIN ip_pools p ON p.tenant_id = :t AND p.id = s.pool_id
     WHERE EXISTS (SELECT 1 FROM ip_allocations a WHERE a.tenant_id = :t AND a.ip_address = s.static_ip
                      AND a.status <> 'released')
    """,
]
QUOTA = "SELECT current_subscribers, max_subscribers, radius_password_type FROM tenants WHERE id = :t"
POOLS_USED = "SELECT DISTINCT pool_id FROM ispops_import_stage WHERE pool_id IS NOT NULL ORDER BY 1"
# ipam_allocate's lock: one allocation per pool at a time, until commit.
LOCK_POOL = "SELECT pg_advisory_xact_lock(hashtextextended('ispops.ipam.pool:' || cast(:p as text), 0))"

# --- the writes, one chunk at a time -----------------------------------------------------------------------

FLAG = "SELECT set_config('ispops.subscriber_import', :v, true)"
INSERT_SUBSCRIBERS = """
INSERT INTO subscribers (id, tenant_id, subscriber_number, service_type, connection_type, status,
                         service_address_line1, service_address_line2, service_address_city,
                         service_address_state, service_address_postal_code, service_address_country,
                         service_location_lat, service_location_lng, bandwidth_profile_id, static_ip_address,
                         vlan_id, pppoe_username, mac_address, notes, service_activated_at, service_suspended_at)
SELECT id, :t, subscriber_number, service_type, connection_type, status, address_line1, address_line2, city,
       state, postal_code, country, latitude, longitude, profile_id, static_ip, vlan_id, username, mac_address,
       notes, CASE WHEN status IN ('active', 'suspended') THEN now() END,
       CASE WHEN status = 'suspended' THEN now() END
  FROM ispops_import_stage WHERE seq BETWEEN :a AND :b ORDER BY seq
"""
ANALYZE = "SELECT ispops_subscriber_import_analyze()"
COUNT = (
    "SELECT ispops_subscriber_import_count(:t, ARRAY(SELECT id FROM ispops_import_stage WHERE seq BETWEEN :a AND :b))"
)

# RADIUS rows. ispops_radius_rows renders a subscriber from its tenant, plan, status, throttle and static
# address; the rows of two new subscribers with the same plan, status and address family differ only in
# subscriber_id, username and the address itself. So the rules are evaluated once per such class (on one
# representative subscriber) and copied to the class's members; VERIFY_MEMBERS compares one more member of
# every class with ispops_radius_rows itself, and tests prove the result equal to the triggers' path.
CLASS_ROWS = """
CREATE TEMP TABLE IF NOT EXISTS ispops_import_rows (
    profile_id uuid, status text, no_ip boolean, tbl text, attribute text, op text, value text, ord integer
) ON COMMIT DROP
"""
FILL_CLASS_ROWS = """
WITH reps AS (
    SELECT DISTINCT ON (profile_id, status, static_ip IS NULL) id, profile_id, status, static_ip IS NULL AS no_ip
      FROM ispops_import_stage WHERE seq BETWEEN :a AND :b
     ORDER BY profile_id, status, static_ip IS NULL, seq
)
INSERT INTO ispops_import_rows
SELECT r.profile_id, r.status, r.no_ip, w.tbl, w.attribute, w.op, w.value, w.ord
  FROM reps r JOIN ispops_radius_rows(:t, ARRAY(SELECT id FROM reps)) w ON w.subscriber_id = r.id
"""
MEMBER_ROWS = """
SELECT :t, m.id, m.username, w.attribute, w.op,
       CASE WHEN w.attribute IN ('Framed-IP-Address', 'Framed-IPv6-Address') THEN host(m.static_ip) ELSE w.value END
  FROM ispops_import_stage m
  JOIN ispops_import_rows w ON w.profile_id = m.profile_id AND w.status = m.status AND w.no_ip = (m.static_ip IS NULL)
 WHERE m.seq BETWEEN :a AND :b AND w.tbl = '{tbl}'
 ORDER BY m.id, w.ord
"""
INSERT_RADREPLY = (
    "INSERT INTO radreply (tenant_id, subscriber_id, username, attribute, op, value)"
    + MEMBER_ROWS.format(tbl="radreply")
)
# As ispops_radius_render: a radcheck row of the same name that is not a subscriber's is taken over.
INSERT_RADCHECK = (
    "INSERT INTO radcheck (tenant_id, subscriber_id, username, attribute, op, value)"
    + MEMBER_ROWS.format(tbl="radcheck")
    + " ON CONFLICT (tenant_id, username, attribute) DO UPDATE SET subscriber_id = EXCLUDED.subscriber_id, "
    "op = EXCLUDED.op, value = EXCLUDED.value"
)
VERIFY_IDS = """
SELECT DISTINCT ON (profile_id, status, static_ip IS NULL) id
  FROM ispops_import_stage WHERE seq BETWEEN :a AND :b
 ORDER BY profile_id, status, static_ip IS NULL, seq DESC
"""
EXPECTED_ROWS = """
SELECT subscriber_id::text, username, tbl, attribute, op, value
  FROM ispops_radius_rows(:t, CAST(:ids AS uuid[])) ORDER BY 1, 3, 4, 6
"""
STORED_ROWS = """
SELECT subscriber_id::text, username, 'radcheck', attribute, op, value FROM radcheck
 WHERE tenant_id = :t AND subscriber_id = ANY (CAST(:ids AS uuid[]))
   AND ispops_radius_managed('radcheck', attribute, value)
UNION ALL
SELECT subscriber_id::text, username, 'radreply', attribute, op, value FROM radreply
 WHERE tenant_id = :t AND subscriber_id = ANY (CAST(:ids AS uuid[]))
   AND ispops_radius_managed('radreply', attribute, value)
ORDER BY 1, 3, 4, 6
"""

# The credential row, as ispops.radius.provisioning.write_password writes it (earlier credential rows of the
# same name, which can only be manual ones here, are replaced).
DROP_CREDENTIALS = """
DELETE FROM radcheck r USING ispops_import_stage m
 WHERE r.tenant_id = :t AND m.seq BETWEEN :a AND :b AND r.username = m.username
   AND r.attribute IN ('Cleartext-Password', 'NT-Password')
"""
INSERT_CREDENTIALS = """
INSERT INTO radcheck (tenant_id, subscriber_id, username, attribute, op, value)
SELECT :t, id, username, :attribute, ':=', credential FROM ispops_import_stage WHERE seq BETWEEN :a AND :b ORDER BY seq
"""

# Static addresses, as ipam_allocate(pool, address, subscriber) allocates one: the free-list entry goes, the
# allocation is inserted with the pool's default lease, the pool's counter moves (its usage columns follow
# by the ip_pools trigger). The generic per-row allocation triggers stand aside as for ipam_allocate
# (ispops.ipam_allocator): the subscriber already carries its address.
ALLOCATOR = "SELECT set_config('ispops.ipam_allocator', :v, true)"
DROP_FREE = """
DELETE FROM ip_pool_free f USING ispops_import_stage m
 WHERE f.tenant_id = :t AND m.seq BETWEEN :a AND :b AND f.ip_pool_id = m.pool_id AND f.ip_address = m.static_ip
"""
INSERT_ALLOCATIONS = """
INSERT INTO ip_allocations (tenant_id, ip_pool_id, subscriber_id, ip_address, mac_address, status, lease_start,
                            lease_end)
SELECT :t, m.pool_id, m.id, m.static_ip, NULL, 'allocated',
       CASE WHEN p.default_lease_seconds IS NOT NULL THEN now() END,
       now() + make_interval(secs => p.default_lease_seconds)
  FROM ispops_import_stage m JOIN ip_pools p ON p.tenant_id = :t AND p.id = m.pool_id
 WHERE m.seq BETWEEN :a AND :b ORDER BY m.seq
"""
COUNT_ALLOCATIONS = """
UPDATE ip_pools p SET allocated_ips = p.allocated_ips + c.n
  FROM (SELECT pool_id, count(*) AS n FROM ispops_import_stage
         WHERE seq BETWEEN :a AND :b AND pool_id IS NOT NULL GROUP BY pool_id) c
 WHERE p.tenant_id = :t AND p.id = c.pool_id
"""
