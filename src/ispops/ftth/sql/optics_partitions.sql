-- Optical readings and their rollups, partitioned by time (migration 0029): every partition is made by
-- ispops_optics_ensure_partition, with its own RLS policy; the maintain functions keep the window moving
-- (`ispops db maintain` calls ispops_optics_maintain_at as the owner, the worker ispops_optics_maintain).
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ispops_optics_ensure_partition(parent text, at date)
 RETURNS text
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public'
AS $function$
DECLARE
    lo date;
    hi date;
    part text;
    lo_bound text;
    hi_bound text;
BEGIN
    -- Readings: one partition per UTC day. Rollups: one per month.
    IF parent = 'onu_optical_readings' THEN
        lo := at;
        hi := at + 1;
        part := parent || '_p' || to_char(lo, 'YYYYMMDD');
    ELSIF parent IN ('onu_optical_hourly', 'onu_optical_daily') THEN
        lo := date_trunc('month', at)::date;
        hi := (date_trunc('month', at) + interval '1 month')::date;
        part := parent || '_p' || to_char(lo, 'YYYYMM');
    ELSE
        RAISE EXCEPTION 'not a partitioned optics table: %', parent USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regclass('public.' || part) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    IF parent = 'onu_optical_daily' THEN  -- a date key
        lo_bound := lo::text;
        hi_bound := hi::text;
    ELSE  -- timestamptz keys: UTC bounds
        lo_bound := lo::text || ' 00:00:00+00';
        hi_bound := hi::text || ' 00:00:00+00';
    END IF;
    EXECUTE format('CREATE TABLE public.%I PARTITION OF public.%I FOR VALUES FROM (%L) TO (%L)',
                   part, parent, lo_bound, hi_bound);
    EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', part);
    EXECUTE format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', part);
    EXECUTE format('CREATE POLICY tenant_isolation ON public.%I USING (tenant_id = current_setting(''app.current_tenant_id'', true)) WITH CHECK (tenant_id = current_setting(''app.current_tenant_id'', true))', part);
    RETURN part;
END
$function$;
REVOKE ALL ON FUNCTION public.ispops_optics_ensure_partition(parent text, at date) FROM PUBLIC;

CREATE OR REPLACE FUNCTION public.ispops_optics_maintain_at(today date, days_ahead integer, raw_retention_days integer, rollup_retention_months integer)
 RETURNS TABLE(action text, partition_name text, detail text)
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public'
AS $function$
DECLARE
    raw_cutoff date;
    rollup_cutoff date;
    this_month date := date_trunc('month', today)::date;
    d date;
    made text;
    parent text;
    part text;
    covers date;
BEGIN
    IF today IS NULL OR days_ahead IS NULL OR days_ahead < 0 OR days_ahead > 60
       OR raw_retention_days IS NULL OR raw_retention_days < 1 OR raw_retention_days > 3650
       OR rollup_retention_months IS NULL OR rollup_retention_months < 1 OR rollup_retention_months > 240 THEN
        RAISE EXCEPTION 'days_ahead must be 0-60, raw_retention_days 1-3650 and rollup_retention_months 1-240'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    raw_cutoff := today - raw_retention_days;
    rollup_cutoff := (this_month - make_interval(months => rollup_retention_months))::date;
    -- Readings: two days back (late pushes) through days_ahead; rollups: last month through two ahead.
    FOR offs IN -2 .. days_ahead LOOP
        d := today + offs;
        CONTINUE WHEN d < raw_cutoff;
        BEGIN
            made := ispops_optics_ensure_partition('onu_optical_readings', d);
            IF made IS NOT NULL THEN
                RETURN QUERY SELECT 'created'::text, made, NULL::text;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            RETURN QUERY SELECT 'problem'::text, NULL::text,
                format('cannot create the readings partition for %s: %s', d, SQLERRM);
        END;
    END LOOP;
    FOREACH parent IN ARRAY ARRAY['onu_optical_hourly', 'onu_optical_daily'] LOOP
        FOR offs IN -1 .. 2 + days_ahead / 28 LOOP
            d := (this_month + make_interval(months => offs))::date;
            CONTINUE WHEN d < rollup_cutoff;
            BEGIN
                made := ispops_optics_ensure_partition(parent, d);
                IF made IS NOT NULL THEN
                    RETURN QUERY SELECT 'created'::text, made, NULL::text;
                END IF;
            EXCEPTION WHEN OTHERS THEN
                RETURN QUERY SELECT 'problem'::text, NULL::text,
                    format('cannot create the %s partition for %s: %s', parent, to_char(d, 'YYYY-MM'), SQLERRM);
            END;
        END LOOP;
    END LOOP;
    FOR parent, part IN
        SELECT p.relname, c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname IN ('onu_optical_readings', 'onu_optical_hourly', 'onu_optical_daily')
          AND p.relnamespace = 'public'::regnamespace AND c.relname ~ '_p[0-9]{6,8}$'
        ORDER BY c.relname
    LOOP
        IF parent = 'onu_optical_readings' THEN
            covers := to_date(right(part, 8), 'YYYYMMDD');
            CONTINUE WHEN covers >= raw_cutoff;
        ELSE
            covers := to_date(right(part, 6), 'YYYYMM');
            CONTINUE WHEN covers >= rollup_cutoff;
        END IF;
        EXECUTE format('DROP TABLE public.%I', part);
        RETURN QUERY SELECT 'dropped'::text, part, NULL::text;
    END LOOP;
END
$function$;
REVOKE ALL ON FUNCTION public.ispops_optics_maintain_at(today date, days_ahead integer, raw_retention_days integer, rollup_retention_months integer) FROM PUBLIC;

CREATE OR REPLACE FUNCTION public.ispops_optics_maintain(days_ahead integer, raw_retention_days integer, rollup_retention_months integer)
 RETURNS TABLE(action text, partition_name text, detail text)
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    SELECT m.action, m.partition_name, m.detail
      FROM ispops_optics_maintain_at((now() AT TIME ZONE 'UTC')::date, days_ahead, raw_retention_days,
                                     rollup_retention_months) AS m
$function$;
REVOKE ALL ON FUNCTION public.ispops_optics_maintain(days_ahead integer, raw_retention_days integer, rollup_retention_months integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.ispops_optics_maintain(days_ahead integer, raw_retention_days integer, rollup_retention_months integer) TO ispops_app;
