"""Webhook delivery benchmark: outbox -> signed POSTs to a local receiver, against bare POSTs.

    .venv/bin/python bench/webhooks.py [--events 5000]
    .venv/bin/python bench/webhooks.py --smoke   # 200 events in a scratch data dir: checks only

Opens the embedded PostgreSQL in ``.bench-data/`` (or ``ISPOPS_DATABASE_URL``), builds a fresh database
``ispops_bench_webhooks`` from the migrations, makes one tenant with one endpoint on a receiver in this
process (``http.server``, threads, keep-alive, on 127.0.0.1: the operator allowance is set for it), emits
``--events`` events through ``ispops.events.outbox.emit`` (500 per transaction), then times:

- ours: ``ispops.events.jobs.dispatch`` until every event is delivered: fan-out to deliveries, claim, sign
  (Standard Webhooks, HMAC-SHA256), the SSRF check of the URL, POST (``ISPOPS_WEBHOOK_CONCURRENCY``
  at once), the delivery log and the delivery's state, all as the application role (RLS on);
- baseline: the same bodies POSTed with a bare ``httpx.Client`` to the same receiver, same concurrency,
  no database, no signature.

Prints deliveries/s of both and their ratio, with the host's CPU model and cores. Checks (a failure exits
non-zero): every delivery ``succeeded`` after one attempt, the receiver got every event exactly once, and
every signature verifies with the reference ``standardwebhooks`` library.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from proc_cpu import host
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook

from ispops.config import Settings
from ispops.db import migrate
from ispops.db.server import drop_database, open_server
from ispops.db.session import Database
from ispops.events import jobs, webhooks
from ispops.events.outbox import emit
from ispops.events.settings import WebhookSettings
from ispops.secrets.file import FileSecretStore

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "ispops_bench_webhooks"
TENANT = "bench-hooks"
PER_TXN = 500


class Receiver:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.got: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with outer.lock:
                    outer.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 256
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self) -> list[tuple[dict[str, str], bytes]]:
        with self.lock:
            out, self.got = self.got, []
        return out


def run(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.environ["ISPOPS_WEBHOOK_ALLOW_HTTP"] = "1"
    os.environ["ISPOPS_WEBHOOK_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / ".gitignore").write_text("*\n")
    server = open_server(Settings(data_dir=data_dir, database_name=DATABASE))
    print(f"database: {server.description}, database {server.database} (fresh)")
    failures: list[str] = []
    receiver = Receiver()
    settings = WebhookSettings.from_env()
    secrets_dir = Path(tempfile.mkdtemp(prefix="ispops-bench-hooks-secrets-"))
    try:
        if server.embedded:
            drop_database(server.admin_url, server.database)
        migrate.upgrade(server)
        db = Database(server)
        store = FileSecretStore(secrets_dir, os.urandom(32))
        try:
            with db.platform() as s:
                s.execute(text("insert into tenants (id, name, slug) values (:t, :t, :t)"), {"t": TENANT})
            with db.tenant(TENANT) as s:
                _, secret = webhooks.create_endpoint(
                    s, store, TENANT, url=receiver.url, event_types=["usage.cap_reached"], settings=settings
                )
            t0 = time.perf_counter()
            for start in range(0, args.events, PER_TXN):
                with db.tenant(TENANT) as s:
                    for i in range(start, min(args.events, start + PER_TXN)):
                        emit(s, event_type="usage.cap_reached", payload={"n": i, "subscriber_id": f"sub-{i}"})
            emit_s = time.perf_counter() - t0

            t0 = time.perf_counter()
            totals = jobs.dispatch(db, TENANT, store=store, settings=settings, max_rounds=10_000)
            ours_s = time.perf_counter() - t0
            ours = receiver.take()

            bodies = [body for _, body in ours]
            t0 = time.perf_counter()
            with (
                httpx.Client(trust_env=False, timeout=settings.timeout) as http,
                ThreadPoolExecutor(settings.concurrency) as pool,
            ):
                codes = list(pool.map(lambda b: http.post(receiver.url, content=b).status_code, bodies))
            bare_s = time.perf_counter() - t0
            bare = receiver.take()

            with db.tenant(TENANT) as s:
                states: dict[str, int] = dict(
                    s.execute(
                        text("select status || '/' || attempts, count(*) from webhook_deliveries group by 1")
                    ).all()
                )
            if states != {"succeeded/1": args.events}:
                failures.append(f"deliveries: {states}")
            if totals.get("succeeded") != args.events:
                failures.append(f"dispatch counted {totals}")
            seen = sorted(json.loads(body)["data"]["n"] for _, body in ours)
            if seen != list(range(args.events)):
                failures.append(f"receiver got {len(seen)} events, {len(set(seen))} distinct")
            hook = Webhook(secret)
            bad = 0
            for headers, body in ours:
                try:
                    hook.verify(body, headers)
                except Exception:
                    bad += 1
            if bad:
                failures.append(f"{bad} signatures did not verify")
            if len(bare) != args.events or set(codes) != {200}:
                failures.append(f"baseline: {len(bare)} received, codes {sorted(set(codes))}")
        finally:
            db.dispose()
    finally:
        receiver.server.shutdown()
        server.close()
        shutil.rmtree(secrets_dir, ignore_errors=True)

    ours_rate, bare_rate = args.events / ours_s, args.events / bare_s
    print(f"\nhost: {host()}")
    print(
        f"emit: {args.events:,} events in {emit_s:.2f} s ({args.events / emit_s:,.0f} events/s, "
        f"{PER_TXN} per transaction)"
    )
    print(f"delivery, outbox -> receiver: {args.events:,} in {ours_s:.2f} s = {ours_rate:,.0f} deliveries/s "
          f"(concurrency {settings.concurrency})")  # fmt: skip
    print(f"baseline, bare httpx POSTs of the same bodies: {bare_s:.2f} s = {bare_rate:,.0f} POSTs/s")
    print(f"ratio: ours / bare = {ours_rate / bare_rate:.3f}")
    print(f"checks: {'ok' if not failures else 'FAILED'}")
    for failure in failures:
        print(f"  {failure}")
    return 0 if not failures else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    parser.add_argument("--smoke", action="store_true", help="200 events in a scratch data dir (removed): checks only")
    args = parser.parse_args()
    if args.smoke:
        args.events = 200
        args.data_dir = Path(tempfile.mkdtemp(prefix="ispops-bench-webhooks-"))
        print(f"smoke: scratch data in {args.data_dir}", flush=True)
        for name in ("ISPOPS_DATABASE_URL", "ISPOPS_APP_DATABASE_URL"):
            os.environ.pop(name, None)
    print(f"host: {host()}", flush=True)
    try:
        return run(args)
    finally:
        if args.smoke:
            shutil.rmtree(args.data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
