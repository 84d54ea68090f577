"""Subscriber import benchmark: a CSV of 100k subscribers through ``ispops.subscribers.bulk_import``, end to end.

    .venv/bin/python bench/import.py [--rows 100000]
    .venv/bin/python bench/import.py --smoke   # 500 rows in a scratch data dir: checks only

Opens the embedded PostgreSQL in ``.bench-data/`` (or ``ISPOPS_DATABASE_URL``) and builds a fresh database
``ispops_bench_import`` from the migrations. One tenant with 4 plans (bursts, Cisco/Juniper policies on
some) and a static /16 pool. The file: ``--rows`` subscribers, 90 % active (8 RADIUS rows each + the
credential), 10 % pending (Auth-Type Reject + credential), one in ten with a static address.

Measured in the same run, on the same file:

- ``bare COPY``: the CSV COPYed (``FORMAT csv``), as the application role, into a plain table with one text
  column per CSV column and no index, key or constraint: the floor, moving the bytes into PostgreSQL;
- ``import``: ``bulk_import.import_file`` in one ``Database.tenant`` unit of work, committed: parsing and
  checking every row in Python, COPY into the staging table, the checks against the tenant's data, the
  subscribers, counters, radcheck/radreply rows, credentials and static addresses, chunk by chunk.

Target: 100,000 rows in < 30 s; printed with rows/s and the ratio to the bare COPY. Checks (smoke and full,
exit 1 when one fails): every subscriber stored once with its credential, every managed RADIUS row of 1,000
sampled subscribers (all of them in the smoke run) equal to what ``ispops_radius_rows`` renders for them,
every static address allocated once, and the counters equal to a recount (``ispops db check``).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from proc_cpu import TICK, host, machine_seconds, proc_stat
from sqlalchemy import text

from ispops.config import Settings
from ispops.db import migrate
from ispops.db.counters import check_counters
from ispops.db.server import drop_database, libpq_dsn, open_server
from ispops.db.session import Database
from ispops.ipam import service as ipam
from ispops.subscribers import bulk_import
from ispops.subscribers.bulk_import_csv import COLUMNS

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "ispops_bench_import"
TENANT = "bench-import"
TARGET_SECONDS = 30.0
PLANS = [
    ("Home 50", "50, 10, NULL, NULL, NULL, NULL, NULL"),
    ("Home 100", "100, 20, 150, 30, 80, 16, NULL"),
    ("Pro 300", "300, 60, 400, 80, 250, 16, 'PRO-IN'"),
    ("Biz 1000", "1000, 500, NULL, NULL, NULL, NULL, 'BIZ-IN'"),
]
Conn = psycopg.Connection[tuple[Any, ...]]


def make_csv(n: int) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([c.name for c in COLUMNS])
    for i in range(n):
        values = {
            "subscriber_number": f"B-{i:07d}",
            "service_type": "ftth" if i % 3 else "wireless",
            "connection_type": "pppoe",
            "status": "pending" if i % 10 == 9 else "active",
            "plan": PLANS[i % len(PLANS)][0],
            "username": f"user{i:07d}@bench",
            "password": f"pw-{i:07d}-x",
            "static_ip": f"10.64.{i // 10 // 250}.{i // 10 % 250 + 2}" if i % 10 == 0 else "",
            "address_line1": f"{i} Long Road",
            "city": "Benchton",
            "postal_code": f"{1000 + i % 9000}",
            "country": "NZ",
            "latitude": f"-36.{i % 100000:05d}",
            "longitude": f"174.{i % 100000:05d}",
        }
        writer.writerow([values.get(c.name, "") for c in COLUMNS])
    return buf.getvalue().encode()


def setup(db: Database, admin: Conn, rows: int) -> None:
    admin.execute(
        "INSERT INTO tenants (id, name, slug, status, max_subscribers) VALUES (%s, %s, %s, 'active', %s)",
        (TENANT, TENANT, TENANT, rows * 2),
    )
    cols = "download_mbps, upload_mbps, download_burst_mbps, upload_burst_mbps, burst_threshold_mbps"
    with db.tenant(TENANT) as s:
        for name, values in PLANS:
            s.connection().exec_driver_sql(
                f"INSERT INTO bandwidth_profiles (tenant_id, name, {cols}, burst_time_seconds, cisco_policy_in) "
                f"VALUES ('{TENANT}', '{name}', {values})"
            )
        ipam.create_pool(s, tenant_id=TENANT, name="static", network_cidr="10.64.0.0/16", pool_type="static")
    names = ", ".join(f"{c.name} text" for c in COLUMNS)
    admin.execute(f"CREATE TABLE bench_bare_copy ({names})")
    admin.execute("GRANT SELECT, INSERT, TRUNCATE ON bench_bare_copy TO ispops_app")


def bare_copy(app_dsn: str, data: bytes) -> float:
    with psycopg.connect(app_dsn) as conn:
        conn.execute("TRUNCATE bench_bare_copy")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY bench_bare_copy FROM STDIN WITH (FORMAT csv, HEADER true)") as cp:
            cp.write(data)
        conn.commit()
        return time.perf_counter() - started


def backend_seconds(pid: int) -> float:
    """CPU seconds (user + system) of a PostgreSQL backend on this machine (0 when it cannot be read)."""
    fields = proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICK if fields else 0.0


def checks(admin: Conn, db: Database, rows: int, sample: int) -> list[str]:
    out = []
    pending = sum(1 for i in range(rows) if i % 10 == 9)
    statics = sum(1 for i in range(rows) if i % 10 == 0)
    got = admin.execute(
        "SELECT count(*), count(DISTINCT pppoe_username), count(static_ip_address) FROM subscribers"
    ).fetchone()
    if got != (rows, rows, statics):
        out.append(f"subscribers {got}, expected {(rows, rows, statics)}")
    creds = admin.execute(
        "SELECT count(*) FROM radcheck WHERE attribute = 'Cleartext-Password' AND subscriber_id IS NOT NULL"
    ).fetchone()
    if creds != (rows,):
        out.append(f"credential rows {creds}, expected {rows}")
    rejects = admin.execute("SELECT count(*) FROM radcheck WHERE attribute = 'Auth-Type'").fetchone()
    if rejects != (pending,):
        out.append(f"Auth-Type Reject rows {rejects}, expected {pending}")
    allocations = admin.execute(
        "SELECT count(*), count(DISTINCT ip_address), (SELECT allocated_ips FROM ip_pools) FROM ip_allocations"
    ).fetchone()
    if allocations != (statics, statics, statics):
        out.append(f"allocations {allocations}, expected {statics} each")
    admin.execute("SELECT set_config('app.current_tenant_id', %s, false)", (TENANT,))
    ids = [
        r[0] for r in admin.execute("SELECT id FROM subscribers ORDER BY md5(id::text) LIMIT %s", (sample,)).fetchall()
    ]
    managed = (
        "SELECT subscriber_id, username, %s, attribute, op, value FROM {t} WHERE subscriber_id = ANY(%s) "
        "AND ispops_radius_managed(%s, attribute, value)"
    )
    stored = sorted(
        admin.execute(managed.format(t="radcheck"), ("radcheck", ids, "radcheck")).fetchall()
        + admin.execute(managed.format(t="radreply"), ("radreply", ids, "radreply")).fetchall()
    )
    expected = sorted(
        admin.execute(
            "SELECT subscriber_id, username, tbl, attribute, op, value FROM ispops_radius_rows(%s, %s)", (TENANT, ids)
        ).fetchall()
    )
    if stored != expected or not stored:
        out.append(f"RADIUS rows of {len(ids)} sampled subscribers: {len(stored)} stored, {len(expected)} rendered")
    admin.execute("SELECT set_config('app.current_tenant_id', '', false)")
    drift = check_counters(db)[1]
    if drift:
        out.append(f"counters drift: {drift[:3]}")
    return out


def run(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / ".gitignore").write_text("*\n")
    server = open_server(Settings(data_dir=data_dir, database_name=DATABASE))
    print(f"database: {server.description}, database {server.database} (fresh)")
    failures: list[str] = []
    try:
        if server.embedded:
            drop_database(server.admin_url, server.database)
        migrate.upgrade(server)
        db = Database(server)
        with psycopg.connect(libpq_dsn(server.admin_url), autocommit=True) as admin:
            setup(db, admin, args.rows)
            built = time.perf_counter()
            content = make_csv(args.rows)
            built_s = time.perf_counter() - built
            print(f"file: {args.rows:,} rows, {len(content) / 1e6:.1f} MB (built in {built_s:.1f} s)")
            bare_s = bare_copy(libpq_dsn(server.url_for("ispops_app")), content)
            marks: dict[str, float] = {}
            busy0, _ = machine_seconds()
            t0 = time.perf_counter()

            def progress(phase: str, done: int, total: int) -> None:
                marks[phase] = time.perf_counter() - t0  # the last "checking" report ends the checks

            cpu0 = time.process_time()
            with db.tenant(TENANT) as s:
                backend = int(s.execute(text("SELECT pg_backend_pid()")).scalar_one())
                server0 = backend_seconds(backend)
                checked, imported = bulk_import.import_file(s, tenant_id=TENANT, content=content, progress=progress)
                server_cpu = backend_seconds(backend) - server0
                if imported is None:
                    failures.append(f"refused: {checked.error_count} errors, first {checked.errors[:3]}")
                commit0 = time.perf_counter()
            import_s = time.perf_counter() - t0
            commit_s = time.perf_counter() - commit0
            busy = (machine_seconds()[0] - busy0) / import_s
            client_cpu = time.process_time() - cpu0
            checked_s = marks.get("checking", import_s)
            print(
                f"import: {import_s:.2f} s ({args.rows / import_s:,.0f} rows/s): checks {checked_s:.2f} s, writes "
                f"{import_s - checked_s - commit_s:.2f} s, commit {commit_s:.2f} s; machine busy {busy:.2f} cores"
            )
            if imported is not None:
                print(
                    f"written: {imported.subscribers:,} subscribers, {imported.radius_rows:,} RADIUS rows, "
                    f"{imported.static_ips:,} static addresses"
                )
            print(
                f"CPU: this process {client_cpu:.2f} s + its PostgreSQL backend {server_cpu:.2f} s = "
                f"{client_cpu + server_cpu:.2f} s (the two take turns: about the time on an idle machine)"
            )
            print(f"bare COPY: {bare_s:.3f} s ({args.rows / bare_s:,.0f} rows/s)")
            failures += checks(admin, db, args.rows, args.rows if args.smoke else 1000)
        db.dispose()
    finally:
        server.close()

    print(f"\nhost: {host()}")
    print(
        f"subscriber import of {args.rows:,} rows end to end: {import_s:.2f} s, {args.rows / import_s:,.0f} rows/s, "
        f"target < {TARGET_SECONDS:.0f} s: {'met' if import_s < TARGET_SECONDS else 'NOT met'}; "
        f"{import_s / bare_s:.1f}x a bare COPY of the same file ({bare_s:.3f} s); CPU {client_cpu + server_cpu:.2f} s "
        f"({args.rows / (client_cpu + server_cpu):,.0f} rows per CPU second)"
    )
    for failure in failures:
        print(f"CHECK FAILED: {failure}")
    print("checks: " + ("ok" if not failures else f"{len(failures)} failed"))
    return 1 if failures else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    p.add_argument("--smoke", action="store_true", help="500 rows in a scratch data dir (removed): checks only")
    args = p.parse_args()
    if args.rows > 200_000:
        raise SystemExit("--rows: at most 200,000 (one file's limit)")
    if args.smoke:
        args.rows = 500
        args.data_dir = Path(tempfile.mkdtemp(prefix="ispops-bench-import-"))
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
