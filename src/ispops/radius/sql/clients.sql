-- The NAS list FreeRADIUS reads at start, and the dynamic-client lookup for one address.
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ispops_radius_clients()
 RETURNS TABLE(id bigint, nasname text, shortname text, type text, secret text, server text)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
-- Every live NAS of every tenant that is not cancelled or deleted. The shortname carries the tenant and
-- whether Message-Authenticator is required: "<tenant>/<yes|no|auto>/<shortname>"; the tenant policy in
-- FreeRADIUS parses it. The one deliberate cross-tenant read of the RADIUS role: it runs as the owner
-- (whose tenants policy lists every tenant) and RLS stays on for nas: the loop reads one tenant at a time.
DECLARE t record;
BEGIN
  FOR t IN SELECT tn.id FROM tenants tn WHERE tn.deleted_at IS NULL AND tn.status IN ('active', 'trial', 'suspended', 'inactive', 'pending') ORDER BY tn.id LOOP
    PERFORM set_config('app.current_tenant_id', t.id, true);
    RETURN QUERY
      SELECT n.id, n.nasname, t.id || '/' || n.require_ma || '/' || n.shortname, n.type, n.secret,
             NULL::text  -- never nas.server: every client is served by the listener's ispops
        FROM nas n
       WHERE n.tenant_id = t.id AND n.deleted_at IS NULL
       ORDER BY n.id;
  END LOOP;
  PERFORM set_config('app.current_tenant_id', '', true);
END $function$;
REVOKE ALL ON FUNCTION public.ispops_radius_clients() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.ispops_radius_clients() TO ispops_radius;

CREATE OR REPLACE FUNCTION public.ispops_radius_client(p_address text)
 RETURNS TABLE(shortname text, type text, secret text)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
-- The live NAS whose nasname is p_address, of a tenant that is not cancelled or deleted (no row: none).
-- Read as ispops_radius_clients() reads the whole list: as the owner, one tenant at a time, RLS on.
DECLARE t record;
BEGIN
  FOR t IN SELECT tn.id FROM tenants tn WHERE tn.deleted_at IS NULL AND tn.status IN ('active', 'trial', 'suspended', 'inactive', 'pending') ORDER BY tn.id LOOP
    PERFORM set_config('app.current_tenant_id', t.id, true);
    RETURN QUERY
      SELECT t.id || '/' || n.require_ma || '/' || n.shortname, n.type, n.secret
        FROM nas n
       WHERE n.tenant_id = t.id AND n.nasname = p_address AND n.deleted_at IS NULL;
    EXIT WHEN FOUND;
  END LOOP;
  PERFORM set_config('app.current_tenant_id', '', true);
END $function$;
REVOKE ALL ON FUNCTION public.ispops_radius_client(p_address text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.ispops_radius_client(p_address text) TO ispops_radius;

CREATE OR REPLACE FUNCTION public.ispops_is_host_address(p_address text)
 RETURNS boolean
 LANGUAGE plpgsql
 IMMUTABLE PARALLEL SAFE STRICT
AS $function$
-- One host address written as host(p_address::inet) prints it; false (never an error) for anything else.
DECLARE a inet;
BEGIN
  a := p_address::inet;
  RETURN host(a) = p_address                              -- no prefix length, padding, upper case, 001
     AND a <> '0.0.0.0'::inet                             -- unspecified
     AND NOT a <<= '::ffff:0.0.0.0/96'::inet              -- IPv4-mapped: the IPv4 form is the address
     AND NOT (a <<= '::/96'::inet AND a <> '::1'::inet);  -- unspecified, deprecated IPv4-compatible
EXCEPTION WHEN data_exception THEN
  RETURN false;
END $function$;
