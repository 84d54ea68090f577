"""Ship the spooled post-auth log (``--postauth spool``) to ``radpostauth`` in batches.

FreeRADIUS appends one line per Access-Accept/Access-Reject to ``<raddb>/spool/postauth/postauth-<hour>.log``
(module ``ispops_postauth_log``, raddb/mods-enabled/postauth). This replayer, a process of its own beside
FreeRADIUS (``ispops radius postauth-replay``, started by ``ispops radius run``), reads complete lines and
inserts up to ``batch`` of them per transaction: one multi-row ``INSERT … SELECT FROM unnest(…)`` per tenant
in the batch, each after ``set_config('app.current_tenant_id', …)`` (row-level security stays on).

No line is lost and none is written twice, across a crash of the replayer or of PostgreSQL:

- Where it is in each file (inode and byte offset) is kept in ``.replay-state.json`` in the spool
  directory, written to a temporary file, fsync'd and renamed into place.
- Before a batch commits, the state records it as *pending*: its byte range, the transaction id
  (``pg_current_xact_id()``) and its first line. After the commit (which waits for the WAL flush, whatever
  the server's default) the offset moves past it and the pending mark goes. A replayer that finds a
  pending mark at start (or lost its connection during a batch) asks PostgreSQL: the transaction
  committed (``pg_xact_status``) *and* the batch's first line is in radpostauth (tenant, user name, reply,
  request time to the microsecond) — the batch is in, move on; otherwise it is not, send it again. (Both:
  after a crash of PostgreSQL, a transaction id whose WAL never reached the disk can be handed out again.)
- A line PostgreSQL refuses (the tenant gone, a malformed line) is not retried forever: it goes to
  ``rejected.log`` in the spool directory with the reason, and the rest of its batch is inserted.
- A file is deleted once every line of it is in the database, a newer file exists and nothing has been
  written to it for ``FINISHED_AFTER`` seconds (FreeRADIUS gives up on a request after 30).

It runs as the application role (it must read back a batch it is unsure about; the FreeRADIUS role can
only insert). While PostgreSQL is unreachable the lines wait in the file and the replayer retries.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

log = logging.getLogger("ispops.radius.postauth_replay")

STATE_FILE = ".replay-state.json"
LOCK_FILE = ".replay.lock"  # one replayer per spool directory (two would ship every line twice)
REJECTED_FILE = "rejected.log"
PREFIX, SUFFIX = "postauth-", ".log"
FINISHED_AFTER = 60.0  # seconds without a write before a file that has a newer one is finished
READ_CHUNK = 1 << 20
# Lines per transaction at most, and the pause when there was nothing to ship. Each batch has a fixed cost
# (four round trips, two fsync'd state writes: ~1.7 ms of the replayer's CPU), so larger batches are
# cheaper per line: 24 us of Python per line at 100 lines a batch, 10 at 500, 7.5 at 2,000 (20,000 lines,
# 2026-12-08). A line reaches radpostauth within about POLL seconds.
BATCH = 2000
POLL = 1.0
Conn = psycopg.Connection[tuple[Any, ...]]

# The lines of one tenant, decoded by PostgreSQL (fields as in parse(); f[1] is the tenant, checked by
# row-level security against the tenant set for the statement), sent as one text of newline-separated lines.
# Decoding in SQL saves the replayer ~7 us of Python per line (parse() is ~8 us), one text parameter instead
# of a text[] another ~5 us; a line PostgreSQL cannot decode (invalid UTF-8, a NUL) fails the statement and
# its tenant's lines go one by one through parse() instead.
INSERT = (
    "INSERT INTO radpostauth (tenant_id, username, reply, nasipaddress, calledstationid, callingstationid, "
    "class, authdate) SELECT f[2], convert_from(decode(f[6], 'hex'), 'UTF8'), f[4], nullif(f[5], '')::inet, "
    "nullif(convert_from(decode(f[7], 'hex'), 'UTF8'), ''), nullif(convert_from(decode(f[8], 'hex'), 'UTF8'), ''), "
    "nullif('0x' || lower(f[9]), '0x'), to_timestamp(split_part(f[3], '.', 1)::bigint) "
    "+ make_interval(secs => split_part(f[3], '.', 2)::int / 1e6) "
    "FROM (SELECT string_to_array(l, ' ') AS f FROM unnest(string_to_array(%s::text, E'\\n')) AS l) AS x"
)
INSERT_ONE = (
    "INSERT INTO radpostauth (tenant_id, username, reply, nasipaddress, calledstationid, callingstationid, "
    "class, authdate) VALUES (%s, %s, %s, %s::inet, %s, %s, %s, %s)"
)


class ReplayerRunning(RuntimeError):
    """Another replayer holds the spool directory."""


class BadLine(ValueError):
    """A spool line that cannot be a post-auth record."""


@dataclass(frozen=True)
class Line:
    """One post-auth record as it goes into radpostauth."""

    tenant: str
    username: str
    reply: str
    nas: str | None
    called: str | None
    calling: str | None
    klass: str | None
    authdate: datetime


def _text(hexed: str) -> str:
    raw = bytes.fromhex(hexed)
    # PostgreSQL text holds neither NUL nor invalid UTF-8: both become U+FFFD, as nothing else could store them.
    return raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def parse(line: bytes) -> Line:
    """One line of the spool (without its newline), as raddb/mods-enabled/postauth writes it."""
    try:
        fields = line.decode("ascii").split(" ")
    except UnicodeDecodeError:
        raise BadLine("not ASCII") from None
    if len(fields) != 9 or fields[0] != "1":
        raise BadLine(f"{len(fields)} fields, version {fields[0]!r}")
    _, tenant, when, reply, nas, user, called, calling, klass = fields
    if not tenant or not reply:
        raise BadLine("no tenant or no reply type")
    seconds, _, micro = when.partition(".")
    try:
        stamp = datetime.fromtimestamp(int(seconds), UTC).replace(microsecond=int(micro or 0))
        return Line(
            tenant=tenant,
            username=_text(user),
            reply=reply,
            nas=nas or None,
            called=_text(called) or None,
            calling=_text(calling) or None,
            # rlm_sql printed Class (octets) as 0x<hex>: the same here.
            klass=f"0x{bytes.fromhex(klass).hex()}" if klass else None,
            authdate=stamp,
        )
    except ValueError as exc:
        raise BadLine(str(exc)) from None


def _first(lines: list[tuple[str, str]]) -> list[str] | None:
    """What identifies a batch in the database: the tenant, user name, reply and time of its first line that
    can be decoded."""
    for _, text in lines:
        try:
            x = parse(text.encode("ascii"))
        except BadLine:
            continue
        return [x.tenant, x.username, x.reply, x.authdate.isoformat()]
    return None


def split(line: bytes) -> tuple[str, str]:
    """(tenant, the line as text) when ``line`` has the shape of a record; the fields are decoded later."""
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise BadLine("not ASCII") from None
    tenant = text[2 : text.find(" ", 2)]
    if text.count(" ") != 8 or not text.startswith("1 ") or not tenant:
        raise BadLine(f"{text.count(' ') + 1} fields, version {text.partition(' ')[0]!r}")
    return tenant, text


def file_hour(name: str) -> int | None:
    """The hour number of a spool file's name, None for any other file."""
    if name.startswith(PREFIX) and name.endswith(SUFFIX) and name[len(PREFIX) : -len(SUFFIX)].isdigit():
        return int(name[len(PREFIX) : -len(SUFFIX)])
    return None


class State:
    """Offsets per spool file and the batch in flight, kept durably in ``STATE_FILE``."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / STATE_FILE
        self.files: dict[str, dict[str, int]] = {}  # name -> {"ino": inode, "offset": bytes shipped}
        self.pending: dict[str, Any] | None = None
        if self.path.exists():
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self.files = data.get("files", {})
            self.pending = data.get("pending")

    def offset(self, name: str, ino: int) -> int:
        entry = self.files.get(name)
        return entry["offset"] if entry and entry["ino"] == ino else 0

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"files": self.files, "pending": self.pending}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@dataclass
class Batch:
    name: str
    ino: int
    start: int
    end: int
    lines: list[tuple[str, str]]  # (tenant, text) of the lines shaped like a record
    bad: list[tuple[bytes, str]]


class Replayer:
    """Ships the spool in ``directory`` to the database at ``conninfo`` (the application role)."""

    def __init__(
        self, directory: Path, conninfo: str, *, batch: int = BATCH, finished_after: float = FINISHED_AFTER
    ) -> None:
        self.directory = directory
        self.conninfo = conninfo
        self.batch = batch
        self.finished_after = finished_after
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            raise ReplayerRunning(f"another post-auth replayer is running on {directory}") from None
        self.state = State(directory)
        self.conn: Conn | None = None
        self.shipped = 0  # lines inserted by this process
        self.backlog = False  # the last run_once stopped at a full batch
        self.rejected = 0  # lines sent to rejected.log by this process

    # ------------------------------------------------------------------------------------------- database

    def _connect(self) -> Conn:
        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(self.conninfo, autocommit=False, application_name="ispops-postauth-replay")
        return self.conn

    def close(self) -> None:
        """Close the connection; ``release``: also let another replayer take the spool."""
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
            self.conn = None

    def release(self) -> None:
        self.close()
        if self._lock >= 0:
            os.close(self._lock)
            self._lock = -1

    def _resolve_pending(self) -> None:
        """Settle a batch whose commit this process did not see: advance past it if it is in the database."""
        pending = self.state.pending
        if pending is None:
            return
        conn = self._connect()
        while True:
            row = conn.execute("SELECT pg_xact_status(%s::xid8)", (pending["xid"],)).fetchone()
            conn.rollback()
            status = row[0] if row else None
            if status != "in progress":  # the old connection's backend has not finished with it yet
                break
            time.sleep(0.1)
        committed = False
        if status == "committed" and pending.get("first"):
            tenant, username, reply, authdate = pending["first"]
            conn.execute("SELECT set_config('app.current_tenant_id', %s, true)", (tenant,))
            found = conn.execute(
                "SELECT 1 FROM radpostauth WHERE tenant_id = %s AND username = %s AND reply = %s AND authdate = %s "
                "LIMIT 1",
                (tenant, username, reply, datetime.fromisoformat(authdate)),
            ).fetchone()
            conn.rollback()
            committed = found is not None
        elif status == "committed":  # a batch of rejected lines only: nothing to look for
            committed = True
        name = pending["name"]
        if committed:
            self.state.files[name] = {"ino": pending["ino"], "offset": pending["end"]}
            log.info(
                "post-auth batch %s:%s-%s was committed before the restart", name, pending["start"], pending["end"]
            )
        self.state.pending = None
        self.state.save()

    # ---------------------------------------------------------------------------------------------- spool

    def _files(self) -> list[tuple[int, str]]:
        found = []
        for entry in os.scandir(self.directory):
            hour = file_hour(entry.name)
            if hour is not None:
                found.append((hour, entry.name))
        return sorted(found)

    def _read(self, name: str) -> Batch | None:
        """The next batch of complete lines of ``name`` after its offset; None when there is none."""
        path = self.directory / name
        try:
            with path.open("rb") as f:
                ino = os.fstat(f.fileno()).st_ino
                start = self.state.offset(name, ino)
                f.seek(start)
                data = f.read(READ_CHUNK)
        except FileNotFoundError:
            return None
        lines: list[tuple[str, str]] = []
        bad: list[tuple[bytes, str]] = []
        pieces = data.split(b"\n", self.batch)  # the last piece: what follows the last complete line taken
        end = start
        for raw in pieces[:-1]:
            end += len(raw) + 1
            try:
                lines.append(split(raw))
            except BadLine as exc:
                bad.append((raw, str(exc)))
        if end == start:
            return None
        return Batch(name=name, ino=ino, start=start, end=end, lines=lines, bad=bad)

    def _finish(self, name: str, newest: bool) -> None:
        """Delete ``name`` if it is done: shipped to its end, not the newest file, idle long enough."""
        path = self.directory / name
        try:
            st = path.stat()
        except FileNotFoundError:
            self.state.files.pop(name, None)
            return
        offset = self.state.offset(name, st.st_ino)
        if newest or time.time() - st.st_mtime < self.finished_after:
            return
        if offset < st.st_size:  # a last line without its newline (FreeRADIUS died writing it)
            with path.open("rb") as f:
                f.seek(offset)
                self._reject([(f.read(), "incomplete last line")])
        path.unlink()
        self.state.files.pop(name, None)
        self.state.save()

    def _reject(self, bad: Iterable[tuple[bytes, str]]) -> None:
        bad = list(bad)
        if not bad:
            return
        with (self.directory / REJECTED_FILE).open("ab") as f:
            for raw, reason in bad:
                f.write(reason.encode("ascii", "replace") + b"\t" + raw.rstrip(b"\n") + b"\n")
            f.flush()
            os.fsync(f.fileno())
        self.rejected += len(bad)
        log.warning("post-auth spool: %d line(s) refused, kept in %s", len(bad), self.directory / REJECTED_FILE)

    # ------------------------------------------------------------------------------------------- shipping

    def _ship(self, batch: Batch) -> None:
        conn = self._connect()
        row = conn.execute("SELECT pg_current_xact_id()::text, set_config('synchronous_commit', 'on', true)").fetchone()
        assert row is not None
        self.state.pending = {
            "name": batch.name,
            "ino": batch.ino,
            "start": batch.start,
            "end": batch.end,
            "xid": row[0],
            "first": _first(batch.lines),
        }
        self.state.save()
        refused = self._insert(conn, batch.lines)
        if refused:  # the line to look for after a crash must be one that is in the database
            gone = {text for text, _ in refused}
            self.state.pending["first"] = _first([x for x in batch.lines if x[1] not in gone])
            self.state.save()
        # On disk before the commit: a crash now sends the batch again (and may set a line aside twice).
        self._reject(batch.bad + [(text.encode("ascii"), reason) for text, reason in refused])
        conn.commit()
        self.state.files[batch.name] = {"ino": batch.ino, "offset": batch.end}
        self.state.pending = None
        self.state.save()
        self.shipped += len(batch.lines) - len(refused)

    def _insert(self, conn: Conn, lines: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Insert ``lines`` in the open transaction; the lines PostgreSQL refused (each with the reason)."""
        by_tenant: dict[str, list[str]] = {}
        for tenant, text in lines:
            by_tenant.setdefault(tenant, []).append(text)
        refused: list[tuple[str, str]] = []
        for tenant, group in by_tenant.items():
            conn.execute("SELECT set_config('app.current_tenant_id', %s, true)", (tenant,))
            try:
                with conn.transaction():  # a savepoint: a refused group leaves the rest of the batch
                    # One text parameter, the lines joined: psycopg dumps a list of str element by element
                    # in Python (~5 us a line), a str at once.
                    conn.execute(INSERT, ("\n".join(group),))
            except (psycopg.errors.IntegrityError, psycopg.errors.DataError) as exc:
                log.warning("post-auth lines of tenant %s refused (%s): trying them one by one", tenant, exc)
                refused += self._insert_each(conn, group)
        return refused

    def _insert_each(self, conn: Conn, group: list[str]) -> list[tuple[str, str]]:
        refused: list[tuple[str, str]] = []
        for text in group:
            try:
                x = parse(text.encode("ascii"))
                with conn.transaction():
                    conn.execute(
                        INSERT_ONE,
                        (x.tenant, x.username, x.reply, x.nas, x.called, x.calling, x.klass, x.authdate),
                    )
            except (BadLine, psycopg.errors.IntegrityError, psycopg.errors.DataError) as exc:
                refused.append((text, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
        return refused

    def run_once(self) -> int:
        """Ship every complete line there is now; the number of lines shipped. Raises psycopg.OperationalError
        (the database unreachable) with nothing lost: the next call starts where this one stopped."""
        before = self.shipped
        self.backlog = False
        try:
            self._resolve_pending()
            files = self._files()
            for n, (_, name) in enumerate(files):
                while (batch := self._read(name)) is not None:
                    self._ship(batch)
                    if len(batch.lines) + len(batch.bad) < self.batch:
                        # The file's end as it was: what FreeRADIUS writes meanwhile waits for the next call
                        # (chasing the writer would ship a stream of tiny batches, each at the full fixed cost).
                        break
                    self.backlog = n == len(files) - 1  # a full batch of the newest file: more may be waiting
                self._finish(name, newest=n == len(files) - 1)
        except psycopg.OperationalError:
            self.close()  # a pending mark, if any, is settled on the next call
            raise
        return self.shipped - before

    def run(self, stop: threading.Event, *, poll: float = POLL, retry: float = 2.0) -> None:
        """Ship until ``stop`` is set, then once more (what FreeRADIUS wrote until it stopped)."""
        while True:
            stopping = stop.is_set()
            try:
                self.run_once()
            except psycopg.OperationalError as exc:
                log.warning("post-auth replay: database unreachable (%s); retrying", str(exc).strip()[:200])
                if stopping:  # the lines stay in the spool for the next start
                    break
                stop.wait(retry)
                continue
            if stopping:
                break
            if not self.backlog:  # wait for lines to gather: one batch per poll, not one per line
                stop.wait(poll)
        self.release()


def main(argv: list[str] | None = None) -> int:
    """``python -m ispops.radius.postauth_replay SPOOL_DIR CONNINFO``: run until SIGTERM/SIGINT."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path)
    parser.add_argument("conninfo")
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--poll", type=float, default=POLL)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    Replayer(args.directory, args.conninfo, batch=args.batch).run(stop, poll=args.poll)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
