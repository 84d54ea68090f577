-- Accounting-On/Off into the partitioned radacct, and when a session is stale. ispops_radius_acct and
-- ispops_radius_interim are generated with the partition routing by ispops_radacct_build_router()
-- (radacct_partitions.sql): their text names the months that exist, so the builder is their canonical text.
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ispops_radius_acct_onoff(p_tenant text, p_nasip text, p_event bigint, p_cause text)
 RETURNS integer
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_custom_plan'
AS $function$
-- Accounting-On/Off: the NAS restarted, so every session it still has open is over.
BEGIN
  PERFORM set_config('app.current_tenant_id', p_tenant, true);
  UPDATE radacct a SET
    acctstoptime = to_timestamp(p_event),
    acctupdatetime = to_timestamp(p_event),
    acctsessiontime = greatest(0, p_event - extract(epoch FROM a.acctstarttime)::bigint),
    acctterminatecause = coalesce(nullif(p_cause, ''), 'NAS-Reboot')
  WHERE a.tenant_id = p_tenant AND a.nasipaddress = p_nasip::inet AND a.acctstoptime IS NULL
    AND a.acctstarttime <= to_timestamp(p_event);
  RETURN 1;
END $function$;
REVOKE ALL ON FUNCTION public.ispops_radius_acct_onoff(p_tenant text, p_nasip text, p_event bigint, p_cause text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.ispops_radius_acct_onoff(p_tenant text, p_nasip text, p_event bigint, p_cause text) TO ispops_radius;

CREATE OR REPLACE FUNCTION public.ispops_radius_stale_at(p_last timestamp with time zone, p_acctinterval bigint, p_interval integer, p_intervals integer)
 RETURNS timestamp with time zone
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$
-- When a session last heard of at p_last becomes stale (migration 0025): p_intervals (the tenant's
-- radius_stale_after_intervals, default 3) times its interim interval, which is the tenant's
-- radius_interim_interval raised to the session's measured acctinterval when that is longer (a NAS that
-- reports less often than asked), else 300 s. greatest() ignores NULLs.
  SELECT p_last + make_interval(secs => coalesce(p_intervals, 3)
                                        * coalesce(greatest(p_interval::bigint, p_acctinterval), 300))
$function$;
REVOKE ALL ON FUNCTION public.ispops_radius_stale_at(p_last timestamp with time zone, p_acctinterval bigint, p_interval integer, p_intervals integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.ispops_radius_stale_at(p_last timestamp with time zone, p_acctinterval bigint, p_interval integer, p_intervals integer) TO ispops_app, ispops_radius;
