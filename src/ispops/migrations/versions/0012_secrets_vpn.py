"""Secret store and WireGuard tunnels (issue 5).

What a WireGuard tunnel needs beyond the seed's columns: the hub's public key and the keepalive the
peer config carries, the IPAM allocation its address came from (released when the tunnel is deleted),
and when its key was last rotated. The private key itself is never in the database: only its path in
the secret store (``private_key_vault_path``).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24
"""

from __future__ import annotations

from ispops.db.ddl import check, steps, tenant_fk

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

WG_KEY = "'^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$'"

UPGRADE: list[str] = [
    "ALTER TABLE vpn_tunnels ADD COLUMN server_public_key text",
    "ALTER TABLE vpn_tunnels ADD "
    + check("vpn_tunnels", "server_public_key", f"server_public_key IS NULL OR server_public_key ~ {WG_KEY}"),
    "ALTER TABLE vpn_tunnels ADD COLUMN persistent_keepalive integer NOT NULL DEFAULT 25",
    "ALTER TABLE vpn_tunnels ADD "
    + check("vpn_tunnels", "persistent_keepalive", "persistent_keepalive BETWEEN 0 AND 65535"),
    "ALTER TABLE vpn_tunnels ADD COLUMN ip_allocation_id uuid",
    "ALTER TABLE vpn_tunnels ADD " + tenant_fk("vpn_tunnels", "ip_allocation_id", "ip_allocations"),
    "CREATE INDEX idx_vpn_tunnels_ip_allocation ON vpn_tunnels (tenant_id, ip_allocation_id)",
    "ALTER TABLE vpn_tunnels ADD COLUMN key_rotated_at timestamptz",
    # A tunnel's address goes back to its pool when the tunnel is deleted (soft or hard, by any path:
    # the API, a device's cascade, a purge) or moves to another allocation.
    """
    CREATE FUNCTION ispops_vpn_tunnel_release_address() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
    BEGIN
        IF OLD.ip_allocation_id IS NOT NULL AND (
            TG_OP = 'DELETE'
            OR (NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL)
            OR NEW.ip_allocation_id IS DISTINCT FROM OLD.ip_allocation_id
        ) THEN
            UPDATE public.ip_allocations SET status = 'released', released_at = now()
                WHERE tenant_id = OLD.tenant_id AND id = OLD.ip_allocation_id AND status <> 'released';
        END IF;
        RETURN NULL;
    END $$
    """,
    "CREATE TRIGGER vpn_tunnels_release_address AFTER UPDATE OF deleted_at, ip_allocation_id OR DELETE "
    "ON vpn_tunnels FOR EACH ROW EXECUTE FUNCTION ispops_vpn_tunnel_release_address()",
]
DOWNGRADE: list[str] = [
    "DROP TRIGGER vpn_tunnels_release_address ON vpn_tunnels",
    "DROP FUNCTION ispops_vpn_tunnel_release_address()",
    *(
        f"ALTER TABLE vpn_tunnels DROP COLUMN {column}"
        for column in ("key_rotated_at", "ip_allocation_id", "persistent_keepalive", "server_public_key")
    ),
]

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
