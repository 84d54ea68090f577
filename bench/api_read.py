"""Read benchmark: ``GET /api/v1/subscribers/{id}`` against a bare endpoint, and with RLS on against RLS off.

    .venv/bin/python bench/api_read.py [--subscribers 1000000 --tenants 100 --duration 20 --connections 64
                                        --rounds 3]
    .venv/bin/python bench/api_read.py --smoke   # tiny data in a scratch data dir: checks only that it runs

Opens the embedded PostgreSQL in ``.bench-data/`` (or ``ISPOPS_DATABASE_URL``), migrates it, loads the tenants
(``bench-0000``...) and subscribers once as the superuser with triggers skipped (a rerun reuses them when the
counts match). Each round drives, with wrk over the same random (tenant, subscriber) pairs, one access token
per tenant, each phase after a discarded warm-up:

- the API as production starts it (``uvicorn ispops.app:create_app --factory --workers 2``): phase A with RLS
  as shipped, phase B with RLS disabled on ``subscribers`` and ``tenants``, in the same uvicorn processes;
- the baseline: the bare ASGI endpoint of ``bench/api_bare.py`` in the same uvicorn setup (same worker
  count, same engine and pool, same psycopg driver) running the same ``set_config`` and single-row
  ``SELECT`` and answering the same JSON (checked: it must equal the API's for a sample subscriber).

The targets are ratios to the baseline in the same run, printed first with the host (CPU model, cores):
ours (RLS on) >= 0.6 of the bare endpoint's requests/s, its p99 <= 1.5x the bare endpoint's, RLS on >= 0.95
of RLS off. ``--rounds N`` alternates the order (ours then bare, bare then ours; A B, B A) and reports
medians; the "other" CPU (processes that are not the benchmark's) is printed per phase and phases above
0.15 cores are marked NOISY. RLS is restored in a ``finally``. A measurement: exit 0 whether or not targets
are met, non-zero on errors (any non-2xx response, socket error or request over 10 s, a JSON mismatch,
failure to load or start). Needs wrk (``apt-get install -y wrk``).

Delete the bench data: ``rm -rf .bench-data`` (the embedded server stops when this script exits). With
ISPOPS_DATABASE_URL, as a superuser: ``SET session_replication_role = replica; DELETE FROM subscribers WHERE
starts_with(tenant_id, 'bench-'); DELETE FROM tenants WHERE starts_with(id, 'bench-');``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from proc_cpu import host, machine_seconds, proc_stat, processes, tree_seconds

from ispops.auth.principal import Principal
from ispops.auth.tokens import issue_access_token
from ispops.config import Settings
from ispops.db import migrate
from ispops.db.server import Server, libpq_dsn, open_server

ROOT = Path(__file__).resolve().parent.parent
TARGET_VS_BARE, TARGET_P99_VS_BARE, TARGET_RLS = 0.6, 1.5, 0.95
NOISY_CORES = 0.15  # "other" CPU above this during a measured phase marks it NOISY
BARE, RLS_ON, RLS_OFF = "bare endpoint", "A: RLS on", "B: RLS off"
SMOKE = {"subscribers": 400, "tenants": 4, "duration": 1, "warmup": 1, "connections": 8, "pairs": 100, "rounds": 1}
RLS_TABLES = ("subscribers", "tenants")
CHUNK = 100_000
Conn = psycopg.Connection[tuple[Any, ...]]

TENANTS_SQL = """
INSERT INTO tenants (id, name, slug, status, plan_type, email)
SELECT 'bench-' || lpad(t::text, 4, '0'), 'Bench ISP ' || t, 'bench-' || lpad(t::text, 4, '0'),
       'active', 'enterprise', 'noc@bench-' || t || '.example'
FROM generate_series(0, %(tenants)s - 1) AS t
"""
# Subscriber g goes to tenant g mod T; every column the API returns is filled with plausible values.
SUBSCRIBERS_SQL = """
INSERT INTO subscribers (tenant_id, subscriber_number, service_type, connection_type, status,
    service_address_line1, service_address_city, service_address_postal_code, service_address_country,
    service_location_lat, service_location_lng, installation_status, installation_date, vlan_id,
    pppoe_username, mac_address, service_activated_at, billing_cycle_day, notes)
SELECT 'bench-' || lpad(mod(g, %(t)s)::text, 4, '0'), 'S' || lpad((g / %(t)s)::text, 8, '0'),
       (ARRAY['ftth', 'wireless'])[1 + mod(g, 2)], 'pppoe', 'active',
       (1 + mod(g, 997)) || ' Fibre Street', 'Lakeside', lpad(mod(g, 99991)::text, 5, '0'), 'NZ',
       -36.8 - mod(g, 1000) / 10000.0, 174.7 + mod(g / 1000, 1000) / 10000.0,
       'completed', date '2025-01-01' + mod(g, 365), 1 + mod(g, 4094),
       'u' || (g / %(t)s) || '@bench-' || mod(g, %(t)s),
       concat_ws(':', '02', substr(h, 1, 2), substr(h, 3, 2), substr(h, 5, 2), substr(h, 7, 2), substr(h, 9, 2)),
       now() - make_interval(days => mod(g, 1000)), 1 + mod(g, 28), 'loaded by bench/api_read.py'
FROM generate_series(%(lo)s, %(hi)s - 1) AS g, LATERAL (SELECT lpad(to_hex(g), 10, '0') AS h) AS x
"""
COUNTERS_SQL = """
UPDATE tenants AS t SET current_subscribers = c.n, max_subscribers = greatest(t.max_subscribers, c.n + 10000)
FROM (SELECT tenant_id, count(*) FILTER (WHERE deleted_at IS NULL AND status <> 'terminated') AS n
      FROM subscribers WHERE starts_with(tenant_id, 'bench-') GROUP BY tenant_id) AS c
WHERE t.id = c.tenant_id
"""
DRIFT_SQL = """
SELECT count(*) FROM tenants AS t WHERE starts_with(t.id, 'bench-') AND t.current_subscribers <> (
  SELECT count(*) FROM subscribers AS s WHERE s.tenant_id = t.id AND s.deleted_at IS NULL AND s.status <> 'terminated')
"""
# One pre-built request per line of the pairs file ("<token> <path>"), cycled; threads start at different offsets.
WRK_LUA = """
local reqs, n, i, next_tid = {}, 0, 0, 0
function setup(thread) thread:set("tid", next_tid); next_tid = next_tid + 1 end
function init(args)
  for line in io.lines(args[1]) do
    local token, path = line:match("^(%S+) (%S+)$")
    n = n + 1
    reqs[n] = wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
  end
  i = ((tid or 0) * 7919) % n
end
function request() i = i % n + 1; return reqs[i] end
"""


def scalar(conn: Conn, query: str, params: dict[str, Any] | None = None) -> Any:
    row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


def ensure_data(conn: Conn, tenants: int, subscribers: int) -> None:
    have_t = scalar(conn, "SELECT count(*) FROM tenants WHERE starts_with(id, 'bench-')")
    have_s = scalar(conn, "SELECT count(*) FROM subscribers WHERE starts_with(tenant_id, 'bench-')")
    if (have_t, have_s) == (tenants, subscribers) and scalar(conn, DRIFT_SQL) == 0:
        print(f"data: reusing {have_t} tenants / {have_s:,} subscribers")
        return
    started = time.monotonic()
    conn.execute("SET session_replication_role = replica")  # no triggers: audit, counters, FK checks
    conn.execute("SET synchronous_commit = off")
    if have_t or have_s:
        print(f"data: found {have_t} tenants / {have_s:,} subscribers, reloading")
        conn.execute("DELETE FROM subscribers WHERE starts_with(tenant_id, 'bench-')")
        conn.execute("DELETE FROM tenants WHERE starts_with(id, 'bench-')")
    conn.execute(TENANTS_SQL, {"tenants": tenants})
    for lo in range(0, subscribers, CHUNK):
        hi = min(lo + CHUNK, subscribers)
        conn.execute(SUBSCRIBERS_SQL, {"t": tenants, "lo": lo, "hi": hi})
        print(f"data: {hi:,} / {subscribers:,} subscribers ({time.monotonic() - started:.0f} s)", flush=True)
    conn.execute("RESET session_replication_role")
    conn.execute(COUNTERS_SQL)
    if scalar(conn, DRIFT_SQL) != 0:
        raise RuntimeError("tenant counters do not match the loaded subscribers")
    loaded = time.monotonic() - started
    conn.execute("VACUUM (ANALYZE) subscribers, tenants")
    print(f"data: loaded in {loaded:.0f} s, VACUUM ANALYZE {time.monotonic() - started - loaded:.0f} s")


def set_rls(conn: Conn, enabled: bool) -> None:
    conn.execute("SET lock_timeout = '30s'")
    with conn.transaction():
        # Both tables before any ALTER, in the order a request takes them (tenants, then the resource): a
        # request still finishing would otherwise deadlock with ALTERs that take subscribers first.
        conn.execute("LOCK TABLE tenants, subscribers IN ACCESS EXCLUSIVE MODE")
        for table in RLS_TABLES:
            for step in ("ENABLE", "FORCE") if enabled else ("NO FORCE", "DISABLE"):
                conn.execute(f"ALTER TABLE {table} {step} ROW LEVEL SECURITY")
    state = conn.execute(
        "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = ANY(%s) "
        "AND relnamespace = 'public'::regnamespace",
        (list(RLS_TABLES),),
    ).fetchall()
    if len(state) != len(RLS_TABLES) or any(r[1] != enabled or r[2] != enabled for r in state):
        raise RuntimeError(f"RLS state is not {'on' if enabled else 'off'}: {state}")


def write_requests(conn: Conn, out: Path, pairs: int, secret: str) -> tuple[str, str]:
    rows = conn.execute(
        "SELECT tenant_id, id::text FROM subscribers WHERE starts_with(tenant_id, 'bench-') ORDER BY random() LIMIT %s",
        (pairs,),
    ).fetchall()
    if not rows:
        raise RuntimeError("no bench subscribers to read")
    tokens: dict[str, str] = {}
    for tenant, _ in rows:
        if tenant not in tokens:
            who = Principal(
                kind="user",
                id=str(uuid.uuid5(uuid.NAMESPACE_URL, tenant)),
                tenant_id=tenant,
                roles=frozenset({"noc_engineer"}),
            )
            tokens[tenant] = issue_access_token(who, secret=secret, ttl_seconds=4 * 3600)
    lines = [f"{tokens[t]} /api/v1/subscribers/{sid}" for t, sid in rows]
    random.shuffle(lines)
    out.write_text("\n".join(lines) + "\n")
    print(f"requests: {len(lines)} subscribers across {len(tokens)} tenants")
    token, path = lines[0].split(" ")
    return token, path


def http_get(url: str, token: str | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - our own loopback server
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# The two servers: the API as production starts it, and the bare endpoint (bench/api_bare.py) in the same setup.
APPS = {
    "ours": ["ispops.app:create_app"],
    "bare": ["api_bare:create_app", "--app-dir", str(Path(__file__).resolve().parent)],
}


@contextlib.contextmanager
def api_server(env: dict[str, str], app: str, workers: int, log: Path) -> Iterator[tuple[str, int]]:
    """uvicorn in its own session, stopped with SIGTERM (SIGKILL to its group after 20 s)."""
    with socket.socket() as sock:  # a free loopback port
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    cmd = [sys.executable, "-m", "uvicorn", *APPS[app], "--factory", "--workers", str(workers)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603
            cmd,
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn ({app}) exited with {proc.returncode}; see {log}")
            with contextlib.suppress(OSError):
                if http_get(base + "/readyz", timeout=2)[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn ({app}) not ready after 120 s; see {log}")
            time.sleep(0.2)
        print(f"{app}: {' '.join(cmd[2:])} (pid {proc.pid})", flush=True)
        yield base, proc.pid
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                print("api: still running after SIGTERM, killing its process group", file=sys.stderr)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # leftover workers, if any; the group is uvicorn's own
        proc.wait()


def cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds of each root's process tree (exited children included), and the machine's idle and total."""
    busy, idle = machine_seconds()
    return tree_seconds({name: [root] for name, root in roots.items()}) | {"idle": idle, "all": busy + idle}


def uvicorn_workers(master: int) -> list[int]:
    """The uvicorn master's worker processes (multiprocessing spawn children, not its resource tracker)."""
    found = []
    for pid in (pid for pid, f in processes().items() if int(f[1]) == master):
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
    return sorted(found)


@dataclass
class Result:
    name: str
    round: int
    rps: float = 0.0
    requests: int = 0
    latency_ms: dict[int, float] = field(default_factory=dict)
    new_sessions: int = 0
    cores: dict[str, float] = field(default_factory=dict)

    @property
    def p99(self) -> float:
        return self.latency_ms.get(99, float("nan"))

    @property
    def noisy(self) -> bool:
        return self.cores.get("other", 0.0) > NOISY_CORES


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(args: argparse.Namespace, wrk: str, url: str, files: tuple[Path, Path], seconds: int, name: str) -> Result:
    cmd = [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    cmd += ["-s", str(files[0]), url, "--", str(files[1])]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=seconds + 60)  # noqa: S603
    out = proc.stdout
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rps, total = re.search(r"Requests/sec:\s+([\d.]+)", out), re.search(r"(\d+) requests in", out)
    if proc.returncode != 0 or rps is None or total is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{out}\n{proc.stderr}")
    if non2xx or (errors and any(int(x) for x in errors.groups())):
        raise RuntimeError(f"{name}: errors under load, not a valid measurement:\n{out}")
    lat = {int(p): float(v) * UNITS[u] for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    return Result(name, 0, rps=float(rps.group(1)), requests=int(total.group(1)), latency_ms=lat)


def sanity(url: str, check: tuple[str, str], name: str) -> bytes:
    """One GET of a known subscriber: 200 with that subscriber's JSON object."""
    status, body = http_get(url + check[1], check[0])
    if status != 200 or json.loads(body).get("id") != check[1].rsplit("/", 1)[1]:
        raise RuntimeError(f"{name}: sanity GET {check[1]} returned {status}: {body[:300]!r}")
    return body


def phase(
    args: argparse.Namespace,
    wrk: str,
    url: str,
    files: tuple[Path, Path],
    name: str,
    roots: dict[str, int],
    conn: Conn,
) -> Result:
    run_wrk(args, wrk, url, files, args.warmup, name + " (warm-up)")
    sessions = "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"  # flushed within ~1 s
    opened = scalar(conn, sessions)
    before, wrk_before, t0 = cpu_seconds(roots), resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    result = run_wrk(args, wrk, url, files, args.duration, name)
    after, wrk_after, wall = cpu_seconds(roots), resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic() - t0
    result.new_sessions = int(scalar(conn, sessions) - opened)
    result.cores = {k: (after[k] - before[k]) / wall for k in roots}
    result.cores["wrk"] = (wrk_after.ru_utime + wrk_after.ru_stime - wrk_before.ru_utime - wrk_before.ru_stime) / wall
    busy = 1 - (after["idle"] - before["idle"]) / (after["all"] - before["all"])
    ours = sum(result.cores.get(k, 0.0) for k in ("uvicorn", "postgres", "wrk"))
    result.cores["other"] = busy * (os.cpu_count() or 1) - ours  # not ours: noise
    result.cores["busy %"] = 100 * busy
    flag = f"  NOISY: other {result.cores['other']:.2f} cores" if result.noisy else ""
    print(f"{name}: {result.rps:,.0f} req/s, p99 {result.p99:.1f} ms{flag}", flush=True)
    return result


def ratios(results: list[Result]) -> dict[str, list[float]]:
    """Per round: ours (RLS on) / bare throughput, ours / bare p99, RLS on / RLS off throughput."""
    out: dict[str, list[float]] = {"ours/bare": [], "p99 ours/bare": [], "on/off": []}
    for n in sorted({r.round for r in results}):
        by = {r.name.split(" #")[0]: r for r in results if r.round == n}
        bare, on, off = by[BARE], by[RLS_ON], by[RLS_OFF]
        out["ours/bare"].append(on.rps / bare.rps)
        out["p99 ours/bare"].append(on.p99 / bare.p99)
        out["on/off"].append(on.rps / off.rps)
    return out


def report(results: list[Result], args: argparse.Namespace) -> None:
    def med(name: str, rows: list[Result], p99: bool = False) -> float:
        return float(statistics.median(r.p99 if p99 else r.rps for r in rows if r.name.split(" #")[0] == name))

    what = f"medians of {args.rounds} rounds" if args.rounds > 1 else "one round"
    print(f"\nhost: {host()}")
    print(f"ratios ({what}; per round in brackets):")
    per_round = ratios(results)
    for key, label, goal, at_least in (
        ("ours/bare", "ours (RLS on) / bare endpoint, req/s", TARGET_VS_BARE, True),
        ("p99 ours/bare", "ours (RLS on) / bare endpoint, p99", TARGET_P99_VS_BARE, False),
        ("on/off", "RLS on / RLS off, req/s", TARGET_RLS, True),
    ):
        value = statistics.median(per_round[key])
        each = ", ".join(f"{v:.3f}" for v in per_round[key])
        ok = value >= goal if at_least else value <= goal
        sign = ">=" if at_least else "<="
        print(f"  {label:<40} {value:6.3f}  [{each}]  goal {sign} {goal:.2f}: {'met' if ok else 'MISSED'}")
    quiet = [r for r in results if not r.noisy]
    if len(quiet) < len(results) and {r.name.split(" #")[0] for r in quiet} == {BARE, RLS_ON, RLS_OFF}:
        q_bare, q_on, q_off = (med(n, quiet) for n in (BARE, RLS_ON, RLS_OFF))
        print(
            f"  quiet phases only (not NOISY, medians across rounds): ours/bare {q_on / q_bare:.3f}, p99 ours/bare "
            f"{med(RLS_ON, quiet, True) / med(BARE, quiet, True):.3f}, on/off {q_on / q_off:.3f}"
        )
    bare_rps, on_rps, off_rps = (med(n, results) for n in (BARE, RLS_ON, RLS_OFF))
    bare_p99, on_p99 = med(BARE, results, True), med(RLS_ON, results, True)
    print(
        f"absolute ({what}, on this host): bare {bare_rps:,.0f} req/s p99 {bare_p99:.1f} ms; ours RLS on "
        f"{on_rps:,.0f} req/s p99 {on_p99:.1f} ms; ours RLS off {off_rps:,.0f} req/s"
    )
    print(
        f"\nGET /api/v1/subscribers/{{id}}, {args.subscribers:,} subscribers / {args.tenants} tenants, "
        f"{args.workers} uvicorn workers, wrk -t{args.threads} -c{args.connections} -d{args.duration}s\n"
        "CPU columns: cores used during the measured run (process trees); other: the rest of the machine;\n"
        "pg conns: PostgreSQL sessions opened during the measured run (pool churn); split: cores per worker"
    )
    head = ["phase", "req/s", "requests", "pg conns", "p50 ms", "p75 ms", "p90 ms", "p99 ms"]
    head += ["uvicorn", "postgres", "wrk", "other", "busy %"]
    print(f"{head[0]:<16}" + "".join(f"{h:>10}" for h in head[1:]) + "  split")
    for r in results:
        lat = [r.latency_ms.get(p, float("nan")) for p in (50, 75, 90, 99)]
        cores = [r.cores.get(k, float("nan")) for k in ("uvicorn", "postgres", "wrk", "other", "busy %")]
        row = f"{r.name:<16}{r.rps:>10,.0f}{r.requests:>10,}{r.new_sessions:>10,}"
        split = "/".join(f"{v:.2f}" for k, v in r.cores.items() if k.startswith("worker"))
        print(row + "".join(f"{x:>10.2f}" for x in lat + cores) + f"  {split}" + ("  NOISY" if r.noisy else ""))
    for r in results:
        per_worker = [v for k, v in r.cores.items() if k.startswith("worker")]
        if len(per_worker) > 1 and min(per_worker) < 0.25 * max(per_worker):
            print(
                f"WARNING: {r.name}: wrk's connections landed mostly on one worker (uvicorn workers race to "
                "accept them and keep-alive connections stay), so this phase measured one worker"
            )
    noise = max(r.cores.get("other", 0.0) for r in results)
    print(f"other processes: up to {noise:.2f} cores during a measured run (NOISY above {NOISY_CORES})")
    if noise > NOISY_CORES:
        print("WARNING: noisy phases are pessimistic and their ratios unreliable; rerun on a quiet machine")


def postmaster_pid(conn: Conn) -> int | None:
    """The server's postmaster, when it runs on this machine (for the CPU split)."""
    backend = scalar(conn, "SELECT pg_backend_pid()")
    with contextlib.suppress(OSError):
        if Path(f"/proc/{backend}/comm").read_text().strip() == "postgres":
            return int(proc_stat(backend)[1])
    return None


def measure(args: argparse.Namespace, wrk: str, data_dir: Path, conn: Conn) -> list[Result]:
    """The rounds: ours (RLS on and off, in the same uvicorn processes) and the bare endpoint, alternated."""
    set_rls(conn, True)  # as shipped, even if an interrupted run left it off
    secret = secrets.token_hex(32)
    files = (data_dir / "api_read.lua", data_dir / "requests.txt")
    files[0].write_text(WRK_LUA)
    check = write_requests(conn, files[1], args.pairs, secret)
    env = {**os.environ, "ISPOPS_DATA_DIR": str(data_dir), "ISPOPS_JWT_SECRET": secret}
    log, pm = data_dir / "uvicorn.log", postmaster_pid(conn)
    results: list[Result] = []
    expected = b""
    try:
        for n in range(1, args.rounds + 1):  # ours first in odd rounds, the bare endpoint first in even ones
            for app in ("ours", "bare") if n % 2 else ("bare", "ours"):
                with api_server(env, app, args.workers, log) as (url, api_pid):
                    roots = {"uvicorn": api_pid} | {f"worker{i}": w for i, w in enumerate(uvicorn_workers(api_pid))}
                    if pm is not None:
                        roots["postgres"] = pm
                    if app == "bare":
                        if json.loads(sanity(url, check, BARE)) != json.loads(expected):
                            raise RuntimeError(f"the bare endpoint's JSON differs from the API's:\n{expected!r}")
                        results.append(phase(args, wrk, url, files, f"{BARE} #{n}", roots, conn))
                        results[-1].round = n
                        continue
                    for on in (True, False) if n % 2 else (False, True):  # on/off order alternates too
                        set_rls(conn, on)
                        expected = sanity(url, check, RLS_ON if on else RLS_OFF)
                        env["BENCH_BARE_FIELDS"] = ",".join(json.loads(expected))
                        results.append(phase(args, wrk, url, files, f"{RLS_ON if on else RLS_OFF} #{n}", roots, conn))
                        results[-1].round = n
    finally:
        set_rls(conn, True)
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    p.add_argument("--subscribers", type=int, default=1_000_000)
    p.add_argument("--tenants", type=int, default=100)
    p.add_argument("--duration", type=int, default=20, help="seconds per measured phase")
    p.add_argument("--warmup", type=int, default=5, help="seconds of discarded load before each phase")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--threads", type=int, default=1, help="wrk threads (it shares the 2 cores with the server)")
    p.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    p.add_argument("--rounds", type=int, default=1, help="rounds of bare, RLS on, RLS off; medians are reported")
    p.add_argument("--pairs", type=int, default=2000, help="random (tenant, subscriber) pairs to request")
    p.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    p.add_argument("--smoke", action="store_true", help="tiny data in a scratch data dir (removed), 1 s phases")
    args = p.parse_args()
    if args.smoke:  # checks that the benchmark runs and its checks pass; the figures mean nothing
        args.__dict__.update(SMOKE)
        args.data_dir = Path(tempfile.mkdtemp(prefix="ispops-bench-api-"))
        print(f"smoke: scratch data in {args.data_dir}", flush=True)
        for name in ("ISPOPS_DATABASE_URL", "ISPOPS_APP_DATABASE_URL"):  # always its own embedded server
            os.environ.pop(name, None)
    print(f"host: {host()}", flush=True)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk not found: install it (Debian/Ubuntu: apt-get install -y wrk)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks on SIGTERM too
    started = time.monotonic()
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / ".gitignore").write_text("*\n")  # never committed
    try:
        server: Server = open_server(Settings(data_dir=data_dir))
        print(f"database: {server.description}")
        try:
            migrate.upgrade(server)
            with psycopg.connect(libpq_dsn(server.admin_url), autocommit=True) as conn:
                ensure_data(conn, args.tenants, args.subscribers)
                results = measure(args, wrk, data_dir, conn)
        finally:
            server.close()
        report(results, args)
        print(f"\ntotal run time {time.monotonic() - started:.0f} s")
        return 0
    finally:
        if args.smoke:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the finally blocks above have stopped uvicorn and wrk and restored RLS
        sys.exit("interrupted")
