"""Purging a cancelled tenant erases exactly its rows; anything else is refused."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ispops.db.session import Database
from ispops.errors import Conflict, NotFound
from ispops.secrets.file import FileSecretStore
from ispops.tenancy.purge import deletion_order, purge_tenant
from tests.factories import TENANT_TABLES, populate, snapshot


def test_deletion_order_puts_children_first(db: Database) -> None:
    with db.owner() as conn:
        order = deletion_order(conn)
    assert set(order) == set(TENANT_TABLES)
    assert order.index("onus") < order.index("olts") < order.index("devices")
    assert order.index("subscribers") < order.index("bandwidth_profiles")
    assert order.index("refresh_tokens") < order.index("users")


def test_purge_erases_one_cancelled_tenant_and_nothing_else(db: Database, admin: psycopg.Connection[Any]) -> None:
    populate(db, "isp-a", 1)
    populate(db, "isp-b", 2)
    before_b = snapshot(admin, "isp-b")
    with pytest.raises(Conflict):
        purge_tenant(db, "isp-a")  # still active
    admin.execute("update tenants set status = 'cancelled' where id = 'isp-a'")
    deleted = purge_tenant(db, "isp-a").rows
    assert deleted["subscribers"] == 1 and deleted["radacct"] == 1 and deleted["audit_events"] == 1
    assert all(rows == [] for rows in snapshot(admin, "isp-a").values())
    assert admin.execute("select count(*) from tenants where id = 'isp-a'").fetchone() == (0,)
    assert snapshot(admin, "isp-b") == before_b
    with pytest.raises(NotFound):
        purge_tenant(db, "isp-a")


def test_purge_deletes_the_tenants_secrets_and_no_one_elses(
    db: Database, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    populate(db, "isp-a", 1)
    populate(db, "isp-b", 2)
    store = FileSecretStore(tmp_path / "secrets", os.urandom(32))
    # the two set below, and the webhook endpoint's signing secret that tests/factories.py's row names
    mine = [
        "tenants/isp-a/devices/d1/credentials",
        "tenants/isp-a/vpn/t1/private_key",
        "tenants/isp-a/webhooks/e1/secret",
    ]
    theirs = "tenants/isp-b/devices/d2/credentials"
    for path in [*mine, theirs]:
        store.put(path, b"s3cret")
    admin.execute("update devices set credentials_vault_path = %s where tenant_id = 'isp-a'", (mine[0],))
    admin.execute("update vpn_tunnels set private_key_vault_path = %s where tenant_id = 'isp-a'", (mine[1],))
    # a row of isp-a naming isp-b's secret (written by hand, say) must not make the purge delete it
    # (onus' *_vault_path columns refuse such a path since migration 0032: a second device of isp-a does it)
    admin.execute(
        "insert into devices (tenant_id, name, device_type, credentials_vault_path) "
        "values ('isp-a', 'd-x', 'router', %s)",
        (theirs,),
    )
    admin.execute("update devices set credentials_vault_path = %s where tenant_id = 'isp-b'", (theirs,))
    admin.execute("update tenants set status = 'cancelled' where id = 'isp-a'")

    report = purge_tenant(db, "isp-a", store)

    assert report.secrets_deleted == sorted(mine) and report.secret_problems == []
    assert [store.exists(p) for p in mine] == [False, False, False]
    assert store.get(theirs) == b"s3cret"
