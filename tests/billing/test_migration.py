"""Migration 0035 gives every live subscriber that exists before it one open service period, and steps back."""

from __future__ import annotations

import psycopg

from ispops.db import migrate
from ispops.db.server import Server, libpq_dsn


def test_existing_subscribers_are_backfilled_per_tenant(empty_server: Server) -> None:
    migrate.upgrade(empty_server, "0034")
    with psycopg.connect(libpq_dsn(empty_server.admin_url), autocommit=True) as conn:
        for tenant in ("isp-a", "isp-b"):
            conn.execute("insert into tenants (id, name, slug) values (%s, %s, %s)", (tenant, tenant, tenant))
            conn.execute(
                "insert into subscribers (tenant_id, subscriber_number, service_type, status, service_activated_at) "
                "values (%s, 'S-1', 'ftth', 'active', '2026-03-01 10:00+00'), "
                "(%s, 'S-2', 'ftth', 'suspended', null), "
                "(%s, 'S-3', 'ftth', 'active', null)",
                (tenant, tenant, tenant),
            )
            conn.execute("update subscribers set deleted_at = now() where subscriber_number = 'S-3'")
    migrate.upgrade(empty_server, "0035")
    with psycopg.connect(libpq_dsn(empty_server.admin_url), autocommit=True) as conn:
        rows = conn.execute(
            "select h.tenant_id, s.subscriber_number, h.status, h.valid_from = coalesce(s.service_activated_at, "
            "s.created_at), h.valid_to from subscriber_plan_history h join subscribers s on s.id = h.subscriber_id "
            "order by 1, 2"
        ).fetchall()
    assert rows == [
        ("isp-a", "S-1", "active", True, None),
        ("isp-a", "S-2", "suspended", True, None),
        ("isp-b", "S-1", "active", True, None),
        ("isp-b", "S-2", "suspended", True, None),
    ]
    migrate.downgrade(empty_server, "0034")
    with psycopg.connect(libpq_dsn(empty_server.admin_url), autocommit=True) as conn:
        assert conn.execute("select to_regclass('subscriber_plan_history')").fetchone() == (None,)
        # the subscribers triggers went with it: a new subscriber still inserts
        conn.execute(
            "insert into subscribers (tenant_id, subscriber_number, service_type) values ('isp-a', 'S-9', 'ftth')"
        )
