-- Login throttling per client address (ispops.auth.throttle): a global table, reached only through this
-- SECURITY DEFINER function.
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ispops_ip_login_failures(addr inet, window_seconds integer, record boolean)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    DECLARE
        n integer;
    BEGIN
        IF record THEN
            INSERT INTO public.ip_login_failures (ip) VALUES (addr);
        END IF;
        DELETE FROM public.ip_login_failures WHERE occurred_at < now() - interval '1 day';
        SELECT count(*) INTO n FROM public.ip_login_failures
            WHERE ip = addr AND occurred_at >= now() - make_interval(secs => window_seconds);
        RETURN n;
    END
    $function$;
REVOKE ALL ON FUNCTION public.ispops_ip_login_failures(addr inet, window_seconds integer, record boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.ispops_ip_login_failures(addr inet, window_seconds integer, record boolean) TO ispops_app, ispops_platform;
