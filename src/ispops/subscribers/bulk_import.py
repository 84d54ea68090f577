"""Bulk import of subscribers from CSV: check every row, then import all of them or none.

Policy: **a file with any bad row is refused whole.** The preview lists every problem (row, CSV column,
message); nothing of a refused file is written. A file without problems is imported in one transaction:
each subscriber with its credential row, its rendered radcheck/radreply rows and its static address, all
committed together or — on any failure, even in the last row — all rolled back. Re-importing the corrected
file is then the whole fix (rows already in the database would be reported as duplicates).

How (docs/import.md): the rows are checked in Python (``bulk_import_csv``), COPYed into a temporary table,
checked against the tenant's data with a few set-based queries, and written with one INSERT … SELECT per
table and chunk of ``CHUNK`` rows, reporting progress after each chunk. The per-row counter trigger and the
statement-level RADIUS render stand aside for the import's own INSERT (flag ``ispops.subscriber_import``,
migration 0037); the import counts its subscribers once (``ispops_subscriber_import_count``, with the quota
check) and inserts the rows ``ispops_radius_rows`` renders (``bulk_import_sql``).

Three ways in, one code path: ``import_file`` (the CLI, in the caller's unit of work), ``preview`` +
``queue`` + ``run_import_job`` (the console: the file is kept in its ``subscriber_imports`` row, never in
the job's arguments, and cleared once the job has run).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Row as SqlRow
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only

from ispops.audit.service import system_event
from ispops.db.session import Database
from ispops.errors import Conflict, NotFound
from ispops.jobs import defer_in
from ispops.models import SubscriberImport
from ispops.radius import provisioning
from ispops.subscribers import bulk_import_sql as sql
from ispops.subscribers.bulk_import_csv import MAX_ERRORS, Parsed, Row, RowError, parse

CHUNK = 10_000
FIRST_CHUNK = 1_000
# progress(phase, done, total): phase is "checking" or "importing"
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Checked:
    """A file after every check: the rows to import and every problem (``ok`` when there is none)."""

    total: int
    rows: list[Row]
    errors: list[RowError]
    error_count: int

    @property
    def ok(self) -> bool:
        return self.error_count == 0


@dataclass(frozen=True)
class Imported:
    subscribers: int
    radius_rows: int
    static_ips: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "subscribers": self.subscribers,
            "radius_rows": self.radius_rows,
            "static_ips": self.static_ips,
            "seconds": round(self.seconds, 2),
        }


class ImportRefused(Conflict):
    """The file has problems: nothing was imported. ``checked.errors`` names each (row, column)."""

    def __init__(self, checked: Checked) -> None:
        first = checked.errors[0] if checked.errors else None
        super().__init__(
            f"subscriber import refused: {checked.error_count} problem(s)" + (f", first: {first}" if first else ""),
            table="subscriber_imports",
            field=first.column if first else None,
        )
        self.checked = checked


# --- COPY into the staging table ----------------------------------------------------------------------------

_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _cell(value: object) -> str:
    return "\\N" if value is None else str(value).translate(_ESCAPE)


def _copy_data(rows: Sequence[Row], password_type: str) -> bytes:
    lines = []
    for seq, r in enumerate(rows, start=1):
        _, credential = provisioning.credential(password_type, r.password)
        cells = (
            seq,
            r.row,
            uuid.uuid4(),
            r.subscriber_number,
            r.service_type,
            r.connection_type,
            r.status,
            r.plan,
            r.plan_id,
            r.username,
            credential,
            r.static_ip,
            r.address_line1,
            r.address_line2,
            r.city,
            r.state,
            r.postal_code,
            r.country,
            r.latitude,
            r.longitude,
            r.mac_address,
            r.vlan_id,
            r.notes,
        )
        lines.append("\t".join(_cell(c) for c in cells))
    return ("\n".join(lines) + "\n").encode() if lines else b""


def _copy(session: Session, data: bytes) -> None:
    """``COPY … FROM STDIN`` on the session's connection (sync, or the async driver under ``run_sync``)."""
    raw = session.connection().connection.driver_connection
    if isinstance(raw, psycopg.AsyncConnection):
        await_only(_copy_async(raw, data))
        return
    assert isinstance(raw, psycopg.Connection)
    with raw.cursor() as cur, cur.copy(sql.COPY_STAGE) as copy:
        copy.write(data)


async def _copy_async(raw: psycopg.AsyncConnection[Any], data: bytes) -> None:
    async with raw.cursor() as cur, cur.copy(sql.COPY_STAGE) as copy:
        await copy.write(data)


# --- checks -------------------------------------------------------------------------------------------------


def _tenant_facts(session: Session, tenant_id: str) -> SqlRow[Any]:
    row = session.execute(text(sql.QUOTA), {"t": tenant_id}).first()
    if row is None:
        raise NotFound("tenants: no such record", table="tenants")
    return row


def check(session: Session, *, tenant_id: str, content: bytes, progress: Progress | None = None) -> Checked:
    """Every check of ``content`` (Python, then against the tenant's data); stages the good rows in this
    transaction's temporary table for ``write``. Writes nothing else."""
    parsed: Parsed = parse(content, (lambda n: progress("checking", n, 0)) if progress else None)
    errors = parsed.errors
    rows = parsed.rows
    facts = _tenant_facts(session, tenant_id)
    session.execute(text(sql.STAGE))
    session.execute(text("TRUNCATE ispops_import_stage"))
    if rows:
        _copy(session, _copy_data(rows, facts.radius_password_type))
        session.execute(text("ANALYZE ispops_import_stage"))
        t = {"t": tenant_id}
        session.execute(text(sql.RESOLVE_PLANS), t)
        session.execute(text(sql.RESOLVE_POOLS), t)
        for query in (*sql.CHECKS, *sql.IP_CHECKS):
            for row_no, column, message in session.execute(text(query), t):
                errors.add(int(row_no), str(column), str(message))
    adding = parsed.total
    if facts.current_subscribers + adding > facts.max_subscribers:
        errors.add(
            0,
            "",
            f"quota exceeded: the tenant may have {facts.max_subscribers:,} subscribers (max_subscribers), it has "
            f"{facts.current_subscribers:,} and the file adds {adding:,}",
        )
    if progress is not None:
        progress("checking", parsed.total, parsed.total)
    return Checked(parsed.total, rows, errors.sorted(), errors.count)


# --- writes -------------------------------------------------------------------------------------------------


def write(
    session: Session, *, tenant_id: str, checked: Checked, progress: Progress | None = None
) -> tuple[int, int, int]:
    """Import the rows ``check`` staged, chunk by chunk; returns (subscribers, RADIUS rows, static addresses).
    Refuses (``ImportRefused``) a file with any problem."""
    if not checked.ok:
        raise ImportRefused(checked)
    total = len(checked.rows)
    password_type = _tenant_facts(session, tenant_id).radius_password_type
    attribute, _ = provisioning.credential(password_type, "x")
    t = {"t": tenant_id}
    for (pool,) in session.execute(text(sql.POOLS_USED)).all():
        session.execute(text(sql.LOCK_POOL), {"p": str(pool)})
    session.execute(text(sql.CLASS_ROWS))
    subscribers = radius_rows = static_ips = 0
    # A small first chunk, then statistics if subscribers never had any (ispops_subscriber_import_analyze).
    bounds = [1, *range(min(FIRST_CHUNK, CHUNK) + 1, total + 1, CHUNK)] if total else []
    for i, a in enumerate(bounds):
        span = {**t, "a": a, "b": bounds[i + 1] - 1 if i + 1 < len(bounds) else total}
        session.execute(text(sql.FLAG), {"v": "on"})
        subscribers += _rows(session, sql.INSERT_SUBSCRIBERS, span)
        session.execute(text(sql.COUNT), span)
        session.execute(text(sql.FLAG), {"v": ""})
        if i == 0:
            session.execute(text(sql.ANALYZE))
        session.execute(text("TRUNCATE ispops_import_rows"))
        session.execute(text(sql.FILL_CLASS_ROWS), span)
        radius_rows += _rows(session, sql.INSERT_RADCHECK, span)
        radius_rows += _rows(session, sql.INSERT_RADREPLY, span)
        _verify(session, tenant_id, span)
        session.execute(text(sql.DROP_CREDENTIALS), span)
        radius_rows += _rows(session, sql.INSERT_CREDENTIALS, {**span, "attribute": attribute})
        session.execute(text(sql.ALLOCATOR), {"v": "on"})
        session.execute(text(sql.DROP_FREE), span)
        static_ips += _rows(session, sql.INSERT_ALLOCATIONS, span)
        session.execute(text(sql.ALLOCATOR), {"v": ""})
        session.execute(text(sql.COUNT_ALLOCATIONS), span)
        if progress is not None:
            progress("importing", span["b"], total)
    return subscribers, radius_rows, static_ips


def _rows(session: Session, statement: str, params: dict[str, Any]) -> int:
    """Run a write; how many rows it wrote."""
    return session.connection().execute(text(statement), params).rowcount


def _verify(session: Session, tenant_id: str, span: dict[str, Any]) -> None:
    """One more member of every class against ``ispops_radius_rows`` itself: the copied rows must be what the
    rules render (a rule that came to depend on another column of the subscriber would show here)."""
    ids = [str(i) for (i,) in session.execute(text(sql.VERIFY_IDS), span)]
    params = {"t": tenant_id, "ids": ids}
    expected = [tuple(r) for r in session.execute(text(sql.EXPECTED_ROWS), params)]
    stored = [tuple(r) for r in session.execute(text(sql.STORED_ROWS), params)]
    if expected != stored:
        raise RuntimeError(
            "subscriber import: the RADIUS rows copied per class differ from ispops_radius_rows "
            f"({len(stored)} stored, {len(expected)} expected); nothing was imported"
        )


def import_file(
    session: Session, *, tenant_id: str, content: bytes, dry_run: bool = False, progress: Progress | None = None
) -> tuple[Checked, Imported | None]:
    """Check ``content`` and, unless ``dry_run`` or it has problems, import it in the caller's unit of work
    (which the caller commits). Returns the check and what was imported (None when nothing was)."""
    started = dt.datetime.now(dt.UTC)
    checked = check(session, tenant_id=tenant_id, content=content, progress=progress)
    if dry_run or not checked.ok:
        return checked, None
    subscribers, radius_rows, static_ips = write(session, tenant_id=tenant_id, checked=checked, progress=progress)
    seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    return checked, Imported(subscribers, radius_rows, static_ips, seconds)


# --- the console's way: a subscriber_imports row, a job -----------------------------------------------------


def _errors_json(errors: list[RowError]) -> list[dict[str, object]]:
    return [e.as_dict() for e in errors[:MAX_ERRORS]]


def preview(session: Session, *, tenant_id: str, filename: str, content: bytes) -> SubscriberImport:
    """Check the file and record it: ``validated`` (kept, ready for ``queue``) or ``refused`` (its errors)."""
    checked = check(session, tenant_id=tenant_id, content=content)
    batch = SubscriberImport(
        tenant_id=tenant_id,
        filename=filename[:255] or "upload.csv",
        status="validated" if checked.ok else "refused",
        total_rows=checked.total,
        error_count=checked.error_count,
        errors=_errors_json(checked.errors),
        content=content if checked.ok else None,
    )
    session.add(batch)
    session.flush()
    session.execute(text("TRUNCATE ispops_import_stage"))
    return batch


def get(session: Session, *, tenant_id: str, import_id: uuid.UUID, lock: bool = False) -> SubscriberImport:
    stmt = select(SubscriberImport).where(SubscriberImport.tenant_id == tenant_id, SubscriberImport.id == import_id)
    found = session.scalars(stmt.with_for_update() if lock else stmt).first()
    if found is None:
        raise NotFound("subscriber_imports: no such record", table="subscriber_imports")
    return found


def recent(session: Session, *, tenant_id: str, limit: int = 20) -> list[SubscriberImport]:
    stmt = (
        select(SubscriberImport)
        .where(SubscriberImport.tenant_id == tenant_id)
        .order_by(SubscriberImport.created_at.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def queue(session: Session, *, tenant_id: str, import_id: uuid.UUID) -> SubscriberImport:
    """Queue the import of a ``validated`` file (409 for any other status: refused, or already queued)."""
    batch = get(session, tenant_id=tenant_id, import_id=import_id, lock=True)
    if batch.status != "validated":
        raise Conflict(
            f"subscriber_imports: a {batch.status} import cannot be started", table="subscriber_imports", field="status"
        )
    batch.status = "queued"
    batch.queue_job_id = defer_in(session, "subscribers.import", import_id=str(batch.id))
    session.flush()
    return batch


def run_import_job(db: Database, tenant_id: str, *, import_id: str) -> dict[str, Any]:
    """The ``subscribers.import`` job: import a queued file, progress into its row; idempotent (a finished
    import is left as it is; a rerun after a crash starts again from nothing, since nothing was committed)."""
    key = uuid.UUID(import_id)
    with db.tenant(tenant_id, enforce_status=False) as s:
        batch = get(s, tenant_id=tenant_id, import_id=key, lock=True)
        if batch.status not in ("queued", "running") or batch.content is None:
            return {"skipped": batch.status}
        batch.status, batch.started_at, batch.processed_rows = "running", dt.datetime.now(dt.UTC), 0
        content, actor = batch.content, batch.created_by

    def progress(phase: str, done: int, total: int) -> None:
        if phase == "importing":  # committed at once, beside the import's own transaction
            with db.tenant(tenant_id, enforce_status=False) as p:
                p.execute(
                    text("update subscriber_imports set processed_rows = :n where tenant_id = :t and id = :id"),
                    {"n": done, "t": tenant_id, "id": key},
                )

    try:
        with db.tenant(tenant_id) as s:
            checked, imported = import_file(s, tenant_id=tenant_id, content=content, progress=progress)
            if imported is None:
                raise ImportRefused(checked)
            batch = get(s, tenant_id=tenant_id, import_id=key)
            batch.status, batch.imported_rows, batch.processed_rows = "succeeded", imported.subscribers, checked.total
            batch.summary, batch.content, batch.finished_at = imported.as_dict(), None, dt.datetime.now(dt.UTC)
            s.add(
                system_event(
                    tenant_id, actor, "subscriber_imports", key, "action", {"action": "import", **imported.as_dict()}
                )
            )
            return imported.as_dict()
    except Exception as exc:
        _failed(db, tenant_id, key, exc)
        if isinstance(exc, ImportRefused):
            return {"refused": exc.checked.error_count}
        raise


def _failed(db: Database, tenant_id: str, key: uuid.UUID, exc: Exception) -> None:
    """Record why an import failed (nothing of it was committed) and drop the file."""
    with db.tenant(tenant_id, enforce_status=False) as s:
        batch = get(s, tenant_id=tenant_id, import_id=key, lock=True)
        batch.status, batch.content, batch.finished_at = "failed", None, dt.datetime.now(dt.UTC)
        batch.processed_rows = 0
        if isinstance(exc, ImportRefused):
            batch.errors = _errors_json(exc.checked.errors)
            batch.error_count = exc.checked.error_count
            batch.failure = "the file no longer passes its checks: nothing was imported"
        else:
            batch.failure = f"{type(exc).__name__}: {exc}"[:2000] + " (nothing was imported)"
