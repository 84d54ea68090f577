"""RADIUS background work: draining the CoA/Disconnect outbox (``radius_coa_queue``, migration 0016).

One item at a time, per tenant, in three steps so no transaction stays open while a NAS is slow:

1. claim (short transaction): the oldest ready item, ``FOR UPDATE SKIP LOCKED``; an item superseded by a
   newer one for the same subscriber is dropped unsent (the newer one reads the state as it is by then);
   otherwise ``attempts`` is counted and ``not_before`` pushed out by a lease, and the open sessions, their
   NAS and the reply attributes are read;
2. send (no transaction): per session a CoA (falling back to a Disconnect) or a Disconnect
   (``ispops.radius.coa.deliver``);
3. record (short transaction): one ``radius_coa_attempts`` row per request; the item is deleted, and
   sessions the NAS did not answer for get an item of their own, ``not_before`` one retry delay later,
   until ``max_attempts`` rounds are spent.

A crash between 1 and 3 leaves the item to reappear when its lease ends; its attempts are counted, so
the retries stay bounded.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, text
from sqlalchemy.orm import Session as OrmSession

from ispops.db.session import Database
from ispops.models.radius import CoaKind, CoaReason, CoaResult, RadacctClosedBy, RadiusCoaAttempt, RadiusCoaQueue
from ispops.radius.coa import NasTarget, Outcome, Session, deliver, reply_attributes
from ispops.radius.sessions import DISCONNECT_CAUSE, close_session
from ispops.tenancy.service import list_tenant_ids

log = logging.getLogger("ispops.radius.coa")

MAX_ATTEMPTS = 3
RETRY_DELAYS = (30.0, 120.0)  # seconds after the 1st and 2nd failed round
TIMEOUT = 3.0  # seconds per send
RETRANSMITS = 2  # sends per request (pyrad retransmits the same packet)
MAX_ITEMS = 1000  # per tenant per call
SKIPPED = "skipped"

CLAIM = text(
    "SELECT id, subscriber_id, username, radacctid, kind, reason, attempts, created_by "
    "FROM radius_coa_queue WHERE tenant_id = :t AND not_before <= now() "
    "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
)
SUPERSEDED = text(
    "SELECT EXISTS (SELECT 1 FROM radius_coa_queue WHERE tenant_id = :t AND subscriber_id = :sid "
    "AND id > :id AND radacctid IS NULL AND reason <> 'manual')"
)
# What the subscriber's state calls for now (the triggers' rule, migration 0016): an item asking for the
# other kind was overtaken by a later change (a retried Disconnect of a subscriber resumed since).
WANTED_KIND = text(
    "SELECT CASE WHEN s.deleted_at IS NOT NULL OR s.status IN ('terminated', 'pending', 'on_hold') "
    "OR (s.status = 'suspended' AND t.radius_suspended_action <> 'walled_garden') THEN 'disconnect' "
    "ELSE 'coa' END FROM subscribers s JOIN tenants t ON t.id = s.tenant_id WHERE s.tenant_id = :t AND s.id = :sid"
)
LEASE = text(
    "UPDATE radius_coa_queue SET attempts = attempts + 1, "
    "not_before = now() + make_interval(secs => :lease) WHERE tenant_id = :t AND id = :id"
)
DELETE = text("DELETE FROM radius_coa_queue WHERE tenant_id = :t AND id = :id")
# The same sessions as the SQL function ispops_coa_has_open_session (migration 0016).
SESSION_COLUMNS = (
    "SELECT radacctid, acctsessionid, username, host(nasipaddress), host(framedipaddress), subscriber_id "
    "FROM radacct WHERE tenant_id = :t AND acctstoptime IS NULL "
)
OPEN_SESSION = text(SESSION_COLUMNS + "AND radacctid = :rid")
OPEN_SESSIONS = text(
    SESSION_COLUMNS + "AND (subscriber_id = :sid OR (subscriber_id IS NULL AND username = :u)) ORDER BY radacctid"
)
NAS_BY_ADDRESS = text(
    "SELECT nasname, id, nasname, coa_port, coalesce(coa_secret, secret), type FROM nas "
    "WHERE tenant_id = :t AND deleted_at IS NULL AND nasname = ANY(:addresses)"
)
REPLY_ROWS = text("SELECT attribute, op, value FROM radreply WHERE tenant_id = :t AND username = :u ORDER BY id")


@dataclass
class _Work:
    """What step 1 read for one session."""

    session: Session
    subscriber_id: uuid.UUID | None
    nas: NasTarget | None
    reply: list[tuple[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    answered_at: datetime | None = None  # when the NAS's last answer came (step 2)


@dataclass
class _Claimed:
    item: dict[str, Any]
    round: int
    work: list[_Work]


@dataclass
class DrainReport:
    items: int = 0
    superseded: int = 0
    retried: int = 0
    given_up: int = 0
    results: dict[str, int] = field(default_factory=lambda: {r.value: 0 for r in CoaResult})

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "superseded": self.superseded,
            "retried": self.retried,
            "given_up": self.given_up,
            **self.results,
        }

    def add(self, other: DrainReport) -> None:
        self.items += other.items
        self.superseded += other.superseded
        self.retried += other.retried
        self.given_up += other.given_up
        for key, value in other.results.items():
            self.results[key] += value


def _sessions(s: OrmSession, tenant_id: str, item: dict[str, Any]) -> list[tuple[Any, ...]]:
    if item["radacctid"] is not None:
        rows = s.execute(OPEN_SESSION, {"t": tenant_id, "rid": item["radacctid"]}).all()
    else:
        rows = s.execute(OPEN_SESSIONS, {"t": tenant_id, "sid": item["subscriber_id"], "u": item["username"]}).all()
    return [tuple(r) for r in rows]


def _read_work(s: OrmSession, tenant_id: str, item: dict[str, Any]) -> list[_Work]:
    rows = _sessions(s, tenant_id, item)
    addresses = sorted({r[3] for r in rows})
    nases = (
        {
            r[0]: NasTarget(id=int(r[1]), address=str(r[2]), port=int(r[3]), secret=str(r[4]), type=str(r[5]))
            for r in s.execute(NAS_BY_ADDRESS, {"t": tenant_id, "addresses": addresses})
        }
        if addresses
        else {}
    )
    replies: dict[str, list[tuple[str, str, str]]] = {}
    work = []
    for radacctid, acctsessionid, username, nasip, framed, subscriber_id in rows:
        session = Session(int(radacctid), str(acctsessionid), str(username), str(nasip), framed)
        one = _Work(session, item["subscriber_id"] or subscriber_id, nases.get(nasip))
        if item["kind"] == CoaKind.COA and one.nas is not None:
            if username not in replies:
                replies[username] = [tuple(r) for r in s.execute(REPLY_ROWS, {"t": tenant_id, "u": username})]
            one.reply, one.skipped = reply_attributes(replies[username], one.nas.type)
        work.append(one)
    return work


def _superseded(s: OrmSession, tenant_id: str, item: dict[str, Any]) -> bool:
    """A newer change for the subscriber is queued, or its state now calls for the other kind of request.
    Manual disconnects are never superseded."""
    if item["reason"] == CoaReason.MANUAL or item["subscriber_id"] is None:
        return False
    params = {"t": tenant_id, "sid": item["subscriber_id"], "id": item["id"]}
    if s.execute(SUPERSEDED, params).scalar_one():
        return True
    wanted = s.execute(WANTED_KIND, params).scalar_one_or_none()
    return wanted is not None and wanted != item["kind"]


def _claim(
    db: Database, tenant_id: str, report: DrainReport, *, max_attempts: int, timeout: float, retransmits: int
) -> _Claimed | str | None:
    """Step 1. None: nothing ready; SKIPPED: an item was settled without sending (look again)."""
    with db.tenant(tenant_id, enforce_status=False) as s:
        row = s.execute(CLAIM, {"t": tenant_id}).mappings().first()
        if row is None:
            return None
        item = dict(row)
        superseded = _superseded(s, tenant_id, item)
        if superseded or item["attempts"] >= max_attempts:
            s.execute(DELETE, {"t": tenant_id, "id": item["id"]})
            if superseded:
                report.superseded += 1
            else:
                report.given_up += 1
                log.warning("CoA queue item %s of %s dropped: %s rounds spent", item["id"], tenant_id, max_attempts)
            return SKIPPED
        work = _read_work(s, tenant_id, item)
        if not work:
            s.execute(DELETE, {"t": tenant_id, "id": item["id"]})
            report.items += 1
            return SKIPPED
        # Long enough for every request of this item to run out of retransmissions, CoA and Disconnect.
        lease = 60.0 + len(work) * 2 * retransmits * timeout
        s.execute(LEASE, {"t": tenant_id, "id": item["id"], "lease": lease})
        return _Claimed(item, item["attempts"] + 1, work)


def _send(claimed: _Claimed, *, timeout: float, retransmits: int) -> list[list[Outcome]]:
    """Step 2, outside any transaction."""
    kind = CoaKind(claimed.item["kind"])
    results = []
    for one in claimed.work:
        if one.nas is None:
            results.append(
                [
                    Outcome(
                        kind,
                        CoaResult.ERROR,
                        detail=(f"no NAS with address {one.session.nasipaddress} in this tenant (nas.nasname)"),
                    )
                ]
            )
            continue
        results.append(
            deliver(
                one.nas, one.session, kind, one.reply, timeout=timeout, retransmits=retransmits, skipped=one.skipped
            )
        )
        one.answered_at = datetime.now(UTC)
    return results


def _record(
    db: Database,
    tenant_id: str,
    claimed: _Claimed,
    outcomes: list[list[Outcome]],
    report: DrainReport,
    *,
    max_attempts: int,
    retry_delays: Sequence[float],
) -> None:
    """Step 3."""
    item = claimed.item
    with db.tenant(tenant_id, user_id=item["created_by"], enforce_status=False) as s:
        retry: list[_Work] = []
        for one, sent in zip(claimed.work, outcomes, strict=True):
            for outcome in sent:
                s.add(
                    RadiusCoaAttempt(
                        tenant_id=tenant_id,
                        subscriber_id=one.subscriber_id,
                        nas_id=one.nas.id if one.nas else None,
                        username=one.session.username,
                        acctsessionid=one.session.acctsessionid,
                        kind=outcome.kind,
                        reason=item["reason"],
                        attributes=outcome.attributes,
                        attempt=claimed.round,
                        result=outcome.result,
                        error_cause=outcome.error_cause,
                        detail=outcome.detail,
                        created_by=item["created_by"],
                    )
                )
                report.results[outcome.result] += 1
            if sent[-1].retryable:
                retry.append(one)
            elif sent[-1].kind == CoaKind.DISCONNECT and sent[-1].result == CoaResult.ACK:
                # The NAS ended the session: close it now (its own Stop, when it comes, still lands on it).
                close_session(
                    s,
                    tenant_id,
                    one.session.radacctid,
                    closed_by=RadacctClosedBy.DISCONNECT,
                    cause=DISCONNECT_CAUSE,
                    at=one.answered_at,
                )
        s.execute(DELETE, {"t": tenant_id, "id": item["id"]})
        report.items += 1
        if not retry:
            return
        if _superseded(s, tenant_id, item):
            report.superseded += len(retry)  # a newer change, queued meanwhile, covers these sessions
            return
        if claimed.round >= max_attempts:
            report.given_up += len(retry)
            log.warning(
                "CoA %s/%s for %s in %s: no answer after %s rounds",
                item["kind"],
                item["reason"],
                item["username"],
                tenant_id,
                max_attempts,
            )
            return
        delay = retry_delays[min(claimed.round, len(retry_delays)) - 1] if retry_delays else 0.0
        for one, sent in zip(claimed.work, outcomes, strict=True):
            if one not in retry:
                continue
            s.add(
                RadiusCoaQueue(
                    tenant_id=tenant_id,
                    subscriber_id=item["subscriber_id"],
                    username=one.session.username,
                    radacctid=one.session.radacctid,
                    kind=item["kind"],
                    reason=item["reason"],
                    attempts=claimed.round,
                    not_before=func.now() + timedelta(seconds=delay),
                    last_error=sent[-1].detail,
                    created_by=item["created_by"],
                )
            )
            report.retried += 1


def drain_tenant(
    db: Database,
    tenant_id: str,
    *,
    max_items: int = MAX_ITEMS,
    max_attempts: int = MAX_ATTEMPTS,
    retry_delays: Sequence[float] = RETRY_DELAYS,
    timeout: float = TIMEOUT,
    retransmits: int = RETRANSMITS,
) -> DrainReport:
    report = DrainReport()
    max_attempts = max(1, min(max_attempts, 10))
    for _ in range(max_items):
        claimed = _claim(db, tenant_id, report, max_attempts=max_attempts, timeout=timeout, retransmits=retransmits)
        if claimed is None:
            break
        if not isinstance(claimed, _Claimed):
            continue
        outcomes = _send(claimed, timeout=timeout, retransmits=retransmits)
        _record(db, tenant_id, claimed, outcomes, report, max_attempts=max_attempts, retry_delays=retry_delays)
    return report


def drain_coa_queue(
    db: Database,
    tenant_id: str | None = None,
    *,
    max_items: int = MAX_ITEMS,
    max_attempts: int = MAX_ATTEMPTS,
    retry_delays: Sequence[float] = RETRY_DELAYS,
    timeout: float = TIMEOUT,
    retransmits: int = RETRANSMITS,
) -> dict[str, Any]:
    """Send what is ready in the CoA queue of one tenant (or of every tenant); idempotent, safe to run in
    parallel (items are claimed with SKIP LOCKED and leased). Returns counts for the job log."""
    total = DrainReport()
    for tid in [tenant_id] if tenant_id else list_tenant_ids(db):
        total.add(
            drain_tenant(
                db,
                tid,
                max_items=max_items,
                max_attempts=max_attempts,
                retry_delays=retry_delays,
                timeout=timeout,
                retransmits=retransmits,
            )
        )
    return total.as_dict()
