"""Purging a tenant: the explicit, operator-only way to erase an ISP's data (errata 8).

Tenants are soft-deleted and every foreign key to ``tenants`` is RESTRICT, so no single DELETE can
erase an ISP by accident. A purge deletes the tenant's rows table by table — children before the tables
they reference, in an order computed from pg_catalog so future tables are covered — and then the tenant,
all in one transaction as the owner role with the tenant set (FORCE RLS still limits every statement to
that tenant). Only a cancelled tenant can be purged.

Secrets go too: every ``*_vault_path`` the tenant's rows name (VPN private keys, device credentials, ONU
ACS and Wi-Fi passwords) is deleted from the secret store once the rows are gone for good (after the
commit: a rolled-back purge keeps them). Only paths under ``tenants/<tenant>/`` are touched, whatever a
row says. A secret that cannot be deleted is reported, not fatal: the rows are already erased.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from graphlib import TopologicalSorter

from sqlalchemy import Connection, text

from ispops.db.schema_check import GLOBAL_TABLES
from ispops.db.session import Database, set_context
from ispops.errors import Conflict, NotFound
from ispops.secrets import runtime as secrets_runtime
from ispops.secrets.store import SecretStore, SecretStoreError


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


def secret_paths(conn: Connection, tenant_id: str) -> list[str]:
    """Every secret path the tenant's rows name (columns ``*_vault_path`` of tenant tables), under its prefix."""
    columns = conn.execute(
        text(
            "select c.relname, a.attname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "join pg_attribute a on a.attrelid = c.oid and a.attname like '%\\_vault\\_path' and not a.attisdropped "
            "join pg_attribute t on t.attrelid = c.oid and t.attname = 'tenant_id' "
            "where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition order by 1, 2"
        )
    ).all()
    prefix = f"tenants/{tenant_id}/"
    paths: set[str] = set()
    for table, column in columns:
        for (path,) in conn.execute(
            text(f'select "{column}" from public."{table}" where tenant_id = :t and "{column}" is not null'),
            {"t": tenant_id},
        ):
            if str(path).startswith(prefix):
                paths.add(str(path))
    return sorted(paths)


@dataclass
class PurgeReport:
    rows: dict[str, int] = field(default_factory=dict)
    secrets_deleted: list[str] = field(default_factory=list)
    secret_problems: list[str] = field(default_factory=list)


def purge_tenant(db: Database, tenant_id: str, store: SecretStore | None = None) -> PurgeReport:
    """Delete every row of a cancelled tenant, then the tenant, then its secrets (from ``store``, else the
    process's secret store)."""
    report = PurgeReport()
    deleted = report.rows
    with db.owner() as conn:
        set_context(conn, tenant_id, "purge")
        status = conn.execute(text("select status from tenants where id = :t for update"), {"t": tenant_id}).first()
        if status is None:
            raise NotFound(f"tenants: no tenant {tenant_id!r}", table="tenants")
        if status[0] != "cancelled":
            raise Conflict(
                f"tenants: {tenant_id} is {status[0]}; cancel it first (only cancelled tenants can be purged)",
                table="tenants",
                field="status",
            )
        paths = secret_paths(conn, tenant_id)
        for table in deletion_order(conn):
            result = conn.execute(text(f'delete from public."{table}" where tenant_id = :t'), {"t": tenant_id})
            deleted[table] = result.rowcount
        conn.execute(text("delete from tenants where id = :t"), {"t": tenant_id})
    # Committed: the rows are gone for good, so their secrets can go (the store is opened only if needed).
    if paths:
        store = store or secrets_runtime.current()
        for path in paths:
            try:
                store.delete(path)
            except SecretStoreError as exc:
                report.secret_problems.append(str(exc))
            else:
                report.secrets_deleted.append(path)
    return report
