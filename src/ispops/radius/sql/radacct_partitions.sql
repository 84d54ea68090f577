-- Monthly radacct partitions (each with its own RLS policy) and the accounting router.
-- ispops_radacct_route is generated per partition set by ispops_radacct_build_router(): its builder is the
-- canonical text, the generated function is not registered (ispops.db.rules.GENERATED_FUNCTIONS).
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ispops_radacct_ensure_partition(month date)
 RETURNS text
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    DECLARE
        lo date := date_trunc('month', month)::date;
        hi date := (date_trunc('month', month) + interval '1 month')::date;
        part text := 'radacct_p' || to_char(lo, 'YYYYMM');
    BEGIN
        IF to_regclass('public.' || part) IS NOT NULL THEN
            RETURN NULL;
        END IF;
        EXECUTE format('CREATE TABLE public.%I PARTITION OF public.radacct FOR VALUES FROM (%L) TO (%L) WITH (fillfactor = 85)',
                       part, lo::text || ' 00:00:00+00', hi::text || ' 00:00:00+00');
        EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', part);
        EXECUTE format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', part);
        EXECUTE format('CREATE POLICY tenant_isolation ON public.%I USING (tenant_id = current_setting(''app.current_tenant_id'', true)) WITH CHECK (tenant_id = current_setting(''app.current_tenant_id'', true))', part);
        PERFORM ispops_radacct_build_router();
        RETURN part;
    END
    $function$;
REVOKE ALL ON FUNCTION public.ispops_radacct_ensure_partition(month date) FROM PUBLIC;

CREATE OR REPLACE FUNCTION public.ispops_radacct_maintain(months_ahead integer, retention_months integer)
 RETURNS TABLE(action text, partition_name text, detail text)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    DECLARE
        this_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
        cutoff date;
        m date;
        made text;
        part text;
    BEGIN
        IF months_ahead IS NULL OR months_ahead < 0 OR months_ahead > 24
           OR retention_months IS NULL OR retention_months < 1 OR retention_months > 240 THEN
            RAISE EXCEPTION 'months_ahead must be 0-24 and retention_months 1-240'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        cutoff := (this_month - make_interval(months => retention_months))::date;
        -- Two months back (late or replayed accounting) through months_ahead, as `ispops db maintain`.
        FOR offs IN -2 .. months_ahead LOOP
            m := (this_month + make_interval(months => offs))::date;
            CONTINUE WHEN m < cutoff;
            BEGIN
                made := ispops_radacct_ensure_partition(m);
                IF made IS NOT NULL THEN
                    RETURN QUERY SELECT 'created'::text, made, NULL::text;
                END IF;
            EXCEPTION WHEN OTHERS THEN
                RETURN QUERY SELECT 'problem'::text, NULL::text,
                    format('cannot create the partition for %s: %s', to_char(m, 'YYYY-MM'), SQLERRM);
            END;
        END LOOP;
        FOR part IN
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'public.radacct'::regclass AND c.relname ~ '^radacct_p[0-9]{6}$'
            ORDER BY c.relname
        LOOP
            IF to_date(substr(part, 10, 6), 'YYYYMM') < cutoff THEN
                EXECUTE format('DROP TABLE public.%I', part);
                RETURN QUERY SELECT 'dropped'::text, part, NULL::text;
            END IF;
        END LOOP;
        PERFORM ispops_radacct_build_router();
    END
    $function$;
REVOKE ALL ON FUNCTION public.ispops_radacct_maintain(months_ahead integer, retention_months integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.ispops_radacct_maintain(months_ahead integer, retention_months integer) TO ispops_app;

CREATE OR REPLACE FUNCTION public.ispops_radacct_build_router()
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public'
AS $function$
-- (Re)generate ispops_radacct_route, ispops_radius_acct and ispops_radius_interim (0019) with a direct branch per monthly partition, newest
-- first, and let the RADIUS role reach those partitions (their own RLS policies still apply). Returns the
-- number of monthly partitions. Late packets of platform-closed sessions: migration 0025.
DECLARE
  part record;
  branches text := '';
  acct_branches text := '';
  interim_branches text := '';
  lo text;
  hi text;
  made integer := 0;
BEGIN
  FOR part IN
    SELECT c.relname AS name, to_date(substr(c.relname, 10, 6), 'YYYYMM') AS month
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'public.radacct'::regclass AND c.relname ~ '^radacct_p[0-9]{6}$'
     ORDER BY c.relname DESC
  LOOP
    lo := part.month::text || ' 00:00:00+00';
    hi := (part.month + interval '1 month')::date::text || ' 00:00:00+00';
    branches := branches || format($tpl$
  ELSIF $4 >= %2$L AND $5 < %3$L THEN
    IF $1 = 'exists' THEN
      PERFORM 1 FROM public.%1$I a WHERE a.tenant_id = $2 AND a.acctuniqueid = $3 AND a.acctstarttime >= $4 AND a.acctstarttime <= $5;
      RETURN CASE WHEN FOUND THEN 1 ELSE 0 END;
    ELSIF $1 = 'stopped' THEN
      PERFORM 1 FROM public.%1$I a WHERE a.tenant_id = $2 AND a.acctuniqueid = $3 AND a.acctstarttime >= $4 AND a.acctstarttime <= $5 AND a.acctstoptime IS NOT NULL;
      RETURN CASE WHEN FOUND THEN 1 ELSE 0 END;
    ELSIF $1 IN ('late_interim', 'late_stop') THEN
      -- a platform-closed session (migration 0025): the NAS's counters and Stop still land; never reopened
      UPDATE public.%1$I a SET
      acctupdatetime = greatest(a.acctupdatetime, $6),
      acctstoptime = CASE WHEN $1 = 'late_stop' THEN $6 ELSE greatest(a.acctstoptime, $6) END,
      acctsessiontime = greatest(coalesce($7, a.acctsessiontime), coalesce(a.acctsessiontime, 0)),
      acctinputoctets = greatest($8, a.acctinputoctets),
      acctoutputoctets = greatest($9, a.acctoutputoctets),
      acctterminatecause = CASE WHEN $1 = 'late_stop' THEN coalesce(nullif($10, ''), a.acctterminatecause)
                                ELSE a.acctterminatecause END,
      connectinfo_stop = CASE WHEN $1 = 'late_stop' THEN coalesce(nullif($11, ''), a.connectinfo_stop)
                              ELSE a.connectinfo_stop END,
      closed_by = CASE WHEN $1 = 'late_stop' THEN NULL ELSE a.closed_by END,
      framedipaddress = coalesce(nullif($12, '')::inet, a.framedipaddress),
      framedipv6address = coalesce(nullif($13, '')::inet, a.framedipv6address),
      framedipv6prefix = coalesce(nullif($14, '')::inet, a.framedipv6prefix),
      delegatedipv6prefix = coalesce(nullif($15, '')::inet, a.delegatedipv6prefix)
      WHERE a.tenant_id = $2 AND a.acctuniqueid = $3 AND a.acctstarttime >= $4 AND a.acctstarttime <= $5 AND a.closed_by IS NOT NULL;
      GET DIAGNOSTICS n = ROW_COUNT;
      RETURN n;
    END IF;
    UPDATE public.%1$I a SET
      acctupdatetime = $6,
      acctstoptime = CASE WHEN $1 = 'stop' THEN $6 ELSE a.acctstoptime END,
      acctinterval = extract(epoch FROM $6 - a.acctupdatetime)::bigint,
      acctsessiontime = greatest(coalesce($7, a.acctsessiontime), coalesce(a.acctsessiontime, 0)),
      acctinputoctets = greatest($8, a.acctinputoctets),
      acctoutputoctets = greatest($9, a.acctoutputoctets),
      acctterminatecause = CASE WHEN $1 = 'stop' THEN nullif($10, '') ELSE a.acctterminatecause END,
      connectinfo_stop = CASE WHEN $1 = 'stop' THEN nullif($11, '') ELSE a.connectinfo_stop END,
      framedipaddress = coalesce(nullif($12, '')::inet, a.framedipaddress),
      framedipv6address = coalesce(nullif($13, '')::inet, a.framedipv6address),
      framedipv6prefix = coalesce(nullif($14, '')::inet, a.framedipv6prefix),
      delegatedipv6prefix = coalesce(nullif($15, '')::inet, a.delegatedipv6prefix)
    WHERE a.tenant_id = $2 AND a.acctuniqueid = $3 AND a.acctstarttime >= $4 AND a.acctstarttime <= $5 AND coalesce(a.acctstoptime, 'infinity') = 'infinity';$tpl$, part.name, lo, hi);
    interim_branches := interim_branches || format($tpl$
    ELSIF lo >= %2$L AND hi < %3$L THEN
        UPDATE public.%1$I a SET
          acctupdatetime = ev,
      acctinterval = extract(epoch FROM ev - a.acctupdatetime)::bigint,
      acctsessiontime = greatest(coalesce(p_sessiontime, a.acctsessiontime), coalesce(a.acctsessiontime, 0)),
      acctinputoctets = greatest(inoct, a.acctinputoctets),
      acctoutputoctets = greatest(outoct, a.acctoutputoctets),
      framedipaddress = coalesce(nullif(p_framedip, '')::inet, a.framedipaddress),
      framedipv6address = coalesce(nullif(p_framedipv6, '')::inet, a.framedipv6address),
      framedipv6prefix = coalesce(nullif(p_framedipv6prefix, '')::inet, a.framedipv6prefix),
      delegatedipv6prefix = coalesce(nullif(p_delegatedprefix, '')::inet, a.delegatedipv6prefix)
        WHERE a.tenant_id = p_tenant AND a.acctuniqueid = uid AND a.acctstarttime >= lo AND a.acctstarttime <= hi AND coalesce(a.acctstoptime, 'infinity') = 'infinity';
      GET DIAGNOSTICS n = ROW_COUNT;$tpl$, part.name, lo, hi);
    acct_branches := acct_branches || format($tpl$
    ELSIF lo >= %2$L AND hi < %3$L THEN
      IF p_kind = 'stop' THEN
        UPDATE public.%1$I a SET
          acctupdatetime = ev,
      acctinterval = extract(epoch FROM ev - a.acctupdatetime)::bigint,
      acctsessiontime = greatest(coalesce(p_sessiontime, a.acctsessiontime), coalesce(a.acctsessiontime, 0)),
      acctinputoctets = greatest(inoct, a.acctinputoctets),
      acctoutputoctets = greatest(outoct, a.acctoutputoctets),
      framedipaddress = coalesce(nullif(p_framedip, '')::inet, a.framedipaddress),
      framedipv6address = coalesce(nullif(p_framedipv6, '')::inet, a.framedipv6address),
      framedipv6prefix = coalesce(nullif(p_framedipv6prefix, '')::inet, a.framedipv6prefix),
      delegatedipv6prefix = coalesce(nullif(p_delegatedprefix, '')::inet, a.delegatedipv6prefix),
      acctstoptime = ev,
      acctterminatecause = nullif(p_terminatecause, ''),
      connectinfo_stop = nullif(p_connectinfo, '')
        WHERE a.tenant_id = p_tenant AND a.acctuniqueid = uid AND a.acctstarttime >= lo AND a.acctstarttime <= hi AND coalesce(a.acctstoptime, 'infinity') = 'infinity';
      ELSE
        UPDATE public.%1$I a SET
          acctupdatetime = ev,
      acctinterval = extract(epoch FROM ev - a.acctupdatetime)::bigint,
      acctsessiontime = greatest(coalesce(p_sessiontime, a.acctsessiontime), coalesce(a.acctsessiontime, 0)),
      acctinputoctets = greatest(inoct, a.acctinputoctets),
      acctoutputoctets = greatest(outoct, a.acctoutputoctets),
      framedipaddress = coalesce(nullif(p_framedip, '')::inet, a.framedipaddress),
      framedipv6address = coalesce(nullif(p_framedipv6, '')::inet, a.framedipv6address),
      framedipv6prefix = coalesce(nullif(p_framedipv6prefix, '')::inet, a.framedipv6prefix),
      delegatedipv6prefix = coalesce(nullif(p_delegatedprefix, '')::inet, a.delegatedipv6prefix)
        WHERE a.tenant_id = p_tenant AND a.acctuniqueid = uid AND a.acctstarttime >= lo AND a.acctstarttime <= hi AND coalesce(a.acctstoptime, 'infinity') = 'infinity';
      END IF;
      GET DIAGNOSTICS n = ROW_COUNT;$tpl$, part.name, lo, hi);
    EXECUTE format('GRANT SELECT, UPDATE ON public.%I TO ispops_radius', part.name);
    made := made + 1;
  END LOOP;
  EXECUTE format($tpl$
CREATE OR REPLACE FUNCTION public.ispops_radacct_route(p_op text, p_tenant text, p_uniqueid text, p_lo timestamptz, p_hi timestamptz,
  p_ev timestamptz, p_sessiontime bigint, p_in bigint, p_out bigint, p_terminatecause text,
  p_connectinfo text, p_framedip text, p_framedipv6 text, p_framedipv6prefix text, p_delegatedprefix text)
RETURNS integer LANGUAGE plpgsql AS $route$
-- Generated by ispops_radacct_build_router() (migration 0017) from radacct's monthly partitions: do not edit.
DECLARE
  n integer;
BEGIN
  IF false THEN
    NULL;%s
  ELSE
    -- No single monthly partition holds the window: the parent, planned with the values (pruned).
    IF $1 = 'exists' THEN
      EXECUTE $q$SELECT 1 FROM public.radacct a WHERE a.tenant_id = $2 AND a.acctuniqueid = $3 AND a.acctstarttime >= $4 AND a.acctstarttime <= $5 LIMIT 1$q$ USING $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15;
    ELSIF $1 = 'stopped' THEN
      EXECUTE $q$SELECT 1 FROM public.radacct a WHERE a.tenant_id = $2 AND a.acctuniqueid = $3 AND a.acctstarttime >= $4 AND a.acctstarttime <= $5 AND a.acctstoptime IS NOT NULL LIMIT 1$q$ USING $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15;
    ELSIF $1 IN ('late_interim', 'late_stop') THEN
      EXECUTE $q$UPDATE public.radacct a SET
      acctupdatetime = greatest(a.acctupdatetime, $6),
      acctstoptime = CASE WHEN $1 = 'late_stop' THEN $6 ELSE greatest(a.acctstoptime, $6) END,
      acctsessiontime = greatest(coalesce($7, a.acctsessiontime), coalesce(a.acctsessiontime, 0)),
      acctinputoctets = greatest($8, a.acctinputoctets),
      acctoutputoctets = greatest($9, a.acctoutputoctets),
      acctterminatecause = CASE WHEN $1 = 'late_stop' THEN coalesce(nullif($10, ''), a.acctterminatecause)
                                ELSE a.acctterminatecause END,
      connectinfo_stop = CASE WHEN $1 = 'late_stop' THEN coalesce(nullif($11, ''), a.connectinfo_stop)
                              ELSE a.connectinfo_stop END,
      closed_by = CASE WHEN $1 = 'late_stop' THEN NULL ELSE a.closed_by END,
      framedipaddress = coalesce(nullif($12, '')::inet, a.framedipaddress),
      framedipv6address = coalesce(nullif($13, '')::inet, a.framedipv6address),
      framedipv6prefix = coalesce(nullif($14, '')::inet, a.framedipv6prefix),
      delegatedipv6prefix = coalesce(nullif($15, '')::inet, a.delegatedipv6prefix)
      WHERE a.tenant_id = $2 AND a.acctuniqueid = $3 AND a.acctstarttime >= $4 AND a.acctstarttime <= $5 AND a.closed_by IS NOT NULL$q$ USING $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15;
    ELSE
      EXECUTE $q$UPDATE public.radacct a SET
      acctupdatetime = $6,
      acctstoptime = CASE WHEN $1 = 'stop' THEN $6 ELSE a.acctstoptime END,
      acctinterval = extract(epoch FROM $6 - a.acctupdatetime)::bigint,
      acctsessiontime = greatest(coalesce($7, a.acctsessiontime), coalesce(a.acctsessiontime, 0)),
      acctinputoctets = greatest($8, a.acctinputoctets),
      acctoutputoctets = greatest($9, a.acctoutputoctets),
      acctterminatecause = CASE WHEN $1 = 'stop' THEN nullif($10, '') ELSE a.acctterminatecause END,
      connectinfo_stop = CASE WHEN $1 = 'stop' THEN nullif($11, '') ELSE a.connectinfo_stop END,
      framedipaddress = coalesce(nullif($12, '')::inet, a.framedipaddress),
      framedipv6address = coalesce(nullif($13, '')::inet, a.framedipv6address),
      framedipv6prefix = coalesce(nullif($14, '')::inet, a.framedipv6prefix),
      delegatedipv6prefix = coalesce(nullif($15, '')::inet, a.delegatedipv6prefix)
    WHERE a.tenant_id = $2 AND a.acctuniqueid = $3 AND a.acctstarttime >= $4 AND a.acctstarttime <= $5 AND coalesce(a.acctstoptime, 'infinity') = 'infinity'$q$ USING $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15;
    END IF;
  END IF;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$route$$tpl$, branches);
  EXECUTE format($tpl$
CREATE OR REPLACE FUNCTION public.ispops_radius_acct(p_kind text, 
  p_tenant text, p_uniqueid text, p_sessionid text, p_username text, p_realm text, p_nasip text,
  p_nasportid text, p_nasporttype text, p_event bigint, p_sessiontime bigint,
  p_in bigint, p_in_giga bigint, p_out bigint, p_out_giga bigint,
  p_authentic text, p_connectinfo text, p_called text, p_calling text, p_terminatecause text,
  p_servicetype text, p_framedprotocol text, p_framedip text, p_framedipv6 text, p_framedipv6prefix text,
  p_framedinterfaceid text, p_delegatedprefix text, p_class text)
RETURNS integer LANGUAGE plpgsql
AS $$
-- One accounting packet: p_kind is 'start', 'interim' or 'stop'. Idempotent: a repeated packet changes
-- nothing, an interim or stop without a Start creates the session, a Start after them is ignored.
-- Generated by ispops_radacct_build_router() (migration 0017): the update of an open session runs on
-- the month's partition (one branch per monthly partition); the rest through ispops_radacct_route.
DECLARE
  ev timestamptz := to_timestamp(p_event);
  started timestamptz := to_timestamp(p_event - coalesce(p_sessiontime, 0));
  -- The window as plain values (timestamptz - interval is only stable): the planner prunes with them.
  lo timestamptz := started - interval '1 day';
  hi timestamptz := started + interval '1 day';
  ev_lo timestamptz := ev - interval '1 day';
  ev_hi timestamptz := ev + interval '1 day';
  inoct bigint := coalesce(p_in_giga, 0) * 4294967296 + coalesce(p_in, 0);
  outoct bigint := coalesce(p_out_giga, 0) * 4294967296 + coalesce(p_out, 0);
  n integer;
  -- The session's stable id, unless FreeRADIUS was given one: computed here rather than by an MD5 in
  -- the FreeRADIUS policy (that cost FreeRADIUS more per packet than it costs here).
  uid text := coalesce(nullif(p_uniqueid, ''), md5(p_tenant || ',' || p_sessionid || ',' || p_nasip || ','
                                                   || p_nasportid || ',' || p_username));
BEGIN
  PERFORM set_config('app.current_tenant_id', p_tenant, true);
  IF p_kind = 'start' THEN
    IF ispops_radacct_route('exists', p_tenant, uid, ev_lo, ev_hi, ev, NULL, 0, 0,
                            NULL, NULL, NULL, NULL, NULL, NULL) > 0 THEN
      RETURN 1;
    END IF;
  ELSE
    IF false THEN
      NULL;%s
    ELSE
      n := ispops_radacct_route(p_kind, p_tenant, uid, lo, hi, ev, p_sessiontime, inoct, outoct,
                                p_terminatecause, p_connectinfo, p_framedip, p_framedipv6, p_framedipv6prefix,
                                p_delegatedprefix);
    END IF;
    IF n > 0 THEN
      RETURN n;
    END IF;
    -- A session the platform closed (stale, Disconnect ACKed, staff; migration 0025): the NAS's
    -- counters still land and its Stop replaces the platform's stop time and cause. Never reopened.
    IF ispops_radacct_route('late_' || p_kind, p_tenant, uid, lo, hi, ev, p_sessiontime, inoct, outoct,
                            p_terminatecause, p_connectinfo, p_framedip, p_framedipv6, p_framedipv6prefix,
                            p_delegatedprefix) > 0 THEN
      RETURN 1;
    END IF;
    IF ispops_radacct_route('stopped', p_tenant, uid, lo, hi, ev, NULL, 0, 0,
                            NULL, NULL, NULL, NULL, NULL, NULL) > 0 THEN
      RETURN 1;  -- already stopped: a duplicate or late packet
    END IF;
  END IF;
  INSERT INTO radacct (
    tenant_id, subscriber_id, acctsessionid, acctuniqueid, username, realm, nasipaddress, nasportid,
    nasporttype, acctstarttime, acctupdatetime, acctstoptime, acctsessiontime, acctauthentic,
    connectinfo_start, connectinfo_stop, acctinputoctets, acctoutputoctets, calledstationid,
    callingstationid, acctterminatecause, servicetype, framedprotocol, framedipaddress, framedipv6address,
    framedipv6prefix, framedinterfaceid, delegatedipv6prefix, class)
  VALUES (
    p_tenant,
    (SELECT c.subscriber_id FROM radcheck c
      WHERE c.tenant_id = p_tenant AND c.username = p_username AND c.subscriber_id IS NOT NULL LIMIT 1),
    p_sessionid, uid, p_username, nullif(p_realm, ''), p_nasip::inet, nullif(p_nasportid, ''),
    nullif(p_nasporttype, ''), started,
    CASE WHEN p_kind = 'start' THEN NULL ELSE ev END,
    CASE WHEN p_kind = 'stop' THEN ev END,
    coalesce(p_sessiontime, 0), nullif(p_authentic, ''),
    CASE WHEN p_kind = 'start' THEN nullif(p_connectinfo, '') END,
    CASE WHEN p_kind = 'stop' THEN nullif(p_connectinfo, '') END,
    inoct, outoct, nullif(p_called, ''), nullif(p_calling, ''),
    CASE WHEN p_kind = 'stop' THEN nullif(p_terminatecause, '') END,
    nullif(p_servicetype, ''), nullif(p_framedprotocol, ''), nullif(p_framedip, '')::inet,
    nullif(p_framedipv6, '')::inet, nullif(p_framedipv6prefix, '')::inet, nullif(p_framedinterfaceid, ''),
    nullif(p_delegatedprefix, '')::inet, nullif(p_class, ''))
  ON CONFLICT (tenant_id, acctuniqueid, acctstarttime) DO NOTHING;
  RETURN 1;
END $$
$tpl$, acct_branches);
  EXECUTE format($tpl$
CREATE OR REPLACE FUNCTION public.ispops_radius_interim(p_tenant text, p_uniqueid text, p_sessionid text, p_username text, p_nasip text,
  p_nasportid text, p_event bigint, p_sessiontime bigint, p_in bigint, p_in_giga bigint, p_out bigint,
  p_out_giga bigint, p_framedip text, p_framedipv6 text, p_framedipv6prefix text, p_delegatedprefix text)
RETURNS boolean LANGUAGE plpgsql AS $$
-- An Interim-Update of an open session: true when a row was updated. False when the session is not open
-- (no Start seen, stopped, a late packet): the caller then sends the full ispops_radius_acct('interim', ...).
-- Generated by ispops_radacct_build_router() (migration 0019): do not edit.
DECLARE
  ev timestamptz := to_timestamp(p_event);
  started timestamptz := to_timestamp(p_event - coalesce(p_sessiontime, 0));
  -- The window as plain values (timestamptz - interval is only stable): the planner prunes with them.
  lo timestamptz := started - interval '1 day';
  hi timestamptz := started + interval '1 day';
  inoct bigint := coalesce(p_in_giga, 0) * 4294967296 + coalesce(p_in, 0);
  outoct bigint := coalesce(p_out_giga, 0) * 4294967296 + coalesce(p_out, 0);
  n integer;
  uid text := coalesce(nullif(p_uniqueid, ''), md5(p_tenant || ',' || p_sessionid || ',' || p_nasip || ','
                                                   || p_nasportid || ',' || p_username));
BEGIN
  PERFORM set_config('app.current_tenant_id', p_tenant, true);
  -- A snapshot of cumulative counters, superseded by the session's next interim or its Stop: this one
  -- transaction does not wait for the WAL flush (a crash may lose the last fraction of a second of them),
  -- unless the operator asked for durable interims (ALTER ROLE ispops_radius SET ispops.durable_interim = on).
  IF current_setting('ispops.durable_interim', true) IS DISTINCT FROM 'on' THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  IF false THEN
    NULL;%s
  ELSE
    n := ispops_radacct_route('interim', p_tenant, uid, lo, hi, ev, p_sessiontime, inoct, outoct, NULL, NULL,
                              p_framedip, p_framedipv6, p_framedipv6prefix, p_delegatedprefix);
  END IF;
  RETURN n > 0;
END
$$$tpl$, interim_branches);
  RETURN made;
END
$function$;
REVOKE ALL ON FUNCTION public.ispops_radacct_build_router() FROM PUBLIC;
