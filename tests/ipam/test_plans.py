"""Under RLS the allocator's hot predicates still drive their indexes (DESIGN.md, Tenancy 6).

Row-level security keeps a predicate whose operator is not LEAKPROOF out of an index scan (it must run
after the tenant filter), so an inet range written with ``<<`` or ``&&`` would scan every row of the tenant.
Each query below is the allocator's (migrations 0010/0020, ``ispops.ipam.jobs``), run as the application
role with the tenant set; its plan must use the named index with the address (or lease) in the Index Cond.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ispops.db.session import Database
from ispops.ipam import jobs
from ispops.models import IpAllocation
from tests.ipam.conftest import TENANT, allocate, new_pool, release

RECLAIM = "reclaim"  # built from ispops.ipam.jobs.expired_leases, not copied


def explain(s: Session, name: str, pool: uuid.UUID) -> str:
    sql = QUERIES[name][0]
    if sql == RECLAIM:
        stmt = select(IpAllocation.id).where(*jobs.expired_leases(TENANT, dt.datetime.now(dt.UTC)))
        compiled = stmt.compile(dialect=s.get_bind().dialect)
        return "\n".join(r[0] for r in s.connection().exec_driver_sql(f"explain {compiled.string}", compiled.params))
    return "\n".join(r[0] for r in s.execute(text(f"explain {sql}"), {"t": TENANT, "p": pool}))


QUERIES = {
    # ipam_allocate: is the cursor's address taken?
    "cursor": (
        "SELECT 1 FROM ip_allocations a WHERE a.tenant_id = :t AND a.ip_address = '10.7.0.9'::inet "
        "AND a.status <> 'released'",
        "uq_ip_allocations__tenant_id__ip_address",
        "ip_address",
    ),
    # ipam_allocate: the gap scan over the pool's range, in address order.
    "gap scan": (
        "SELECT a.ip_address FROM ip_allocations a WHERE a.tenant_id = :t AND a.ip_address >= '10.7.0.1'::inet "
        "AND a.ip_address <= '10.7.3.254'::inet AND a.status <> 'released' ORDER BY a.ip_address",
        "uq_ip_allocations__tenant_id__ip_address",
        "ip_address",
    ),
    # ipam_allocate: the lowest address on the pool's free list.
    "free list": (
        "SELECT f.id FROM ip_pool_free f WHERE f.tenant_id = :t AND f.ip_pool_id = :p ORDER BY f.ip_address LIMIT 1",
        "ip_pool_free",
        "ip_pool_id",
    ),
    # ispops.ipam.jobs.reclaim_expired_leases: the expired leases (its own filter, compiled below).
    "reclaim": (RECLAIM, "idx_ip_allocations_lease_end", "lease_end"),
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_hot_ipam_predicates_use_their_index_under_rls(name: str, tenants: Database, admin: Any) -> None:
    pool = new_pool(tenants, network_cidr="10.7.0.0/22", pool_type="dynamic", default_lease_seconds=3600)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    made = [allocate(tenants, pool.id, now=past if n < 3 else None) for n in range(200)]  # 3 expired leases
    for a in made[3::5]:
        release(tenants, a.id)  # a free list to read
    _, index, column = QUERIES[name]
    admin.execute("analyze ip_allocations")  # the owner's (superuser's) job: the app role may not
    admin.execute("analyze ip_pool_free")
    with tenants.tenant(TENANT) as s:
        # Tables this small: rule out the sequential scan, so the question is only whether an index can
        # take the predicate under RLS (a non-leakproof operator could not be an Index Cond).
        s.execute(text("set local enable_seqscan = off"))
        s.execute(text("set local enable_bitmapscan = off"))
        plan = explain(s, name, uuid.UUID(str(pool.id)))
    assert index in plan, plan
    conds = [line for line in plan.splitlines() if "Index Cond" in line]
    assert any(column in line for line in conds), plan
