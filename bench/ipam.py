"""IPAM allocation benchmark: concurrent clients allocating from pools until every pool is exhausted.

    .venv/bin/python bench/ipam.py [--clients 8 --pools 4 --prefix 16 --subscribers/--no-subscribers]
    .venv/bin/python bench/ipam.py --smoke   # 2 pools of 62 addresses in a scratch data dir: checks only

Opens the embedded PostgreSQL in ``.bench-data/`` (or ``ISPOPS_DATABASE_URL``) and builds a fresh database
``ispops_bench_ipam`` on it from the migrations (dropped first if an earlier run left it). One tenant gets
``--pools`` pools of ``/--prefix`` networks without a gateway (a /16 holds 65,534 usable addresses), and,
unless ``--no-subscribers``, one subscriber per address (loaded as the superuser with triggers skipped, as
``bench/api_read.py`` does).

Each client is its own process with its own connection, as API workers are. Clients are spread evenly over
the pools (client i uses pool i mod P). A client loops: one unit of work as the application role, each
allocating the pool's next free address to its next subscriber, until the pool is exhausted; it records
when each allocation started and ended. Three kinds of client (``--client``):

- ``sql`` (default): the unit of work ``ispops.ipam.service.allocate`` runs, as one SQL statement (an
  implicit transaction: the tenant setting, then ``ipam_allocate``, then the commit), prepared once per
  connection and executed through libpq (``psycopg.pq``): one round trip and ~40 us of client CPU per
  allocation, so that the load generator takes as little as possible of the two cores it shares with the
  database (the RADIUS benchmark's load generator is FreeRADIUS's own C ``radclient`` for the same reason).
- ``script``: ``BEGIN``, the tenant setting, ``SELECT ... FROM ipam_allocate(...)``, ``COMMIT`` sent as one
  query string through a psycopg cursor (the default until 2026-11-25: ~90-100 us of client CPU).
- ``service``: ``Database.tenant`` + ``ispops.ipam.service.allocate``, the Python path the API takes
  (SQLAlchemy session, four round trips).

The HTTP layer is not measured.

The machine's floor (``--floor-seconds``, default 10; 0 skips it): before and after the allocations, the same
clients run two trivial units of work for that long on scratch tables of the bench database, one statement
each, prepared, autocommit, as the same role: ``insert``, one row into a table with only a primary key;
``counter``, the same insert plus ``UPDATE`` of one counter row per pool (client i's pool as above), i.e. the
shape every allocation has (a per-pool row updated and held until the commit's WAL flush). No allocator
that keeps an exact per-pool counter row can beat ``counter``, so ``allocations/s / counter`` compares runs
on hosts of different speed, and ``counter`` below 5,000/s says the host cannot meet the target at all
with that design. The before/after pair shows whether the host's speed drifted during the run.

The target is a ratio to that floor, measured in the same run: allocations/s >= 0.5 of ``counter`` (the
mean of before and after). It is printed first, with the host (CPU model, cores) and the CPU that other
processes used during the run (above 0.15 cores the run is marked NOISY). Then: allocations/s overall;
duplicates found by SQL over all allocation rows (must be 0); the pool
counters against a recount; the rate and the per-allocation latency in each 10 % band of pool fill, and
the last 1 % on its own. A measurement: exit 0 whether or not the target is met; non-zero when a check
fails (a duplicate, a counter off, a client error).

Delete the bench data: ``rm -rf .bench-data`` (or just the database: it is dropped at the next run).
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing as mp
import os
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from proc_cpu import host, machine_seconds, proc_stat, run_main, tree_seconds
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ispops.config import Settings
from ispops.db import migrate
from ispops.db.server import Server, drop_database, libpq_dsn, open_server
from ispops.db.session import Database
from ispops.errors import Conflict
from ispops.ipam import service

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "ispops_bench_ipam"
TENANT = "bench-ipam"
TARGET_RATE, TARGET_FLOOR_SHARE = 5000.0, 0.5
NOISY_CORES = 0.15
SMOKE = {"clients": 2, "pools": 2, "prefix": 26, "tenants": 1, "floor_seconds": 1.0}
Conn = psycopg.Connection[tuple[Any, ...]]

SUBSCRIBERS_SQL = """
INSERT INTO subscribers (tenant_id, subscriber_number, service_type, connection_type, status, pppoe_username)
SELECT %(t)s, 'S' || lpad(g::text, 8, '0'), 'ftth', 'dhcp', 'active', 'u' || g
FROM generate_series(0, %(n)s - 1) AS g
"""
DUPLICATES_SQL = """
SELECT count(*) FROM (SELECT tenant_id, ip_address FROM ip_allocations GROUP BY tenant_id, ip_address
                      HAVING count(*) > 1) AS d
"""
DRIFT_SQL = """
SELECT p.name, p.allocated_ips, p.total_ips, p.available_ips,
       (SELECT count(*) FROM ip_allocations a WHERE a.tenant_id = p.tenant_id AND a.ip_pool_id = p.id
         AND a.status <> 'released')
FROM ip_pools p ORDER BY p.name
"""


@dataclass
class Job:
    url: str  # the application role's URL
    mode: str
    tenant: str
    pool_id: uuid.UUID
    subscribers: list[uuid.UUID | None]
    index: int


@dataclass
class Outcome:
    index: int
    pool_id: uuid.UUID
    started: list[float] = field(default_factory=list)
    ended: list[float] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    exhausted: bool = False
    error: str | None = None


def client(job: Job, start: Any) -> Outcome:
    """One client: allocate from its pool until it is exhausted, timing each unit of work."""
    out = Outcome(job.index, job.pool_id)
    subs = itertools.cycle(job.subscribers or [None])
    clock = time.perf_counter
    if job.mode == "service":
        url = make_url(job.url)
        db = Database(
            Server(admin_url=url, embedded=False, description="bench", role_urls={"ispops_app": url}), pool_size=1
        )
        with db.tenant(job.tenant) as s:  # connect before the clock starts
            s.execute(text("select 1"))
        start.wait()
        try:
            while True:
                subscriber = next(subs)
                t0 = clock()
                with db.tenant(job.tenant) as s:
                    made = service.allocate(s, tenant_id=job.tenant, pool_id=job.pool_id, subscriber_id=subscriber)
                    address = made.ip_address
                out.started.append(t0)
                out.ended.append(clock())
                out.addresses.append(address)
        except Conflict as exc:
            out.exhausted = "exhausted" in exc.message
            out.error = None if out.exhausted else exc.message
        except Exception as exc:  # reported, and fails the run
            out.error = f"{type(exc).__name__}: {exc}"
        finally:
            db.dispose()
        return out
    with psycopg.connect(libpq_dsn(make_url(job.url)), autocommit=True) as conn:
        conn.execute("select 1")
        run = prepared if job.mode == "sql" else script
        start.wait()
        try:
            run(conn, job, subs, out)
        except Exception as exc:
            out.error = f"{type(exc).__name__}: {exc}"
    return out


# The unit of work as one statement (an implicit transaction): the tenant setting first (the LATERAL call
# takes its result as an argument, so it runs after it), then the allocation; the commit ends it.
ALLOCATE_SQL = (
    b"SELECT a.ip_address::text FROM set_config('app.current_tenant_id', $1, true) AS s, "
    b"LATERAL ipam_allocate(CASE WHEN s IS NOT NULL THEN $1 END, $2::uuid, NULL, nullif($3, '')::uuid, "
    b"'allocated', NULL, NULL, now()) AS a"
)


def prepared(conn: Conn, job: Job, subs: Iterator[uuid.UUID | None], out: Outcome) -> None:
    """``sql``: the unit of work prepared once, then one libpq round trip per allocation (little client CPU)."""
    pg, ok = conn.pgconn, psycopg.pq.ExecStatus
    made = pg.prepare(b"allocate", ALLOCATE_SQL)
    if made.status != ok.COMMAND_OK:
        raise RuntimeError((made.error_message or b"").decode())
    tenant, pool, clock = job.tenant.encode(), str(job.pool_id).encode(), time.perf_counter
    while True:
        subscriber = next(subs)
        t0 = clock()
        res = pg.exec_prepared(b"allocate", [tenant, pool, str(subscriber).encode() if subscriber else b""])
        if res.status != ok.TUPLES_OK:
            raise RuntimeError((res.error_message or b"").decode())
        if res.ntuples == 0:
            out.exhausted = True
            return
        out.started.append(t0)
        out.ended.append(clock())
        out.addresses.append((res.get_value(0, 0) or b"").decode())


def script(conn: Conn, job: Job, subs: Iterator[uuid.UUID | None], out: Outcome) -> None:
    """``script``: BEGIN, the tenant setting, the allocation, COMMIT as one query string (psycopg cursor)."""
    clock = time.perf_counter
    while True:
        query = unit_of_work(job.tenant, job.pool_id, next(subs))
        t0 = clock()
        cur = conn.execute(query)
        cur.nextset()  # BEGIN, set_config, the allocation, COMMIT: the allocation's rows
        cur.nextset()
        row = cur.fetchone()
        if row is None:
            out.exhausted = True
            return
        out.started.append(t0)
        out.ended.append(clock())
        out.addresses.append(str(row[0]))


def unit_of_work(tenant: str, pool_id: uuid.UUID, subscriber: uuid.UUID | None) -> bytes:
    """BEGIN; tenant setting; the allocation; COMMIT (values are ours: UUIDs and a fixed tenant id)."""
    sub = f"'{subscriber}'" if subscriber else "NULL"
    return (
        f"BEGIN; SELECT set_config('app.current_tenant_id', '{tenant}', true); "
        f"SELECT ip_address::text FROM ipam_allocate('{tenant}', '{pool_id}', NULL, {sub}, 'allocated', NULL, "
        "NULL, now()); COMMIT"
    ).encode()


def tenant_of(pool: int, args: argparse.Namespace) -> str:
    return TENANT if args.tenants == 1 else f"{TENANT}-{pool % args.tenants}"


def setup(conn: Conn, args: argparse.Namespace, url: str) -> list[Job]:
    size = 2 ** (32 - args.prefix) - 2
    tenants = sorted({tenant_of(p, args) for p in range(args.pools)})
    per_tenant = size * args.pools // len(tenants)
    for t in tenants:
        conn.execute(
            "INSERT INTO tenants (id, name, slug, status, plan_type, max_subscribers) "
            "VALUES (%s, %s, %s, 'active', 'enterprise', %s)",
            (t, f"IPAM bench {t}", t, per_tenant + 10),
        )
    subs: dict[str, list[uuid.UUID | None]] = {t: [] for t in tenants}
    if args.subscribers:
        started = time.monotonic()
        conn.execute("SET session_replication_role = replica")
        for t in tenants:
            conn.execute(SUBSCRIBERS_SQL, {"t": t, "n": per_tenant})
        conn.execute("RESET session_replication_role")
        conn.execute(
            "UPDATE tenants AS t SET current_subscribers = (SELECT count(*) FROM subscribers s "
            "WHERE s.tenant_id = t.id) WHERE t.id = ANY(%s)",
            (tenants,),
        )
        conn.execute("VACUUM (ANALYZE) subscribers")
        for t in tenants:
            subs[t] = [r[0] for r in conn.execute("SELECT id FROM subscribers WHERE tenant_id = %s ORDER BY id", (t,))]
        print(f"setup: {sum(len(v) for v in subs.values()):,} subscribers in {time.monotonic() - started:.1f} s")
    pools = []
    app = make_url(url)
    db = Database(Server(admin_url=app, embedded=False, description="bench", role_urls={"ispops_app": app}))
    try:
        for p in range(args.pools):
            with db.tenant(tenant_of(p, args)) as s:
                pool = service.create_pool(
                    s,
                    tenant_id=tenant_of(p, args),
                    name=f"bench-{p}",
                    network_cidr=f"10.{p}.0.0/{args.prefix}",
                    pool_type="dynamic",
                )
                pools.append((pool.id, pool.total_ips))
    finally:
        db.dispose()
    conn.execute("VACUUM (ANALYZE) ip_pools")
    print(
        f"setup: {args.pools} pools of {pools[0][1]:,} addresses (10.0.0.0/{args.prefix} ...) in "
        f"{len(tenants)} tenant(s), {args.clients} clients"
    )
    # Client i uses pool i mod P, and its tenant's subscribers from the (i div P)-th share on (cycled: the
    # clients of a pool need not stop at the same count, and a subscriber may then hold two addresses).
    jobs = []
    for i in range(args.clients):
        p = i % args.pools
        t = tenant_of(p, args)
        sharing = [j for j in range(args.clients) if tenant_of(j % args.pools, args) == t]
        jobs.append(Job(url, args.client, t, pools[p][0], subs[t][sharing.index(i) :: len(sharing)], i))
    return jobs


FLOOR_SETUP = """
DROP TABLE IF EXISTS bench_floor_rows, bench_floor_pools;
CREATE TABLE bench_floor_pools (id int PRIMARY KEY, n bigint NOT NULL);
CREATE TABLE bench_floor_rows (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), pool int NOT NULL, n bigint NOT NULL);
GRANT SELECT, INSERT, UPDATE ON bench_floor_pools, bench_floor_rows TO ispops_app;
"""
FLOOR_SQL = {
    "insert": b"INSERT INTO bench_floor_rows (pool, n) VALUES ($1::int, 0)",
    "counter": b"WITH c AS (UPDATE bench_floor_pools SET n = n + 1 WHERE id = $1::int RETURNING n) "
    b"INSERT INTO bench_floor_rows (pool, n) SELECT $1::int, n FROM c",
}


def floor_client(url: str, kind: str, pool: int, seconds: float, start: Any) -> int:
    """One client of a floor: the trivial unit of work ``kind`` in a loop for ``seconds``; how many it did."""
    with psycopg.connect(url, autocommit=True) as conn:
        pg, ok = conn.pgconn, psycopg.pq.ExecStatus
        if pg.prepare(b"floor", FLOOR_SQL[kind]).status != ok.COMMAND_OK:
            raise RuntimeError((pg.error_message or b"").decode())
        arg, done = [str(pool).encode()], 0
        start.wait()
        stop = time.perf_counter() + seconds
        while time.perf_counter() < stop:
            if pg.exec_prepared(b"floor", arg).status != ok.COMMAND_OK:
                raise RuntimeError((pg.error_message or b"").decode())
            done += 1
    return done


def machine_floor(conn: Conn, url: str, args: argparse.Namespace, ctx: Any) -> dict[str, float]:
    """Units of work per second of each floor, run by ``args.clients`` clients for ``args.floor_seconds``."""
    conn.execute(FLOOR_SETUP)
    conn.execute("INSERT INTO bench_floor_pools SELECT g, 0 FROM generate_series(0, %s - 1) AS g", (args.pools,))
    rates = {}
    with ctx.Manager() as manager, ctx.Pool(args.clients) as workers:
        for kind in FLOOR_SQL:
            barrier = manager.Barrier(args.clients)
            pending = [
                workers.apply_async(floor_client, (url, kind, i % args.pools, args.floor_seconds, barrier))
                for i in range(args.clients)
            ]
            rates[kind] = sum(r.get() for r in pending) / args.floor_seconds
    conn.execute("TRUNCATE bench_floor_rows")
    return rates


def postmaster_pid(conn: Conn) -> int:
    """The server's postmaster (the parent of our backend): its process tree is the database's CPU."""
    backend = int((conn.execute("SELECT pg_backend_pid()").fetchone() or (0,))[0])
    return int(proc_stat(backend)[1])


def cpu_seconds(roots: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds of each group of process trees, and the machine's busy time."""
    return tree_seconds(roots) | {"busy": machine_seconds()[0]}


def bands(outcomes: list[Outcome], sizes: dict[uuid.UUID, int]) -> list[tuple[str, int, float, float, float]]:
    """(label, allocations, allocations/s, p50 ms, p99 ms) per band of pool fill.

    A pool is in band k while its (k*10)th to ((k+1)*10)th percent of addresses are handed out; the rate
    of a band is the sum over pools of (allocations in the band / time the pool spent in it), i.e. what
    the pools together sustain at that fill level even if they do not cross it at the same moment.
    """
    per_pool: dict[uuid.UUID, list[tuple[float, float]]] = {}
    for o in outcomes:
        per_pool.setdefault(o.pool_id, []).extend(zip(o.started, o.ended, strict=True))
    for items in per_pool.values():
        items.sort(key=lambda e: e[1])
    limits = [(f"{k * 10:>3}-{k * 10 + 10:>3} %", k / 10, (k + 1) / 10) for k in range(10)]
    limits.append(("99-100 %", 0.99, 1.0))
    rows = []
    for label, lo, hi in limits:
        events: list[tuple[float, float]] = []
        rate = 0.0
        for pool_id, items in per_pool.items():
            n = sizes[pool_id]
            band = items[int(lo * n) : int(hi * n)]
            if len(band) > 1:
                rate += (len(band) - 1) / (band[-1][1] - band[0][1])
            events.extend(band)
        if not events:
            continue
        lat = sorted((e[1] - e[0]) * 1000 for e in events)
        rows.append((label, len(events), rate, statistics.median(lat), lat[min(len(lat) - 1, int(0.99 * len(lat)))]))
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--pools", type=int, default=4)
    p.add_argument("--prefix", type=int, default=16, help="pool network prefix length (16: 65,534 addresses)")
    p.add_argument("--tenants", type=int, default=1, help="spread the pools over this many tenants")
    p.add_argument(
        "--subscribers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="allocate each address to a subscriber (default) or to nobody",
    )
    p.add_argument(
        "--client",
        choices=["sql", "script", "service"],
        default="sql",
        help="sql: the unit of work as one prepared statement, one libpq round trip; script: BEGIN, "
        "tenant setting, allocation, COMMIT as one query string; service: Database.tenant + "
        "ispops.ipam.service.allocate (SQLAlchemy)",
    )
    p.add_argument(
        "--floor-seconds",
        type=float,
        default=10.0,
        help="run the machine's floor for this long before and after the allocations (0: skip)",
    )
    p.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    p.add_argument("--smoke", action="store_true", help="tiny pools in a scratch data dir (removed): checks only")
    args = p.parse_args()
    return run_main(args, run, smoke=SMOKE, prefix="ipam")


def run(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks (workers, server)
    started = time.monotonic()
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / ".gitignore").write_text("*\n")  # never committed
    server = open_server(Settings(data_dir=data_dir, database_name=DATABASE))
    print(f"database: {server.description}, database {server.database} (fresh)")
    try:
        if server.embedded:
            drop_database(server.admin_url, server.database)
        migrate.upgrade(server)
        app_url = server.url_for("ispops_app").render_as_string(hide_password=False)
        with psycopg.connect(libpq_dsn(server.admin_url), autocommit=True) as conn:
            jobs = setup(conn, args, app_url)
            sizes = {j.pool_id: 0 for j in jobs}
            for pool_id, total in conn.execute("SELECT id, total_ips FROM ip_pools"):
                sizes[pool_id] = int(total)
            ctx = mp.get_context("spawn")
            floors: list[dict[str, float]] = []
            if args.floor_seconds > 0:
                floors.append(machine_floor(conn, libpq_dsn(make_url(app_url)), args, ctx))
            with ctx.Manager() as manager:
                barrier = manager.Barrier(len(jobs) + 1)
                with ctx.Pool(len(jobs)) as workers:
                    pending = [workers.apply_async(client, (job, barrier)) for job in jobs]
                    roots = {
                        "clients": [w.pid for w in workers._pool if w.pid],  # type: ignore[attr-defined]
                        "postgres": [postmaster_pid(conn)],
                    }
                    barrier.wait()
                    cpu0, t0 = cpu_seconds(roots), time.perf_counter()
                    outcomes = [r.get() for r in pending]
                    cpu1, wall = cpu_seconds(roots), time.perf_counter() - t0
            if args.floor_seconds > 0:
                floors.append(machine_floor(conn, libpq_dsn(make_url(app_url)), args, ctx))
            total = sum(len(o.addresses) for o in outcomes)
            duplicates = int((conn.execute(DUPLICATES_SQL).fetchone() or (0,))[0])
            drift = conn.execute(DRIFT_SQL).fetchall()
            rows = conn.execute("SELECT count(*), count(DISTINCT ip_address) FROM ip_allocations").fetchone() or (0, 0)
    finally:
        server.close()

    first = min(min(o.started) for o in outcomes if o.started)
    last = max(max(o.ended) for o in outcomes if o.ended)
    rate = total / (last - first)
    used = {k: cpu1[k] - cpu0[k] for k in cpu1}
    other = used["busy"] - used["clients"] - used["postgres"]
    noisy = "  NOISY" if other / wall > NOISY_CORES else ""
    print(f"\nhost: {host()}; other processes {max(other, 0) / wall:.2f} cores during the run{noisy}")
    if floors:
        counter = statistics.mean(f["counter"] for f in floors)
        share = rate / counter
        verdict = "met" if share >= TARGET_FLOOR_SHARE else "MISSED"
        print(
            f"ratio: allocations/s / counter floor = {rate:,.0f} / {counter:,.0f} = {share:.2f}   "
            f"(goal >= {TARGET_FLOOR_SHARE}: {verdict})"
        )
    print(
        f"{total:,} allocations by {len(outcomes)} clients from {len(sizes)} pools in {last - first:.1f} s "
        f"(wall {wall:.1f} s)"
    )
    verdict = "met" if rate >= TARGET_RATE else "not met"
    print(f"allocations/s overall: {rate:,.0f}   (absolute, this host only; old goal >= {TARGET_RATE:,.0f}: {verdict})")
    print(f"duplicates by SQL over {rows[0]:,} allocation rows ({rows[1]:,} distinct addresses): {duplicates}")
    for name, allocated, total_ips, available, counted in drift:
        print(
            f"  pool {name}: allocated_ips {allocated:,} / total {total_ips:,}, available {available}, "
            f"recounted {counted:,}"
        )
    print("\nfill band     allocations   alloc/s   p50 ms   p99 ms")
    for label, n, band_rate, p50, p99 in bands(outcomes, sizes):
        print(f"{label:<12}{n:>12,}{band_rate:>10,.0f}{p50:>9.2f}{p99:>9.2f}")
    cores = os.cpu_count() or 1
    mine = used["clients"] + used["postgres"]
    c_cores, pg_cores = used["clients"] / wall, used["postgres"] / wall
    print(
        f"\nCPU during the run (cores): clients {c_cores:.2f}, postgres {pg_cores:.2f}, "
        f"other processes {max(other, 0) / wall:.2f}; machine busy {100 * used['busy'] / wall / cores:.0f} %"
    )
    c_us, pg_us = used["clients"] / total * 1e6, used["postgres"] / total * 1e6
    print(
        f"CPU per allocation: {c_us:.0f} us clients + {pg_us:.0f} us postgres; "
        f"{cores} cores at that cost allow at most {cores * total / mine:,.0f}/s"
    )
    if noisy:
        print(f"WARNING: other processes used {other / wall:.2f} cores during the run: the rate is pessimistic")
    if floors:
        print(
            f"\nmachine floor, {args.clients} clients, {args.floor_seconds:g} s each (before / after the run), "
            "units of work/s:"
        )
        for kind in FLOOR_SQL:
            print(f"  {kind:<8} {floors[0][kind]:>8,.0f} / {floors[1][kind]:>8,.0f}")
        counter = statistics.mean(f["counter"] for f in floors)
        print(f"allocations/s as a share of the counter floor (mean of both): {rate / counter:.2f}")
    per_client = [len(o.addresses) for o in outcomes]
    print(
        f"\nper client: {min(per_client):,} - {max(per_client):,} allocations; "
        f"every client ended on 409 exhausted: {all(o.exhausted for o in outcomes)}"
    )
    print(f"total run time {time.monotonic() - started:.0f} s (cores: {os.cpu_count()})")
    failures = [f"client {o.index}: {o.error}" for o in outcomes if o.error]
    if duplicates:
        failures.append(f"{duplicates} duplicate addresses")
    if len({a for o in outcomes for a in o.addresses}) != total:
        failures.append("clients were handed the same address twice")
    if any(a != c or t - a != av for _, a, t, av, c in drift):
        failures.append("pool counters do not match a recount")
    if total != sum(sizes.values()) or not all(o.exhausted for o in outcomes):
        failures.append(f"{total:,} allocations, expected {sum(sizes.values()):,} (every pool exhausted)")
    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
