"""Lifecycle benchmark: N activations submitted at once run on worker processes to the end, with 0 orphans
and 0 duplicate side effects; throughput, p50/p99 completion; outbox delivery to a local webhook receiver.

    .venv/bin/python bench/lifecycle.py [--orders 1000 --workers 2 --concurrency 4]
    .venv/bin/python bench/lifecycle.py --smoke   # 20 orders in a scratch data dir: checks only

Opens the embedded PostgreSQL in ``.bench-data/`` (or ``ISPOPS_DATABASE_URL``) and builds a fresh database
``ispops_bench_lifecycle`` from the migrations. One tenant: a plan, a /20 pool, an OLT provisioned by hand
(its ONU actions complete at once) with a PON port per 100 subscribers, 2N pending subscribers. ``--workers``
worker processes (procrastinate, ``--concurrency`` jobs each, the tasks ``lifecycle.advance``, ``ftth.run_job``
and ``events.dispatch``) are started first; then N activation orders (``ispops.lifecycle.orders.submit``:
address, RADIUS credentials and plan, ONU authorisation, status, billing and notify events) are submitted in
one transaction. Timed: from that commit to each order's ``completed_at`` (the database's clock).

Baseline, in the same run (the floor): the same domain calls for the other N subscribers done directly, one
transaction per subscriber, by ``workers x concurrency`` threads, without the saga (no step log, no job per
step). The ratio is saga throughput / baseline throughput.

Webhooks: when the events package can deliver (``ispops.events``), a tenant endpoint on a local HTTP receiver
(127.0.0.1, allowed with ``ISPOPS_WEBHOOK_ALLOW_HTTP``/``_ALLOW_PRIVATE``) subscribed to
``subscriber.activated``; printed: deliveries received and their rate from the first order's submission.

Checks (a failure exits non-zero): every order completed; orphans 0 (radcheck/radreply rows, live
addresses, ONU ids of subscribers that are not active); duplicates 0 (a second address, ONU, credential,
audited activation or event of one kind for one subscriber).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from queue import Empty, Queue

from proc_cpu import run_main
from sqlalchemy import text

from ispops.auth.principal import Principal, RequestMeta
from ispops.config import Settings
from ispops.db import migrate
from ispops.db.server import drop_database, open_server
from ispops.db.session import Database
from ispops.events import outbox
from ispops.ftth import service as ftth
from ispops.ipam import service as ipam
from ispops.lifecycle import orders
from ispops.radius.provisioning import set_password
from ispops.subscribers import service as subscribers

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "ispops_bench_lifecycle"
TENANT = "bench-lifecycle"
SMOKE = {"orders": 20, "workers": 2, "concurrency": 2, "webhook_wait": 10.0}
TASKS = ("lifecycle.advance", "ftth.run_job", "events.dispatch")
WORKER = """
import asyncio, sys
from ispops.config import Settings
from ispops.db.server import open_server
from ispops.db.session import Database
from ispops.jobs.app import connector_for, create_app
from ispops.jobs.registry import get_spec
from ispops.jobs.worker import run_worker_async

db = Database(open_server(Settings()), pool_size=int(sys.argv[1]) + 2)
app = create_app(connector_for(db.server), specs=[get_spec(n) for n in sys.argv[2:]], schedule=False)
asyncio.run(run_worker_async(app, db, concurrency=int(sys.argv[1]), coa_listener=False))
"""

_NOT_ACTIVE = "JOIN subscribers s ON s.tenant_id = x.tenant_id AND s.id = x.subscriber_id AND s.status <> 'active'"
ORPHANS = text(
    f"""
    SELECT (SELECT count(*) FROM radcheck x {_NOT_ACTIVE} WHERE x.tenant_id = :t)
         + (SELECT count(*) FROM radreply x {_NOT_ACTIVE} WHERE x.tenant_id = :t)
         + (SELECT count(*) FROM ip_allocations x {_NOT_ACTIVE} WHERE x.tenant_id = :t AND x.status <> 'released')
         + (SELECT count(*) FROM onus x {_NOT_ACTIVE} WHERE x.tenant_id = :t AND x.onu_id IS NOT NULL)
    """
)
DUPLICATES = text(
    """
    SELECT (SELECT count(*) FROM (SELECT subscriber_id FROM ip_allocations WHERE tenant_id = :t AND status <> 'released'
             GROUP BY subscriber_id HAVING count(*) > 1) d)
         + (SELECT count(*) FROM (SELECT subscriber_id FROM onus WHERE tenant_id = :t AND onu_id IS NOT NULL
             GROUP BY subscriber_id HAVING count(*) > 1) d)
         + (SELECT count(*) FROM (SELECT subscriber_id FROM radcheck WHERE tenant_id = :t
             AND attribute IN ('Cleartext-Password', 'NT-Password') GROUP BY subscriber_id HAVING count(*) > 1) d)
         + (SELECT count(*) FROM (SELECT entity_id FROM audit_events WHERE tenant_id = :t AND entity = 'subscribers'
             AND action = 'action' GROUP BY entity_id HAVING count(*) > 1) d)
         + (SELECT count(*) FROM (SELECT subject, event_type FROM event_outbox WHERE tenant_id = :t
             AND event_type <> 'order.failed' GROUP BY subject, event_type HAVING count(*) > 1) d)
    """
)


def setup(db: Database, n: int) -> dict[str, object]:
    with db.platform() as s:
        s.execute(
            text("INSERT INTO tenants (id, name, slug, status, max_subscribers) VALUES (:t, :t, :t, 'active', :m)"),
            {"t": TENANT, "m": 2 * n + 100},
        )
    with db.tenant(TENANT) as s:
        plan = s.execute(
            text(
                "INSERT INTO bandwidth_profiles (tenant_id, name, download_mbps, upload_mbps) "
                "VALUES (:t, '100M', 100, 20) RETURNING id"
            ),
            {"t": TENANT},
        ).scalar_one()
        pool = ipam.create_pool(s, tenant_id=TENANT, name="subs", network_cidr="10.64.0.0/18", pool_type="static")
        device = s.execute(
            text("INSERT INTO devices (tenant_id, name, device_type) VALUES (:t, 'olt', 'olt') RETURNING id"),
            {"t": TENANT},
        ).scalar_one()
        olt = s.execute(
            text("INSERT INTO olts (tenant_id, device_id, technology) VALUES (:t, :d, 'gpon') RETURNING id"),
            {"t": TENANT, "d": device},
        ).scalar_one()
        ports = [
            s.execute(
                text(
                    "INSERT INTO olt_pon_ports (tenant_id, olt_id, frame, slot, port) VALUES (:t, :o, 0, :s, :p) "
                    "RETURNING id"
                ),
                {"t": TENANT, "o": olt, "s": 1 + i // 16, "p": i % 16},
            ).scalar_one()
            for i in range((2 * n + 99) // 100)
        ]
        s.execute(
            text(
                "INSERT INTO subscribers (tenant_id, subscriber_number, service_type, status) "
                "SELECT :t, 'B-' || lpad(g::text, 6, '0'), 'ftth', 'pending' FROM generate_series(1, :n) g"
            ),
            {"t": TENANT, "n": 2 * n},
        )
        subs = list(
            s.scalars(text("SELECT id FROM subscribers WHERE tenant_id = :t ORDER BY subscriber_number"), {"t": TENANT})
        )
    return {"plan": plan, "pool": pool.id, "olt": olt, "ports": ports, "subs": subs}


def params_for(world: dict[str, object], i: int) -> dict[str, object]:
    ports = world["ports"]
    assert isinstance(ports, list)
    return {
        "bandwidth_profile_id": str(world["plan"]),
        "ip_pool_id": str(world["pool"]),
        "olt_id": str(world["olt"]),
        "pon_port_id": str(ports[i // 100]),
        "serial_number": f"BNCH{i:08X}",
    }


# --- webhooks (when the events package can deliver) -----------------------------------------------------------


class Receiver:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                with outer.lock:
                    outer.times.append(time.monotonic())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()


def webhook_endpoint(db: Database, data_dir: Path, url: str) -> str | None:
    """Register the tenant's endpoint; None when webhook delivery is ready, else why not."""
    try:
        from ispops.events import webhooks
        from ispops.events.settings import WebhookSettings
        from ispops.secrets import runtime

        runtime.configure(Settings(data_dir=data_dir))
        with db.tenant(TENANT) as s:
            webhooks.create_endpoint(
                s,
                runtime.current(),
                TENANT,
                url=url,
                event_types=["subscriber.activated"],
                settings=WebhookSettings.from_env(),
            )
    except Exception as exc:  # the events package is optional here: say why, measure the rest
        return f"{type(exc).__name__}: {exc}"
    return None


# --- the two ways -----------------------------------------------------------------------------------------------


def start_workers(args: argparse.Namespace, server_url: str, data_dir: Path) -> list[subprocess.Popen[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISPOPS_")}
    env.update(
        ISPOPS_DATABASE_URL=server_url,
        ISPOPS_DATA_DIR=str(data_dir),
        ISPOPS_WEBHOOK_ALLOW_HTTP="1",
        ISPOPS_WEBHOOK_ALLOW_PRIVATE="1",
    )
    return [
        subprocess.Popen(  # noqa: S603 - this interpreter, our script
            [sys.executable, "-c", WORKER, str(args.concurrency), *TASKS],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(data_dir / f"worker-{i}.log").open("w"),
            text=True,
        )
        for i in range(args.workers)
    ]


def saga_run(db: Database, world: dict[str, object], n: int, deadline: float) -> tuple[float, list[float]]:
    subs = world["subs"]
    assert isinstance(subs, list)
    with db.tenant(TENANT) as s:
        for i in range(n):
            orders.submit(s, TENANT, orders.Submission("activate", subs[i], params_for(world, i)))
    with db.tenant(TENANT) as s:  # the clock starts once every order is committed (and its job visible)
        submitted = s.scalar(text("SELECT clock_timestamp()"))
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        with db.tenant(TENANT) as s:
            open_ = s.scalar(
                text(
                    "SELECT count(*) FROM service_activations WHERE tenant_id = :t AND workflow_status NOT IN "
                    "('completed', 'rolled_back', 'cancelled', 'failed')"
                ),
                {"t": TENANT},
            )
        if not open_:
            break
        time.sleep(0.25)
    with db.tenant(TENANT) as s:
        rows = s.execute(
            text(
                "SELECT extract(epoch FROM completed_at - :at) FROM service_activations WHERE tenant_id = :t "
                "AND workflow_status = 'completed'"
            ),
            {"t": TENANT, "at": submitted},
        ).scalars()
        latencies = sorted(float(r) for r in rows)
    wall = max(latencies) if latencies else float("nan")
    return wall, latencies


def direct(world: dict[str, object], i: int, sub: uuid.UUID) -> Callable[[object], None]:
    principal = Principal(kind="user", id="bench", tenant_id=TENANT)
    meta = RequestMeta(ip=None, request_id=f"bench-{i}")
    p = params_for(world, i)

    def work(s: object) -> None:
        from sqlalchemy.orm import Session

        assert isinstance(s, Session)
        made = ipam.allocate(s, tenant_id=TENANT, pool_id=uuid.UUID(str(p["ip_pool_id"])), subscriber_id=sub)
        s.execute(
            text(
                "UPDATE subscribers SET pppoe_username = :u, bandwidth_profile_id = :b, static_ip_address = :ip "
                "WHERE tenant_id = :t AND id = :s"
            ),
            {
                "u": f"b{i}",
                "b": p["bandwidth_profile_id"],
                "ip": str(made.ip_address).split("/")[0],
                "t": TENANT,
                "s": sub,
            },
        )
        set_password(s, tenant_id=TENANT, subscriber_id=sub, password=f"pw-{i}-bench")
        onu = ftth.reserve_authorisation(
            s,
            TENANT,
            olt_id=uuid.UUID(str(p["olt_id"])),
            pon_port_id=uuid.UUID(str(p["pon_port_id"])),
            serial_number=str(p["serial_number"]),
            subscriber_id=sub,
        )
        ftth.complete_authorisation(s, TENANT, onu.id)
        subscribers.change_status(
            s, tenant_id=TENANT, subscriber_id=sub, action="activate", principal=principal, meta=meta
        )
        # (change_status emitted subscriber.activated; the billing start is the lifecycle's own event)
        outbox.emit_once(
            s,
            event_type="billing.service_started",
            payload={"subscriber_id": str(sub)},
            dedupe_key=f"bench:{sub}:billing",
            subject=f"subscribers/{sub}",
            wake=False,
        )

    return work


def baseline_run(db: Database, world: dict[str, object], n: int, threads: int) -> float:
    subs = world["subs"]
    assert isinstance(subs, list)
    todo: Queue[tuple[int, uuid.UUID]] = Queue()
    for i in range(n, 2 * n):
        todo.put((i, subs[i]))
    errors: list[str] = []

    def loop() -> None:
        while True:
            try:
                i, sub = todo.get_nowait()
            except Empty:
                return
            try:
                with db.tenant(TENANT) as s:
                    direct(world, i, sub)(s)
            except Exception as exc:  # counted as a failure below
                errors.append(f"{type(exc).__name__}: {exc}")

    start = time.monotonic()
    pool = [threading.Thread(target=loop) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise RuntimeError(f"baseline: {len(errors)} failures, first: {errors[0]}")
    return time.monotonic() - start


def worker_error(data_dir: Path) -> str:
    """The first error a worker logged (the webhook dispatch job's, when it fails), for the report."""
    for log in sorted(data_dir.glob("worker-*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if "Error" in line and ("psycopg" in line or "ended with status" in line):
                return "; workers logged: " + line.strip()[:160]
    return ""


def run(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / ".gitignore").write_text("*\n")  # never committed
    for name in ("ISPOPS_WEBHOOK_ALLOW_HTTP", "ISPOPS_WEBHOOK_ALLOW_PRIVATE"):
        os.environ[name] = "1"
    server = open_server(Settings(data_dir=data_dir, database_name=DATABASE))
    print(f"database: {server.description}, database {server.database} (fresh)")
    failures: list[str] = []
    n = args.orders
    threads = args.workers * args.concurrency
    receiver = Receiver()
    workers: list[subprocess.Popen[str]] = []
    try:
        if server.embedded:
            drop_database(server.admin_url, server.database)
        migrate.upgrade(server)
        db = Database(server, pool_size=threads + 2)
        try:
            world = setup(db, n)
            why_not = webhook_endpoint(db, data_dir, receiver.url)
            workers = start_workers(args, server.admin_url.render_as_string(hide_password=False), data_dir)
            time.sleep(3.0)  # the workers import and connect before the clock starts
            t0 = time.monotonic()
            wall, latencies = saga_run(db, world, n, args.deadline)
            if why_not is None:
                until = time.monotonic() + args.webhook_wait
                while len(receiver.times) < n and time.monotonic() < until:
                    time.sleep(0.2)
            delivered = list(receiver.times)
            base = baseline_run(db, world, n, threads)
            with db.tenant(TENANT) as s:
                rows = s.execute(text("SELECT workflow_status, count(*) FROM service_activations GROUP BY 1")).all()
                statuses: dict[str, int] = {str(k): int(v) for k, v in rows}
                orphans = int(s.execute(ORPHANS, {"t": TENANT}).scalar_one())
                duplicates = int(s.execute(DUPLICATES, {"t": TENANT}).scalar_one())
                active = int(s.scalar(text("SELECT count(*) FROM subscribers WHERE status = 'active'")) or 0)
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                try:
                    w.wait(30)
                except subprocess.TimeoutExpired:
                    w.kill()
            db.dispose()
    finally:
        receiver.close()
        server.close()

    if statuses.get("completed", 0) != n:
        failures.append(f"orders: {statuses} (all {n} must complete)")
    if orphans:
        failures.append(f"{orphans} orphans")
    if duplicates:
        failures.append(f"{duplicates} duplicate side effects")
    if active != 2 * n:
        failures.append(f"{active} active subscribers, {2 * n} expected")
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else float("nan")
    saga_rate, base_rate = n / wall, n / base
    print(
        f"{n} activations submitted at once, {args.workers} workers x {args.concurrency}: all done in {wall:.1f} s, "
        f"{saga_rate:.1f} orders/s; completion p50 {p50:.1f} s p99 {p99:.1f} s"
    )
    print(
        f"baseline, the same domain calls in one transaction per subscriber ({threads} threads, no saga): "
        f"{base:.1f} s, {base_rate:.1f} subscribers/s; ratio saga/baseline throughput {saga_rate / base_rate:.2f}"
    )
    print(f"orphans: {orphans}; duplicate side effects: {duplicates}; orders: {statuses}")
    if why_not is None and not delivered:
        why_not = f"0 of {n} delivered within {args.webhook_wait:g} s of the last order{worker_error(data_dir)}"
    if why_not is not None:
        print(f"webhooks: not measured: webhook delivery not available ({why_not})")
    else:
        span = max(delivered) - t0
        print(
            f"webhooks: {len(delivered)} of {n} subscriber.activated delivered to 127.0.0.1, "
            f"{len(delivered) / span:.1f}/s from the submission"
        )
    print("checks: " + ("ok" if not failures else "FAILED\n  " + "\n  ".join(failures)))
    return 0 if not failures else 1


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--orders", type=int, default=1000, help="activations submitted at once")
    p.add_argument("--workers", type=int, default=2, help="worker processes")
    p.add_argument("--concurrency", type=int, default=4, help="jobs at once per worker")
    p.add_argument("--deadline", type=float, default=1800.0, help="seconds the orders may take")
    p.add_argument("--webhook-wait", type=float, default=60.0, help="seconds to wait for the last delivery")
    p.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    p.add_argument("--smoke", action="store_true", help="20 orders in a scratch data dir (removed): checks only")
    args = p.parse_args()
    return run_main(args, run, smoke=SMOKE, prefix="lifecycle")


if __name__ == "__main__":
    sys.exit(main())
