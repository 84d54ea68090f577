"""RADIUS provisioning: radcheck/radreply rendered from subscribers and plans (issue 4).

The database renders a subscriber's RADIUS rows itself, in the transaction that changes the subscriber,
its plan or its tenant's RADIUS policy — whoever makes the change (API, CLI, a job, psql):

- ``ispops_radius_rows(tenant, ids)``: what the rows of these subscribers should be (a query, no writes).
- ``ispops_radius_render(tenant, ids, profiles)``: brings radcheck/radreply in step with it: every row of
  a terminated, deleted or username-less subscriber goes, rows follow a username change, and the
  *managed* rows (``ispops_radius_managed``) are made equal to the wanted ones (changed rows only).
  Manual rows (any other attribute) and the credential rows (written by ``ispops.radius.provisioning``)
  are left alone. Set-based: one call renders any number of subscribers of one tenant.
- Triggers: statement-level on subscribers (INSERT, UPDATE, DELETE) and bandwidth_profiles (UPDATE) with
  transition tables, so one statement re-renders every subscriber it touched in one call per tenant; a
  row trigger on the RADIUS policy columns of tenants (SECURITY DEFINER: the platform role that changes a
  tenant has no rights on tenant tables).

Rendering runs under RLS as the invoking role. When a trigger fires without the tenant setting (the
owner or a superuser writing, the platform role through the tenants trigger), the render sets it to the
row's tenant for its own statements and puts the caller's value back; a transaction acting for another
tenant is refused. It stays linear however stale the statistics are (see RENDER). The tenant's
radius_password_type is not rendered: it applies at each subscriber's next password set (Python).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24
"""

from __future__ import annotations

from ispops.db.ddl import steps

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Keep equal to ispops.radius.provisioning.MANAGED_CHECK / MANAGED_REPLY (a test compares them).
MANAGED = """
CREATE FUNCTION ispops_radius_managed(tbl text, attribute text, value text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE tbl
    WHEN 'radcheck' THEN attribute IN ('Auth-Type', 'Simultaneous-Use')
    WHEN 'radreply' THEN attribute IN (
            'Mikrotik-Rate-Limit', 'Mikrotik-Address-List', 'ERX-Qos-Profile-Name',
            'WISPr-Bandwidth-Max-Up', 'WISPr-Bandwidth-Max-Down', 'Framed-IP-Address', 'Framed-IPv6-Address',
            'Session-Timeout', 'Acct-Interim-Interval')
        OR (attribute = 'Cisco-AVPair'
            AND (value LIKE 'ip:sub-qos-policy-in=%' OR value LIKE 'ip:sub-qos-policy-out=%'))
    ELSE false
END
"""

# What identifies a managed row of a subscriber: the attribute, and for Cisco-AVPair which policy.
KEY = """
CREATE FUNCTION ispops_radius_mapkey(subscriber_id uuid, attribute text, value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN subscriber_id::text || '|' || attribute
       || CASE WHEN attribute = 'Cisco-AVPair' THEN ':' || split_part(value, '=', 1) ELSE '' END
"""

# A rate in kbit/s as MikroTik writes it: whole megabits as "M", anything else in "k".
RATE = """
CREATE FUNCTION ispops_radius_rate(kbps bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN kbps % 1000 = 0 THEN (kbps / 1000)::text || 'M' ELSE kbps::text || 'k' END
"""

# What a subscriber's managed rows should be. mode: reject (pending, on_hold, suspended with 'reject'),
# walled_garden (suspended with 'walled_garden'), throttled (throttled_until in the future and the plan has
# FUP rates), plan. Rates in kbit/s; rx = client upload, tx = client download (router's view).
ROW_TYPE = """
CREATE TYPE ispops_radius_row AS (
    subscriber_id uuid, username text, tbl text, attribute text, op text, value text, ord integer
)
"""
# No SET clause, so the planner may inline it into the caller's statement (the render's custom plans
# then know the array's length).
ROWS = """
CREATE FUNCTION ispops_radius_rows(p_tenant text, p_ids uuid[]) RETURNS SETOF ispops_radius_row
LANGUAGE sql STABLE AS $$
WITH s AS (
    SELECT s.id, s.pppoe_username::text AS username, s.static_ip_address AS ip,
           t.radius_walled_garden_list AS wg_list, t.radius_interim_interval AS interim,
           COALESCE(p.session_timeout_seconds, t.radius_session_timeout) AS session_timeout,
           COALESCE(p.simultaneous_use, 1) AS simultaneous_use,
           p.download_mbps, p.upload_mbps, p.download_burst_mbps, p.upload_burst_mbps, p.burst_threshold_mbps,
           p.burst_time_seconds, p.priority, p.cisco_policy_in, p.cisco_policy_out, p.juniper_qos_profile,
           CASE
               WHEN s.status IN ('pending', 'on_hold') THEN 'reject'
               WHEN s.status = 'suspended' AND t.radius_suspended_action = 'reject' THEN 'reject'
               WHEN s.status = 'suspended' THEN 'walled_garden'
               WHEN s.throttled_until > now() AND p.fup_download_mbps IS NOT NULL THEN 'throttled'
               ELSE 'plan'
           END AS mode,
           CASE
               WHEN s.status = 'suspended' THEN t.radius_walled_garden_download_kbps::bigint
               WHEN s.throttled_until > now() AND p.fup_download_mbps IS NOT NULL
                   THEN p.fup_download_mbps * 1000::bigint
               ELSE p.download_mbps * 1000::bigint
           END AS down_k,
           CASE
               WHEN s.status = 'suspended' THEN t.radius_walled_garden_upload_kbps::bigint
               WHEN s.throttled_until > now() AND p.fup_download_mbps IS NOT NULL
                   THEN p.fup_upload_mbps * 1000::bigint
               ELSE p.upload_mbps * 1000::bigint
           END AS up_k
      FROM public.subscribers s
      JOIN public.tenants t ON t.id = s.tenant_id
      LEFT JOIN public.bandwidth_profiles p ON p.tenant_id = s.tenant_id AND p.id = s.bandwidth_profile_id
     WHERE s.tenant_id = p_tenant AND s.id = ANY (p_ids)
       AND s.deleted_at IS NULL AND s.status <> 'terminated' AND s.pppoe_username IS NOT NULL
), v AS (
    SELECT s.*,
           s.mode <> 'reject' AS served,
           public.ispops_radius_rate(s.up_k) || '/' || public.ispops_radius_rate(s.down_k) AS rate,
           CASE
               WHEN s.download_burst_mbps IS NULL AND s.upload_burst_mbps IS NULL THEN '0/0 0/0 0/0'
               ELSE public.ispops_radius_rate(COALESCE(s.upload_burst_mbps, s.upload_mbps) * 1000::bigint) || '/'
                    || public.ispops_radius_rate(COALESCE(s.download_burst_mbps, s.download_mbps) * 1000::bigint) || ' '
                    || public.ispops_radius_rate(CASE WHEN s.burst_threshold_mbps IS NULL THEN s.up_k
                           ELSE greatest(1, round(s.burst_threshold_mbps * 1000.0 * s.upload_mbps
                                                  / s.download_mbps))::bigint END) || '/'
                    || public.ispops_radius_rate(COALESCE(s.burst_threshold_mbps * 1000::bigint, s.down_k)) || ' '
                    || COALESCE(s.burst_time_seconds, 1)::text || '/' || COALESCE(s.burst_time_seconds, 1)::text
           END AS burst,
           'ispops-in-' || public.ispops_radius_rate(s.up_k) AS cisco_in,
           'ispops-out-' || public.ispops_radius_rate(s.down_k) AS cisco_out,
           'ispops-' || public.ispops_radius_rate(s.down_k) || '-' || public.ispops_radius_rate(s.up_k) AS juniper
      FROM s
)
SELECT v.id, v.username, x.tbl, x.attribute, x.op, x.value, x.ord
  FROM v
 CROSS JOIN LATERAL (VALUES
    (1, 'radcheck', 'Auth-Type', ':=', CASE WHEN NOT v.served THEN 'Reject' END),
    (2, 'radcheck', 'Simultaneous-Use', ':=', CASE WHEN v.served THEN v.simultaneous_use::text END),
    (3, 'radreply', 'Mikrotik-Rate-Limit', ':=', CASE v.mode
        WHEN 'plan' THEN v.rate || ' ' || v.burst || ' ' || least(v.priority, 8)::text
        WHEN 'throttled' THEN v.rate
        WHEN 'walled_garden' THEN v.up_k::text || 'k/' || v.down_k::text || 'k' END),
    (4, 'radreply', 'Mikrotik-Address-List', ':=', CASE WHEN v.mode = 'walled_garden' THEN v.wg_list END),
    (5, 'radreply', 'Cisco-AVPair', '+=', CASE WHEN v.served AND v.up_k IS NOT NULL THEN
        'ip:sub-qos-policy-in=' || CASE v.mode WHEN 'walled_garden' THEN v.wg_list
                                               WHEN 'plan' THEN COALESCE(v.cisco_policy_in, v.cisco_in)
                                               ELSE v.cisco_in END END),
    (6, 'radreply', 'Cisco-AVPair', '+=', CASE WHEN v.served AND v.down_k IS NOT NULL THEN
        'ip:sub-qos-policy-out=' || CASE v.mode WHEN 'walled_garden' THEN v.wg_list
                                                WHEN 'plan' THEN COALESCE(v.cisco_policy_out, v.cisco_out)
                                                ELSE v.cisco_out END END),
    (7, 'radreply', 'ERX-Qos-Profile-Name', ':=', CASE WHEN v.served THEN
        CASE v.mode WHEN 'walled_garden' THEN v.wg_list
                    WHEN 'plan' THEN COALESCE(v.juniper_qos_profile, v.juniper)
                    ELSE v.juniper END END),
    -- WISPr rates are bit/s in a 32-bit integer: capped at 4294967295 (~4.29 Gbit/s). (least() ignores NULL.)
    (8, 'radreply', 'WISPr-Bandwidth-Max-Up', ':=', CASE WHEN v.served AND v.up_k IS NOT NULL THEN
        least(v.up_k * 1000, 4294967295)::text END),
    (9, 'radreply', 'WISPr-Bandwidth-Max-Down', ':=', CASE WHEN v.served AND v.down_k IS NOT NULL THEN
        least(v.down_k * 1000, 4294967295)::text END),
    (10, 'radreply', 'Framed-IP-Address', ':=', CASE WHEN v.served AND family(v.ip) = 4 THEN host(v.ip) END),
    (11, 'radreply', 'Framed-IPv6-Address', ':=', CASE WHEN v.served AND family(v.ip) = 6 THEN host(v.ip) END),
    (12, 'radreply', 'Session-Timeout', ':=', CASE WHEN v.served THEN v.session_timeout::text END),
    (13, 'radreply', 'Acct-Interim-Interval', ':=', CASE WHEN v.served THEN v.interim::text END)
 ) AS x(ord, tbl, attribute, op, value)
 WHERE x.value IS NOT NULL
$$
"""

# Rendering must stay linear however stale the planner's statistics are (a bulk import into a fresh
# table looks empty to it): no statement joins two sets of unknown size. Tables are reached through
# "= ANY (array)" index conditions, and wanted/existing rows are compared through jsonb maps keyed by
# ispops_radius_mapkey (a lookup, not a join).
RENDER = """
CREATE FUNCTION ispops_radius_render(p_tenant text, p_ids uuid[] DEFAULT NULL, p_profiles uuid[] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    -- Which subscribers: p_ids, else those on one of p_profiles, else the whole tenant.
    saved text := current_setting('app.current_tenant_id', true);
    switched boolean := saved IS DISTINCT FROM p_tenant;
    chunk constant integer := 5000;
    ids uuid[];
    live uuid[];
    gone uuid[];
    part uuid[];
    names jsonb;
    want ispops_radius_row[];
    wanted jsonb;
    target text;
BEGIN
    IF p_tenant IS NULL THEN
        RETURN 0;
    END IF;
    -- Without a tenant (the owner, a superuser, the platform through the tenants trigger) the render acts
    -- for the row's tenant; a transaction acting for another tenant is refused (under RLS it cannot
    -- have changed that tenant's rows anyway).
    IF switched AND COALESCE(saved, '') <> '' THEN
        RAISE EXCEPTION 'ispops_radius_render: this transaction acts for tenant %, not %', saved, p_tenant
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF switched THEN
        PERFORM set_config('app.current_tenant_id', p_tenant, true);
    END IF;
    IF p_ids IS NOT NULL THEN
        ids := p_ids;
    ELSE
        ids := ARRAY(SELECT s.id FROM subscribers s
                      WHERE s.tenant_id = p_tenant AND s.deleted_at IS NULL
                        AND (p_profiles IS NULL OR s.bandwidth_profile_id = ANY (p_profiles)));
    END IF;
    live := ARRAY(SELECT s.id FROM subscribers s
                   WHERE s.tenant_id = p_tenant AND s.id = ANY (ids)
                     AND s.deleted_at IS NULL AND s.status <> 'terminated' AND s.pppoe_username IS NOT NULL
                   ORDER BY s.id);
    gone := ARRAY(SELECT unnest(ids) EXCEPT SELECT unnest(live));

    -- Terminated, soft-deleted, hard-deleted or without a username: every row of theirs goes.
    IF cardinality(gone) > 0 THEN
        DELETE FROM radcheck WHERE tenant_id = p_tenant AND subscriber_id = ANY (gone);
        DELETE FROM radreply WHERE tenant_id = p_tenant AND subscriber_id = ANY (gone);
    END IF;

    -- The live ones in slices: a few set-based statements per slice, memory bounded.
    FOR i IN 1 .. COALESCE(cardinality(live), 0) BY chunk LOOP
        part := live[i : i + chunk - 1];

        -- Rows follow the username (manual and credential rows too).
        names := (SELECT jsonb_object_agg(s.id::text, s.pppoe_username) FROM subscribers s
                   WHERE s.tenant_id = p_tenant AND s.id = ANY (part));
        UPDATE radcheck SET username = names ->> subscriber_id::text
         WHERE tenant_id = p_tenant AND subscriber_id = ANY (part) AND username <> names ->> subscriber_id::text;
        UPDATE radreply SET username = names ->> subscriber_id::text
         WHERE tenant_id = p_tenant AND subscriber_id = ANY (part) AND username <> names ->> subscriber_id::text;

        want := ARRAY(SELECT w FROM ispops_radius_rows(p_tenant, part) AS w);

        -- Managed rows are matched to wanted ones by (subscriber, key): the attribute, and for Cisco-AVPair
        -- its "ip:sub-qos-policy-in|out" name. Changed values are updated in place (HOT: no index is
        -- touched), rows no longer wanted and duplicates go, missing ones come.
        FOREACH target IN ARRAY ARRAY['radcheck', 'radreply'] LOOP
            wanted := COALESCE((SELECT jsonb_object_agg(ispops_radius_mapkey(w.subscriber_id, w.attribute, w.value),
                                                         jsonb_build_array(w.op, w.value))
                                  FROM unnest(want) w WHERE w.tbl = target), '{}');
            EXECUTE format($q$
                UPDATE %1$I r
                   SET op = $2 -> ispops_radius_mapkey(r.subscriber_id, r.attribute, r.value) ->> 0,
                       value = $2 -> ispops_radius_mapkey(r.subscriber_id, r.attribute, r.value) ->> 1
                 WHERE r.tenant_id = $1 AND r.subscriber_id = ANY ($3)
                   AND ispops_radius_managed(%1$L, r.attribute, r.value)
                   AND $2 ? ispops_radius_mapkey(r.subscriber_id, r.attribute, r.value)
                   AND jsonb_build_array(r.op, r.value)
                       <> $2 -> ispops_radius_mapkey(r.subscriber_id, r.attribute, r.value)
                $q$, target) USING p_tenant, wanted, part;
            EXECUTE format($q$
                DELETE FROM %1$I r WHERE r.id = ANY (ARRAY(
                    SELECT e.id FROM (
                        SELECT m.id, ispops_radius_mapkey(m.subscriber_id, m.attribute, m.value) AS k,
                               row_number() OVER (PARTITION BY ispops_radius_mapkey(m.subscriber_id, m.attribute,
                                                                                    m.value) ORDER BY m.id) AS n
                          FROM %1$I m
                         WHERE m.tenant_id = $1 AND m.subscriber_id = ANY ($3)
                           AND ispops_radius_managed(%1$L, m.attribute, m.value)) e
                     WHERE e.n > 1 OR NOT $2 ? e.k))
                $q$, target) USING p_tenant, wanted, part;
            -- A radcheck row of the same name that is not the subscriber's (a manual row without
            -- subscriber_id) is taken over.
            EXECUTE format($q$
                INSERT INTO %1$I (tenant_id, subscriber_id, username, attribute, op, value)
                SELECT $1, w.subscriber_id, w.username, w.attribute, w.op, w.value
                  FROM unnest($4) w
                 WHERE w.tbl = %1$L
                   AND NOT COALESCE((SELECT jsonb_object_agg(ispops_radius_mapkey(m.subscriber_id, m.attribute,
                                                                                  m.value), true)
                                       FROM %1$I m
                                      WHERE m.tenant_id = $1 AND m.subscriber_id = ANY ($3)
                                        AND ispops_radius_managed(%1$L, m.attribute, m.value)), '{}')
                           ? ispops_radius_mapkey(w.subscriber_id, w.attribute, w.value)
                 ORDER BY w.subscriber_id, w.ord
                %2$s
                $q$, target, CASE target WHEN 'radcheck' THEN
                    'ON CONFLICT (tenant_id, username, attribute) DO UPDATE SET '
                    'subscriber_id = EXCLUDED.subscriber_id, op = EXCLUDED.op, value = EXCLUDED.value'
                    ELSE '' END) USING p_tenant, wanted, part, want;
        END LOOP;
    END LOOP;

    IF switched THEN
        PERFORM set_config('app.current_tenant_id', COALESCE(saved, ''), true);
    END IF;
    RETURN cardinality(ids);
END
$$
"""

# The subscriber columns rendering depends on.
WATCHED = "status, pppoe_username, bandwidth_profile_id, static_ip_address, throttled_until, deleted_at"
PROFILE_WATCHED = (
    "download_mbps, upload_mbps, download_burst_mbps, upload_burst_mbps, burst_threshold_mbps, "
    "burst_time_seconds, priority, session_timeout_seconds, simultaneous_use, fup_download_mbps, "
    "fup_upload_mbps, cisco_policy_in, cisco_policy_out, juniper_qos_profile"
)
# The tenant's policy columns (radius_password_type is not rendered: it applies at the next password set).
TENANT_WATCHED = [
    "radius_suspended_action",
    "radius_walled_garden_download_kbps",
    "radius_walled_garden_upload_kbps",
    "radius_walled_garden_list",
    "radius_interim_interval",
    "radius_session_timeout",
]


def _cols(prefix: str, cols: str) -> str:
    return ", ".join(f"{prefix}.{c.strip()}" for c in cols.split(","))


SUBSCRIBERS_CHANGED = f"""
CREATE FUNCTION ispops_radius_subscribers_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    t record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        FOR t IN SELECT n.tenant_id, array_agg(n.id) AS ids FROM new_rows n
                  WHERE n.pppoe_username IS NOT NULL GROUP BY n.tenant_id LOOP
            PERFORM ispops_radius_render(t.tenant_id, t.ids);
        END LOOP;
    ELSIF TG_OP = 'UPDATE' THEN
        FOR t IN SELECT n.tenant_id, array_agg(n.id) AS ids
                   FROM new_rows n JOIN old_rows o ON o.id = n.id
                  WHERE ({_cols("o", WATCHED)}) IS DISTINCT FROM ({_cols("n", WATCHED)})
                  GROUP BY n.tenant_id LOOP
            PERFORM ispops_radius_render(t.tenant_id, t.ids);
        END LOOP;
    ELSE
        FOR t IN SELECT o.tenant_id, array_agg(o.id) AS ids FROM old_rows o GROUP BY o.tenant_id LOOP
            PERFORM ispops_radius_render(t.tenant_id, t.ids);
        END LOOP;
    END IF;
    RETURN NULL;
END
$$
"""

PROFILES_CHANGED = f"""
CREATE FUNCTION ispops_radius_profiles_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT n.tenant_id, array_agg(n.id) AS ids
               FROM new_rows n JOIN old_rows o ON o.id = n.id
              WHERE ({_cols("o", PROFILE_WATCHED)}) IS DISTINCT FROM ({_cols("n", PROFILE_WATCHED)})
              GROUP BY n.tenant_id LOOP
        PERFORM ispops_radius_render(t.tenant_id, NULL, t.ids);
    END LOOP;
    RETURN NULL;
END
$$
"""

# The platform role changes tenants and has no rights on tenant tables, hence SECURITY DEFINER (the
# owner, subject to FORCE RLS: the render sets the tenant to the changed row's).
TENANT_CHANGED = """
CREATE FUNCTION ispops_radius_tenant_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM ispops_radius_render(NEW.id);
    RETURN NULL;
END
$$
"""

_TENANT_OLD = ", ".join(f"OLD.{c}" for c in TENANT_WATCHED)
_TENANT_NEW = ", ".join(f"NEW.{c}" for c in TENANT_WATCHED)

UPGRADE: list[str] = [
    MANAGED,
    KEY,
    RATE,
    ROW_TYPE,
    ROWS,
    RENDER,
    SUBSCRIBERS_CHANGED,
    PROFILES_CHANGED,
    TENANT_CHANGED,
    "REVOKE ALL ON FUNCTION ispops_radius_render(text, uuid[], uuid[]) FROM PUBLIC",
    "REVOKE ALL ON FUNCTION ispops_radius_rows(text, uuid[]) FROM PUBLIC",
    "REVOKE ALL ON FUNCTION ispops_radius_tenant_changed() FROM PUBLIC",
    "GRANT EXECUTE ON FUNCTION ispops_radius_render(text, uuid[], uuid[]) TO ispops_app",
    "GRANT EXECUTE ON FUNCTION ispops_radius_rows(text, uuid[]) TO ispops_app",
    "CREATE TRIGGER subscribers_radius_insert AFTER INSERT ON subscribers REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION ispops_radius_subscribers_changed()",
    "CREATE TRIGGER subscribers_radius_update AFTER UPDATE ON subscribers "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION ispops_radius_subscribers_changed()",
    "CREATE TRIGGER subscribers_radius_delete AFTER DELETE ON subscribers REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION ispops_radius_subscribers_changed()",
    "CREATE TRIGGER bandwidth_profiles_radius_update AFTER UPDATE ON bandwidth_profiles "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION ispops_radius_profiles_changed()",
    f"CREATE TRIGGER tenants_radius_policy AFTER UPDATE OF {', '.join(TENANT_WATCHED)} ON tenants "
    f"FOR EACH ROW WHEN (({_TENANT_OLD}) IS DISTINCT FROM ({_TENANT_NEW})) "
    "EXECUTE FUNCTION ispops_radius_tenant_changed()",
    # Existing subscribers get their rows now (under FORCE RLS the owner works one tenant at a time).
    """
    DO $$
    DECLARE t record;
    BEGIN
      FOR t IN SELECT id FROM tenants LOOP
        PERFORM ispops_radius_render(t.id);
      END LOOP;
    END $$
    """,
]

# The rendered rows stay (they are valid radcheck/radreply rows); only the machinery goes.
DOWNGRADE: list[str] = [
    "DROP TRIGGER tenants_radius_policy ON tenants",
    "DROP TRIGGER bandwidth_profiles_radius_update ON bandwidth_profiles",
    "DROP TRIGGER subscribers_radius_delete ON subscribers",
    "DROP TRIGGER subscribers_radius_update ON subscribers",
    "DROP TRIGGER subscribers_radius_insert ON subscribers",
    "DROP FUNCTION ispops_radius_tenant_changed()",
    "DROP FUNCTION ispops_radius_profiles_changed()",
    "DROP FUNCTION ispops_radius_subscribers_changed()",
    "DROP FUNCTION ispops_radius_render(text, uuid[], uuid[])",
    "DROP FUNCTION ispops_radius_rows(text, uuid[])",
    "DROP TYPE ispops_radius_row",
    "DROP FUNCTION ispops_radius_rate(bigint)",
    "DROP FUNCTION ispops_radius_mapkey(uuid, text, text)",
    "DROP FUNCTION ispops_radius_managed(text, text, text)",
]

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
