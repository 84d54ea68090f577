-- radcheck/radreply rendered from subscribers, plans and the tenant's RADIUS policy (docs/radius.md).
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ispops_radius_render(p_tenant text, p_ids uuid[] DEFAULT NULL::uuid[], p_profiles uuid[] DEFAULT NULL::uuid[])
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public'
AS $function$
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
$function$;
REVOKE ALL ON FUNCTION public.ispops_radius_render(p_tenant text, p_ids uuid[], p_profiles uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.ispops_radius_render(p_tenant text, p_ids uuid[], p_profiles uuid[]) TO ispops_app;

CREATE OR REPLACE FUNCTION public.ispops_radius_rows(p_tenant text, p_ids uuid[])
 RETURNS SETOF ispops_radius_row
 LANGUAGE sql
 STABLE
AS $function$
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
$function$;
REVOKE ALL ON FUNCTION public.ispops_radius_rows(p_tenant text, p_ids uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.ispops_radius_rows(p_tenant text, p_ids uuid[]) TO ispops_app;

CREATE OR REPLACE FUNCTION public.ispops_radius_managed(tbl text, attribute text, value text)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN CASE tbl WHEN 'radcheck'::text THEN (attribute = ANY (ARRAY['Auth-Type'::text, 'Simultaneous-Use'::text])) WHEN 'radreply'::text THEN ((attribute = ANY (ARRAY['Mikrotik-Rate-Limit'::text, 'Mikrotik-Address-List'::text, 'ERX-Qos-Profile-Name'::text, 'WISPr-Bandwidth-Max-Up'::text, 'WISPr-Bandwidth-Max-Down'::text, 'Framed-IP-Address'::text, 'Framed-IPv6-Address'::text, 'Session-Timeout'::text, 'Acct-Interim-Interval'::text])) OR ((attribute = 'Cisco-AVPair'::text) AND ((value ~~ 'ip:sub-qos-policy-in=%'::text) OR (value ~~ 'ip:sub-qos-policy-out=%'::text)))) ELSE false END;

CREATE OR REPLACE FUNCTION public.ispops_radius_mapkey(subscriber_id uuid, attribute text, value text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN ((((subscriber_id)::text || '|'::text) || attribute) || CASE WHEN (attribute = 'Cisco-AVPair'::text) THEN (':'::text || split_part(value, '='::text, 1)) ELSE ''::text END);

CREATE OR REPLACE FUNCTION public.ispops_radius_rate(kbps bigint)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN ((kbps % (1000)::bigint) = 0) THEN (((kbps / 1000))::text || 'M'::text) ELSE ((kbps)::text || 'k'::text) END;
