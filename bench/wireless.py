"""Wireless benchmark: serviceability over many sectors, coverage recomputation, CPE telemetry ingest.

    .venv/bin/python bench/wireless.py [--sectors 10000 --points 500 --recompute 1000 --readings 50000]
    .venv/bin/python bench/wireless.py --smoke   # 200 sectors in a scratch data dir: checks only

Opens the embedded PostgreSQL in ``.bench-data/`` (or ``ISPOPS_DATABASE_URL``) and builds a fresh database
``ispops_bench_wireless`` from the migrations. One tenant gets ``--sectors`` sectors, four per tower (90°
beams at 0/90/180/270°, 5 GHz, each with its coverage wedge and bounding box computed by
``ispops.wireless.service.apply_coverage``), the towers on a grid over about 4° x 4°, and one CPE per
``--readings / 10`` (each with a subscriber), loaded with COPY as the superuser with triggers skipped.

Measured through ``Database.tenant`` as the application role (RLS on), without HTTP, each against a baseline
run in the same process on the same data, so that hosts of different speed compare:

- serviceability (``ispops.wireless.serviceability.check``: GiST pre-filter, geodesics, link budgets,
  ranking, plans) of ``--points`` random addresses, one transaction each: p50/p99; target p99 < 50 ms with
  10,000 sectors. Baseline: the bare pre-filter query (the GiST KNN scan) for the same points.
- coverage recomputation of ``--recompute`` sectors in one transaction (``service.recompute_coverage``):
  target < 5 s for 1,000. Baseline: one bare ``UPDATE`` of the same rows' coverage timestamp.
- CPE telemetry ingest of ``--readings`` readings (ten per CPE) in one transaction (``telemetry.ingest``:
  checks, COPY through a staging table, latest values, alarms): target < 5 s for 50,000. Baseline: a bare
  COPY of the same rows into a temporary table.

Checks (a failure exits non-zero): a point straight in front of a sector finds it as a candidate; every
recomputed sector has its wedge; every reading is stored and each CPE's latest value is its newest reading.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import psycopg
from proc_cpu import host, run_main
from sqlalchemy import text
from sqlalchemy.orm import Session

from ispops.config import Settings
from ispops.db import migrate
from ispops.db.server import drop_database, libpq_dsn, open_server
from ispops.db.session import Database
from ispops.models import WirelessSector, WirelessTower
from ispops.models.wireless import CpeReadingSource
from ispops.wireless import service, serviceability, telemetry
from ispops.wireless.settings import Rules

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "ispops_bench_wireless"
TENANT = "bench-wisp"
LAT0, LNG0, SPAN = 38.0, -106.0, 4.0
SMOKE = {"sectors": 200, "points": 30, "recompute": 50, "readings": 500}
T = TypeVar("T")


def timed(db: Database, fn: Callable[[Session], T]) -> tuple[float, T]:
    start = time.perf_counter()
    with db.tenant(TENANT, enforce_status=False) as session:
        out = fn(session)
    return time.perf_counter() - start, out


def load(dsn: str, sectors: int, cpes: int) -> tuple[list[uuid.UUID], list[tuple[float, float, int]], list[uuid.UUID]]:
    """Towers, sectors with their coverage, subscribers and CPEs; returns sector ids, (lat, lng, azimuth)
    per sector, CPE ids."""
    rnd = random.Random(7)
    towers = max(1, sectors // 4)
    side = max(1, round(towers**0.5))
    rules = Rules()
    now = dt.datetime.now(dt.UTC)
    sector_ids: list[uuid.UUID] = []
    where: list[tuple[float, float, int]] = []
    cpe_ids: list[uuid.UUID] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("insert into tenants (id, name, slug, status) values (%s, %s, %s, 'active')", (TENANT,) * 3)
        conn.execute("update tenants set max_subscribers = 10000000, max_wireless_aps = 10000000 where id = %s",
                     (TENANT,))  # fmt: skip
        with conn.transaction():
            conn.execute("set local session_replication_role = replica")  # no triggers: a bulk load
            with conn.cursor().copy(
                "copy wireless_towers (id, tenant_id, name, latitude, longitude, height_meters) from stdin"
            ) as copy:
                tower_rows = []
                for i in range(towers):
                    lat = LAT0 + SPAN * (i // side) / side + rnd.uniform(-0.01, 0.01)
                    lng = LNG0 + SPAN * (i % side) / side + rnd.uniform(-0.01, 0.01)
                    tid = uuid.uuid4()
                    tower_rows.append((tid, lat, lng))
                    copy.write_row((tid, TENANT, f"T{i}", f"{lat:.6f}", f"{lng:.6f}", 30))
            cols = (
                "id, tenant_id, tower_id, name, frequency_mhz, channel_width_mhz, azimuth, beamwidth_degrees, "
                "max_range_km, max_capacity_mbps, coverage_area_geojson, coverage_range_km, coverage_min_lat, "
                "coverage_min_lng, coverage_max_lat, coverage_max_lng, coverage_computed_at"
            )
            with conn.cursor().copy(f"copy wireless_sectors ({cols}) from stdin") as copy:
                for n in range(sectors):
                    tid, lat, lng = tower_rows[n // 4 % len(tower_rows)]
                    azimuth = 90 * (n % 4)
                    sector = WirelessSector(
                        frequency_mhz=5745 + 20 * (n % 4), channel_width_mhz=20, azimuth=azimuth, beamwidth_degrees=90,
                        max_range_km=Decimal(15), radio_family="802.11ac", spatial_streams=2, cable_loss_db=Decimal(0),
                    )  # fmt: skip
                    tower = WirelessTower(latitude=Decimal(f"{lat:.6f}"), longitude=Decimal(f"{lng:.6f}"),
                                          height_meters=Decimal(30))  # fmt: skip
                    service.apply_coverage(sector, tower, rules, now)
                    sid = uuid.uuid4()
                    sector_ids.append(sid)
                    where.append((lat, lng, azimuth))
                    copy.write_row(
                        (sid, TENANT, tid, f"S{n}", sector.frequency_mhz, 20, azimuth, 90, 15, 300,
                         psycopg.types.json.Jsonb(sector.coverage_area_geojson), sector.coverage_range_km,
                         sector.coverage_min_lat, sector.coverage_min_lng, sector.coverage_max_lat,
                         sector.coverage_max_lng, now)
                    )  # fmt: skip
            subs = [uuid.uuid4() for _ in range(cpes)]
            with conn.cursor().copy(
                "copy subscribers (id, tenant_id, subscriber_number, service_type) from stdin"
            ) as copy:
                for i, sub in enumerate(subs):
                    copy.write_row((sub, TENANT, f"B{i:07d}", "wireless"))
            with conn.cursor().copy(
                "copy wireless_subscribers (id, tenant_id, subscriber_id, sector_id, cpe_mac, install_latitude, "
                "install_longitude, predicted_signal_dbm) from stdin"
            ) as copy:
                for i, sub in enumerate(subs):
                    cid = uuid.uuid4()
                    cpe_ids.append(cid)
                    lat, lng, _ = where[i % len(where)]
                    mac = ":".join(f"{b:02x}" for b in (2, 0, i >> 24 & 255, i >> 16 & 255, i >> 8 & 255, i & 255))
                    copy.write_row((cid, TENANT, sub, sector_ids[i % len(sector_ids)], mac, lat, lng, -60))
        conn.execute("analyze wireless_towers, wireless_sectors, wireless_subscribers, subscribers")
    return sector_ids, where, cpe_ids


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / ".gitignore").write_text("*\n")  # never committed
    server = open_server(Settings(data_dir=data_dir, database_name=DATABASE))
    print(f"database: {server.description}, database {server.database} (fresh)")
    failures: list[str] = []
    cpes = max(1, args.readings // 10)
    try:
        if server.embedded:
            drop_database(server.admin_url, server.database)
        migrate.upgrade(server)
        t0 = time.perf_counter()
        sector_ids, where, cpe_ids = load(libpq_dsn(server.admin_url), args.sectors, cpes)
        print(f"loaded {len(sector_ids):,} sectors, {len(cpe_ids):,} CPEs in {time.perf_counter() - t0:.1f} s")
        db = Database(server)
        try:
            rnd = random.Random(11)
            points = [(LAT0 + rnd.uniform(0, SPAN), LNG0 + rnd.uniform(0, SPAN)) for _ in range(args.points)]
            bare_s, check_s = [], []
            for lat, lng in points:
                params = {"t": TENANT, "lat": lat, "lng": lng, "k": serviceability.FIRST_BATCH}
                seconds, _ = timed(db, lambda s, pr=params: s.execute(serviceability.PREFILTER, pr).all())  # type: ignore[misc]
                bare_s.append(seconds)
                seconds, _ = timed(db, lambda s, a=lat, b=lng: serviceability.check(s, TENANT, lat=a, lng=b))  # type: ignore[misc]
                check_s.append(seconds)
            lat, lng, azimuth = where[len(where) // 2]
            front = (lat + 0.01, lng) if azimuth == 0 else (lat, lng + 0.01) if azimuth == 90 else (
                (lat - 0.01, lng) if azimuth == 180 else (lat, lng - 0.01))  # fmt: skip
            _, answer = timed(db, lambda s: serviceability.check(s, TENANT, lat=front[0], lng=front[1]))
            if sector_ids[len(where) // 2] not in {c.sector_id for c in answer.candidates}:
                failures.append("the sector in front of a point is not among its candidates")

            some = sector_ids[: args.recompute]
            bare_update, _ = timed(
                db,
                lambda s: s.execute(
                    text("update wireless_sectors set coverage_computed_at = now() "
                         "where tenant_id = :t and id = any(:ids)"),
                    {"t": TENANT, "ids": some},
                ),
            )  # fmt: skip
            recompute_s, count = timed(db, lambda s: service.recompute_coverage(s, TENANT, some))
            if count != len(some):
                failures.append(f"recomputed {count} sectors of {len(some)}")

            start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
            readings = [
                telemetry.Reading(read_at=start + dt.timedelta(seconds=j),
                                  wireless_subscriber_id=cpe_ids[j % len(cpe_ids)], signal_dbm=-60 - (j % 7),
                                  noise_dbm=-95, link_speed_mbps=150, distance_km=2.0)
                for j in range(args.readings)
            ]  # fmt: skip
            rows = [(TENANT, r.wireless_subscriber_id, r.read_at, "push", r.signal_dbm, r.noise_dbm, 35, 150, 2.0,
                     None) for r in readings]  # fmt: skip

            def bare_copy(s: Session) -> None:
                s.execute(text(telemetry.STAGE))
                telemetry.copy_rows(s, telemetry.COPY_SQL, rows)

            copy_s, _ = timed(db, bare_copy)
            ingest_s, report = timed(db, lambda s: telemetry.ingest(s, TENANT, readings, source=CpeReadingSource.PUSH))
            if report.accepted != len(readings):
                failures.append(f"ingest accepted {report.accepted} of {len(readings)}")
            with psycopg.connect(libpq_dsn(server.admin_url)) as conn:
                stored = conn.execute("select count(*) from wireless_cpe_readings").fetchone()
                stale = conn.execute(
                    "select count(*) from wireless_subscribers w where w.last_seen is distinct from "
                    "(select max(read_at) from wireless_cpe_readings r where r.wireless_subscriber_id = w.id)"
                ).fetchone()
                empty = conn.execute(
                    "select count(*) from wireless_sectors where id = any(%s) and coverage_area_geojson is null",
                    (some,),
                ).fetchone()
            if stored != (len(readings),):
                failures.append(f"{stored} readings stored, {len(readings)} sent")
            if stale != (0,):
                failures.append(f"{stale} CPEs whose latest value is not their newest reading")
            if empty != (0,):
                failures.append(f"{empty} recomputed sectors without a wedge")
        finally:
            db.dispose()
    finally:
        server.close()

    p99, p99_bare = p(check_s, 0.99), p(bare_s, 0.99)
    print(f"\nhost: {host()}")
    print(f"serviceability, {len(sector_ids):,} sectors, {args.points} points: p50 {p(check_s, 0.5) * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms (target < 50 ms: {'met' if p99 < 0.05 else 'NOT met'}); bare GiST pre-filter "
          f"p99 {p99_bare * 1000:.1f} ms; ratio {p99 / p99_bare:.1f}")  # fmt: skip
    print(f"coverage recomputation, {len(some):,} sectors: {recompute_s:.2f} s (target < 5 s: "
          f"{'met' if recompute_s < 5 else 'NOT met'}); bare UPDATE of the same rows {bare_update:.3f} s; "
          f"ratio {recompute_s / bare_update:.1f}")  # fmt: skip
    print(f"CPE telemetry ingest, {len(readings):,} readings of {len(cpe_ids):,} CPEs: {ingest_s:.2f} s (target < 5 s: "
          f"{'met' if ingest_s < 5 else 'NOT met'}); bare COPY of the same rows {copy_s:.3f} s; "
          f"ratio {ingest_s / copy_s:.1f}")  # fmt: skip
    print(f"alarms raised: {len(report.raised)}, median serviceability {statistics.median(check_s) * 1000:.1f} ms")
    print(f"checks: {'ok' if not failures else 'FAILED'}")
    for failure in failures:
        print(f"  {failure}")
    return 0 if not failures else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sectors", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=500, help="serviceability checks timed")
    parser.add_argument("--recompute", type=int, default=1_000, help="sectors whose coverage is recomputed")
    parser.add_argument("--readings", type=int, default=50_000, help="CPE readings ingested (ten per CPE)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    parser.add_argument("--smoke", action="store_true", help="tiny plant in a scratch data dir (removed): checks only")
    args = parser.parse_args()
    return run_main(args, run, smoke=SMOKE, prefix="wireless")


if __name__ == "__main__":
    sys.exit(main())
