-- Subscriber imports (ispops.subscribers.bulk_import): while an import inserts its subscribers with the
-- transaction-local flag ispops.subscriber_import = 'on', the per-row counter trigger stands aside
-- (db/sql/counters.sql); this function then counts them once into tenants.current_subscribers, with the
-- same quota check (ispops_apply_counter). `ispops db check` recomputes the counter as for any other.
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ispops_subscriber_import_count(p_tenant text, p_ids uuid[])
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
DECLARE
    n integer;
BEGIN
    IF p_tenant IS DISTINCT FROM current_setting('app.current_tenant_id', true) THEN
        RAISE EXCEPTION 'ispops_subscriber_import_count: this transaction does not act for tenant %', p_tenant
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF current_setting('ispops.subscriber_import', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'ispops_subscriber_import_count: only inside a subscriber import'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT count(*) INTO n FROM subscribers s
     WHERE s.tenant_id = p_tenant AND s.id = ANY (p_ids) AND s.deleted_at IS NULL AND s.status <> 'terminated';
    IF n > 0 THEN
        PERFORM ispops_apply_counter('tenants', 'current_subscribers', p_tenant, p_tenant, n);
    END IF;
    RETURN n;
END
$function$;
REVOKE ALL ON FUNCTION public.ispops_subscriber_import_count(p_tenant text, p_ids uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.ispops_subscriber_import_count(p_tenant text, p_ids uuid[]) TO ispops_app;

-- Without column statistics on subscribers (a new installation: autovacuum analyzes a table only after 50
-- changed rows), the planner checks each foreign key to subscribers — plan history, radcheck, radreply,
-- allocations, one check per inserted row — through an index on tenant_id alone: quadratic in an import.
-- The import inserts a small first chunk, then calls this, which analyzes the table (as its owner) only if
-- it has never been analyzed; the foreign-key checks are planned again from then on.
CREATE OR REPLACE FUNCTION public.ispops_subscriber_import_analyze()
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_stats WHERE schemaname = 'public' AND tablename = 'subscribers' AND attname = 'id') THEN
        RETURN false;
    END IF;
    ANALYZE public.subscribers;
    RETURN true;
END
$function$;
REVOKE ALL ON FUNCTION public.ispops_subscriber_import_analyze() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.ispops_subscriber_import_analyze() TO ispops_app;
