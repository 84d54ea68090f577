-- The queries FreeRADIUS runs for authorize, Simultaneous-Use and post-auth (rlm_sql reads columns by position).
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ispops_radius_check(p_tenant text, p_username text)
 RETURNS TABLE(id bigint, username text, attribute text, value text, op text)
 LANGUAGE plpgsql
 STABLE
AS $function$
-- Check items of one user of one tenant. A tenant that is not active (or on trial) gets a reject.
DECLARE st text;
BEGIN
  PERFORM set_config('app.current_tenant_id', p_tenant, true);
  SELECT tn.status INTO st FROM tenants tn WHERE tn.id = p_tenant AND tn.deleted_at IS NULL;
  IF st IS NULL OR st NOT IN ('active', 'trial') THEN
    RETURN QUERY SELECT 0::bigint, p_username, 'Auth-Type'::text, 'Reject'::text, ':='::text;
    RETURN;
  END IF;
  RETURN QUERY
    SELECT c.id, c.username, c.attribute, c.value, c.op::text
      FROM radcheck c
     WHERE c.tenant_id = p_tenant AND c.username = p_username
     ORDER BY c.id;
END $function$;
REVOKE ALL ON FUNCTION public.ispops_radius_check(p_tenant text, p_username text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.ispops_radius_check(p_tenant text, p_username text) TO ispops_radius;

CREATE OR REPLACE FUNCTION public.ispops_radius_reply(p_tenant text, p_username text, p_nas_type text)
 RETURNS TABLE(id bigint, username text, attribute text, value text, op text)
 LANGUAGE plpgsql
 STABLE
AS $function$
-- Reply items for a NAS of type p_nas_type: vendor-neutral attributes plus that vendor's own.
DECLARE
  own text := CASE p_nas_type WHEN 'mikrotik' THEN 'Mikrotik-%' WHEN 'cisco' THEN 'Cisco-%'
                              WHEN 'juniper' THEN 'ERX-%' ELSE 'WISPr-%' END;
BEGIN
  PERFORM set_config('app.current_tenant_id', p_tenant, true);
  RETURN QUERY
    SELECT r.id, r.username, r.attribute, r.value, r.op::text
      FROM radreply r
     WHERE r.tenant_id = p_tenant AND r.username = p_username
       AND (r.attribute LIKE own
            OR NOT (r.attribute LIKE 'Mikrotik-%' OR r.attribute LIKE 'Cisco-%' OR r.attribute LIKE 'ERX-%'
                    OR r.attribute LIKE 'WISPr-%'))
     ORDER BY r.id;
END $function$;
REVOKE ALL ON FUNCTION public.ispops_radius_reply(p_tenant text, p_username text, p_nas_type text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.ispops_radius_reply(p_tenant text, p_username text, p_nas_type text) TO ispops_radius;

CREATE OR REPLACE FUNCTION public.ispops_radius_simul_count(p_tenant text, p_username text)
 RETURNS bigint
 LANGUAGE plpgsql
 STABLE
AS $function$
-- Open sessions of the user that are not stale (migration 0025): a session the NAS has not reported on
-- for N x its interim interval does not count, whether or not the stale-session job has closed it yet.
DECLARE
  n bigint;
  iv integer;
  k integer;
BEGIN
  PERFORM set_config('app.current_tenant_id', p_tenant, true);
  SELECT tn.radius_interim_interval, tn.radius_stale_after_intervals INTO iv, k
    FROM tenants tn WHERE tn.id = p_tenant;
  SELECT count(*) INTO n FROM radacct a
   WHERE a.tenant_id = p_tenant AND a.username = p_username AND a.acctstoptime IS NULL
     AND ispops_radius_stale_at(coalesce(a.acctupdatetime, a.acctstarttime), a.acctinterval, iv, k) > now();
  RETURN n;
END $function$;
REVOKE ALL ON FUNCTION public.ispops_radius_simul_count(p_tenant text, p_username text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.ispops_radius_simul_count(p_tenant text, p_username text) TO ispops_app, ispops_radius;

CREATE OR REPLACE FUNCTION public.ispops_radius_postauth(p_tenant text, p_username text, p_reply text, p_nasip text, p_called text, p_calling text, p_class text)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
-- The authentication log. Never a password.
BEGIN
  PERFORM set_config('app.current_tenant_id', p_tenant, true);
  -- A log line: this one transaction does not wait for the WAL flush (a crash may lose the last
  -- fraction of a second of them; nothing else is affected).
  PERFORM set_config('synchronous_commit', 'off', true);
  INSERT INTO radpostauth (tenant_id, username, reply, nasipaddress, calledstationid, callingstationid, class)
  VALUES (p_tenant, p_username, p_reply, nullif(p_nasip, '')::inet, nullif(p_called, ''),
          nullif(p_calling, ''), nullif(p_class, ''));
  RETURN 1;
END $function$;
REVOKE ALL ON FUNCTION public.ispops_radius_postauth(p_tenant text, p_username text, p_reply text, p_nasip text, p_called text, p_calling text, p_class text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.ispops_radius_postauth(p_tenant text, p_username text, p_reply text, p_nasip text, p_called text, p_calling text, p_class text) TO ispops_radius;
