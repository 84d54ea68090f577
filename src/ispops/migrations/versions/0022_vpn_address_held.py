"""A live tunnel's address cannot be released: no lease on it, and a guard on every writer.

A tunnel's address is an IPAM allocation (migration 0012) that the tunnel gives back when it is deleted.
Until now it was allocated like a subscriber's, so in a pool with ``default_lease_seconds`` it got a lease,
the reclaim job released it when the lease ran out, and the address could be handed to a subscriber while
the tunnel still used it; ``POST /ip_allocations/{id}/release`` could do the same by hand.

- ``ipam_tunnel_address_guard`` (BEFORE UPDATE OF status on ip_allocations, only when a row becomes
  ``released``): refuses when a live tunnel (``deleted_at IS NULL``) names the allocation, with
  ``foreign_key_violation`` and the tunnel in the detail: the API answers 409. Deleting the tunnel (the
  trigger of 0012 releases its address after the tunnel row changed) and moving a tunnel to another
  allocation still release the old one.
- Existing live tunnels' allocations lose their lease (``lease_start``/``lease_end`` NULL), tenant by
  tenant (``ddl.each_tenant``: under FORCE RLS even the owner sees one tenant at a time). The downgrade
  drops the guard and leaves the leases off (they were wrong).

The tunnel code now allocates without a lease (``ispops.vpn.addresses``) and the reclaim job skips
allocations a live tunnel holds.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-25
"""

from __future__ import annotations

from ispops.db.ddl import each_tenant, steps

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

GUARD = """
CREATE FUNCTION ipam_tunnel_address_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE holder text;
BEGIN
    SELECT t.tunnel_name INTO holder FROM public.vpn_tunnels t
     WHERE t.tenant_id = NEW.tenant_id AND t.ip_allocation_id = NEW.id AND t.deleted_at IS NULL
     LIMIT 1;
    IF holder IS NOT NULL THEN
        RAISE EXCEPTION 'ip_allocations: % is the address of tunnel %; delete the tunnel to release it',
                        host(NEW.ip_address), holder
            USING ERRCODE = 'foreign_key_violation', TABLE = 'ip_allocations',
                  DETAIL = format('Key (id)=(%s) is still referenced from table "vpn_tunnels".', NEW.id);
    END IF;
    RETURN NEW;
END $$
"""

NO_LEASES = each_tenant("""
    UPDATE ip_allocations a SET lease_start = NULL, lease_end = NULL
      FROM vpn_tunnels v
     WHERE a.tenant_id = t.id AND v.tenant_id = t.id AND v.ip_allocation_id = a.id AND v.deleted_at IS NULL
       AND a.status <> 'released' AND (a.lease_end IS NOT NULL OR a.lease_start IS NOT NULL);
""")

UPGRADE = [
    GUARD,
    "CREATE TRIGGER ip_allocations_tunnel_address BEFORE UPDATE OF status ON ip_allocations FOR EACH ROW "
    "WHEN (NEW.status = 'released' AND OLD.status <> 'released') EXECUTE FUNCTION ipam_tunnel_address_guard()",
    NO_LEASES,
]
DOWNGRADE = [
    "DROP TRIGGER ip_allocations_tunnel_address ON ip_allocations",
    "DROP FUNCTION ipam_tunnel_address_guard()",
]

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
