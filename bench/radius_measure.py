"""What bench/radius.py measures besides requests/s: CPU per request by process, the client backends of
each side's database, the post-auth replayer's progress (split from radius.py to keep each file short)."""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path

import psycopg
from proc_cpu import TICK, command_seconds, machine_seconds, proc_stat, tree_seconds

from ispops.config import Settings
from ispops.db.server import Server, libpq_dsn
from ispops.radius.postauth_replay import STATE_FILE, file_hour

NOISY_OTHER_US = 50.0  # CPU per request outside FreeRADIUS, PostgreSQL and radclient: another load ran


def cpu_snapshot(trees: dict[str, list[int]] | None = None) -> dict[str, float]:
    """CPU seconds so far of FreeRADIUS and PostgreSQL (the process trees in ``trees``; without them every
    process of that name), radclient runs (finished children), and the whole machine (busy time from
    /proc/stat)."""
    seen = tree_seconds(trees) if trees else command_seconds({"freeradius", "postgres"})
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    seen["radclient"] = children.ru_utime + children.ru_stime
    seen["machine"] = machine_seconds()[0]  # all but idle and iowait
    return seen


def cpu_per_request(before: dict[str, float], after: dict[str, float], requests: int) -> tuple[str, dict[str, float]]:
    """Microseconds of CPU per request, by process, during one measured phase: (the line, the figures)."""
    used = {k: (after[k] - before[k]) / requests * 1e6 for k in before}
    used.setdefault("replay", 0.0)
    used["other"] = used["machine"] - used["freeradius"] - used["postgres"] - used["radclient"] - used["replay"]
    text = (
        f"cpu/req: radiusd {used['freeradius']:4.0f} us, postgres {used['postgres']:4.0f} us, "
        f"replay {used['replay']:3.0f} us, radclient {used['radclient']:4.0f} us, other {used['other']:4.0f} us"
    )
    return text + ("  (noisy)" if used["other"] > NOISY_OTHER_US else ""), used


def backend_seconds(server: Server, databases: tuple[str, ...]) -> dict[int, tuple[str, float]]:
    """CPU seconds so far of each client backend connected to ``databases``: {pid: (db, s)}.
    Counts only the connections of the FreeRADIUS under test (and ours' replayer), not other servers'
    clients, autovacuum or the WAL writer: a figure that other load on a shared machine does not inflate."""
    with psycopg.connect(libpq_dsn(server.admin_url.set(database="postgres")), autocommit=True) as conn:
        rows = conn.execute(
            "select pid, datname from pg_stat_activity where backend_type = 'client backend' "
            "and datname = any(%s) and pid <> pg_backend_pid()",
            (list(databases),),
        ).fetchall()
    out: dict[int, tuple[str, float]] = {}
    for pid, db in rows:
        try:
            fields = proc_stat(pid)
        except OSError:
            continue
        out[pid] = (db, (int(fields[11]) + int(fields[12])) / TICK)
    return out


def backend_us(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], db: str, n: int) -> float:
    """Microseconds per request of ``db``'s backends between two :func:`backend_seconds` snapshots."""
    used = sum(s - before.get(pid, (db, 0.0))[1] for pid, (d, s) in after.items() if d == db)
    return used / n * 1e6


def postmaster_pid(server: Server, data_dir: Path) -> int | None:
    """The embedded server's postmaster (first line of postmaster.pid); None for an external server."""
    if not server.embedded:
        return None
    try:
        return int((Settings(data_dir=data_dir).pg_data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def replay_caught_up(spool: Path) -> bool:
    """Every line FreeRADIUS has written to the post-auth spool is in the database (the replayer's state)."""
    try:
        state = json.loads((spool / STATE_FILE).read_text())
    except (OSError, ValueError):
        state = {"files": {}, "pending": None}
    if state.get("pending"):
        return False
    for entry in os.scandir(spool):
        if file_hour(entry.name) is None:
            continue
        st = entry.stat()
        done = state["files"].get(entry.name)
        if st.st_size and not (done and done["ino"] == st.st_ino and done["offset"] == st.st_size):
            return False
    return True


def wait_replayed(spool: Path, timeout: float = 120.0) -> float:
    """Seconds until the replayer has shipped the whole spool."""
    started = time.perf_counter()
    while not replay_caught_up(spool):
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"the post-auth replayer did not catch up within {timeout:.0f} s ({spool})")
        time.sleep(0.01)
    return time.perf_counter() - started
