"""The rules of an allocation row: 0004's CHECKs on ip_allocations, kept by triggers since migration 0020.

``ipam_allocation_guard`` keeps them for every writer (the API, imports, the owner) and names the field
(422); ``ipam_allocate``, for which the guard stands aside, checks the same rules on the values it inserts.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from ispops.db.session import Database
from ispops.errors import ValidationFailed
from tests.ipam.conftest import TENANT, allocate, new_pool, pool_row

INSERT = text(
    "insert into ip_allocations (tenant_id, ip_pool_id, ip_address, status, mac_address, lease_start, lease_end, "
    "released_at) values ('isp-a', :pool, :ip, :status, :mac, :start, :end, :released) returning id"
)
GOOD = {
    "status": "allocated",
    "mac": "02:00:5e:00:53:01",
    "start": "2026-11-25T00:00:00Z",
    "end": "2026-11-25T01:00:00Z",
    "released": None,
}
# (field, a bad row for INSERT, an UPDATE of a good row that breaks the rule)
RULES = [
    ("lease_end", {"end": "2026-11-24T23:00:00Z"}, "lease_end = lease_start"),
    ("mac_address", {"mac": "02:00:5e:00:53"}, "mac_address = 'zz:zz:zz:zz:zz:zz'"),
    ("released_at", {"status": "released"}, "released_at = now()"),
    ("released_at", {"released": "2026-11-25T00:30:00Z"}, "status = 'released'"),
    ("status", {"status": "leased"}, "status = 'leased'"),
]


@pytest.mark.parametrize(("field", "bad", "assignment"), RULES, ids=[f"{r[0]}-{i}" for i, r in enumerate(RULES)])
def test_each_rule_names_the_field_on_insert_and_update(
    tenants: Database, admin: psycopg.Connection[Any], field: str, bad: dict[str, Any], assignment: str
) -> None:
    pool = new_pool(tenants, name="p", network_cidr="10.7.0.0/29")
    with pytest.raises(ValidationFailed) as inserted, tenants.tenant(TENANT) as s:
        s.execute(INSERT, {**GOOD, **bad, "pool": pool.id, "ip": "10.7.0.1"})
    assert (inserted.value.table, inserted.value.field) == ("ip_allocations", field), inserted.value.message
    with tenants.tenant(TENANT) as s:
        row_id = s.execute(INSERT, {**GOOD, "pool": pool.id, "ip": "10.7.0.2"}).scalar_one()
    with pytest.raises(ValidationFailed) as updated, tenants.tenant(TENANT) as s:
        s.execute(text(f"update ip_allocations set {assignment} where id = :a"), {"a": row_id})
    assert (updated.value.table, updated.value.field) == ("ip_allocations", field), updated.value.message
    # Nothing of the failed writes is left: the one good row, unchanged, and the counter says so.
    state = admin.execute(
        "select host(ip_address), status, mac_address from ip_allocations where ip_pool_id = %s", (pool.id,)
    ).fetchall()
    assert state == [("10.7.0.2", "allocated", GOOD["mac"])]
    assert pool_row(admin, pool.id)["allocated_ips"] == 1


def test_they_hold_for_the_owner_too_and_are_no_longer_check_constraints(
    tenants: Database, admin: psycopg.Connection[Any]
) -> None:
    checks = admin.execute(
        "select conname from pg_constraint where conrelid = 'ip_allocations'::regclass and contype = 'c'"
    ).fetchall()
    assert checks == []
    made = allocate(tenants, new_pool(tenants, name="p", network_cidr="10.7.1.0/29").id)
    with pytest.raises(psycopg.errors.CheckViolation) as err:
        admin.execute("update ip_allocations set mac_address = 'not-a-mac' where id = %s", (made.id,))
    diag = err.value.diag
    assert (diag.constraint_name, diag.table_name, diag.column_name) == (
        "ck_ip_allocations__mac_address",
        "ip_allocations",
        "mac_address",
    )


ALLOCATE = text("select host(ip_address) from ipam_allocate(:t, :p, NULL, NULL, :status, :mac, :lease, now())")
# (field, the allocator's arguments): the rules it checks for itself.
OWN_RULES = [
    ("status", {"status": "leased"}),
    ("released_at", {"status": "released"}),
    ("mac_address", {"mac": "02-00-5e-00-53-01"}),
    ("lease_end", {"lease": 0}),
    ("lease_end", {"lease": -60}),
]


@pytest.mark.parametrize(("field", "bad"), OWN_RULES, ids=[f"{r[0]}-{i}" for i, r in enumerate(OWN_RULES)])
def test_the_allocator_checks_its_own_values_and_writes_nothing(
    tenants: Database, admin: psycopg.Connection[Any], field: str, bad: dict[str, Any]
) -> None:
    pool = new_pool(tenants, name="p", network_cidr="10.7.2.0/29")
    args = {"t": TENANT, "p": pool.id, "status": "allocated", "mac": None, "lease": None}
    with pytest.raises(ValidationFailed) as err, tenants.tenant(TENANT) as s:
        s.execute(ALLOCATE, {**args, **bad})
    assert (err.value.table, err.value.field) == ("ip_allocations", field), err.value.message
    row = pool_row(admin, pool.id)
    assert (row["allocated_ips"], row["recount"], row["next_ip"]) == (0, 0, "10.7.2.1")
    with tenants.tenant(TENANT) as s:  # the same call with good values takes the address the failed one did not
        assert s.execute(ALLOCATE, {**args, "mac": "02:00:5e:00:53:01", "lease": 60}).scalar_one() == "10.7.2.1"
    assert pool_row(admin, pool.id)["allocated_ips"] == 1


def test_a_requested_address_goes_through_the_guard(tenants: Database, admin: psycopg.Connection[Any]) -> None:
    """The requested-address path inserts like any writer: the guard's rules, not the allocator's, apply."""
    pool = new_pool(tenants, name="p", network_cidr="10.7.3.0/29")
    with pytest.raises(ValidationFailed) as err, tenants.tenant(TENANT) as s:
        s.execute(
            text("select * from ipam_allocate(:t, :p, '10.7.3.4', NULL, 'allocated', 'zz', NULL, now())"),
            {"t": TENANT, "p": pool.id},
        )
    assert err.value.field == "mac_address"
    assert pool_row(admin, pool.id)["recount"] == 0
    made = allocate(tenants, pool.id, ip_address="10.7.3.4", mac_address="02:00:5e:00:53:02")
    assert (made.ip_address, made.mac_address) == ("10.7.3.4", "02:00:5e:00:53:02")
