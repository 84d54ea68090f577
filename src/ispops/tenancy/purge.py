"""Purging a tenant: the explicit, operator-only way to erase an ISP's data (errata 8).

Tenants are soft-deleted and every foreign key to ``tenants`` is RESTRICT, so no single DELETE can
erase an ISP by accident. A purge deletes the tenant's rows table by table — children before the tables
they reference, in an order computed from pg_catalog so future tables are covered — and then the tenant,
all in one transaction as the owner role with the tenant set (FORCE RLS still limits every statement to
that tenant). Only a cancelled tenant can be purged.
"""

from __future__ import annotations

from graphlib import TopologicalSorter

from sqlalchemy import Connection, text

from ispops.db.schema_check import GLOBAL_TABLES
from ispops.db.session import Database, set_context
from ispops.errors import Conflict, NotFound


def deletion_order(conn: Connection) -> list[str]:
    """Tenant tables (partitioned parents, not partitions), each before the tables it references."""
    tables = {
        str(r[0])
        for r in conn.execute(
            text(
                "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' "
                "where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition"
            )
        )
    } - GLOBAL_TABLES
    sorter: TopologicalSorter[str] = TopologicalSorter({t: set() for t in tables})
    for src, dst in conn.execute(
        text(
            "select src.relname, dst.relname from pg_constraint k join pg_class src on src.oid = k.conrelid "
            "join pg_class dst on dst.oid = k.confrelid where k.contype = 'f' and k.conparentid = 0"
        )
    ):
        if src in tables and dst in tables and src != dst:
            sorter.add(str(dst), str(src))  # dst is deleted after src: src must come first
    return list(sorter.static_order())


def purge_tenant(db: Database, tenant_id: str) -> dict[str, int]:
    """Delete every row of a cancelled tenant, then the tenant. Returns rows deleted per table."""
    deleted: dict[str, int] = {}
    with db.owner() as conn:
        set_context(conn, tenant_id, "purge")
        status = conn.execute(text("select status from tenants where id = :t for update"), {"t": tenant_id}).first()
        if status is None:
            raise NotFound(f"tenants: no tenant {tenant_id!r}", table="tenants")
        if status[0] != "cancelled":
            raise Conflict(
                f"tenants: {tenant_id} is {status[0]}; cancel it first (only cancelled tenants can be purged)",
                table="tenants", field="status",
            )
        for table in deletion_order(conn):
            result = conn.execute(text(f'delete from public."{table}" where tenant_id = :t'), {"t": tenant_id})
            deleted[table] = result.rowcount
        conn.execute(text("delete from tenants where id = :t"), {"t": tenant_id})
    return deleted
