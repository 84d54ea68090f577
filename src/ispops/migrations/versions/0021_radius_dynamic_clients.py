"""A NAS added while FreeRADIUS runs becomes a client without a restart: ``ispops_radius_client(address)``.

rlm_sql reads the client list once, when FreeRADIUS starts (``ispops_radius_clients``, migration 0014). A
NAS added afterwards was unknown to FreeRADIUS, and its packets were dropped until someone restarted the
server that every tenant shares (a HUP does not reload clients in FreeRADIUS 3). The rendered configuration
now declares a dynamic client network (``sites-enabled/ispops-clients``): a packet from an unknown address
in it is held while a virtual server asks this function for the NAS with that address, and a NAS found
becomes a client for a limited time (``ispops radius config --client-lifetime``).

The function is the client list's, for one address: the same tenants (not cancelled or deleted), the same
shortname ``"<tenant>/<require_ma>/<shortname>"`` that the tenant policy parses, the same deliberate
cross-tenant read (SECURITY DEFINER, ``nas`` read one tenant at a time with RLS on). ``nas.nasname`` is
unique among live NASes (``uq_nas__nasname``), so at most one row comes back; it must be the address as
FreeRADIUS prints the packet's source (dotted quad), which is how the API stores NAS addresses.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-25
"""

from __future__ import annotations

from ispops.db.ddl import steps

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

CLIENT = """
CREATE FUNCTION ispops_radius_client(p_address text)
RETURNS TABLE (shortname text, type text, secret text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
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
END $$
"""

UPGRADE = [
    CLIENT,
    "REVOKE ALL ON FUNCTION ispops_radius_client(text) FROM PUBLIC",
    "GRANT EXECUTE ON FUNCTION ispops_radius_client(text) TO ispops_radius",
]
DOWNGRADE = ["DROP FUNCTION ispops_radius_client(text)"]

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
