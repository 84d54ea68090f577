"""Console benchmark: p95 of the subscriber list and the subscriber 360 page with 1M subscribers, over HTTP.

    .venv/bin/python bench/console.py [--subscribers 1000000 --tenants 1 --clients 4 --duration 20]
    .venv/bin/python bench/console.py --smoke   # 1,000 subscribers in a scratch data dir: checks only

Opens a fresh embedded PostgreSQL in ``.bench-data/console`` (or ``--data-dir``; reused when its counts
match), migrates it and loads, as the superuser with triggers skipped, in a few INSERT ... SELECT over
generate_series: the tenants, plans, subscribers (all of one tenant by default: the worst case for a
list), and for every ``--busy``-th subscriber what its 360 page shows — an open RADIUS session, 31 days
of usage, an IP allocation, two lifecycle orders, a CoA attempt and three audit events. A console user
per tenant signs in through the login form (cookie session), as a browser would.

Measured, each phase after a discarded warm-up, by ``--clients`` threads each with its own keep-alive
connection, every request timed (p50/p95/p99 from every sample, not from a histogram):

- ``GET /console/subscribers/{id}`` (the 360 page) of random busy subscribers;
- ``GET /console/r/subscribers`` (the list: its first page, as it opens) and
  ``GET /console/r/subscribers?q=<number>`` (a search by subscriber number);
- the baseline: ``bench/api_bare.py`` (the bare ASGI endpoint of bench/api_read.py: the same set_config
  of tenant and user and a single-row SELECT of the subscriber, same uvicorn workers, pool and driver).

Printed first: the host (CPU model, cores); then each phase's p95 against the target (200 ms) and its ratio
to the bare endpoint's. Every answer must be 200 with the page's own content (the subscriber's number),
or the run fails. A measurement: exit 0 whether or not a target is met, non-zero on any error.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from proc_cpu import host, machine_seconds

from ispops.auth.principal import Principal
from ispops.auth.tokens import issue_access_token
from ispops.config import Settings
from ispops.db import migrate
from ispops.db.server import Server, libpq_dsn, open_server
from ispops.tenancy.service import hash_password

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 200.0
PASSWORD = "bench-console-password"  # noqa: S105 - a throwaway user of a scratch database
SMOKE = {"subscribers": 1000, "tenants": 2, "busy": 10, "duration": 1, "warmup": 1, "clients": 2, "samples": 50}
CHUNK = 100_000
Conn = psycopg.Connection[tuple[Any, ...]]

TENANTS_SQL = """
INSERT INTO tenants (id, name, slug, status, plan_type, email, max_users, max_subscribers)
SELECT 'cbench-' || lpad(t::text, 3, '0'), 'Console Bench ' || t, 'cbench-' || lpad(t::text, 3, '0'),
       'active', 'enterprise', 'noc@cbench-' || t || '.example', 100, 100000000
FROM generate_series(0, %(tenants)s - 1) AS t
"""
PLANS_SQL = """
INSERT INTO bandwidth_profiles (tenant_id, name, download_mbps, upload_mbps, monthly_data_cap_gb, daily_data_cap_gb)
SELECT t.id, p.name, p.down, p.up, p.cap, p.daily
FROM tenants t, (VALUES ('Home 100', 100, 20, 500, 40), ('Home 300', 300, 50, 1000, NULL),
                        ('Business 1G', 1000, 500, NULL, NULL)) AS p(name, down, up, cap, daily)
WHERE starts_with(t.id, 'cbench-')
"""
# Subscriber g goes to tenant g mod T, plan by g mod 3.
SUBSCRIBERS_SQL = """
INSERT INTO subscribers (tenant_id, subscriber_number, service_type, connection_type, status,
    service_address_line1, service_address_city, service_address_postal_code, service_address_country,
    installation_status, vlan_id, pppoe_username, bandwidth_profile_id, service_activated_at,
    billing_cycle_day, created_at)
SELECT tn, 'S' || lpad((g / %(t)s)::text, 8, '0'), (ARRAY['ftth', 'wireless'])[1 + mod(g, 2)], 'pppoe', 'active',
       (1 + mod(g, 997)) || ' Fibre Street', 'Lakeside', lpad(mod(g, 99991)::text, 5, '0'), 'NZ',
       'completed', 1 + mod(g, 4094), 'u' || (g / %(t)s) || '@' || tn,
       (SELECT b.id FROM bandwidth_profiles b WHERE b.tenant_id = tn ORDER BY b.name OFFSET mod(g, 3) LIMIT 1),
       now() - make_interval(days => mod(g, 1000)), 1 + mod(g, 28),
       now() - make_interval(secs => %(hi)s - g)
FROM generate_series(%(lo)s, %(hi)s - 1) AS g, LATERAL (SELECT 'cbench-' || lpad(mod(g, %(t)s)::text, 3, '0') AS tn) x
"""
# The busy subscribers: every Nth by number within its tenant.
BUSY = "starts_with(s.tenant_id, 'cbench-') AND mod(substr(s.subscriber_number, 2)::int, %(busy)s) = 0"
POOLS_SQL = """
INSERT INTO ip_pools (tenant_id, name, network_cidr, start_ip, end_ip, total_ips, pool_type)
SELECT id, 'cgnat', '100.64.0.0/10', '100.64.0.1', '100.127.255.254', 4194302, 'dynamic'
FROM tenants WHERE starts_with(id, 'cbench-')
"""
BUSY_SQL = {
    "radacct": """
INSERT INTO radacct (tenant_id, subscriber_id, acctsessionid, acctuniqueid, username, nasipaddress, nasportid,
    acctstarttime, acctupdatetime, acctinterval, acctsessiontime, acctinputoctets, acctoutputoctets,
    framedipaddress, callingstationid)
SELECT s.tenant_id, s.id, 'sess-' || s.subscriber_number, md5(s.id::text), s.pppoe_username, '127.10.0.1',
       'eth0', now() - interval '3 hours', now() - interval '2 minutes', 300, 10680, 123456789, 987654321,
       '100.64.0.0'::inet + substr(s.subscriber_number, 2)::int, '02:00:00:00:00:01'
FROM subscribers s WHERE """
    + BUSY,
    "usage": """
INSERT INTO subscriber_usage_daily (tenant_id, subscriber_id, day, input_octets, output_octets)
SELECT s.tenant_id, s.id, current_date - d, 200000000 + d * 1000000, 2000000000::bigint + d * 10000000
FROM subscribers s, generate_series(0, 30) AS d WHERE """
    + BUSY,
    "allocations": """
INSERT INTO ip_allocations (tenant_id, ip_pool_id, subscriber_id, ip_address, status)
SELECT s.tenant_id, p.id, s.id, '100.64.0.0'::inet + substr(s.subscriber_number, 2)::int, 'allocated'
FROM subscribers s JOIN ip_pools p ON p.tenant_id = s.tenant_id WHERE """
    + BUSY,
    "orders": """
INSERT INTO service_activations (tenant_id, subscriber_id, activation_type, workflow_status, steps_completed,
    requested_at, started_at, completed_at)
SELECT s.tenant_id, s.id, o.kind, 'completed', o.steps, now() - o.age, now() - o.age, now() - o.age + interval '4 s'
FROM subscribers s, (VALUES ('new_service', '["reserve_ip", "radius_credentials", "activate"]'::jsonb,
                            interval '400 days'),
                           ('plan_change', '["change_plan", "coa"]'::jsonb, interval '20 days')) AS o(kind, steps, age)
WHERE """
    + BUSY,
    "coa": """
INSERT INTO radius_coa_attempts (tenant_id, subscriber_id, username, acctsessionid, kind, reason, result)
SELECT s.tenant_id, s.id, s.pppoe_username, 'sess-' || s.subscriber_number, 'coa', 'plan_change', 'ack'
FROM subscribers s WHERE """
    + BUSY,
    "audit": """
INSERT INTO audit_events (tenant_id, occurred_at, actor_kind, actor_id, entity, entity_id, action, changes)
SELECT s.tenant_id, now() - make_interval(days => a), 'system', 'bench', 'subscribers', s.id::text,
       (ARRAY['create', 'update', 'action'])[1 + a], jsonb_build_object('n', a)
FROM subscribers s, generate_series(0, 2) AS a WHERE """
    + BUSY,
}
USERS_SQL = """
INSERT INTO users (tenant_id, email, password_hash, roles, is_active, is_verified)
SELECT id, 'noc@' || id || '.example', %(hash)s, '["tenant_admin"]'::jsonb, true, true
FROM tenants WHERE starts_with(id, 'cbench-')
"""


def scalar(conn: Conn, query: str, params: dict[str, Any] | None = None) -> Any:
    row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


def ensure_data(conn: Conn, args: argparse.Namespace) -> None:
    """Load the data once; a rerun with the same counts reuses it."""
    have = (
        scalar(conn, "SELECT count(*) FROM tenants WHERE starts_with(id, 'cbench-')"),
        scalar(conn, "SELECT count(*) FROM subscribers WHERE starts_with(tenant_id, 'cbench-')"),
        scalar(conn, "SELECT count(*) FROM radacct WHERE starts_with(tenant_id, 'cbench-')"),
    )
    busy = scalar(conn, f"SELECT count(*) FROM subscribers s WHERE {BUSY}", {"busy": args.busy})
    if have[:2] == (args.tenants, args.subscribers) and have[2] == busy and busy:
        print(f"data: reusing {have[0]} tenants / {have[1]:,} subscribers / {have[2]:,} busy", flush=True)
        return
    started = time.monotonic()
    conn.execute("SET session_replication_role = replica")  # no triggers: audit, counters, RADIUS rendering
    conn.execute("SET synchronous_commit = off")
    if any(have):
        print(f"data: found {have[0]} tenants / {have[1]:,} subscribers, reloading", flush=True)
        for table in (
            "audit_events",
            "radius_coa_attempts",
            "service_activations",
            "ip_allocations",
            "ip_pools",
            "subscriber_usage_daily",
            "radacct",
            "subscribers",
            "bandwidth_profiles",
            "refresh_tokens",
            "users",
        ):
            conn.execute(f"DELETE FROM {table} WHERE starts_with(tenant_id, 'cbench-')")
        conn.execute("DELETE FROM tenants WHERE starts_with(id, 'cbench-')")
    conn.execute(TENANTS_SQL, {"tenants": args.tenants})
    conn.execute(PLANS_SQL)
    for lo in range(0, args.subscribers, CHUNK):
        hi = min(lo + CHUNK, args.subscribers)
        conn.execute(SUBSCRIBERS_SQL, {"t": args.tenants, "lo": lo, "hi": hi})
        print(f"data: {hi:,} / {args.subscribers:,} subscribers ({time.monotonic() - started:.0f} s)", flush=True)
    conn.execute("RESET session_replication_role")  # the pool's guard fills its usage columns
    conn.execute(POOLS_SQL)
    conn.execute("SET session_replication_role = replica")
    for name, sql in BUSY_SQL.items():
        n = conn.execute(sql, {"busy": args.busy}).rowcount
        print(f"data: {name}: {n:,} rows ({time.monotonic() - started:.0f} s)", flush=True)
    conn.execute(USERS_SQL, {"hash": hash_password(PASSWORD)})
    conn.execute("RESET session_replication_role")
    conn.execute(
        "UPDATE tenants t SET current_subscribers = c.n, current_users = 1 FROM (SELECT tenant_id, count(*) AS n "
        "FROM subscribers WHERE starts_with(tenant_id, 'cbench-') GROUP BY tenant_id) c WHERE t.id = c.tenant_id"
    )
    loaded = time.monotonic() - started
    conn.execute(
        "VACUUM (ANALYZE) subscribers, tenants, bandwidth_profiles, radacct, subscriber_usage_daily, ip_allocations, "
        "service_activations, radius_coa_attempts, audit_events, users"
    )
    print(f"data: loaded in {loaded:.0f} s, VACUUM ANALYZE {time.monotonic() - started - loaded:.0f} s", flush=True)


def sample(conn: Conn, args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """Random busy subscribers to request: (tenant, id, number)."""
    rows = conn.execute(
        "SELECT s.tenant_id, s.id::text, s.subscriber_number FROM subscribers s JOIN radacct r "
        "ON r.tenant_id = s.tenant_id AND r.subscriber_id = s.id WHERE starts_with(s.tenant_id, 'cbench-') "
        "ORDER BY random() LIMIT %s",
        (args.samples,),
    ).fetchall()
    if not rows:
        raise RuntimeError("no busy subscribers to request")
    return [(str(t), str(i), str(n)) for t, i, n in rows]


# --- HTTP ------------------------------------------------------------------------------------------------


class Client:
    """One keep-alive connection with its own cookies (a browser tab, without the browser)."""

    def __init__(self, base: str) -> None:
        parts = urllib.parse.urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        hdrs = dict(headers or {})
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()  # a keep-alive connection the server closed: reconnect once
                if attempt == 2:
                    raise
        for name, value in resp.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                val = rest.split(";", 1)[0]
                if val in ("", '""') or "max-age=0" in value.lower():
                    self.cookies.pop(key, None)
                else:
                    self.cookies[key] = val
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def login(self, tenant: str) -> None:
        status, _, _ = self.request("GET", "/console/login")
        pre = self.cookies.get("ispops_console_pre")
        if status != 200 or pre is None:
            raise RuntimeError(f"login form: {status}, no pre-session cookie")
        form = urllib.parse.urlencode(
            {"tenant": tenant, "email": f"noc@{tenant}.example", "password": PASSWORD, "csrf_token": pre}
        ).encode()
        status, _, body = self.request(
            "POST", "/console/login", form, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        if status != 303 or "ispops_console" not in self.cookies:
            raise RuntimeError(f"login as {tenant}: {status} {body[:300]!r}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(env: dict[str, str], app: list[str], workers: int, log: Path) -> Iterator[str]:
    """uvicorn in its own session; SIGTERM then SIGKILL of its process group."""
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", *app, "--factory", "--workers", str(workers)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {proc.returncode}; see {log}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if Client(base).request("GET", "/readyz")[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn not ready after 120 s; see {log}")
            time.sleep(0.2)
        yield base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


Check = Callable[[int, bytes, tuple[str, str, str]], str | None]  # (status, body, pick) -> error or None


@dataclass
class Phase:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    busy_cores: float = 0.0

    def pct(self, p: float) -> float:
        data = sorted(self.latencies_ms)
        if not data:
            return float("nan")
        return data[min(len(data) - 1, round(p / 100 * len(data) + 0.5) - 1)]

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0


def drive(
    clients: list[Client],
    picks: list[tuple[str, str, str]],
    path_of: Callable[[tuple[str, str, str]], str],
    check: Check,
    seconds: float,
    name: str,
    headers_of: Callable[[tuple[str, str, str]], dict[str, str]] | None = None,
) -> Phase:
    """Every client in its own thread, requesting random picks of its own tenant for ``seconds``."""
    phase = Phase(name)
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def run(client: Client, own: list[tuple[str, str, str]]) -> None:
        rnd = random.Random()
        mine: list[float] = []
        errs: list[str] = []
        while time.monotonic() < stop:
            pick = rnd.choice(own)
            t0 = time.perf_counter()
            try:
                status, _, body = client.request("GET", path_of(pick), headers=headers_of(pick) if headers_of else None)
            except (OSError, http.client.HTTPException) as exc:
                errs.append(f"{path_of(pick)}: {type(exc).__name__}: {exc}")
                continue
            mine.append((time.perf_counter() - t0) * 1000)
            problem = check(status, body, pick)
            if problem:
                errs.append(f"{path_of(pick)}: {problem}")
        with lock:
            phase.latencies_ms.extend(mine)
            phase.errors.extend(errs[:5])

    threads = []
    busy0, _idle0 = machine_seconds()
    t0 = time.monotonic()
    for client in clients:
        tenant = getattr(client, "tenant", None)
        own = [p for p in picks if p[0] == tenant] or picks
        threads.append(threading.Thread(target=run, args=(client, own), daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    phase.seconds = time.monotonic() - t0
    busy1, _idle1 = machine_seconds()
    phase.busy_cores = (busy1 - busy0) / phase.seconds  # all of the machine's busy cores, ours included
    return phase


def expect_number(status: int, body: bytes, pick: tuple[str, str, str]) -> str | None:
    if status != 200:
        return f"status {status}: {body[:200]!r}"
    if pick[2].encode() not in body:
        return f"the page does not show {pick[2]}"
    return None


def expect_ok(status: int, body: bytes, pick: tuple[str, str, str]) -> str | None:
    return None if status == 200 and b"<table" in body else f"status {status}: {body[:200]!r}"


def expect_bare(status: int, body: bytes, pick: tuple[str, str, str]) -> str | None:
    return None if status == 200 and pick[1].encode() in body else f"status {status}: {body[:200]!r}"


def measure(args: argparse.Namespace, data_dir: Path, picks: list[tuple[str, str, str]]) -> list[Phase]:
    secret = secrets.token_hex(32)
    env = {**os.environ, "ISPOPS_DATA_DIR": str(data_dir), "ISPOPS_JWT_SECRET": secret}
    env["BENCH_BARE_FIELDS"] = "id,subscriber_number,status"
    log = data_dir / "uvicorn.log"
    tenants = sorted({p[0] for p in picks})
    phases: list[Phase] = []

    def timed(name: str, fn: Callable[[float, str], Phase]) -> None:
        fn(args.warmup, name + " (warm-up)")
        result = fn(args.duration, name)
        if result.errors:
            raise RuntimeError(f"{name}: errors under load, not a valid measurement:\n" + "\n".join(result.errors))
        if not result.latencies_ms:
            raise RuntimeError(f"{name}: no request completed")
        print(
            f"{name}: {len(result.latencies_ms):,} requests, p50 {result.pct(50):.1f} ms, p95 {result.pct(95):.1f} ms, "
            f"p99 {result.pct(99):.1f} ms, machine busy {result.busy_cores:.2f} cores",
            flush=True,
        )
        phases.append(result)

    with server(env, ["ispops.app:create_app"], args.workers, log) as base:
        clients = []
        for i in range(args.clients):
            client = Client(base)
            client.tenant = tenants[i % len(tenants)]  # type: ignore[attr-defined]
            client.login(client.tenant)  # type: ignore[attr-defined]
            clients.append(client)
        timed(
            "360 page",
            lambda s, n: drive(clients, picks, lambda p: f"/console/subscribers/{p[1]}", expect_number, s, n),
        )
        timed(
            "list, first page", lambda s, n: drive(clients, picks, lambda p: "/console/r/subscribers", expect_ok, s, n)
        )
        timed(
            "list, search by number",
            lambda s, n: drive(
                clients, picks, lambda p: "/console/r/subscribers?q=" + urllib.parse.quote(p[2]), expect_number, s, n
            ),
        )
    tokens = {
        t: issue_access_token(
            Principal(
                kind="user", id=str(uuid.uuid5(uuid.NAMESPACE_URL, t)), tenant_id=t, roles=frozenset({"noc_engineer"})
            ),
            secret=secret,
            ttl_seconds=3600,
        )
        for t in tenants
    }
    bare = ["api_bare:create_app", "--app-dir", str(Path(__file__).resolve().parent)]
    with server(env, bare, args.workers, log) as base:
        clients = []
        for i in range(args.clients):
            client = Client(base)
            client.tenant = tenants[i % len(tenants)]  # type: ignore[attr-defined]
            clients.append(client)
        timed(
            "bare endpoint",
            lambda s, n: drive(
                clients,
                picks,
                lambda p: f"/api/v1/subscribers/{p[1]}",
                expect_bare,
                s,
                n,
                headers_of=lambda p: {"Authorization": f"Bearer {tokens[p[0]]}"},
            ),
        )
    return phases


def report(phases: list[Phase], args: argparse.Namespace) -> None:
    by = {p.name: p for p in phases}
    bare = by["bare endpoint"]
    print(f"\nhost: {host()}")
    print(
        f"{args.subscribers:,} subscribers / {args.tenants} tenant(s), every {args.busy}th with sessions, usage, IP, "
        f"orders, CoA and audit rows; {args.workers} uvicorn workers; {args.clients} clients; "
        f"{args.duration} s per phase"
    )
    print(f"{'phase':<26}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'p95/bare':>10}  target")
    for p in phases:
        ratio = p.pct(95) / bare.pct(95)
        goal = "" if p is bare else f"p95 < {TARGET_P95_MS:.0f} ms: {'met' if p.pct(95) < TARGET_P95_MS else 'MISSED'}"
        print(
            f"{p.name:<26}{len(p.latencies_ms):>10,}{p.rps:>9.0f}{p.pct(50):>9.1f}{p.pct(95):>9.1f}{p.pct(99):>9.1f}"
            f"{ratio:>10.2f}  {goal}"
        )
    busiest = max(p.busy_cores for p in phases)
    print(f"machine busy (all processes, ours included): up to {busiest:.2f} of {os.cpu_count()} cores during a phase")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    p.add_argument("--subscribers", type=int, default=1_000_000)
    p.add_argument("--tenants", type=int, default=1)
    p.add_argument("--busy", type=int, default=20, help="every Nth subscriber gets 360 data (sessions, usage, ...)")
    p.add_argument("--duration", type=float, default=20, help="seconds per measured phase")
    p.add_argument("--warmup", type=float, default=5)
    p.add_argument("--clients", type=int, default=4, help="concurrent clients (threads, one connection each)")
    p.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    p.add_argument("--samples", type=int, default=2000, help="random busy subscribers to request")
    p.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data" / "console")
    p.add_argument("--smoke", action="store_true", help="1,000 subscribers in a scratch data dir (removed), 1 s phases")
    args = p.parse_args()
    if args.smoke:  # checks that the benchmark runs and every page answers as it must; figures mean nothing
        args.__dict__.update(SMOKE)
        args.data_dir = Path(tempfile.mkdtemp(prefix="ispops-bench-console-"))
        print(f"smoke: scratch data in {args.data_dir}", flush=True)
        for name in ("ISPOPS_DATABASE_URL", "ISPOPS_APP_DATABASE_URL"):
            os.environ.pop(name, None)
    print(f"host: {host()}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / ".gitignore").write_text("*\n")
    try:
        srv: Server = open_server(Settings(data_dir=data_dir))
        print(f"database: {srv.description}", flush=True)
        try:
            migrate.upgrade(srv)
            with psycopg.connect(libpq_dsn(srv.admin_url), autocommit=True) as conn:
                ensure_data(conn, args)
                picks = sample(conn, args)
            phases = measure(args, data_dir, picks)
        finally:
            srv.close()
        report(phases, args)
        print(f"\ntotal run time {time.monotonic() - started:.0f} s")
        return 0
    finally:
        if args.smoke:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("interrupted")
