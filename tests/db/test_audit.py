"""Audit columns from the acting user, soft delete with uniqueness over live rows only."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from ispops.db.session import Database
from ispops.errors import Conflict, ValidationFailed
from tests.factories import make_tenant

INSERT_DEVICE = text("insert into devices (tenant_id, name, device_type) values ('isp-a', :n, 'router') returning id")


def test_created_and_updated_by_come_from_the_acting_user(db: Database, admin: psycopg.Connection[Any]) -> None:
    make_tenant(db, "isp-a")
    with db.tenant("isp-a", user_id="user-1") as s:
        device = s.execute(INSERT_DEVICE, {"n": "r1"}).scalar()
    first = admin.execute(
        "select created_at, updated_at, created_by, updated_by from devices where id = %s", (device,)
    ).fetchone()
    assert first is not None
    created_at, updated_at, created_by, updated_by = first
    assert (created_by, updated_by) == ("user-1", "user-1")
    assert created_at == updated_at

    time.sleep(0.01)
    with db.tenant("isp-a", user_id="user-2") as s:
        s.execute(
            text(
                "update devices set notes = 'moved', created_by = 'forged', created_at = now() - interval '1 year' "
                "where id = :i"
            ),
            {"i": device},
        )
    row = admin.execute(
        "select created_at, updated_at, created_by, updated_by from devices where id = %s", (device,)
    ).fetchone()
    assert row is not None
    assert row[0] == created_at  # created_* cannot be rewritten
    assert row[2] == "user-1"
    assert row[1] > updated_at
    assert row[3] == "user-2"


def test_a_system_update_does_not_keep_the_previous_editor(db: Database, admin: psycopg.Connection[Any]) -> None:
    make_tenant(db, "isp-a")
    with db.tenant("isp-a", user_id="user-1") as s:
        device = s.execute(INSERT_DEVICE, {"n": "r1"}).scalar()
    with db.tenant("isp-a") as s:  # a job, no user
        s.execute(text("update devices set operational_status = 'online' where id = :i"), {"i": device})
    assert admin.execute("select updated_by from devices where id = %s", (device,)).fetchone() == (None,)


def test_uniqueness_applies_to_live_rows_only(db: Database) -> None:
    make_tenant(db, "isp-a")
    with db.tenant("isp-a") as s:
        first = s.execute(INSERT_DEVICE, {"n": "core-1"}).scalar()
    with pytest.raises(Conflict) as err, db.tenant("isp-a") as s:
        s.execute(INSERT_DEVICE, {"n": "core-1"})
    assert (err.value.table, err.value.field) == ("devices", "name")
    assert "name" in err.value.message
    with db.tenant("isp-a") as s:
        s.execute(text("update devices set deleted_at = now() where id = :i"), {"i": first})
        second = s.execute(INSERT_DEVICE, {"n": "core-1"}).scalar()
        names = s.execute(text("select id from devices where name = 'core-1' order by created_at")).scalars().all()
    assert second != first and len(names) == 2


def test_constraint_errors_name_the_field(db: Database) -> None:
    make_tenant(db, "isp-a")
    with pytest.raises(ValidationFailed) as err, db.tenant("isp-a") as s:
        s.execute(
            text(
                "insert into subscribers (tenant_id, subscriber_number, service_type, status) "
                "values ('isp-a', 'S-1', 'ftth', 'frozen')"
            )
        )
    assert (err.value.table, err.value.field) == ("subscribers", "status")
    with pytest.raises(ValidationFailed) as err, db.tenant("isp-a") as s:
        s.execute(text("insert into subscribers (tenant_id, subscriber_number) values ('isp-a', 'S-1')"))
    assert (err.value.table, err.value.field) == ("subscribers", "service_type")
    with pytest.raises(ValidationFailed) as err, db.tenant("isp-a") as s:
        s.execute(
            text(
                "insert into devices (tenant_id, name, device_type, mac_address) "
                "values ('isp-a', 'x', 'router', 'not-a-mac')"
            )
        )
    assert (err.value.table, err.value.field) == ("devices", "mac_address")
    with pytest.raises(ValidationFailed) as err, db.tenant("isp-a") as s:
        s.execute(
            text(
                "insert into ip_pools (tenant_id, name, network_cidr, start_ip, end_ip, total_ips) "
                "values ('isp-a', 'p', '10.0.0.0/24', '10.0.0.5', '10.0.1.9', 9)"
            )
        )
    assert (err.value.table, err.value.field) == ("ip_pools", "end_ip")


def test_nas_address_belongs_to_one_tenant(db: Database) -> None:
    """Errata 4: a NAS address in two tenants would make RADIUS unable to tell whose packet it is."""
    make_tenant(db, "isp-a")
    make_tenant(db, "isp-b")
    insert = text(
        "insert into nas (tenant_id, nasname, shortname, secret) values (:t, '192.0.2.10', 'bras', 'secret-123')"
    )
    with db.tenant("isp-a") as s:
        s.execute(insert, {"t": "isp-a"})
    with pytest.raises(Conflict) as err, db.tenant("isp-b") as s:
        s.execute(insert, {"t": "isp-b"})
    assert err.value.field == "nasname"


def test_insert_cannot_forge_creator_or_creation_time(db: Database, admin: psycopg.Connection[Any]) -> None:
    make_tenant(db, "isp-a")
    with db.tenant("isp-a", user_id="user-1") as s:
        device = s.execute(
            text(
                "insert into devices (tenant_id, name, device_type, created_by, created_at) "
                "values ('isp-a', 'r9', 'router', 'someone-else', '2001-01-01') returning id"
            )
        ).scalar()
    row = admin.execute(
        "select created_by, created_at > now() - interval '1 hour' from devices where id = %s", (device,)
    ).fetchone()
    assert row == ("user-1", True)
