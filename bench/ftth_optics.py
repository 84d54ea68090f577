"""FTTH optical ingest benchmark: one poll of 100k ONUs through ``ispops.ftth.optics.ingest_readings``.

    .venv/bin/python bench/ftth_optics.py [--onus 100000 --rounds 2]
    .venv/bin/python bench/ftth_optics.py --smoke   # 1,000 ONUs in a scratch data dir: checks only

Opens the embedded PostgreSQL in ``.bench-data/`` (or ``ISPOPS_DATABASE_URL``) and builds a fresh database
``ispops_bench_ftth_optics`` from the migrations. One tenant gets 8 GPON OLTs of 100 PON ports of 128 ONUs,
loaded as the superuser with triggers skipped (``--onus`` of them online, each on a splitter of 8).

Measured in the same run, on the same 100k rows (COPY text built once):

- ``bare COPY``: the rows COPYed, as the application role, into a plain table with the readings' columns
  and no index, key or constraint (the floor: what moving the bytes into PostgreSQL costs);
- ``ingest``: the service, in one ``Database.tenant`` unit of work committed at the end: COPY into a
  temporary table, the tenant check of every ONU, the insert into the day's partition (primary key, BRIN,
  the ONU key), the dirty hours, every ONU row's current values, the optical alarms. Round 1 is the first
  poll (every ONU's ``last_seen`` is empty); later rounds are the next polls, 5 minutes apart, with Rx moved
  a little (steady state). 1 % of the ONUs read -25.5 dBm (warning), 0.5 % -27.5 (critical).

Target: a poll of 100k readings ingested in < 5 s; printed as that and as a ratio to the bare COPY. Checks
(smoke and full, exit 1 when one fails): every reading stored once, every ONU's current values from its
newest reading, the expected number of alarms, nothing in a DEFAULT partition.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from proc_cpu import host, machine_seconds

from ispops.config import Settings
from ispops.db import migrate
from ispops.db.server import Server, drop_database, libpq_dsn, open_server
from ispops.db.session import Database
from ispops.ftth.optics import COPY_STAGE, OpticalReading, copy_rows, ingest_readings

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "ispops_bench_ftth_optics"
TENANT = "bench-ftth"
OLTS, PORTS, PER_PORT = 8, 100, 128
TARGET_SECONDS = 5.0
Conn = psycopg.Connection[tuple[Any, ...]]

LOAD = [
    "SET session_replication_role = replica",  # no triggers (audit, counters, port rules), no FK checks
    f"INSERT INTO tenants (id, name, slug, max_olts) VALUES ('{TENANT}', '{TENANT}', '{TENANT}', 100)",
    f"INSERT INTO devices (tenant_id, name, device_type) SELECT '{TENANT}', 'olt-' || o, 'olt' "
    f"FROM generate_series(1, {OLTS}) o",
    f"INSERT INTO olts (tenant_id, device_id, technology) SELECT '{TENANT}', d.id, 'gpon' FROM devices d",
    f"INSERT INTO olt_pon_ports (tenant_id, olt_id, frame, slot, port, max_onus) "
    f"SELECT '{TENANT}', o.id, 0, 1, p, {PER_PORT} FROM olts o, generate_series(0, {PORTS - 1}) p",
    f"INSERT INTO splitters (tenant_id, olt_id, name, split_ratio) "
    f"SELECT '{TENANT}', (SELECT min(id::text)::uuid FROM olts), 'NAP-' || lpad(s::text, 6, '0'), '1x8' "
    "FROM generate_series(0, %(splitters)s) s",
    f"INSERT INTO onus (tenant_id, olt_id, pon_port_id, pon_port, onu_id, serial_number, status) "
    f"SELECT '{TENANT}', p.olt_id, p.id, p.port, i, 'BNCH' || lpad((row_number() OVER ())::text, 8, '0'), 'online' "
    f"FROM olt_pon_ports p, generate_series(0, {PER_PORT - 1}) i LIMIT %(onus)s",
    # ONU k on splitter k / 8, port k % 8 + 1 (as the seed's NAP boxes)
    "WITH n AS (SELECT id, row_number() OVER (ORDER BY serial_number) - 1 AS k FROM onus), "
    "s AS (SELECT id, row_number() OVER (ORDER BY name) - 1 AS k FROM splitters) "
    "UPDATE onus o SET splitter_id = s.id, splitter_port = n.k % 8 + 1 FROM n, s WHERE o.id = n.id AND s.k = n.k / 8",
    "RESET session_replication_role",
]
BARE = (
    "CREATE TABLE bench_bare_copy (onu_id uuid, measured_at timestamptz, rx_dbm numeric(5,2), tx_dbm numeric(5,2), "
    "olt_rx_dbm numeric(5,2), temperature_c numeric(5,2), voltage_v numeric(5,2), distance_m integer, "
    "uptime_seconds bigint)"
)


def rx_of(i: int, round_: int) -> float:
    """Deterministic Rx: 1 % at -25.5 (warning), 0.5 % at -27.5 (critical), the rest around -20."""
    if i % 200 == 7:
        return -27.5
    if i % 100 == 3:
        return -25.5
    return -20.0 - (i % 37) / 10 + round_ * 0.01


def readings_for(onus: list[uuid.UUID], at: datetime, round_: int) -> list[OpticalReading]:
    return [
        OpticalReading(
            onu_id=onu,
            measured_at=at,
            rx_dbm=rx_of(i, round_),
            tx_dbm=2.1,
            olt_rx_dbm=-24.0 - (i % 11) / 10,
            temperature_c=40.0 + i % 9,
            voltage_v=3.3,
            distance_m=1000 + i % 19_000,
            uptime_seconds=86_400 + round_ * 300,
        )
        for i, onu in enumerate(onus)
    ]


def bare_copy(app_dsn: str, data: bytes) -> float:
    with psycopg.connect(app_dsn) as conn:
        conn.execute("TRUNCATE bench_bare_copy")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(COPY_STAGE.replace("ispops_optics_stage", "bench_bare_copy")) as copy:
            copy.write(data)
        conn.commit()
        return time.perf_counter() - started


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    p.add_argument("--onus", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=2, help="polls, 5 minutes apart (round 1: first poll)")
    p.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    p.add_argument("--smoke", action="store_true", help="1,000 ONUs in a scratch data dir (removed): checks only")
    args = p.parse_args()
    if args.smoke:
        args.onus, args.rounds = 1_000, 2
        args.data_dir = Path(tempfile.mkdtemp(prefix="ispops-bench-ftth-optics-"))
        print(f"smoke: scratch data in {args.data_dir}", flush=True)
        for name in ("ISPOPS_DATABASE_URL", "ISPOPS_APP_DATABASE_URL"):
            os.environ.pop(name, None)
    print(f"host: {host()}", flush=True)
    try:
        return run(args)
    finally:
        if args.smoke:
            shutil.rmtree(args.data_dir, ignore_errors=True)


def setup(server: Server, onus: int) -> list[uuid.UUID]:
    if onus > OLTS * PORTS * PER_PORT:
        raise SystemExit(f"--onus: at most {OLTS * PORTS * PER_PORT}")
    with psycopg.connect(libpq_dsn(server.admin_url), autocommit=True) as conn:
        params = {"onus": onus, "splitters": onus // 8}
        for statement in LOAD:
            conn.execute(statement, params if "%(" in statement else None)
        conn.execute(BARE)
        conn.execute("GRANT SELECT, INSERT, DELETE, TRUNCATE ON bench_bare_copy TO ispops_app")
        conn.execute("ANALYZE")
        return [r[0] for r in conn.execute("SELECT id FROM onus ORDER BY serial_number")]


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
        onus = setup(server, args.onus)
        print(f"loaded: {len(onus):,} ONUs on {OLTS} OLTs x {PORTS} PON ports, 8 per splitter")
        app_dsn = libpq_dsn(server.url_for("ispops_app"))
        db = Database(server)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5 * args.rounds)
        rows: list[tuple[str, float, float, float]] = []
        for round_ in range(1, args.rounds + 1):
            at = start + timedelta(minutes=5 * round_)
            built = time.perf_counter()
            readings = readings_for(onus, at, round_)
            build_s = time.perf_counter() - built
            bare_s = bare_copy(app_dsn, copy_rows(readings))
            busy0, _ = machine_seconds()
            t0 = time.perf_counter()
            with db.tenant(TENANT) as s:
                result = ingest_readings(s, tenant_id=TENANT, readings=readings)
            ingest_s = time.perf_counter() - t0
            busy = (machine_seconds()[0] - busy0) / ingest_s
            rows.append((f"round {round_}", ingest_s, bare_s, build_s))
            print(
                f"round {round_}: ingest {ingest_s:.2f} s ({len(readings) / ingest_s:,.0f} readings/s), bare COPY "
                f"{bare_s:.3f} s, ratio {ingest_s / bare_s:.1f}x; building the readings {build_s:.2f} s; "
                f"machine busy {busy:.2f} cores; stored {result.stored:,}, ONUs updated {result.onus_updated:,}, "
                f"alarms raised {result.alarms_raised}",
                flush=True,
            )
            if result.stored != len(onus) or result.onus_updated != len(onus):
                failures.append(f"round {round_}: stored {result.stored}, updated {result.onus_updated}")
            expected_alarms = sum(1 for i in range(len(onus)) if i % 200 == 7 or i % 100 == 3)
            if round_ == 1 and result.alarms_raised != expected_alarms:
                failures.append(f"round 1: {result.alarms_raised} alarms raised, expected {expected_alarms}")
            if round_ > 1 and result.alarms_raised + result.alarms_cleared + result.alarms_changed:
                failures.append(f"round {round_}: alarms changed on a steady poll")
        db.dispose()
        with psycopg.connect(libpq_dsn(server.admin_url), autocommit=True) as conn:
            failures += checks(conn, len(onus), args.rounds, start + timedelta(minutes=5 * args.rounds))
            size = conn.execute(
                "SELECT sum(pg_table_size(c.oid)), sum(pg_indexes_size(c.oid)) FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'onu_optical_readings'::regclass"
            ).fetchone()
            stored = len(onus) * args.rounds
            if size is not None and size[0]:
                table_b, keys_b = int(size[0]) / stored, int(size[1]) / stored
                print(
                    f"storage: {table_b + keys_b:.0f} bytes per reading ({table_b:.0f} row + {keys_b:.0f} keys); "
                    f"100k ONUs every 5 min: {(table_b + keys_b) * 28_800_000 / 1e9:.1f} GB a day"
                )
    finally:
        server.close()

    steady = rows[-1]
    print(f"\nhost: {host()}")
    print(
        f"optical ingest of {len(onus):,} readings (steady poll): {steady[1]:.2f} s, target < {TARGET_SECONDS:.0f} s: "
        f"{'met' if steady[1] < TARGET_SECONDS else 'NOT met'}; {steady[1] / steady[2]:.1f}x a bare COPY of the "
        f"same rows ({steady[2]:.3f} s); first poll {rows[0][1]:.2f} s ({rows[0][1] / rows[0][2]:.1f}x)"
    )
    for failure in failures:
        print(f"CHECK FAILED: {failure}")
    print("checks: " + ("ok" if not failures else f"{len(failures)} failed"))
    return 1 if failures else 0


def checks(conn: Conn, onus: int, rounds: int, last: datetime) -> list[str]:
    out = []
    stored = conn.execute("SELECT count(*), count(DISTINCT (onu_id, measured_at)) FROM onu_optical_readings").fetchone()
    if stored != (onus * rounds, onus * rounds):
        out.append(f"readings stored {stored}, expected {onus * rounds} distinct")
    stale = conn.execute("SELECT count(*) FROM onus WHERE last_seen IS DISTINCT FROM %s", (last,)).fetchone()
    if stale != (0,):
        out.append(f"{stale} ONUs without their newest reading as current values")
    default = conn.execute("SELECT count(*) FROM onu_optical_readings_default").fetchone()
    if default != (0,):
        out.append(f"{default} readings in the DEFAULT partition")
    return out


if __name__ == "__main__":
    sys.exit(main())
