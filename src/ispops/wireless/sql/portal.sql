-- The public "check my address" page names its tenant by the tenant's public slug (tenants.slug). The page
-- runs as ispops_app with no tenant set, and the app sees only its own tenant's row: this one lookup reads
-- past that, and answers only for a live tenant in good standing (nothing else about it).
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ispops_wireless_portal_tenant(public_slug text)
 RETURNS text
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    SELECT t.id::text FROM public.tenants t
    WHERE t.slug = public_slug AND t.deleted_at IS NULL AND t.status IN ('active', 'trial')
$function$;
REVOKE ALL ON FUNCTION public.ispops_wireless_portal_tenant(public_slug text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.ispops_wireless_portal_tenant(public_slug text) TO ispops_app;
