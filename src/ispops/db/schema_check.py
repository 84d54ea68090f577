"""A check of the tenancy rules against pg_catalog, so a future table cannot forget them.

Every table in schema ``public`` (partitions included) except the global ones must have a NOT NULL
``tenant_id``, RLS enabled and forced, the fail-closed ``tenant_isolation`` policy, and a ``tenant_id`` that
is a real tenant: a foreign key ``tenant_id -> tenants(id)``, or the tenant *pinned through a parent* — a
validated composite key ``(tenant_id, col) -> parent (tenant_id, id)`` with ``col`` NOT NULL to a parent
that passes this rule itself (migration 0018 relies on it for ``ip_allocations``, whose own key to
``tenants`` locked the tenant row on every allocation). Every foreign key to another tenant table must be
composite through ``tenant_id``; every table such a key points at must have ``UNIQUE (tenant_id, id)``.
Login roles must not be superusers, bypass RLS, or own (or be able to become the owner of) the tables,
and no role may be granted anything on a radacct partition except the one direct path of migration 0017:
SELECT and UPDATE for the RADIUS role on the monthly partitions (each has its own RLS policy, checked like
any table).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from ispops.config import LOGIN_ROLES, OWNER_ROLE, RADIUS_ROLE

# Tables that belong to the installation, not to a tenant. Each is reachable only by the platform role
# or through a SECURITY DEFINER function; adding one here is a decision to write down in docs/database.md.
GLOBAL_TABLES = frozenset(
    {
        "alembic_version",
        "tenants",
        "platform_operators",
        "operator_refresh_tokens",
        "platform_audit_events",
        "ip_login_failures",
    }
)
# Accounting updates reach the month's partition directly (migration 0017).
MONTHLY_PARTITION = re.compile(r"^radacct_p[0-9]{6}$")
RADIUS_PARTITION_PRIVILEGES = frozenset({"SELECT", "UPDATE"})
SETTING = "current_setting('app.current_tenant_id'::text, true)"


def _rows(conn: Connection | Session, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(text(sql))]


def _real_tenant(fks: list[tuple[Any, ...]], not_null: set[tuple[str, str]]) -> set[str]:
    """Tables whose ``tenant_id`` is always a real tenant.

    Those with a key ``tenant_id -> tenants(id)``, and those whose tenant is pinned through a parent: a
    validated key ``(tenant_id, col) -> parent (tenant_id, id)`` with both columns NOT NULL (so it is
    checked for every row) to a table that is in this set itself.
    """
    found = {
        str(src)
        for src, dst, cols, ref_cols, _, _ in fks
        if dst == "tenants" and list(cols) == ["tenant_id"] and list(ref_cols) == ["id"]
    }
    pinning = {
        (str(src), str(dst))
        for src, dst, cols, ref_cols, _, validated in fks
        if validated
        and len(cols) == 2
        and cols[0] == "tenant_id"
        and list(ref_cols) == ["tenant_id", "id"]
        and all((str(src), str(c)) in not_null for c in cols)
    }
    while pinned := {src for src, parent in pinning if parent in found and src not in found}:
        found |= pinned  # and then whatever is pinned through these
    return found


def check_schema(conn: Connection | Session) -> list[str]:
    """Return one line per violation; empty means the schema keeps every tenancy rule."""
    problems: list[str] = []
    tables = {
        str(name): (bool(rls), bool(force), str(kind), bool(is_partition))
        for name, rls, force, kind, is_partition in _rows(
            conn,
            "select c.relname, c.relrowsecurity, c.relforcerowsecurity, c.relkind, c.relispartition "
            "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind in ('r', 'p')",
        )
    }
    tenant_cols = {
        str(t): bool(notnull)
        for t, notnull in _rows(
            conn,
            "select c.relname, a.attnotnull from pg_attribute a join pg_class c on c.oid = a.attrelid "
            "join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and a.attname = 'tenant_id' and not a.attisdropped",
        )
    }
    policies: dict[str, list[tuple[str, str, str]]] = {}
    for table, name, qual, check in _rows(
        conn,
        "select c.relname, p.polname, pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid) "
        "from pg_policy p join pg_class c on c.oid = p.polrelid",
    ):
        policies.setdefault(str(table), []).append((str(name), str(qual), str(check)))
    fks = _rows(
        conn,
        "select src.relname, dst.relname, "
        "array(select a.attname from unnest(k.conkey) with ordinality u(n, i) "
        "      join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.n order by u.i), "
        "array(select a.attname from unnest(k.confkey) with ordinality u(n, i) "
        "      join pg_attribute a on a.attrelid = k.confrelid and a.attnum = u.n order by u.i), "
        "k.conname, k.convalidated "
        "from pg_constraint k join pg_class src on src.oid = k.conrelid "
        "join pg_class dst on dst.oid = k.confrelid "
        "join pg_namespace n on n.oid = src.relnamespace "
        "where k.contype = 'f' and n.nspname = 'public'",
    )
    not_null = {
        (str(t), str(c))
        for t, c in _rows(
            conn,
            "select c.relname, a.attname from pg_attribute a join pg_class c on c.oid = a.attrelid "
            "join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and a.attnum > 0 and a.attnotnull and not a.attisdropped",
        )
    }
    unique_keys = {
        (str(t), tuple(cols))
        for t, cols in _rows(
            conn,
            "select c.relname, array(select a.attname from unnest(k.conkey) with ordinality u(n, i) "
            "  join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.n order by u.i) "
            "from pg_constraint k join pg_class c on c.oid = k.conrelid where k.contype in ('u', 'p')",
        )
    }

    expected = f"((tenant_id)::text = {SETTING})"
    real_tenant = _real_tenant(fks, not_null)
    for table, (rls, force, _kind, _is_partition) in sorted(tables.items()):
        if table in GLOBAL_TABLES:
            continue
        if table not in tenant_cols:
            problems.append(f"{table}: no tenant_id column")
            continue
        if not tenant_cols[table]:
            problems.append(f"{table}: tenant_id is nullable")
        if not rls:
            problems.append(f"{table}: row level security is not enabled")
        if not force:
            problems.append(f"{table}: row level security is not forced (the owner would bypass it)")
        mine = policies.get(table, [])
        good = [p for p in mine if p[0] == "tenant_isolation" and p[1] == expected and p[2] == expected]
        if not good:
            problems.append(f"{table}: no fail-closed tenant_isolation policy (USING and WITH CHECK)")
        others = [p[0] for p in mine if p[0] != "tenant_isolation"]
        if others:
            problems.append(f"{table}: unexpected extra policies {others} (policies are permissive: they widen access)")
        if table not in real_tenant:
            problems.append(
                f"{table}: no foreign key tenant_id -> tenants(id), nor a NOT NULL key (tenant_id, col) -> "
                "parent (tenant_id, id) to a parent that has one"
            )

    for src, dst, cols, ref_cols, name, _ in fks:
        src_cols, dst_cols = list(cols), list(ref_cols)
        if dst == "tenants" or src in GLOBAL_TABLES:
            continue
        if len(src_cols) < 2 or src_cols[0] != "tenant_id" or dst_cols[0] != "tenant_id":
            problems.append(f"{src}: foreign key {name} to {dst} does not go through tenant_id")
        if (str(dst), tuple(dst_cols)) not in unique_keys:
            problems.append(f"{dst}: referenced by {name} but has no matching UNIQUE key {tuple(dst_cols)}")

    for role, is_super, bypass in _rows(
        conn,
        "select rolname, rolsuper, rolbypassrls from pg_roles where rolname = any(array["
        + ", ".join(f"'{r}'" for r in LOGIN_ROLES)
        + "])",
    ):
        if is_super or bypass:
            problems.append(f"role {role}: superuser or BYPASSRLS")
    for role, table in _rows(
        conn,
        "select r.rolname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "join pg_roles r on r.oid = c.relowner where n.nspname = 'public' and c.relkind in ('r', 'p') "
        f"and r.rolname <> '{OWNER_ROLE}'",
    ):
        problems.append(f"{table}: owned by {role}, not {OWNER_ROLE}")
    for (role,) in _rows(
        conn,
        "select r.rolname from pg_roles r where r.rolname = any(array["
        + ", ".join(f"'{r}'" for r in LOGIN_ROLES)
        + f"]) and pg_has_role(r.oid, '{OWNER_ROLE}', 'MEMBER')",
    ):
        problems.append(f"role {role}: can act as {OWNER_ROLE}")
    for table, grantee, privilege in _rows(
        conn,
        "select c.relname, g.grantee, g.privilege_type from information_schema.role_table_grants g "
        "join pg_class c on c.relname = g.table_name join pg_namespace n on n.oid = c.relnamespace "
        f"where n.nspname = 'public' and c.relispartition and g.grantee <> '{OWNER_ROLE}'",
    ):
        if grantee == RADIUS_ROLE and privilege in RADIUS_PARTITION_PRIVILEGES and MONTHLY_PARTITION.match(str(table)):
            continue
        problems.append(
            f"{table}: partition has grants to {grantee} ({privilege}; all access must go through the parent, "
            f"except {RADIUS_ROLE}'s SELECT and UPDATE on monthly partitions)"
        )
    return sorted(set(problems))
