"""FTTH benchmark, the plant part: the loss budget of every ONU of a tenant, and the per-PON report.

    .venv/bin/python bench/ftth.py [--onus 100000 --reports 300 --rounds 3]
    .venv/bin/python bench/ftth.py --smoke   # 2 OLTs, 256 ONUs in a scratch data dir: checks only

Opens the embedded PostgreSQL in ``.bench-data/`` (or ``ISPOPS_DATABASE_URL``) and builds a fresh database
``ispops_bench_ftth`` from the migrations. One tenant gets a traced plant, loaded with COPY as the superuser
with triggers skipped (as bench/api_read.py loads its subscribers): GPON OLTs (B+) of 16 PON ports; per PON
port a root PLC 1x8 splitter fed through a feeder strand spliced to a distribution strand (a connector at
each end), eight PLC 1x8 splitters on its ports (one strand each, connectors at both ends) and up to 64 ONUs,
each on its own drop cable (one strand, two connectors). Cable lengths are random (measured). Every ONU's
measured Rx is its budget ± 1 dB, except the faults planted: a whole leaf splitter 6 dB down on every 50th
PON port, and a lone ONU 5 dB down on every 7th.

Measured, each as a ratio to a baseline run in the same process on the same data (so that hosts of
different speed compare), all through ``Database.tenant`` as the application role (RLS on), without HTTP:

- loss budget of every ONU (``ispops.ftth.budget.compute`` over the tenant: one SQL statement, then the
  arithmetic and the fault finding in Python), the median of ``--rounds``; target < 10 s with 100k ONUs.
  Baseline: a bare ``SELECT`` of the same ONU rows (id, serial, splitter, port, Rx) fetched the same way.
- the per-PON report (``ispops.ftth.budget.pon_report``) of ``--reports`` random PON ports, one transaction
  each: p50/p99; target p99 < 100 ms with 100k ONUs. Baseline: the bare ``SELECT`` of that port's ONUs.

Checks (a failure exits non-zero): every ONU has a budget; a sample's expected loss equals the one computed
here from the generator's own numbers; every planted leaf fault is reported upstream of its splitter and
every planted lone fault at its drop, and nothing else is flagged.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import signal
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from proc_cpu import host, run_main
from sqlalchemy import text

from ispops.config import Settings
from ispops.db import migrate
from ispops.db.server import drop_database, libpq_dsn, open_server
from ispops.db.session import Database
from ispops.ftth import budget
from ispops.ftth.loss_settings import default_loss_settings

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "ispops_bench_ftth"
TENANT = "bench-ftth"
PORTS_PER_OLT = 16
LEAVES = 8
PER_LEAF = 8
SMOKE = {"onus": 256, "reports": 20, "rounds": 1}

BARE_ALL = text(
    "SELECT o.id, o.serial_number, o.splitter_id, o.splitter_port, o.rx_power_dbm "
    "FROM onus o WHERE o.tenant_id = :t AND o.deleted_at IS NULL"
)
BARE_PON = text(
    "SELECT o.id, o.serial_number, o.splitter_id, o.splitter_port, o.rx_power_dbm "
    "FROM onus o WHERE o.tenant_id = :t AND o.pon_port_id = :p AND o.deleted_at IS NULL"
)


@dataclass
class Plant:
    """What the generator made: enough to check the budget against numbers computed independently."""

    pons: list[uuid.UUID] = field(default_factory=list)
    expected: dict[uuid.UUID, float] = field(default_factory=dict)  # ONU -> expected loss, dB
    leaf_faults: dict[uuid.UUID, set[uuid.UUID]] = field(default_factory=dict)  # leaf splitter -> its ONUs
    lone_faults: set[uuid.UUID] = field(default_factory=set)


class Tables:
    """Rows per table, written with COPY."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}

    def add(self, table: str, columns: list[str], row: tuple[Any, ...]) -> None:
        self.rows.setdefault(table, (columns, []))[1].append(row)

    def copy(self, conn: psycopg.Connection[Any]) -> None:
        order = [
            "devices",
            "olts",
            "olt_pon_ports",
            "splitters",
            "onus",
            "fiber_cables",
            "fiber_strands",
            "fiber_links",
            "fiber_splices",
            "fiber_connectors",
        ]
        for table in order:
            columns, rows = self.rows[table]
            buffer = io.StringIO()
            for row in rows:
                buffer.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
            with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                copy.write(buffer.getvalue())


def generate(n_onus: int, seed: int = 15) -> tuple[Tables, Plant]:
    rnd = random.Random(seed)
    settings = default_loss_settings()
    plc8 = settings.splitter_table()["plc:1x8"]
    per_km = settings.fibre_db_per_km_at(1490)
    tx = settings.olt_tx("gpon", "b_plus")
    conn_db, splice_db = settings.connector_db, settings.splice_db
    t, out, plant = TENANT, Tables(), Plant()
    per_pon = LEAVES * PER_LEAF
    n_pons = -(-n_onus // per_pon)
    serial = 0
    for p in range(n_pons):
        if p % PORTS_PER_OLT == 0:
            device, olt = uuid.uuid4(), uuid.uuid4()
            out.add(
                "devices", ["id", "tenant_id", "name", "device_type"], (device, t, f"olt-{p // PORTS_PER_OLT}", "olt")
            )
            out.add(
                "olts",
                ["id", "tenant_id", "device_id", "technology", "optical_class"],
                (olt, t, device, "gpon", "b_plus"),
            )
        pon = uuid.uuid4()
        plant.pons.append(pon)
        out.add(
            "olt_pon_ports",
            ["id", "tenant_id", "olt_id", "frame", "slot", "port", "max_onus"],
            (pon, t, olt, 0, p % PORTS_PER_OLT // 8, p % 8, 128),
        )

        def cable(name: str, metres: float, strands: int) -> list[uuid.UUID]:
            cable_id = uuid.uuid4()
            out.add(
                "fiber_cables",
                ["id", "tenant_id", "cable_name", "fiber_count", "length_meters", "length_measured"],
                (cable_id, t, name, strands, f"{metres:.2f}", "true"),
            )
            ids = [uuid.uuid4() for _ in range(strands)]
            for i, strand in enumerate(ids, 1):
                out.add("fiber_strands", ["id", "tenant_id", "cable_id", "strand_number"], (strand, t, cable_id, i))
            return ids

        def link(
            strand: uuid.UUID, splitter: uuid.UUID, onu: uuid.UUID | None, seq: int, ends: tuple[str, ...]
        ) -> None:
            out.add(
                "fiber_links",
                ["id", "tenant_id", "strand_id", "splitter_id", "onu_id", "seq"],
                (uuid.uuid4(), t, strand, splitter, onu, seq),
            )
            for end in ends:
                out.add(
                    "fiber_connectors", ["id", "tenant_id", "strand_id", "strand_end"], (uuid.uuid4(), t, strand, end)
                )

        splitter_cols = [
            "id", "tenant_id", "olt_id", "name", "split_ratio", "pon_port_id", "parent_splitter_id",
            "parent_output_port", "ports_used",
        ]  # fmt: skip
        root = uuid.uuid4()
        out.add("splitters", splitter_cols, (root, t, olt, f"R-{p}", "1x8", pon, None, None, LEAVES))
        feeder_m, dist_m = rnd.uniform(1000, 8000), rnd.uniform(200, 2000)
        (feeder,) = cable(f"F-{p}", feeder_m, 1)
        (dist,) = cable(f"D-{p}", dist_m, 1)
        link(feeder, root, None, 1, ("start",))
        link(dist, root, None, 2, ("end",))
        out.add("fiber_splices", ["id", "tenant_id", "strand_a_id", "strand_b_id"], (uuid.uuid4(), t, feeder, dist))
        root_loss = plc8 + (feeder_m + dist_m) / 1000 * per_km + 2 * conn_db + splice_db
        leaf_m = rnd.uniform(100, 1500)
        leaf_strands = cable(f"L-{p}", leaf_m, LEAVES)
        for leaf_no in range(LEAVES):
            if serial >= n_onus:
                break
            leaf = uuid.uuid4()
            out.add("splitters", splitter_cols, (leaf, t, olt, f"S-{p}-{leaf_no}", "1x8", None, root, leaf_no + 1, 0))
            link(leaf_strands[leaf_no], leaf, None, 1, ("start", "end"))
            leaf_loss = root_loss + plc8 + leaf_m / 1000 * per_km + 2 * conn_db
            faulty_leaf = p % 50 == 0 and leaf_no == 0
            for port in range(1, PER_LEAF + 1):
                if serial >= n_onus:
                    break
                onu = uuid.uuid4()
                drop_m = rnd.uniform(20, 300)
                loss = leaf_loss + drop_m / 1000 * per_km + 2 * conn_db
                rx = tx - loss + rnd.uniform(-1, 1)
                if faulty_leaf:
                    rx -= 6
                    plant.leaf_faults.setdefault(leaf, set()).add(onu)
                elif p % 7 == 3 and leaf_no == 3 and port == 5:
                    rx -= 5
                    plant.lone_faults.add(onu)
                plant.expected[onu] = loss
                out.add(
                    "onus",
                    [
                        "id", "tenant_id", "olt_id", "pon_port_id", "pon_port", "splitter_id", "splitter_port",
                        "serial_number", "onu_id", "status", "rx_power_dbm",
                    ],
                    (onu, t, olt, pon, p % 8, leaf, port, f"BNCH{serial:08d}", port + 8 * leaf_no, "online",
                     f"{rx:.2f}"),
                )  # fmt: skip
                (drop,) = cable(f"drop-{serial}", drop_m, 1)
                link(drop, leaf, onu, 1, ("start", "end"))
                serial += 1
    return out, plant


def load(admin_dsn: str, n_onus: int) -> Plant:
    tables, plant = generate(n_onus)
    with psycopg.connect(admin_dsn, autocommit=False) as conn:
        conn.execute("SET session_replication_role = replica")  # no triggers: a bulk load, counters set here
        conn.execute("INSERT INTO tenants (id, name, slug) VALUES (%s, %s, %s)", (TENANT, TENANT, TENANT))
        tables.copy(conn)
        conn.execute("UPDATE splitters s SET ports_used = (SELECT count(*) FROM onus o WHERE o.splitter_id = s.id) "
                     "WHERE s.parent_splitter_id IS NOT NULL")  # fmt: skip
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    return plant


def timed(db: Database, fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    with db.tenant(TENANT, enforce_status=False) as s:
        result = fn(s)
    return time.perf_counter() - t0, result


def check(plant: Plant, budgets: list[budget.OnuBudget], suspects: list[dict[str, Any]]) -> list[str]:
    failures: list[str] = []
    if len(budgets) != len(plant.expected):
        failures.append(f"{len(budgets)} budgets for {len(plant.expected)} ONUs")
    by_id = {uuid.UUID(b.onu_id): b for b in budgets}
    for onu in list(plant.expected)[:: max(1, len(plant.expected) // 500)]:
        got = by_id.get(onu)
        if got is None or abs(got.expected_loss_db - plant.expected[onu]) > 0.011:
            failures.append(f"ONU {onu}: expected loss {got and got.expected_loss_db} != {plant.expected[onu]:.2f}")
    upstream = {uuid.UUID(s["splitter_id"]) for s in suspects if s["kind"] == "upstream_of_splitter"}
    drops = {uuid.UUID(s["onu_id"]) for s in suspects if s["kind"] == "drop"}
    if upstream != set(plant.leaf_faults):
        failures.append(f"upstream suspects {len(upstream)}, planted {len(plant.leaf_faults)}")
    if drops != plant.lone_faults:
        failures.append(f"drop suspects {len(drops)}, planted {len(plant.lone_faults)}")
    return failures


def run(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / ".gitignore").write_text("*\n")  # never committed
    server = open_server(Settings(data_dir=data_dir, database_name=DATABASE))
    print(f"database: {server.description}, database {server.database} (fresh)")
    try:
        if server.embedded:
            drop_database(server.admin_url, server.database)
        migrate.upgrade(server)
        t0 = time.perf_counter()
        plant = load(libpq_dsn(server.admin_url), args.onus)
        print(
            f"loaded {len(plant.expected):,} ONUs on {len(plant.pons):,} PON ports in {time.perf_counter() - t0:.1f} s"
        )
        db = Database(server)
        try:
            settings = default_loss_settings()
            full, bare = [], []
            for _ in range(args.rounds):
                seconds, rows = timed(db, lambda s: s.execute(BARE_ALL, {"t": TENANT}).all())
                bare.append(seconds)
                seconds, (budgets, suspects) = timed(db, lambda s: budget.compute(s, TENANT, settings=settings))
                full.append(seconds)
            failures = check(plant, budgets, suspects)
            if len(rows) != len(budgets):
                failures.append(f"bare select {len(rows)} rows, budgets {len(budgets)}")
            rnd = random.Random(1)
            picks = [rnd.choice(plant.pons) for _ in range(args.reports)]
            report_s, bare_pon_s = [], []
            for pon in picks:
                seconds, _ = timed(db, lambda s, p=pon: s.execute(BARE_PON, {"t": TENANT, "p": p}).all())
                bare_pon_s.append(seconds)
                seconds, report = timed(db, lambda s, p=pon: budget.pon_report(s, TENANT, p))
                report_s.append(seconds)
                if len(report["onus"]) != sum(1 for _ in report["onus"]) or not report["onus"]:
                    failures.append(f"PON {pon}: empty report")
        finally:
            db.dispose()
    finally:
        server.close()

    def p(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    n = len(plant.expected)
    med_full, med_bare = statistics.median(full), statistics.median(bare)
    p99, p99_bare = p(report_s, 0.99), p(bare_pon_s, 0.99)
    print(f"\nhost: {host()}; load average at the end {os.getloadavg()[0]:.1f} (other processes share the cores)")
    print(f"loss budget, {n:,} ONUs (median of {args.rounds}): {med_full:.2f} s (target < 10 s: "
          f"{'met' if med_full < 10 else 'NOT met'}); bare SELECT of the same rows {med_bare:.3f} s; "
          f"ratio {med_full / med_bare:.1f}")  # fmt: skip
    print(f"per-PON report, {args.reports} PON ports of {len(plant.pons):,}: p50 {p(report_s, 0.5) * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms (target < 100 ms: {'met' if p99 < 0.1 else 'NOT met'}); bare SELECT of the "
          f"port's ONUs p99 {p99_bare * 1000:.1f} ms; ratio {p99 / p99_bare:.1f}")  # fmt: skip
    print(f"suspects: {sum(1 for s in suspects if s['kind'] == 'upstream_of_splitter')} upstream of a splitter "
          f"(planted {len(plant.leaf_faults)}), {sum(1 for s in suspects if s['kind'] == 'drop')} drops "
          f"(planted {len(plant.lone_faults)})")  # fmt: skip
    print(f"checks: {'ok' if not failures else 'FAILED'}")
    for failure in failures[:20]:
        print(f"  {failure}")
    return 1 if failures else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--onus", type=int, default=100_000)
    p.add_argument("--reports", type=int, default=300, help="per-PON reports timed")
    p.add_argument("--rounds", type=int, default=3, help="full-tenant budgets timed (median)")
    p.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    p.add_argument("--smoke", action="store_true", help="tiny plant in a scratch data dir (removed): checks only")
    args = p.parse_args()
    return run_main(args, run, smoke=SMOKE, prefix="ftth")


if __name__ == "__main__":
    sys.exit(main())
