"""The pg_catalog check that keeps every tenant table honest, on the real schema and on bad ones."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, create_engine, pool, text

from ispops.db.schema_check import check_schema
from ispops.db.session import Database


@pytest.fixture
def owner_tx(db: Database) -> Iterator[Connection]:
    """An owner-role transaction that is always rolled back."""
    engine = create_engine(db.server.admin_url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        conn.begin()
        conn.execute(text("set local role ispops_owner"))
        yield conn
        conn.rollback()
    engine.dispose()


def test_migrated_schema_keeps_every_rule(owner_tx: Connection) -> None:
    assert check_schema(owner_tx) == []


def test_table_without_tenant_id_is_reported(owner_tx: Connection) -> None:
    owner_tx.execute(text("create table gadgets (id uuid primary key)"))
    assert "gadgets: no tenant_id column" in check_schema(owner_tx)


def test_table_without_rls_policy_or_tenant_fk_is_reported(owner_tx: Connection) -> None:
    owner_tx.execute(text("create table gadgets (id uuid primary key, tenant_id varchar(255) not null)"))
    problems = check_schema(owner_tx)
    assert "gadgets: row level security is not enabled" in problems
    assert "gadgets: row level security is not forced (the owner would bypass it)" in problems
    assert "gadgets: no fail-closed tenant_isolation policy (USING and WITH CHECK)" in problems
    assert any(p.startswith("gadgets: no foreign key tenant_id -> tenants(id)") for p in problems)


def test_unforced_rls_and_a_policy_that_raises_are_reported(owner_tx: Connection) -> None:
    owner_tx.execute(text("alter table devices no force row level security"))
    owner_tx.execute(text("drop policy tenant_isolation on olts"))
    # The seed's form: raises when unset instead of failing closed.
    owner_tx.execute(
        text("create policy tenant_isolation on olts using (tenant_id = current_setting('app.current_tenant_id'))")
    )
    owner_tx.execute(text("create policy everyone on onus using (true)"))
    problems = check_schema(owner_tx)
    assert "devices: row level security is not forced (the owner would bypass it)" in problems
    assert "olts: no fail-closed tenant_isolation policy (USING and WITH CHECK)" in problems
    assert any(p.startswith("onus: unexpected extra policies") for p in problems)


def tenant_fk_problems(conn: Connection, table: str) -> list[str]:
    return [p for p in check_schema(conn) if p.startswith(f"{table}: no foreign key tenant_id -> tenants(id)")]


def test_ip_allocations_tenant_is_pinned_through_its_pool(owner_tx: Connection) -> None:
    """Migration 0018 dropped its own key to tenants: the rule passes through the NOT NULL pool key."""
    direct = owner_tx.execute(
        text(
            "select count(*) from pg_constraint where conrelid = 'ip_allocations'::regclass "
            "and confrelid = 'tenants'::regclass"
        )
    ).scalar()
    assert direct == 0
    assert tenant_fk_problems(owner_tx, "ip_allocations") == []
    # Without NOT NULL on the pool key a row could escape it (MATCH SIMPLE skips a NULL): reported.
    owner_tx.execute(text("alter table ip_allocations alter column ip_pool_id drop not null"))
    assert len(tenant_fk_problems(owner_tx, "ip_allocations")) == 1


def test_a_tenant_pinned_through_a_parent_passes_and_chains(owner_tx: Connection) -> None:
    owner_tx.execute(
        text(
            "create table gadgets (id uuid primary key, tenant_id varchar(255) not null, device_id uuid not null, "
            "constraint uq_gadgets__tenant_id__id unique (tenant_id, id), "
            "constraint fk_gadgets__device_id foreign key (tenant_id, device_id) references devices (tenant_id, id))"
        )
    )
    # A parent pinned through its own parent is as good: gizmos -> gadgets -> devices -> tenants.
    owner_tx.execute(
        text(
            "create table gizmos (id uuid primary key, tenant_id varchar(255) not null, gadget_id uuid not null, "
            "constraint fk_gizmos__gadget_id foreign key (tenant_id, gadget_id) references gadgets (tenant_id, id))"
        )
    )
    assert tenant_fk_problems(owner_tx, "gadgets") == []
    assert tenant_fk_problems(owner_tx, "gizmos") == []


@pytest.mark.parametrize(
    "weakness",
    [
        "alter table gadgets alter column device_id drop not null",  # a NULL device skips the key
        "alter table gadgets drop constraint fk_gadgets__device_id, add constraint fk_gadgets__device_id "
        "foreign key (tenant_id, device_id) references devices (tenant_id, id) not valid",  # rows never checked
        "alter table devices drop constraint devices_tenant_id_fkey",  # the parent's tenant is not pinned either
    ],
)
def test_a_tenant_pinned_through_a_weak_key_is_reported(owner_tx: Connection, weakness: str) -> None:
    owner_tx.execute(
        text(
            "create table gadgets (id uuid primary key, tenant_id varchar(255) not null, device_id uuid not null, "
            "constraint fk_gadgets__device_id foreign key (tenant_id, device_id) references devices (tenant_id, id))"
        )
    )
    assert tenant_fk_problems(owner_tx, "gadgets") == []
    owner_tx.execute(text(weakness))
    assert len(tenant_fk_problems(owner_tx, "gadgets")) == 1


def test_single_column_foreign_key_between_tenant_tables_is_reported(owner_tx: Connection) -> None:
    owner_tx.execute(
        text(
            "create table gadgets (id uuid primary key, "
            "tenant_id varchar(255) not null references tenants(id), "
            "device_id uuid references devices(id))"
        )
    )
    problems = check_schema(owner_tx)
    assert any("gadgets: foreign key" in p and "does not go through tenant_id" in p for p in problems)


def test_partition_with_grants_and_without_policy_is_reported(owner_tx: Connection) -> None:
    owner_tx.execute(
        text(
            "create table radacct_p209901 partition of radacct "
            "for values from ('2099-01-01 00:00:00+00') to ('2099-02-01 00:00:00+00')"
        )
    )
    owner_tx.execute(text("grant select on radacct_p209901 to ispops_app"))
    problems = check_schema(owner_tx)
    assert "radacct_p209901: row level security is not enabled" in problems
    assert any(p.startswith("radacct_p209901: partition has grants to ispops_app") for p in problems)


def test_radius_role_may_only_select_and_update_monthly_partitions(owner_tx: Connection) -> None:
    made = owner_tx.execute(text("select ispops_radacct_ensure_partition('2099-04-15')")).scalar()
    assert made == "radacct_p209904"
    assert check_schema(owner_tx) == []  # the SELECT and UPDATE the routing granted are allowed
    owner_tx.execute(text("grant delete on radacct_p209904 to ispops_radius"))
    owner_tx.execute(text("grant select on radacct_default to ispops_radius"))
    problems = check_schema(owner_tx)
    assert any(p.startswith("radacct_p209904: partition has grants to ispops_radius (DELETE") for p in problems)
    assert any(p.startswith("radacct_default: partition has grants to ispops_radius (SELECT") for p in problems)


def test_partitions_made_by_the_function_pass(owner_tx: Connection) -> None:
    made = owner_tx.execute(text("select ispops_radacct_ensure_partition('2099-03-15')")).scalar()
    assert made == "radacct_p209903"
    assert check_schema(owner_tx) == []


def test_application_role_is_not_privileged(db: Database) -> None:
    with db.tenant("nobody", enforce_status=False) as s:  # no tenant: the role, not its data
        row = s.execute(
            text(
                "select current_user, r.rolsuper, r.rolbypassrls, pg_has_role(current_user, 'ispops_owner', 'MEMBER') "
                "from pg_roles r where r.rolname = current_user"
            )
        ).one()
    assert tuple(row) == ("ispops_app", False, False, False)
