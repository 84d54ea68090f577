"""Reconnect storm: a NAS reboots and all its subscribers re-authenticate and start accounting at once.

    .venv/bin/python bench/storm.py [--subscribers 10000 --inflight 1000 --timeout 3 --retries 4 --rounds 2]
    .venv/bin/python bench/storm.py --smoke   # 50 subscribers in a scratch data dir: checks only

Our multi-tenant FreeRADIUS configuration (``ispops radius config``, as shipped: accounting answered from
the disk spool and replayed into PostgreSQL) against FreeRADIUS's stock SQL configuration, both running at
once, set up with bench/radius.py's helpers (``load_ours``, ``load_stock``, ``render_stock``, ``Radiusd``)
in an embedded PostgreSQL of its own under ``.bench-data/storm/`` (loaded once, reused): one tenant with
``--subscribers`` subscribers (PAP passwords, two reply attributes) and its NAS at 127.0.0.1; stock has the
same users and the same NAS.

Each round, for each setup (order alternated): the NAS sends Accounting-On (it rebooted: the server must
close its open sessions; checked), then every subscriber at once sends an Access-Request (with
Message-Authenticator) and, on its Access-Accept, an Accounting-Request Start. The NAS is a single-threaded
simulator over UDP sockets on 127.0.0.1 (loopback only) with at most ``--inflight`` requests outstanding;
a request unanswered after ``--timeout`` seconds is retransmitted (same packet) up to ``--retries`` times,
and the whole storm is bounded by ``--deadline`` seconds. Every answer's Response Authenticator is checked.

Printed first, with the host (CPU model, cores): per setup, the seconds until every subscriber was accepted,
until every Start was acknowledged and until every session was open in PostgreSQL (radacct rows with
acctstoptime NULL: with the spool that is when the replay has written them), the retransmissions and the
rejects; and ours / stock of the time to all sessions open (stock's time over ours: above 1 ours is faster).
Rejects and unanswered requests must be 0 and every session must open: otherwise the run fails (exit 1).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import hashlib
import heapq
import os
import resource
import select
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from proc_cpu import host, machine_seconds, proc_stat, tree_seconds
from pyrad import packet

from ispops.config import RADIUS_ROLE, Settings
from ispops.db.roles import ensure_roles
from ispops.db.server import Server, open_server
from ispops.radius.config import RaddbOptions, conninfo_for, freeradius_binary, render_with_clients
from ispops.radius.probe import dictionary
from radius import (
    OURS_DB,
    SECRET,
    STOCK_DB,
    STOCK_SCHEMA,
    Radiusd,
    connect,
    load_ours,
    load_stock,
    render_stock,
)

ROOT = Path(__file__).resolve().parent.parent
NAS = "127.0.0.1"  # the NAS of the bench tenant in ours (bench/radius.py's load_ours), the one NAS in stock
PORTS = {"ours": (28412, 28413), "stock": (28512, 28513)}
ACCEPT, REJECT, ACCT_RESPONSE = 2, 3, 5
NOISY_CORES = 0.15
OPEN_SQL = "select count(*) from radacct where acctstoptime is null and acctsessionid like %s"


def log(message: str) -> None:
    print(message, flush=True)


@dataclass
class Pending:
    subscriber: int
    kind: str  # "auth" or "acct"
    raw: bytes
    sock: int
    due: float
    tries: int = 0


@dataclass
class Storm:
    """What one storm against one server did."""

    name: str
    started: float = 0.0  # time.monotonic() of the first packet
    accepted: float = 0.0  # seconds from the first packet until the last Access-Accept
    acked: float = 0.0  # ... until the last Accounting-Response
    opened: float = 0.0  # ... until every session was open in radacct
    retransmissions: dict[str, int] = field(default_factory=lambda: {"auth": 0, "acct": 0})
    rejects: int = 0
    lost: int = 0
    client_cpu: float = 0.0
    server_cores: float = 0.0  # FreeRADIUS (both) and PostgreSQL
    other_cores: float = 0.0  # the rest of the machine: noise


class Nas:
    """The rebooted NAS: one user per subscriber, ``inflight`` requests outstanding at most."""

    def __init__(self, args: argparse.Namespace, ports: tuple[int, int], run: str, servers: list[int]) -> None:
        self.args, self.ports, self.run, self.servers = args, ports, run, servers
        self.dictionary = dictionary()
        count = max(1, -(-args.inflight // 200))  # at most 200 of the 256 RADIUS ids per socket in use
        self.socks = []
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((NAS, 0))
            s.setblocking(False)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            self.socks.append(s)
        self.free = [deque(range(256)) for _ in self.socks]
        self.by_fd = {s.fileno(): i for i, s in enumerate(self.socks)}

    def close(self) -> None:
        for s in self.socks:
            s.close()

    def build(self, kind: str, n: int, ident: int) -> bytes:
        user = f"u{n:05d}"
        secret = SECRET.encode()
        if kind == "auth":
            pkt = packet.AuthPacket(code=packet.AccessRequest, id=ident, secret=secret, dict=self.dictionary)
            pkt["User-Name"] = user
            pkt["User-Password"] = pkt.PwCrypt(f"pw-{user}")
            pkt["NAS-IP-Address"] = NAS
            pkt["NAS-Port"] = n
            pkt.add_message_authenticator()
            return bytes(pkt.RequestPacket())
        acct = packet.AcctPacket(code=packet.AccountingRequest, id=ident, secret=secret, dict=self.dictionary)
        acct["Acct-Status-Type"] = "Start"
        acct["User-Name"] = user
        acct["Acct-Session-Id"] = f"{self.run}-{n}"
        acct["NAS-IP-Address"] = NAS
        acct["NAS-Port"] = n
        acct["Event-Timestamp"] = int(time.time())
        return bytes(acct.RequestPacket())

    def storm(self, name: str) -> Storm:
        """Every subscriber: Access-Request, then on the Accept a Start. Returns the timings and counts."""
        args, result = self.args, Storm(name)
        ready: deque[tuple[str, int]] = deque(("auth", n) for n in range(args.subscribers))
        pending: dict[tuple[int, int], Pending] = {}
        timers: list[tuple[float, int, int]] = []  # (due, socket, id); stale entries skipped
        accepted = finished = 0  # finished: answered Start, reject or given up
        secret = SECRET.encode()
        poller = select.epoll()
        for s in self.socks:
            poller.register(s.fileno(), select.EPOLLIN)
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        busy0, servers0 = machine_seconds()[0], tree_seconds({"s": self.servers})["s"]
        start = result.started = time.monotonic()
        end = start + args.deadline
        slot = 0
        while finished < args.subscribers and time.monotonic() < end:
            while ready and len(pending) < args.inflight:  # send what can go
                for _ in range(len(self.socks)):
                    slot = (slot + 1) % len(self.socks)
                    if self.free[slot]:
                        break
                kind, n = ready.popleft()
                ident = self.free[slot].popleft()
                raw = self.build(kind, n, ident)
                now = time.monotonic()
                pending[(slot, ident)] = Pending(n, kind, raw, slot, now + args.timeout)
                heapq.heappush(timers, (now + args.timeout, slot, ident))
                self.socks[slot].sendto(raw, ("127.0.0.1", self.ports[0 if kind == "auth" else 1]))
            wait = max(0.0, min(timers[0][0] - time.monotonic(), 0.05)) if timers else 0.05
            for fd, _ in poller.poll(wait):
                i = self.by_fd[fd]
                while True:
                    try:
                        data = self.socks[i].recv(4096)
                    except BlockingIOError:
                        break
                    p = pending.get((i, data[1])) if len(data) >= 20 else None
                    if p is None:
                        continue  # an answer to a retransmitted request already answered
                    check = hashlib.md5(data[:4] + p.raw[4:20] + data[20:] + secret).digest()  # noqa: S324 (RADIUS)
                    if check != data[4:20]:
                        raise SystemExit(f"{name}: an answer with a bad Response Authenticator")
                    del pending[(i, data[1])]
                    self.free[i].append(data[1])
                    code, elapsed = data[0], time.monotonic() - start
                    if p.kind == "auth" and code == ACCEPT:
                        accepted += 1
                        result.accepted = elapsed
                        ready.appendleft(("acct", p.subscriber))  # its Start goes out before new logins
                    elif p.kind == "auth":
                        result.rejects += 1
                        finished += 1  # nothing more for it (a failure)
                    elif code == ACCT_RESPONSE:
                        finished += 1
                        result.acked = elapsed
            now = time.monotonic()
            while timers and timers[0][0] <= now:
                _, i, ident = heapq.heappop(timers)
                p = pending.get((i, ident))
                if p is None or p.due > now:
                    continue
                if p.tries >= args.retries:  # given up on: lost
                    del pending[(i, ident)]
                    self.free[i].append(ident)
                    result.lost += 1
                    finished += 1
                    continue
                p.tries += 1
                p.due = now + args.timeout
                result.retransmissions[p.kind] += 1
                heapq.heappush(timers, (p.due, i, ident))
                self.socks[i].sendto(p.raw, ("127.0.0.1", self.ports[0 if p.kind == "auth" else 1]))
        poller.close()
        result.lost += args.subscribers - finished  # still unanswered at the deadline
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        result.client_cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
        wall = time.monotonic() - start
        servers = tree_seconds({"s": self.servers})["s"] - servers0
        result.server_cores = servers / wall
        result.other_cores = max(0.0, (machine_seconds()[0] - busy0 - result.client_cpu - servers) / wall)
        if accepted != args.subscribers:
            log(f"{name}: {accepted} of {args.subscribers} accepted")
        return result

    def accounting_on(self, still_open: Callable[[], int]) -> None:
        """The NAS has rebooted: Accounting-On, repeated every second until the server has closed the NAS's
        open sessions (ours answers from the spool at once and closes them when it replays it). Stock
        FreeRADIUS's site (sql alone in accounting) does not answer one that closed nothing (the module
        returns noop), so an answer is not required; the closed sessions are."""
        pkt = packet.AcctPacket(code=packet.AccountingRequest, id=0, secret=SECRET.encode(), dict=self.dictionary)
        pkt["Acct-Status-Type"] = "Accounting-On"
        pkt["NAS-IP-Address"] = NAS
        pkt["Acct-Session-Id"] = f"{self.run}-on"
        pkt["Event-Timestamp"] = int(time.time())
        raw = bytes(pkt.RequestPacket())
        s = self.socks[0]
        s.settimeout(1.0)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                sent = time.monotonic()
                s.sendto(raw, ("127.0.0.1", self.ports[1]))
                with contextlib.suppress(TimeoutError):
                    s.recv(4096)
                if still_open() == 0:
                    return
                time.sleep(max(0.0, sent + 1.0 - time.monotonic()))
            raise SystemExit(f"{self.run}: sessions still open 60 s after Accounting-On")
        finally:
            s.setblocking(False)


def open_sessions(server: Server, database: str, pattern: str) -> int:
    with connect(server, database) as conn:
        row = conn.execute(OPEN_SQL, (pattern,)).fetchone()
        return int(row[0]) if row else 0


def wait_for(what: str, probe: Callable[[], int], want: int, seconds: float) -> float:
    """Poll ``probe()`` every 0.1 s until it returns ``want``; the time it took (raises at the deadline)."""
    start = time.monotonic()
    while True:
        got = probe()
        if got == want:
            return time.monotonic() - start
        if time.monotonic() - start > seconds:
            raise SystemExit(f"{what}: {got}, expected {want}, after {seconds:.0f} s")
        time.sleep(0.1)


def postmaster(server: Server) -> int:
    with connect(server, "postgres") as conn:
        return int(proc_stat(int((conn.execute("select pg_backend_pid()").fetchone() or (0,))[0]))[1])


def one_storm(args: argparse.Namespace, server: Server, name: str, run: str, servers: list[int]) -> Storm:
    db = OURS_DB if name == "ours" else STOCK_DB
    nas = Nas(args, PORTS[name], run, servers)
    try:
        nas.accounting_on(lambda: open_sessions(server, db, "%"))  # closes the sessions of earlier rounds
        result = nas.storm(name)
    finally:
        nas.close()
    if result.acked:  # every Start answered (or given up): now wait for the rows (the spool replays them)
        pattern = f"{run}-%"
        want = args.subscribers - result.rejects - result.lost
        wait_for(f"{name}: open sessions", lambda: open_sessions(server, db, pattern), want, args.deadline)
        result.opened = time.monotonic() - result.started
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=10_000, help="at most 100,000")
    parser.add_argument("--inflight", type=int, default=1000, help="requests outstanding at most")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds before a retransmission")
    parser.add_argument("--retries", type=int, default=4)
    parser.add_argument("--deadline", type=float, default=300.0, help="seconds a storm may take at most")
    parser.add_argument("--threads", type=int, default=16, help="FreeRADIUS threads (and SQL pool) of both")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data" / "storm")
    parser.add_argument("--smoke", action="store_true", help="50 subscribers in a scratch data dir (removed)")
    args = parser.parse_args()
    if args.smoke:  # checks that the benchmark runs and its checks pass; the figures mean nothing
        args.subscribers, args.rounds, args.threads, args.deadline = 50, 1, 4, 60.0
        args.data_dir = Path(tempfile.mkdtemp(prefix="ispops-bench-storm-"))
        print(f"smoke: scratch data in {args.data_dir}", flush=True)
        os.environ.pop("ISPOPS_DATABASE_URL", None)  # always its own embedded server
        atexit.register(shutil.rmtree, args.data_dir, ignore_errors=True)  # after the server's own atexit stop
    if not 1 <= args.subscribers <= 100_000:
        raise SystemExit("--subscribers: 1 to 100,000 (user names u00000...u99999)")
    log(f"host: {host()}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up callbacks
    binary = freeradius_binary()
    if binary is None or not STOCK_SCHEMA.exists():
        raise SystemExit("needs freeradius and freeradius-postgresql")
    args.data_dir.mkdir(parents=True, exist_ok=True)
    (args.data_dir / ".gitignore").write_text("*\n")  # never committed
    server = open_server(Settings(data_dir=args.data_dir))
    ensure_roles(server.admin_url.set(database="postgres"), password=server.role_password)
    data = argparse.Namespace(tenants=1, subscribers=args.subscribers, radacct=0, months=1)
    load_ours(server, data)  # reloaded when an earlier run left sessions in radacct (a few seconds)
    load_stock(server, data)
    work = Path(tempfile.mkdtemp(prefix="ispops-storm-"))
    results: dict[str, list[Storm]] = {"ours": [], "stock": []}
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        stack.callback(server.close)
        ours = RaddbOptions(
            conninfo=conninfo_for(server.with_database(OURS_DB).url_for(RADIUS_ROLE)),
            listen="127.0.0.1",
            auth_port=PORTS["ours"][0],
            acct_port=PORTS["ours"][1],
            threads=args.threads,
            status_port=None,
        )
        render_with_clients(work / "ours", ours)
        stock_conninfo = conninfo_for(server.admin_url.set(database=STOCK_DB))
        render_stock(work / "stock", stock_conninfo, *PORTS["stock"], args.threads)
        servers = [postmaster(server)]
        for name in ("ours", "stock"):
            daemon = Radiusd(binary, work / name)
            stack.callback(daemon.stop)
            servers.append(daemon.process.pid)
        for r in range(args.rounds):
            for name in ("ours", "stock") if r % 2 == 0 else ("stock", "ours"):
                got = one_storm(args, server, name, f"s{os.getpid()}r{r}{name}", servers)
                results[name].append(got)
                log(
                    f"round {r + 1} {name:5}: accepted {got.accepted:6.2f} s, Starts answered {got.acked:6.2f} s, "
                    f"sessions open {got.opened:6.2f} s; retransmissions {got.retransmissions['auth']} auth / "
                    f"{got.retransmissions['acct']} acct; rejects {got.rejects}, unanswered {got.lost}; "
                    f"NAS CPU {got.client_cpu:.1f} s; other {got.other_cores:.2f} cores"
                    + ("  NOISY" if got.other_cores > NOISY_CORES else "")
                )
    return report(args, results)


def report(args: argparse.Namespace, results: dict[str, list[Storm]]) -> int:
    log("")
    log(f"host: {host()}")
    what = f"medians of {args.rounds} rounds" if args.rounds > 1 else "one round"
    med = {
        n: {k: statistics.median(getattr(s, k) for s in v) for k in ("accepted", "acked", "opened")}
        for n, v in results.items()
    }
    ratio = med["stock"]["opened"] / med["ours"]["opened"] if med["ours"]["opened"] else float("nan")
    log(
        f"reconnect storm, {args.subscribers:,} subscribers of one tenant, {args.inflight} in flight, "
        f"{args.threads} FreeRADIUS threads ({what}):"
    )
    log(f"  time to all sessions open, stock / ours: {ratio:.2f}  (above 1: ours is faster)")
    accepted = med["stock"]["accepted"] / med["ours"]["accepted"] if med["ours"]["accepted"] else float("nan")
    log(f"  time to all accepted, stock / ours:      {accepted:.2f}")
    failures = []
    for name, runs in results.items():
        m = med[name]
        re_auth = sum(s.retransmissions["auth"] for s in runs)
        re_acct = sum(s.retransmissions["acct"] for s in runs)
        rejects, lost = sum(s.rejects for s in runs), sum(s.lost for s in runs)
        log(
            f"  {name:5} all accepted {m['accepted']:6.2f} s, all Starts answered {m['acked']:6.2f} s, all sessions "
            f"open {m['opened']:6.2f} s ({args.subscribers / m['opened'] if m['opened'] else 0:,.0f}/s); "
            f"retransmissions {re_auth} auth + {re_acct} acct, rejects {rejects}, unanswered {lost}"
        )
        if rejects or lost:
            failures.append(f"{name}: {rejects} rejects, {lost} unanswered (must be 0)")
    noisy = max(s.other_cores for runs in results.values() for s in runs)
    flag = "  NOISY: the times are pessimistic" if noisy > NOISY_CORES else ""
    log(f"  other processes (not FreeRADIUS, PostgreSQL or the NAS): up to {noisy:.2f} cores{flag}")
    for f in failures:
        log(f"FAILED: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
