"""Never a duplicate: many clients, each on its own connection, allocating from one small pool at once."""

from __future__ import annotations

import ipaddress
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from ispops.db.session import Database
from ispops.errors import Conflict
from ispops.ipam import service
from tests.ipam.conftest import TENANT, allocate, new_pool, new_subscriber, pool_row, release

CLIENTS = 8


def run_clients(work: Any) -> list[Any]:
    start = threading.Barrier(CLIENTS)

    def client(n: int) -> Any:
        start.wait()
        return work(n)

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        return list(pool.map(client, range(CLIENTS)))


def test_every_address_exactly_once_then_409(tenants: Database, admin: psycopg.Connection[Any]) -> None:
    pool = new_pool(tenants, name="small", network_cidr="10.30.0.0/26", gateway="10.30.0.1")  # .2 - .62: 61
    subs = [new_subscriber(tenants) for _ in range(CLIENTS)]
    database = Database(tenants.server, pool_size=CLIENTS)  # a connection per client
    # Every client takes its first address before any takes a second, so the clients interleave by
    # construction (the race for the rest is still free), not by the luck of the scheduler.
    first_round = threading.Barrier(CLIENTS, timeout=60)
    try:

        def work(n: int) -> tuple[list[str], str]:
            got: list[str] = []
            with database.tenant(TENANT) as s:
                got.append(service.allocate(s, tenant_id=TENANT, pool_id=pool.id, subscriber_id=subs[n]).ip_address)
            first_round.wait()
            while True:
                try:
                    with database.tenant(TENANT) as s:
                        got.append(
                            service.allocate(s, tenant_id=TENANT, pool_id=pool.id, subscriber_id=subs[n]).ip_address
                        )
                except Conflict as exc:
                    return got, exc.message

        results = run_clients(work)
    finally:
        database.dispose()
    handed = [ip for got, _ in results for ip in got]
    expected = [str(ipaddress.ip_address("10.30.0.2") + i) for i in range(61)]
    assert sorted(handed, key=ipaddress.ip_address) == expected  # each address exactly once
    assert all("exhausted" in last for _, last in results)  # and every client ended on the 409
    assert all(len(got) >= 1 for got, _ in results)  # the clients really did interleave
    row = pool_row(admin, pool.id)
    assert (row["allocated_ips"], row["available_ips"], row["recount"]) == (61, 0, 61)
    duplicates = admin.execute(
        "select count(*) from (select ip_address from ip_allocations where tenant_id = %s group by ip_address "
        "having count(*) > 1) d",
        (TENANT,),
    ).fetchone()
    assert duplicates == (0,)


def test_concurrent_requests_for_one_address_give_it_once(tenants: Database, admin: psycopg.Connection[Any]) -> None:
    pool = new_pool(tenants, name="p", network_cidr="10.31.0.0/29")

    def work(n: int) -> str:
        try:
            allocate(tenants, pool.id, ip_address="10.31.0.5")
            return "ok"
        except Conflict as exc:
            return f"409 {exc.field}"

    assert Counter(run_clients(work)) == {"ok": 1, "409 ip_address": CLIENTS - 1}
    assert pool_row(admin, pool.id)["allocated_ips"] == 1


@pytest.mark.parametrize("rounds", [3])
def test_allocating_and_releasing_at_once_keeps_counters_exact(
    tenants: Database, admin: psycopg.Connection[Any], rounds: int
) -> None:
    pool = new_pool(tenants, name="churn", network_cidr="10.32.0.0/28")  # 14 addresses

    def work(n: int) -> int:
        done = 0
        for _ in range(rounds):
            try:
                made = allocate(tenants, pool.id, lease_seconds=60)
            except Conflict:
                continue
            release(tenants, made.id)
            done += 1
        return done

    assert sum(run_clients(work)) == CLIENTS * rounds  # 8 at a time fit in 14: nobody was refused
    row = pool_row(admin, pool.id)
    assert row["allocated_ips"] == row["recount"] == 0
    live = admin.execute("select count(*) from ip_allocations where status <> 'released'").fetchone()
    assert live == (0,)
