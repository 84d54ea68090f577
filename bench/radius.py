"""RADIUS benchmark: our multi-tenant FreeRADIUS configuration against FreeRADIUS's stock SQL configuration.

    .venv/bin/python bench/radius.py [--tenants 100 --subscribers 100000 --radacct 5000000 --months 13
                                      --requests 20000 --sessions 10000 --parallel 64 --threads 16 --rounds 3]

Two databases in the embedded PostgreSQL under ``.bench-data/`` (loaded once, reused when the counts match):

- ``ispops_radius_bench``: our schema (migrations), ``--tenants`` tenants with ``--subscribers`` subscribers
  spread over them (the same user names in every tenant), each with a Cleartext-Password and two reply
  attributes, and ``--radacct`` accounting rows over ``--months`` monthly partitions.
- ``radius_stock``: FreeRADIUS's own PostgreSQL schema (``schema.sql`` of freeradius-postgresql), the same
  number of users (unique names), reply attributes and accounting rows in one unpartitioned radacct.

Both FreeRADIUS instances run at once on loopback ports with the same thread pool and SQL pool, and the load
comes from FreeRADIUS's own ``radclient`` (source 127.0.0.1: the NAS of tenant 0 in ours, the one NAS in
stock). Ours renders ``ispops radius config`` output with accounting written straight to SQL (``spool=False``)
so the SQL path is what is timed, and the post-auth log spooled (``postauth="spool"``) with its replayer
(``python -m ispops.radius.postauth_replay``) running as a process of its own. ``--postauth-sql`` adds a
third instance, ours with the post-auth log straight to SQL, to the auth phase. Phases, alternated over
``--rounds`` with medians reported:

1. PAP Access-Requests, ``--requests`` of them over the same 1,000 users in both, ``--parallel`` in flight;
   every answer must be an Access-Accept, and (ours) exactly one radpostauth row per request must arrive:
   the phase's CPU runs until the replayer has shipped the burst.
2. Interim-Updates for ``--sessions`` open sessions (their Starts are sent first, untimed, then radacct is
   analyzed in both databases as autovacuum would); afterwards every session must show the update.

Prints the host (CPU model, cores), requests/s for each, the ratio ours/stock of every round (both ran in
the same round) and of the medians, against the targets of issue 20 (PAP auth: median >= 1.2 x stock and
every round >= 1.0; interim: >= 1.3 x stock). Each phase also prints the CPU per request of FreeRADIUS
(both daemons' process trees), of the benchmark's PostgreSQL (its postmaster's tree: not other PostgreSQL
servers on the machine), of radclient, and the rest of the machine ("other"); a phase with "other" above
NOISY_OTHER_US is marked noisy: something else shared the machine and that round says little. The summary
adds the server CPU per request (FreeRADIUS + PostgreSQL), ours vs stock: radclient's own CPU (as much as
both servers' PostgreSQL on 2 cores) is the same on both sides and dilutes every throughput ratio. "own
backends" (and the summary's CPU/req line: FreeRADIUS + those backends + the replayer) counts only the
PostgreSQL client backends connected to that side's database: the figure to read on a shared machine.

A measurement, not a test: it exits 0 whether or not the targets are met, non-zero on errors. Needs
freeradius, freeradius-postgresql and freeradius-utils.
"""

from __future__ import annotations

import argparse
import atexit
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
from proc_cpu import host
from radius_measure import (
    NOISY_OTHER_US,
    backend_seconds,
    backend_us,
    cpu_per_request,
    cpu_snapshot,
    postmaster_pid,
    wait_replayed,
)
from radius_stock import render_stock as render_stock  # re-exported: bench/storm.py imports it from here

from ispops.config import APP_ROLE, OWNER_ROLE, RADIUS_ROLE, Settings
from ispops.db import migrate
from ispops.db.roles import ensure_roles, grant_database
from ispops.db.server import Server, create_database, libpq_dsn, open_server
from ispops.radius.config import (
    POSTAUTH_SPOOL,
    RaddbOptions,
    conninfo_for,
    freeradius_binary,
    render_with_clients,
)

ROOT = Path(__file__).resolve().parent.parent
STOCK_SCHEMA = Path("/etc/freeradius/3.0/mods-config/sql/main/postgresql/schema.sql")
OURS_DB, STOCK_DB = "ispops_radius_bench", "radius_stock"
SECRET = "bench-secret"  # noqa: S105 (the benchmark NAS)
USERS_PER_TENANT_IN_LOAD = 1000  # the load uses 1,000 distinct users in both setups
TARGET_AUTH_RATIO, TARGET_AUTH_ROUND, TARGET_INTERIM_RATIO = 1.2, 1.0, 1.3  # issue 20
Conn = psycopg.Connection[tuple[Any, ...]]


def log(message: str) -> None:
    print(message, flush=True)


def connect(server: Server, database: str) -> Conn:
    return psycopg.connect(libpq_dsn(server.admin_url.set(database=database)), autocommit=True)


# ---------------------------------------------------------------------------------------------- loading


def load_ours(server: Server, args: argparse.Namespace) -> None:
    create_database(server.admin_url, OURS_DB, owner=OWNER_ROLE)
    srv = server.with_database(OURS_DB)
    grant_database(srv.admin_url)
    migrate.upgrade(srv)
    with connect(server, OURS_DB) as conn:
        have = conn.execute("select (select count(*) from subscribers), (select count(*) from radacct)").fetchone()
        if have == (args.subscribers, args.radacct + 0):
            log(f"ours: reusing {have[0]:,} subscribers and {have[1]:,} radacct rows")
            return
        log("ours: loading (once) ...")
        conn.execute("set session_replication_role = replica")  # no triggers: bulk load
        for table in ("radacct", "radreply", "radcheck", "subscribers", "nas", "bandwidth_profiles", "tenants"):
            conn.execute(f"truncate {table} cascade")
        per = args.subscribers // args.tenants
        conn.execute(
            "insert into tenants (id, name, slug, status) select 'rb-' || lpad(t::text, 3, '0'), 'Bench ' || t, "
            "'rb-' || lpad(t::text, 3, '0'), 'active' from generate_series(0, %s - 1) t",
            (args.tenants,),
        )
        conn.execute(
            "insert into nas (tenant_id, nasname, shortname, type, secret, require_ma) "
            "select 'rb-' || lpad(t::text, 3, '0'), case when t = 0 then '127.0.0.1' else '10.77.' || (t / 250) "
            "|| '.' || (mod(t, 250) + 1) end, 'bras1', 'mikrotik', %s, 'no' from generate_series(0, %s - 1) t",
            (SECRET, args.tenants),
        )
        conn.execute(
            "insert into subscribers (tenant_id, subscriber_number, service_type, status, pppoe_username) "
            "select 'rb-' || lpad(t::text, 3, '0'), 'S' || u, 'ftth', 'active', 'u' || lpad(u::text, 5, '0') "
            "from generate_series(0, %s - 1) t, generate_series(0, %s - 1) u",
            (args.tenants, per),
        )
        conn.execute(
            "insert into radcheck (tenant_id, subscriber_id, username, attribute, op, value) "
            "select tenant_id, id, pppoe_username, 'Cleartext-Password', ':=', 'pw-' || pppoe_username "
            "from subscribers"
        )
        conn.execute(
            "insert into radreply (tenant_id, subscriber_id, username, attribute, op, value) "
            "select tenant_id, id, pppoe_username, a, ':=', v from subscribers, "
            "(values ('Mikrotik-Rate-Limit', '20M/100M'), ('Session-Timeout', '86400')) r(a, v)"
        )
        conn.execute(f"set role {OWNER_ROLE}")
        conn.execute(
            "select ispops_radacct_ensure_partition((date_trunc('month', now()) - make_interval(months => m))"
            "::date) from generate_series(-1, %s) m",
            (args.months,),
        )
        conn.execute("reset role")
        conn.execute("set session_replication_role = replica")
        _fill_radacct(conn, args, tenant_expr="'rb-' || lpad(mod(g, %(tenants)s)::text, 3, '0')")
        conn.execute("analyze")


def _fill_radacct(conn: Conn, args: argparse.Namespace, *, tenant_expr: str | None) -> None:
    """``--radacct`` closed sessions spread evenly over the last ``--months`` months."""
    columns = (
        "acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime, "
        "acctstoptime, acctsessiontime, acctinputoctets, acctoutputoctets"
    )
    if tenant_expr:
        columns = "tenant_id, " + columns
    chunk = 500_000
    for start in range(0, args.radacct, chunk):
        n = min(chunk, args.radacct - start)
        select = (
            f"select {tenant_expr + ', ' if tenant_expr else ''}'h' || g, md5('h' || g), "
            "'u' || lpad(mod(g, %(users)s)::text, 5, '0'), '10.77.0.1', "
            "now() - make_interval(secs => mod(g, %(span)s)), now() - make_interval(secs => mod(g, %(span)s) - 3000), "
            "now() - make_interval(secs => mod(g, %(span)s) - 3600), 3600, mod(g, 100000000), mod(g, 900000000) "
            "from generate_series(%(lo)s::bigint, %(hi)s::bigint) g"
        )
        conn.execute(
            f"insert into radacct ({columns}) {select}",
            {
                "tenants": args.tenants,
                "users": args.subscribers // args.tenants,
                "span": args.months * 30 * 86400,
                "lo": start,
                "hi": start + n - 1,
            },
        )
        log(f"  radacct {start + n:,}/{args.radacct:,}")


def load_stock(server: Server, args: argparse.Namespace) -> None:
    create_database(server.admin_url, STOCK_DB, owner="postgres")
    with connect(server, STOCK_DB) as conn:
        if conn.execute("select to_regclass('radacct')").fetchone() == (None,):
            conn.execute(STOCK_SCHEMA.read_text())
        have = conn.execute("select (select count(*) from radcheck), (select count(*) from radacct)").fetchone()
        if have == (args.subscribers, args.radacct):
            log(f"stock: reusing {have[0]:,} users and {have[1]:,} radacct rows")
            return
        log("stock: loading (once) ...")
        for table in ("radacct", "radreply", "radcheck", "nas"):
            conn.execute(f"truncate {table}")
        conn.execute(
            "insert into nas (nasname, shortname, type, secret) values ('127.0.0.1', 'bras1', 'other', %s)", (SECRET,)
        )
        conn.execute(
            "insert into radcheck (username, attribute, op, value) select 'u' || lpad(u::text, 5, '0'), "
            "'Cleartext-Password', ':=', 'pw-u' || lpad(u::text, 5, '0') from generate_series(0, %s - 1) u",
            (args.subscribers,),
        )
        conn.execute(
            "insert into radreply (username, attribute, op, value) select 'u' || lpad(u::text, 5, '0'), a, "
            "':=', v from generate_series(0, %s - 1) u, (values ('Mikrotik-Rate-Limit', '20M/100M'), "
            "('Session-Timeout', '86400')) r(a, v)",
            (args.subscribers,),
        )
        conn.execute("create index if not exists radcheck_username on radcheck (username)")
        _fill_radacct(conn, args, tenant_expr=None)
        conn.execute("analyze")


# ------------------------------------------------------------------------------------------- FreeRADIUS


class Radiusd:
    def __init__(self, binary: str, raddb: Path) -> None:
        self.raddb = raddb
        self.log = raddb / "log" / "radius.log"
        self.log.unlink(missing_ok=True)
        self.process = subprocess.Popen(  # noqa: S603
            [binary, "-f", "-d", str(raddb)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.log.exists() and "Ready to process requests" in self.log.read_text(errors="replace"):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise SystemExit(
            f"freeradius ({raddb}) did not start:\n" + (self.log.read_text()[-3000:] if self.log.exists() else "")
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def ratios(ours: list[float], stock: list[float]) -> str:
    return ", ".join(f"{o / s:.3f}" for o, s in zip(ours, stock, strict=True))


def radclient(packets: Path, port: int, kind: str, parallel: int) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603
        [  # noqa: S607
            "radclient",
            "-q",
            "-s",
            "-p",
            str(parallel),
            "-r",
            "3",
            "-t",
            "5",
            "-f",
            str(packets),
            f"127.0.0.1:{port}",
            kind,
            SECRET,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    return elapsed, done.stdout + done.stderr


def summary_count(output: str, label: str) -> int:
    match = re.search(rf"{label}\s*:\s*(\d+)", output)
    return int(match.group(1)) if match else -1


def auth_file(path: Path, requests: int) -> Path:
    with path.open("w") as f:
        for n in range(requests):
            user = f"u{(n * 7919) % USERS_PER_TENANT_IN_LOAD:05d}"
            f.write(f'User-Name = "{user}"\nUser-Password = "pw-{user}"\nNAS-IP-Address = 127.0.0.1\n\n')
    return path


def acct_file(path: Path, sessions: int, status: str, run: str, event: int) -> Path:
    with path.open("w") as f:
        for n in range(sessions):
            user = f"u{n % USERS_PER_TENANT_IN_LOAD:05d}"
            f.write(
                f'Acct-Status-Type = {status}\nUser-Name = "{user}"\nAcct-Session-Id = "{run}-{n}"\n'
                f"NAS-IP-Address = 127.0.0.1\nNAS-Port = {n % 4096}\nEvent-Timestamp = {event}\n"
            )
            if status == "Interim-Update":
                f.write(f"Acct-Session-Time = 300\nAcct-Input-Octets = {n * 10}\nAcct-Output-Octets = {n * 40}\n")
            f.write("\n")
    return path


def updated(server: Server, database: str, run: str, tenant: str | None) -> int:
    with connect(server, database) as conn:
        sql = (
            "select count(*) from radacct where acctsessionid like %s and acctupdatetime is not null "
            "and acctsessiontime = 300"
        )
        row = conn.execute(
            sql + (" and tenant_id = %s" if tenant else ""), (f"{run}-%", tenant) if tenant else (f"{run}-%",)
        ).fetchone()
        return int(row[0]) if row else 0


def postauth_rows(server: Server) -> int:
    with connect(server, OURS_DB) as conn:
        row = conn.execute("select count(*) from radpostauth where tenant_id = 'rb-000'").fetchone()
        return int(row[0]) if row else 0


def forget_sessions(server: Server) -> None:
    """Delete the sessions this run added, so that the next run finds exactly the loaded rows and reuses them."""
    for db in (OURS_DB, STOCK_DB):
        with connect(server, db) as conn:
            conn.execute("delete from radacct where acctsessionid like %s", (f"b{os.getpid()}r%",))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--radacct", type=int, default=5_000_000)
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--parallel", type=int, default=64)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--postauth-sql",
        action="store_true",
        help="also run ours with the post-auth log straight to SQL (as before the spool), auth phase only",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny data in a scratch data dir (removed): checks only")
    args = parser.parse_args()
    data_dir = ROOT / ".bench-data"
    if args.smoke:  # checks that the benchmark runs and its checks pass; the figures mean nothing
        args.__dict__.update(tenants=2, subscribers=2000, radacct=2000, months=2, requests=300, sessions=200)
        args.__dict__.update(parallel=16, threads=4, rounds=1)
        data_dir = Path(tempfile.mkdtemp(prefix="ispops-bench-radius-"))
        print(f"smoke: scratch data in {data_dir}", flush=True)
        os.environ.pop("ISPOPS_DATABASE_URL", None)  # always its own embedded server
        atexit.register(shutil.rmtree, data_dir, ignore_errors=True)  # after the server's own atexit stop
    log(f"host: {host()}")  # first: every figure below is this machine's
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up callbacks
    binary = freeradius_binary()
    if binary is None or shutil.which("radclient") is None or not STOCK_SCHEMA.exists():
        raise SystemExit("needs freeradius, freeradius-postgresql and freeradius-utils")
    if args.subscribers // args.tenants < USERS_PER_TENANT_IN_LOAD:
        raise SystemExit(f"--subscribers / --tenants must be at least {USERS_PER_TENANT_IN_LOAD}")

    server = open_server(Settings(data_dir=data_dir))
    ensure_roles(server.admin_url.set(database="postgres"), password=server.role_password)
    load_ours(server, args)
    load_stock(server, args)
    ours_conninfo = conninfo_for(server.with_database(OURS_DB).url_for(RADIUS_ROLE))
    stock_conninfo = conninfo_for(server.admin_url.set(database=STOCK_DB))
    work = Path(tempfile.mkdtemp(prefix="ispops-radius-bench-"))
    ports = {"ours": (28112, 28113), "stock": (28212, 28213), "ours-sql": (28312, 28313)}
    auth_sides = ("ours", "stock", "ours-sql") if args.postauth_sql else ("ours", "stock")
    results: dict[str, dict[str, list[float]]] = {name: {"auth": [], "interim": []} for name in auth_sides}
    # FreeRADIUS + PostgreSQL (+ the post-auth replayer) us per request, quiet phases
    server_cpu: dict[str, dict[str, list[float]]] = {name: {"auth": [], "interim": []} for name in auth_sides}
    all_cpu: dict[str, dict[str, list[float]]] = {name: {"auth": [], "interim": []} for name in auth_sides}  # noisy too
    # FreeRADIUS + the database's own client backends (+ the replayer): robust to other load on the machine
    own_cpu: dict[str, dict[str, list[float]]] = {name: {"auth": [], "interim": []} for name in auth_sides}
    with ExitStack() as stack:
        raddbs = {}
        for name in auth_sides:
            if name == "stock":
                continue
            raddbs[name] = work / name  # with the client list read from the database (clients.conf)
            render_with_clients(
                raddbs[name],
                RaddbOptions(
                    conninfo=ours_conninfo,
                    listen="127.0.0.1",
                    auth_port=ports[name][0],
                    acct_port=ports[name][1],
                    threads=args.threads,
                    spool=False,
                    status_port=None,
                    postauth="sql" if name == "ours-sql" else "spool",
                ),
            )
        raddbs["stock"] = render_stock(work / "stock", stock_conninfo, *ports["stock"], args.threads)
        daemons = {name: Radiusd(binary, raddbs[name]) for name in auth_sides}
        for d in daemons.values():
            stack.callback(d.stop)
        # The post-auth replayer of ours (what `ispops radius run` runs beside FreeRADIUS), a process of its own.
        spool = raddbs["ours"] / POSTAUTH_SPOOL
        replayer = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "ispops.radius.postauth_replay",
                str(spool),
                conninfo_for(server.with_database(OURS_DB).url_for(APP_ROLE)),
            ],
            stderr=subprocess.DEVNULL,
        )
        stack.callback(replayer.wait, timeout=30)
        stack.callback(replayer.terminate)  # callbacks run last-in first-out: terminate, then wait
        postmaster = postmaster_pid(server, data_dir)
        trees = (
            {
                "freeradius": [d.process.pid for d in daemons.values()],
                "postgres": [postmaster],
                "replay": [replayer.pid],
            }
            if postmaster
            else None
        )
        stack.callback(forget_sessions, server)  # even when interrupted: the next run must find the loaded rows
        auth_packets = auth_file(work / "auth.txt", args.requests)
        for name in auth_sides:  # warm-up, discarded
            radclient(auth_packets, ports[name][0], "auth", args.parallel)
        wait_replayed(spool)
        for r in range(args.rounds):
            order = auth_sides if r % 2 == 0 else auth_sides[::-1]
            for name in order:
                logged = postauth_rows(server) if name == "ours" else 0
                backends = backend_seconds(server, (OURS_DB, STOCK_DB))
                before = cpu_snapshot(trees)
                elapsed, out = radclient(auth_packets, ports[name][0], "auth", args.parallel)
                # Ours: the CPU until the replayer has shipped every line of the burst counts too.
                tail = wait_replayed(spool) if name == "ours" else 0.0
                spent, used = cpu_per_request(before, cpu_snapshot(trees), args.requests)
                db_us = backend_us(
                    backends,
                    backend_seconds(server, (OURS_DB, STOCK_DB)),
                    STOCK_DB if name == "stock" else OURS_DB,
                    args.requests,
                )
                own_cpu[name]["auth"].append(used["freeradius"] + db_us + used["replay"])
                all_cpu[name]["auth"].append(used["freeradius"] + used["postgres"] + used["replay"])
                if used["other"] <= NOISY_OTHER_US:
                    server_cpu[name]["auth"].append(used["freeradius"] + used["postgres"] + used["replay"])
                accepts = summary_count(out, "Accepted")
                if accepts != args.requests:
                    raise SystemExit(f"{name}: {accepts} of {args.requests} accepted ({auth_packets}):\n{out[-2000:]}")
                if name == "ours" and (got := postauth_rows(server) - logged) != args.requests:
                    raise SystemExit(f"ours: {got} post-auth lines for {args.requests} Access-Requests")
                results[name]["auth"].append(args.requests / elapsed)
                log(
                    f"round {r + 1} {name:8} auth    {args.requests / elapsed:8.0f} req/s   {spent}   "
                    f"own backends {db_us:4.0f} us" + (f", replay tail {tail:.2f} s" if name == "ours" else "")
                )
            for name in (n for n in order if n != "ours-sql"):
                run = f"b{os.getpid()}r{r}{name}"
                event = int(time.time())
                radclient(
                    acct_file(work / f"start-{run}.txt", args.sessions, "Start", run, event - 300),
                    ports[name][1],
                    "acct",
                    args.parallel,
                )
                with connect(server, OURS_DB if name == "ours" else STOCK_DB) as conn:
                    conn.execute("analyze radacct")  # as autovacuum would: both planners know the new sessions
                interims = acct_file(work / f"interim-{run}.txt", args.sessions, "Interim-Update", run, event)
                backends = backend_seconds(server, (OURS_DB, STOCK_DB))
                before = cpu_snapshot(trees)
                elapsed, out = radclient(interims, ports[name][1], "acct", args.parallel)
                spent, used = cpu_per_request(before, cpu_snapshot(trees), args.sessions)
                db_us = backend_us(
                    backends,
                    backend_seconds(server, (OURS_DB, STOCK_DB)),
                    STOCK_DB if name == "stock" else OURS_DB,
                    args.sessions,
                )
                own_cpu[name]["interim"].append(used["freeradius"] + db_us + used["replay"])
                all_cpu[name]["interim"].append(used["freeradius"] + used["postgres"] + used["replay"])
                if used["other"] <= NOISY_OTHER_US:
                    server_cpu[name]["interim"].append(used["freeradius"] + used["postgres"] + used["replay"])
                db = OURS_DB if name == "ours" else STOCK_DB
                got = updated(server, db, run, "rb-000" if name == "ours" else None)
                if got != args.sessions:
                    raise SystemExit(f"{name}: {got} of {args.sessions} sessions updated:\n{out[-2000:]}")
                results[name]["interim"].append(args.sessions / elapsed)
                log(
                    f"round {r + 1} {name:8} interim {args.sessions / elapsed:8.0f} req/s   {spent}   "
                    f"own backends {db_us:4.0f} us"
                )
    shutil.rmtree(work, ignore_errors=True)
    med = {name: {k: statistics.median(v) for k, v in phases.items() if v} for name, phases in results.items()}
    auth_ratio = med["ours"]["auth"] / med["stock"]["auth"]
    interim_ratio = med["ours"]["interim"] / med["stock"]["interim"]
    log("")
    log(
        f"data: {args.tenants} tenants, {args.subscribers:,} subscribers, {args.radacct:,} radacct rows over "
        f"{args.months} months; {args.threads} FreeRADIUS threads, {args.parallel} requests in flight"
    )
    log(f"host: {host()}")
    log(
        f"PAP auth     ours {med['ours']['auth']:8.0f}/s   stock {med['stock']['auth']:8.0f}/s   "
        f"ratio {auth_ratio:.3f}  (targets: median >= {TARGET_AUTH_RATIO}, every round >= {TARGET_AUTH_ROUND})"
    )
    log(f"  per round: {ratios(results['ours']['auth'], results['stock']['auth'])}")
    if "ours-sql" in med:
        log(
            f"  ours with the post-auth log straight to SQL {med['ours-sql']['auth']:8.0f}/s, ratio "
            f"{med['ours-sql']['auth'] / med['stock']['auth']:.3f}; per round "
            f"{ratios(results['ours-sql']['auth'], results['stock']['auth'])}"
        )
    log(
        f"Interim      ours {med['ours']['interim']:8.0f}/s   stock {med['stock']['interim']:8.0f}/s   "
        f"ratio {interim_ratio:.3f}  (partitioned vs unpartitioned; target ratio >= {TARGET_INTERIM_RATIO})"
    )
    log(f"  per round: {ratios(results['ours']['interim'], results['stock']['interim'])}")
    for phase in ("auth", "interim"):
        o, s = statistics.median(own_cpu["ours"][phase]), statistics.median(own_cpu["stock"][phase])
        extra = ""
        if phase == "auth" and own_cpu.get("ours-sql", {}).get("auth"):
            extra = f"; ours with post-auth to SQL {statistics.median(own_cpu['ours-sql']['auth']):4.0f} us"
        log(
            f"CPU/req ({phase}, FreeRADIUS + its own PostgreSQL backends + replayer, every round): ours {o:4.0f} us, "
            f"stock {s:4.0f} us, stock/ours {s / o:.3f}{extra}"
        )
        log(f"  per round stock/ours: {ratios(own_cpu['stock'][phase], own_cpu['ours'][phase])}")
        for label, cpu in (("quiet phases", server_cpu), ("all phases", all_cpu)):
            ours_cpu, stock_cpu = cpu["ours"][phase], cpu["stock"][phase]
            if not (ours_cpu and stock_cpu):
                log(f"server cpu/req ({phase}): no quiet phase on both sides (other > {NOISY_OTHER_US:.0f} us/request)")
                continue
            o, s = statistics.median(ours_cpu), statistics.median(stock_cpu)
            extra = ""
            if phase == "auth" and cpu.get("ours-sql", {}).get("auth"):
                extra = f"; ours with post-auth to SQL {statistics.median(cpu['ours-sql']['auth']):4.0f} us"
            log(
                f"server cpu/req ({phase}, {label}): ours {o:4.0f} us, stock {s:4.0f} us "
                f"(FreeRADIUS + PostgreSQL + replayer; stock/ours {s / o:.3f}{extra})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
