-- CPE radio readings (wireless_cpe_readings): daily partitions, each with its own RLS policy, and their
-- upkeep (days ahead, retention) for `ispops db maintain` and the worker.
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ispops_wireless_readings_ensure_partition(day date)
 RETURNS text
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    DECLARE
        part text := 'wireless_cpe_readings_p' || to_char(day, 'YYYYMMDD');
    BEGIN
        IF to_regclass('public.' || part) IS NOT NULL THEN
            RETURN NULL;
        END IF;
        EXECUTE format('CREATE TABLE public.%I PARTITION OF public.wireless_cpe_readings FOR VALUES FROM (%L) TO (%L)',
                       part, day::text || ' 00:00:00+00', (day + 1)::text || ' 00:00:00+00');
        EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', part);
        EXECUTE format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', part);
        EXECUTE format('CREATE POLICY tenant_isolation ON public.%I USING (tenant_id = current_setting(''app.current_tenant_id'', true)) WITH CHECK (tenant_id = current_setting(''app.current_tenant_id'', true))', part);
        RETURN part;
    END
    $function$;
REVOKE ALL ON FUNCTION public.ispops_wireless_readings_ensure_partition(day date) FROM PUBLIC;

CREATE OR REPLACE FUNCTION public.ispops_wireless_readings_maintain(days_ahead integer, retention_days integer)
 RETURNS TABLE(action text, partition_name text, detail text)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    DECLARE
        today date := (now() AT TIME ZONE 'UTC')::date;
        cutoff date;
        made text;
        part text;
    BEGIN
        IF days_ahead IS NULL OR days_ahead < 0 OR days_ahead > 60
           OR retention_days IS NULL OR retention_days < 1 OR retention_days > 3660 THEN
            RAISE EXCEPTION 'days_ahead must be 0-60 and retention_days 1-3660'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        cutoff := today - retention_days;
        -- One day back (late pushes) through days_ahead.
        FOR offs IN -1 .. days_ahead LOOP
            CONTINUE WHEN today + offs < cutoff;
            BEGIN
                made := ispops_wireless_readings_ensure_partition(today + offs);
                IF made IS NOT NULL THEN
                    RETURN QUERY SELECT 'created'::text, made, NULL::text;
                END IF;
            EXCEPTION WHEN OTHERS THEN
                RETURN QUERY SELECT 'problem'::text, NULL::text,
                    format('cannot create the CPE readings partition for %s: %s', today + offs, SQLERRM);
            END;
        END LOOP;
        FOR part IN
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'public.wireless_cpe_readings'::regclass
              AND c.relname ~ '^wireless_cpe_readings_p[0-9]{8}$'
            ORDER BY c.relname
        LOOP
            IF to_date(right(part, 8), 'YYYYMMDD') < cutoff THEN
                EXECUTE format('DROP TABLE public.%I', part);
                RETURN QUERY SELECT 'dropped'::text, part, NULL::text;
            END IF;
        END LOOP;
    END
    $function$;
REVOKE ALL ON FUNCTION public.ispops_wireless_readings_maintain(days_ahead integer, retention_days integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.ispops_wireless_readings_maintain(days_ahead integer, retention_days integer) TO ispops_app;
