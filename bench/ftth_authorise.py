"""FTTH benchmark, the ONU part: 8 concurrent authorisations on one PON port, and no duplicate ONU id.

    .venv/bin/python bench/ftth_authorise.py [--concurrent 8 --rounds 30]
    .venv/bin/python bench/ftth_authorise.py --smoke   # 2 rounds in a scratch data dir: checks only

Opens the embedded PostgreSQL in ``.bench-data/`` (or ``ISPOPS_DATABASE_URL``) and builds a fresh database
``ispops_bench_ftth_authorise`` from the migrations. One tenant, one GPON OLT. Each round takes a new PON
port with ``--concurrent`` discovered ONUs on it (``ispops.ftth.service.record_discovered``, not timed),
then starts that many threads at once (a barrier), each with its own connection and its own unit of work
(``Database.tenant``, the application role, RLS on) calling ``service.reserve_authorisation`` for its ONU:
the path the API's ``POST /api/v1/onus/{id}/authorise`` takes, without HTTP. Timed: the batch, from the
barrier to the last commit, and each authorisation.

Baseline, in the same run, on the same shape: a second port with as many discovered ONUs, and the same
threads each writing the same row change (``onu_id``, status ``authorising``) with an id precomputed by the
benchmark, in one unit of work, without the allocator (no port lock, no search for the lowest free id). The
ratio batch / baseline batch (medians) is what the lowest-free-id guarantee costs; it compares hosts.

Checks (a failure exits non-zero): each batch got exactly the ids 0 .. n-1; no two live ONUs share a
(PON port, ONU id) anywhere (counted by SQL); ``olts.active_onus`` and ``olts.active_pon_ports`` equal a
recount.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from proc_cpu import run_main
from sqlalchemy import text
from sqlalchemy.orm import Session

from ispops.config import Settings
from ispops.db import migrate
from ispops.db.counters import check_counters
from ispops.db.server import drop_database, open_server
from ispops.db.session import Database
from ispops.ftth import service

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "ispops_bench_ftth_authorise"
TENANT = "bench-ftth-auth"
SMOKE = {"concurrent": 8, "rounds": 2}
DUPLICATES = text(
    "SELECT count(*) FROM (SELECT pon_port_id, onu_id FROM onus WHERE tenant_id = :t AND deleted_at IS NULL "
    "AND onu_id IS NOT NULL GROUP BY pon_port_id, onu_id HAVING count(*) > 1) d"
)
BARE = text("UPDATE onus SET onu_id = :i, status = 'authorising' WHERE tenant_id = :t AND id = :o")


def setup(db: Database) -> uuid.UUID:
    with db.platform() as s:
        s.execute(text("INSERT INTO tenants (id, name, slug, status) VALUES (:t, :t, :t, 'active')"), {"t": TENANT})
    with db.tenant(TENANT) as s:
        device = s.execute(
            text("INSERT INTO devices (tenant_id, name, device_type) VALUES (:t, 'olt-1', 'olt') RETURNING id"),
            {"t": TENANT},
        ).scalar_one()
        olt: uuid.UUID = s.execute(
            text("INSERT INTO olts (tenant_id, device_id, technology) VALUES (:t, :d, 'gpon') RETURNING id"),
            {"t": TENANT, "d": device},
        ).scalar_one()
    return olt


def discovered(db: Database, olt: uuid.UUID, slot: int, port: int, n: int) -> list[uuid.UUID]:
    with db.tenant(TENANT) as s:
        return [
            service.record_discovered(
                s, TENANT, olt_id=olt, serial_number=f"BNCH{slot:02d}{port:02d}{i:04d}", slot=slot, port=port
            ).id
            for i in range(n)
        ]


def authorise(onu: uuid.UUID) -> Callable[[Session], int | None]:
    """The measured unit of work: what ``POST /api/v1/onus/{id}/authorise`` runs, without HTTP."""

    def run(s: Session) -> int | None:
        return service.reserve_authorisation(s, TENANT, onu).onu_id

    return run


def bare_write(onu_id: int, onu: uuid.UUID) -> Callable[[Session], int | None]:
    """The baseline's unit of work: the authorisation's row change with an id given, nothing else."""

    def write(s: Session) -> int | None:
        s.execute(BARE, {"i": onu_id, "t": TENANT, "o": onu})
        return onu_id

    return write


def batch(db: Database, work: list[Callable[[Session], int | None]]) -> tuple[float, list[float], list[int | None]]:
    """Run each ``work`` in its own thread and unit of work, all released at once; the batch's seconds,
    each unit's seconds, and what each returned."""
    start = threading.Barrier(len(work) + 1)
    took: list[float] = [0.0] * len(work)
    got: list[int | None] = [None] * len(work)
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            start.wait()
            t0 = time.perf_counter()
            with db.tenant(TENANT) as s:
                got[i] = work[i](s)
            took[i] = time.perf_counter() - t0
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(work))]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return seconds, took, got


def run(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / ".gitignore").write_text("*\n")  # never committed
    server = open_server(Settings(data_dir=data_dir, database_name=DATABASE))
    print(f"database: {server.description}, database {server.database} (fresh)")
    failures: list[str] = []
    n = args.concurrent
    try:
        if server.embedded:
            drop_database(server.admin_url, server.database)
        migrate.upgrade(server)
        db = Database(server, pool_size=n)
        try:
            olt = setup(db)
            with db.tenant(TENANT) as s:  # warm every pooled connection before timing
                s.execute(text("select 1"))
            ours, bare, each = [], [], []
            for r in range(args.rounds):
                slot, port = 1 + r // 16, r % 16
                onus = discovered(db, olt, slot, port, n)
                seconds, took, ids = batch(db, [authorise(o) for o in onus])
                ours.append(seconds)
                each.extend(took)
                if sorted(i for i in ids if i is not None) != list(range(n)):
                    failures.append(f"round {r}: ids {sorted(i for i in ids if i is not None)}")
                base = discovered(db, olt, 100 + slot, port, n)
                seconds, _, _ = batch(db, [bare_write(i, o) for i, o in enumerate(base)])
                bare.append(seconds)
            with db.tenant(TENANT) as s:
                duplicates = s.execute(DUPLICATES, {"t": TENANT}).scalar_one()
                total = s.execute(
                    text("SELECT count(*) FROM onus WHERE tenant_id = :t AND onu_id IS NOT NULL"), {"t": TENANT}
                ).scalar_one()
            if duplicates:
                failures.append(f"{duplicates} duplicate (PON port, ONU id) pairs")
            drift = check_counters(db)[1]
            failures += [str(d) for d in drift]
        finally:
            db.dispose()
    finally:
        server.close()

    ms = 1000.0
    ordered = sorted(each)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    ratio = statistics.median(ours) / statistics.median(bare)
    print(
        f"{n} concurrent authorisations on one PON port, {args.rounds} rounds: "
        f"median batch {statistics.median(ours) * ms:.1f} ms, per authorisation p50 "
        f"{statistics.median(each) * ms:.1f} ms p99 {p99 * ms:.1f} ms"
    )
    print(
        f"baseline, the same {n} row writes with precomputed ids (no allocator): "
        f"median batch {statistics.median(bare) * ms:.1f} ms; ratio {ratio:.2f}"
    )
    print(
        f"duplicate ONU ids: {duplicates} (over {total:,} ONUs with an id); each batch got ids 0-{n - 1}: "
        f"{not any(f.startswith('round') for f in failures)}"
    )
    print("checks: " + ("ok" if not failures else "FAILED\n  " + "\n  ".join(failures)))
    return 0 if not failures else 1


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--concurrent", type=int, default=8, help="authorisations at once on one PON port")
    p.add_argument("--rounds", type=int, default=30, help="batches timed (one new PON port each)")
    p.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    p.add_argument("--smoke", action="store_true", help="2 rounds in a scratch data dir (removed): checks only")
    args = p.parse_args()
    return run_main(args, run, smoke=SMOKE, prefix="ftth-auth")


if __name__ == "__main__":
    sys.exit(main())
