"""What packets from unknown sources cost AAA, with FreeRADIUS's dynamic clients on and off.

    .venv/bin/python bench/radius_flood.py [--rates 0,500,2000,8000 --seconds 5 --rounds 2 --threads 16]
    .venv/bin/python bench/radius_flood.py --smoke   # rates 0 and 200, 1 s, a scratch data dir: checks only

One tenant in the database ``ispops_radius_flood`` of the embedded PostgreSQL under ``.bench-data/``
(rebuilt from the migrations each run): one NAS at 127.0.0.70 and one subscriber. Two FreeRADIUS instances
rendered by ``ispops.radius.config`` differ only in ``dynamic_clients`` ("0.0.0.0/0" and off), one running
at a time. For each flood rate, alternating the two: a closed-loop PAP client on the NAS measures Access-
Accepts per second while a second thread sends Access-Requests (signed with another secret) from 100
loopback addresses that are no NAS, paced to the rate. Prints the legitimate answers per second, the median
over ``--rounds``, and the ratio to the no-flood run of the same instance (the baseline, measured in the same
run), after the host (CPU model, cores). A measurement, not a test; it fails (exit 1) only when an instance
answered no legitimate request at all without a flood.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from proc_cpu import host
from pyrad import packet
from pyrad.client import Client, Timeout

from ispops.config import OWNER_ROLE, RADIUS_ROLE, Settings
from ispops.db import migrate
from ispops.db.roles import ensure_roles, grant_database
from ispops.db.server import Server, create_database, libpq_dsn, open_server
from ispops.radius.config import RaddbOptions, conninfo_for, freeradius_binary, render_with_clients
from ispops.radius.probe import dictionary
from radius import Radiusd

ROOT = Path(__file__).resolve().parent.parent
DB = "ispops_radius_flood"
NAS, SECRET, PASSWORD = "127.0.0.70", "flood-secret", "pw-alice"
STRANGERS = [f"127.0.1.{i}" for i in range(1, 101)]
SETUPS = {"dynamic 0.0.0.0/0": "0.0.0.0/0", "dynamic off": None}


def log(message: str) -> None:
    print(message, flush=True)


def load(server: Server) -> None:
    with psycopg.connect(libpq_dsn(server.admin_url.set(database="postgres")), autocommit=True) as conn:
        conn.execute(f"drop database if exists {DB} with (force)")
    create_database(server.admin_url, DB, owner=OWNER_ROLE)
    srv = server.with_database(DB)
    grant_database(srv.admin_url)
    migrate.upgrade(srv)
    with psycopg.connect(libpq_dsn(srv.admin_url), autocommit=True) as conn:
        conn.execute("insert into tenants (id, name, slug, status) values ('flood', 'Flood', 'flood', 'active')")
        conn.execute(
            "insert into nas (tenant_id, nasname, shortname, type, secret, require_ma) "
            "values ('flood', %s, 'bras1', 'mikrotik', %s, 'no')",
            (NAS, SECRET),
        )
        conn.execute(
            "insert into radcheck (tenant_id, username, attribute, op, value) "
            "values ('flood', 'alice', 'Cleartext-Password', ':=', %s)",
            (PASSWORD,),
        )


def client(address: str, secret: str, port: int) -> Client:
    c = Client(server="127.0.0.1", authport=port, secret=secret.encode(), dict=dictionary())
    c.bind((address, 0))
    c.timeout, c.retries = 0.5, 1
    return c


def accepts_per_second(c: Client, seconds: float) -> float:
    done, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        req = c.CreateAuthPacket(code=packet.AccessRequest, User_Name="alice")
        req["User-Password"] = req.PwCrypt(PASSWORD)
        req["NAS-IP-Address"] = NAS
        req.add_message_authenticator()
        try:
            reply: Any = c.SendPacket(req)
        except Timeout:
            continue
        done += reply.code == packet.AccessAccept
    return done / seconds


def flood(port: int, rate: int, stop: threading.Event, sent: list[int]) -> None:
    stranger = client(STRANGERS[0], "not-a-nas", port)
    req = stranger.CreateAuthPacket(code=packet.AccessRequest, User_Name="mallory")
    req["User-Password"] = req.PwCrypt("x")
    raw = req.RequestPacket()
    socks = []
    for address in STRANGERS:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((address, 0))
        socks.append(s)
    start = time.monotonic()
    while not stop.is_set():
        for s in socks:
            s.sendto(raw, ("127.0.0.1", port))
            sent[0] += 1
        ahead = sent[0] / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
    for s in socks:
        s.close()


def measure(port: int, rate: int, seconds: float) -> tuple[float, int]:
    legit = client(NAS, SECRET, port)
    if rate == 0:
        return accepts_per_second(legit, seconds), 0
    stop, sent = threading.Event(), [0]
    thread = threading.Thread(target=flood, args=(port, rate, stop, sent))
    thread.start()
    time.sleep(0.5)  # the flood is running before the count starts
    try:
        return accepts_per_second(legit, seconds), sent[0]
    finally:
        stop.set()
        thread.join()
        time.sleep(1)  # let the server drain before the next measurement


def rounds(args: argparse.Namespace, server: Server, work: Path) -> dict[tuple[str, int], list[float]]:
    rates = [int(r) for r in args.rates.split(",")]
    binary = freeradius_binary() or "freeradius"
    ensure_roles(server.admin_url.set(database="postgres"), password=server.role_password)
    load(server)
    conninfo = conninfo_for(server.with_database(DB).url_for(RADIUS_ROLE))
    results: dict[tuple[str, int], list[float]] = {}
    for r in range(args.rounds):
        names = list(SETUPS) if r % 2 == 0 else list(reversed(SETUPS))
        for name in names:
            raddb = work / name.replace(" ", "-").replace("/", "_")
            render_with_clients(
                raddb,
                RaddbOptions(
                    conninfo=conninfo,
                    listen="127.0.0.1",
                    auth_port=28312,
                    acct_port=28313,
                    threads=args.threads,
                    dynamic_clients=SETUPS[name],
                    status_port=None,
                ),
            )
            daemon = Radiusd(binary, raddb)
            try:
                for rate in rates:
                    got, sent = measure(28312, rate, args.seconds)
                    results.setdefault((name, rate), []).append(got)
                    log(f"round {r + 1} {name:18} flood {rate:6}/s (sent {sent:7}): {got:7.0f} accepts/s")
            finally:
                daemon.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="0,500,2000,8000", help="flood rates (packets/s), 0 = no flood")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    parser.add_argument("--smoke", action="store_true", help="rates 0 and 200, 1 s, one round, a scratch data dir")
    args = parser.parse_args()
    if args.smoke:  # checks that the benchmark runs; the figures mean nothing
        args.rates, args.seconds, args.rounds, args.threads = "0,200", 1.0, 1, 4
        args.data_dir = Path(tempfile.mkdtemp(prefix="ispops-bench-flood-"))
        print(f"smoke: scratch data in {args.data_dir}", flush=True)
        for name in ("ISPOPS_DATABASE_URL", "ISPOPS_APP_DATABASE_URL"):  # always its own embedded server
            os.environ.pop(name, None)
    log(f"host: {host()}")
    try:
        return run(args)
    finally:
        if args.smoke:
            shutil.rmtree(args.data_dir, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    rates = [int(r) for r in args.rates.split(",")]
    if 0 not in rates:
        raise SystemExit("--rates must include 0: the no-flood run each setup's figures are compared with")
    binary = freeradius_binary()
    if binary is None:
        raise SystemExit("needs freeradius and freeradius-postgresql")
    server = open_server(Settings(data_dir=args.data_dir))
    work = Path(tempfile.mkdtemp(prefix="ispops-radius-flood-"))
    try:
        results = rounds(args, server, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        server.close()
    log("")
    log(
        f"median of {args.rounds} round(s), {args.seconds:.0f} s each, {args.threads} FreeRADIUS threads, "
        f"flood from {len(STRANGERS)} unknown sources:"
    )
    for name in SETUPS:
        base = statistics.median(results[(name, 0)])
        for rate in rates:
            med = statistics.median(results[(name, rate)])
            share = f"{med / base:.2f}" if base else "n/a"
            log(f"  {name:18} flood {rate:6}/s: {med:7.0f} accepts/s  ({share} of the no-flood run)")
    dead = [name for name in SETUPS if not statistics.median(results[(name, 0)])]
    for name in dead:
        log(f"FAILED: {name}: no Access-Accept at all without a flood")
    return 1 if dead else 0


if __name__ == "__main__":
    sys.exit(main())
