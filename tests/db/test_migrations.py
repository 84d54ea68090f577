"""Migrations: every revision reversible, the whole chain round-trips, a failure changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from ispops.db import migrate
from ispops.db.roles import require_server_version
from ispops.db.server import Server, libpq_dsn
from ispops.errors import ConfigurationError

# Seed phases 0001-0007, identity 0008, then one revision per capability (issues 4 and 5).
PHASES = [f"{n:04d}" for n in range(1, 40)]


def public_objects(server: Server) -> tuple[set[str], set[str]]:
    with psycopg.connect(libpq_dsn(server.admin_url)) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = 'public' and c.relkind in ('r', 'p')"
            )
        }
        functions = {
            r[0]
            for r in conn.execute(
                "select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
                "where n.nspname = 'public'"
            )
        }
    return tables, functions


def test_revisions_follow_the_seed_phases() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.MIGRATIONS_DIR))
    revisions = [s.revision for s in ScriptDirectory.from_config(cfg).walk_revisions()]
    assert list(reversed(revisions)) == PHASES
    assert migrate.head_revision() == PHASES[-1]


def test_upgrade_downgrade_upgrade_round_trip(empty_server: Server) -> None:
    migrate.upgrade(empty_server)
    assert migrate.current_revision(empty_server.admin_url) == PHASES[-1]
    full_tables, full_functions = public_objects(empty_server)
    assert {"tenants", "subscribers", "radacct", "radacct_default", "ansible_jobs"} <= full_tables

    migrate.downgrade(empty_server, "base")
    assert migrate.current_revision(empty_server.admin_url) is None
    tables, functions = public_objects(empty_server)
    assert tables == {"alembic_version"}
    assert functions == set()

    migrate.upgrade(empty_server)
    assert public_objects(empty_server) == (full_tables, full_functions)


def test_each_revision_steps_down_and_up(empty_server: Server) -> None:
    seen: list[set[str]] = []
    for revision in PHASES:
        migrate.upgrade(empty_server, revision)
        seen.append(public_objects(empty_server)[0])
    for index in range(len(PHASES) - 1, 0, -1):
        migrate.downgrade(empty_server, PHASES[index - 1])
        assert public_objects(empty_server)[0] == seen[index - 1], PHASES[index]
        migrate.upgrade(empty_server, PHASES[index])
        assert public_objects(empty_server)[0] == seen[index]
        migrate.downgrade(empty_server, PHASES[index - 1])


FAILING = '''"""A revision that fails half-way.

Revision ID: 0099
Revises: {down}
"""
from alembic import op

revision = "0099"
down_revision = "{down}"


def upgrade() -> None:
    op.execute("CREATE TABLE half_done (id int)")
    op.execute("ALTER TABLE tenants ADD COLUMN half_done int")
    op.execute("SELECT 1/0")


def downgrade() -> None:
    pass
'''


def test_failed_migration_leaves_previous_revision(empty_server: Server, tmp_path: Path) -> None:
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "0099_fails.py").write_text(FAILING.format(down=PHASES[-1]))
    migrate.upgrade(empty_server)
    before = public_objects(empty_server)

    with pytest.raises(migrate.MigrationFailed, match="division by zero") as failed:
        migrate.upgrade(empty_server, script_location=scripts)
    assert (failed.value.failed, failed.value.stayed_at) == ("0099", PHASES[-1])
    assert failed.value.message.startswith("migration 0099 (fails) failed: division by zero;")

    assert migrate.current_revision(empty_server.admin_url) == PHASES[-1]
    assert public_objects(empty_server) == before
    with psycopg.connect(libpq_dsn(empty_server.admin_url)) as conn:
        cols = conn.execute(
            "select 1 from information_schema.columns where table_name = 'tenants' and column_name = 'half_done'"
        ).fetchall()
    assert cols == []


def test_servers_older_than_15_are_refused_with_a_clear_message() -> None:
    require_server_version(150000)
    require_server_version(160002)
    with pytest.raises(ConfigurationError, match=r"PostgreSQL 15 or newer is required; this server is 14\.11"):
        require_server_version(140011)


# The allocator called as the owner, for tenant 't': (pool id, status).
IPAM_ALLOCATE = "select host(ip_address) from ipam_allocate('t', %s, NULL, NULL, %s, NULL, NULL, now())"


def tenant_with_pool(conn: psycopg.Connection[tuple[object, ...]], warning_threshold_percent: int = 90) -> object:
    """Tenant 't' and its pool 'p' of 10.0.0.1 - 10.0.0.6, written as the owner; the pool's id."""
    conn.execute("insert into tenants (id, name, slug) values ('t', 't', 't')")
    row = conn.execute(
        "insert into ip_pools (tenant_id, name, network_cidr, start_ip, end_ip, total_ips, warning_threshold_percent) "
        "values ('t', 'p', '10.0.0.0/29', '10.0.0.1', '10.0.0.6', 6, %s) returning id",
        (warning_threshold_percent,),
    ).fetchone()
    assert row is not None
    return row[0]


def test_0018_keeps_the_pool_values_and_rules_both_ways(empty_server: Server) -> None:
    """Migration 0018 (IPAM hot path) on a database with data: values kept, the rules hold, and back."""
    pool_state = (
        "select allocated_ips, available_ips, utilisation_percent::text, warning, "
        "(select string_agg(is_generated, ',' order by column_name) from information_schema.columns "
        " where table_name = 'ip_pools' and column_name in ('available_ips', 'utilisation_percent', 'warning')) "
        "from ip_pools"
    )
    allocate = IPAM_ALLOCATE
    migrate.upgrade(empty_server, "0017")
    with psycopg.connect(libpq_dsn(empty_server.admin_url), autocommit=True) as conn:
        pool = tenant_with_pool(conn, warning_threshold_percent=50)
        conn.execute(allocate, (pool, "allocated"))
        conn.execute(allocate, (pool, "allocated"))
        assert conn.execute(pool_state).fetchone() == (2, 4, "33.33", False, "ALWAYS,ALWAYS,ALWAYS")

    migrate.upgrade(empty_server, "0018")
    with psycopg.connect(libpq_dsn(empty_server.admin_url), autocommit=True) as conn:
        assert conn.execute(pool_state).fetchone() == (2, 4, "33.33", False, "NEVER,NEVER,NEVER")
        assert conn.execute(allocate, (pool, "allocated")).fetchone() == ("10.0.0.3",)
        assert conn.execute(pool_state).fetchone() == (3, 3, "50.00", True, "NEVER,NEVER,NEVER")
        with pytest.raises(psycopg.errors.CheckViolation, match="vlan_id"):
            conn.execute("update ip_pools set vlan_id = 0")

    migrate.downgrade(empty_server, "0017")
    with psycopg.connect(libpq_dsn(empty_server.admin_url), autocommit=True) as conn:
        assert conn.execute(pool_state).fetchone() == (3, 3, "50.00", True, "ALWAYS,ALWAYS,ALWAYS")
        with pytest.raises(psycopg.errors.CheckViolation) as err:
            conn.execute("update ip_pools set vlan_id = 0")
        assert err.value.diag.constraint_name == "ck_ip_pools__vlan_id"
        tenant_key = conn.execute(
            "select pg_get_constraintdef(oid) from pg_constraint where conname = 'ip_allocations_tenant_id_fkey'"
        ).fetchone()
        assert tenant_key == ("FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE RESTRICT",)
        assert conn.execute(allocate, (pool, "allocated")).fetchone() == ("10.0.0.4",)
        assert conn.execute(pool_state).fetchone() == (4, 2, "66.67", True, "ALWAYS,ALWAYS,ALWAYS")


def test_0020_moves_the_allocation_checks_into_the_guard_and_back(empty_server: Server) -> None:
    """Migration 0020 (leaner allocator) on a database with allocations: rows kept, rules held both ways."""
    checks = "select count(*) from pg_constraint where conrelid = 'ip_allocations'::regclass and contype = 'c'"
    allocate = IPAM_ALLOCATE
    bad_mac = "update ip_allocations set mac_address = 'zz'"
    migrate.upgrade(empty_server, "0019")
    with psycopg.connect(libpq_dsn(empty_server.admin_url), autocommit=True) as conn:
        pool = tenant_with_pool(conn)
        assert conn.execute(allocate, (pool, "allocated")).fetchone() == ("10.0.0.1",)
        assert conn.execute(checks).fetchone() == (4,)

    migrate.upgrade(empty_server, "0020")
    with psycopg.connect(libpq_dsn(empty_server.admin_url), autocommit=True) as conn:
        assert conn.execute(checks).fetchone() == (0,)
        assert conn.execute(allocate, (pool, "allocated")).fetchone() == ("10.0.0.2",)
        with pytest.raises(psycopg.errors.CheckViolation) as err:
            conn.execute(bad_mac)
        assert err.value.diag.constraint_name == "ck_ip_allocations__mac_address"
        with pytest.raises(psycopg.errors.CheckViolation) as err:
            conn.execute(allocate, (pool, "released"))
        assert err.value.diag.constraint_name == "ck_ip_allocations__released_at"
        assert conn.execute("select allocated_ips from ip_pools").fetchone() == (2,)

    migrate.downgrade(empty_server, "0019")
    with psycopg.connect(libpq_dsn(empty_server.admin_url), autocommit=True) as conn:
        assert conn.execute(checks).fetchone() == (4,)
        with pytest.raises(psycopg.errors.CheckViolation) as err:
            conn.execute(bad_mac)
        assert err.value.diag.constraint_name == "ck_ip_allocations__mac_address"
        assert conn.execute(allocate, (pool, "allocated")).fetchone() == ("10.0.0.3",)
        assert conn.execute("select count(*), max(allocated_ips) from ip_allocations, ip_pools").fetchone() == (3, 3)


def test_0022_takes_the_lease_off_tunnel_addresses_and_guards_them(empty_server: Server) -> None:
    """Migration 0022 on a database where a tunnel's address got a lease: lease gone, release refused; back."""
    release = "update ip_allocations set status = 'released', released_at = now() where id = %s"
    migrate.upgrade(empty_server, "0021")
    with psycopg.connect(libpq_dsn(empty_server.admin_url), autocommit=True) as conn:
        pool = tenant_with_pool(conn)
        held, other = (
            conn.execute(
                "select id from ipam_allocate('t', %s, NULL, NULL, 'allocated', NULL, 3600, now())", (pool,)
            ).fetchone()
            for _ in range(2)
        )
        assert held is not None and other is not None
        conn.execute(
            "insert into vpn_tunnels (tenant_id, tunnel_name, vpn_ip, ip_allocation_id) "
            "values ('t', 'wg-1', '10.0.0.1', %s)",
            (held[0],),
        )

    migrate.upgrade(empty_server, "0022")
    with psycopg.connect(libpq_dsn(empty_server.admin_url), autocommit=True) as conn:
        leases = "select lease_end is null from ip_allocations order by ip_address"
        assert conn.execute(leases).fetchall() == [(True,), (False,)]  # only the tunnel's lost its lease
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="tunnel wg-1"):
            conn.execute(release, (held[0],))
        conn.execute(release, (other[0],))  # a subscriber's address is released as before

    migrate.downgrade(empty_server, "0021")
    with psycopg.connect(libpq_dsn(empty_server.admin_url), autocommit=True) as conn:
        conn.execute(release, (held[0],))  # no guard any more
        assert conn.execute("select count(*) from ip_allocations where status = 'released'").fetchone() == (2,)


def test_0023_adds_the_vpn_pool_type_and_keeps_subscribers_out(empty_server: Server) -> None:
    """Migration 0023: ``vpn`` pools exist, never for a subscriber; the downgrade makes them reserved."""
    allocate = "select host(ip_address) from ipam_allocate('t', %s, NULL, %s::uuid, 'allocated', NULL, NULL, now())"
    migrate.upgrade(empty_server, "0022")
    with psycopg.connect(libpq_dsn(empty_server.admin_url), autocommit=True) as conn:
        pool = tenant_with_pool(conn)
        with pytest.raises(psycopg.errors.CheckViolation, match="dynamic, static or reserved, not vpn"):
            conn.execute("update ip_pools set pool_type = 'vpn'")

    migrate.upgrade(empty_server, "0023")
    with psycopg.connect(libpq_dsn(empty_server.admin_url), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.CheckViolation, match="reserved or vpn, not tunnel"):
            conn.execute("update ip_pools set pool_type = 'tunnel'")
        conn.execute("update ip_pools set pool_type = 'vpn'")
        row = conn.execute(
            "insert into subscribers (tenant_id, subscriber_number, service_type, status) "
            "values ('t', 'S-1', 'ftth', 'active') returning id"
        )
        subscriber = row.fetchone()
        assert subscriber is not None
        assert conn.execute(allocate, (pool, subscriber[0])).fetchall() == []  # no row: not for subscribers
        assert conn.execute(allocate, (pool, None)).fetchall() == [("10.0.0.1",)]  # a tunnel's, say

    migrate.downgrade(empty_server, "0022")
    with psycopg.connect(libpq_dsn(empty_server.admin_url), autocommit=True) as conn:
        assert conn.execute("select pool_type, allocated_ips from ip_pools").fetchall() == [("reserved", 1)]
        assert conn.execute(allocate, (pool, None)).fetchall() == [("10.0.0.2",)]
