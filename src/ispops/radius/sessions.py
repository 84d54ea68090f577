"""Closing RADIUS sessions from the platform's side: stale sessions, ACKed Disconnects, staff (migration 0025).

A radacct row is normally closed by the NAS's Accounting-Stop (or its Accounting-On/Off). When that Stop
is lost the session would stay open for ever and count against Simultaneous-Use, so the platform closes
it itself in three cases, each marked in ``radacct.closed_by``:

- ``stale``: the ``radius.close_stale_sessions`` job (:func:`close_stale_job`) closes sessions the NAS has
  not reported on for N x their interim interval (``ispops_radius_stale_at``, the tenant's
  ``radius_stale_after_intervals``). Stop time: the session's last update, else its start — the last
  moment the NAS is known to have had it. Terminate cause ``Stale-Session``. FreeRADIUS's
  Simultaneous-Use count ignores such sessions even before the job has run.
- ``disconnect``: a Disconnect-Request the NAS ACKed (:mod:`ispops.radius.jobs`). Stop time: when the ACK
  came. Cause ``Admin-Reset``.
- ``staff``: ``POST /api/v1/radius/sessions/{radacctid}/close`` and ``ispops radius close-session``
  (:func:`close_by_staff`, audited). Stop time: now. Cause ``Admin-Reset``. Nothing is sent to the NAS
  (the disconnect route does that).

Closing is only ever done to an open session. The NAS's later Interim-Update or Stop still lands on the
row (accounting's late path, migration 0025): counters grow, its Stop replaces the platform's stop time
and cause and clears ``closed_by``; the session is never reopened.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.orm import Session as OrmSession

from ispops.audit.service import system_event
from ispops.db.session import Database
from ispops.errors import Conflict, NotFound
from ispops.models.radius import RadacctClosedBy

log = logging.getLogger("ispops.radius.sessions")

STALE_CAUSE = "Stale-Session"
DISCONNECT_CAUSE = "Admin-Reset"
STAFF_CAUSE = "Admin-Reset"

# A session as the API shows it (ispops.radius.api.Session).
SESSION_COLUMNS = (
    "radacctid, subscriber_id, username, host(nasipaddress) AS nas_ip, host(framedipaddress) AS framed_ip, "
    "acctsessionid, acctstarttime, acctstoptime, acctupdatetime, acctinputoctets, acctoutputoctets, "
    "acctterminatecause, closed_by, acctsessiontime"
)

# Session time never shrinks; for a session closed at its start it stays what the NAS said.
_CLOSE_SET = """
  acctsessiontime = greatest(coalesce(a.acctsessiontime, 0), extract(epoch FROM {stop} - a.acctstarttime)::bigint),
  acctstoptime = {stop}, acctterminatecause = :cause, closed_by = :closed_by"""

# The tenant's two numbers for the stale rule (ispops_radius_stale_at).
TENANT_POLICY = text("SELECT radius_interim_interval, radius_stale_after_intervals FROM tenants WHERE id = :t")

# Every open session of the tenant that is stale now. Open sessions are read through the partial indexes
# on open sessions (acctstoptime IS NULL) of each partition; no partition is scanned whole.
CLOSE_STALE = text(
    "UPDATE radacct a SET"
    + _CLOSE_SET.format(stop="coalesce(a.acctupdatetime, a.acctstarttime)")
    + """
 WHERE a.tenant_id = :t AND a.acctstoptime IS NULL
   AND ispops_radius_stale_at(coalesce(a.acctupdatetime, a.acctstarttime), a.acctinterval, :iv, :k) <= now()
RETURNING a.radacctid, a.username"""
)

# One open session, closed at :at (default: the transaction's time; never before its start).
CLOSE_ONE = text(
    "UPDATE radacct a SET"
    + _CLOSE_SET.format(stop="greatest(a.acctstarttime, coalesce(cast(:at AS timestamptz), now()))")
    + f"""
 WHERE a.tenant_id = :t AND a.radacctid = :rid AND a.acctstoptime IS NULL
RETURNING {SESSION_COLUMNS}"""
)
STOPPED_AT = text("SELECT acctstoptime FROM radacct WHERE tenant_id = :t AND radacctid = :rid")


def close_stale(s: OrmSession, tenant_id: str) -> list[tuple[int, str]]:
    """Close the tenant's stale sessions in the caller's transaction; ``(radacctid, username)`` of each.
    Idempotent: a closed session is not open any more, a second run finds nothing."""
    policy = s.execute(TENANT_POLICY, {"t": tenant_id}).first()
    if policy is None:
        return []
    rows = s.execute(
        CLOSE_STALE,
        {
            "t": tenant_id,
            "iv": policy[0],
            "k": policy[1],
            "cause": STALE_CAUSE,
            "closed_by": RadacctClosedBy.STALE.value,
        },
    ).all()
    return [(int(r[0]), str(r[1])) for r in rows]


def close_stale_job(db: Database, tenant_id: str) -> dict[str, int]:
    """The ``radius.close_stale_sessions`` job: one tenant, one transaction."""
    with db.tenant(tenant_id, enforce_status=False) as s:
        closed = close_stale(s, tenant_id)
    if closed:
        log.info("closed %s stale RADIUS session(s) of %s", len(closed), tenant_id)
    return {"closed": len(closed)}


def close_session(
    s: OrmSession,
    tenant_id: str,
    radacctid: int,
    *,
    closed_by: RadacctClosedBy,
    cause: str,
    at: dt.datetime | None = None,
) -> RowMapping | None:
    """Close one open session at ``at`` (default: now); the closed row, or None when it was not open."""
    params = {"t": tenant_id, "rid": radacctid, "at": at, "cause": cause, "closed_by": closed_by.value}
    return s.execute(CLOSE_ONE, params).mappings().first()


def _refusal(stopped: Any) -> Exception:
    if stopped is None:
        return NotFound("radacct: no such record", table="radacct")
    return Conflict(
        f"acctstoptime: the session has already ended ({stopped[0].isoformat()})", table="radacct", field="acctstoptime"
    )


def audit_changes(row: RowMapping) -> dict[str, Any]:
    """What the audit event of a staff close records."""
    return {
        "action": "close",
        "username": row["username"],
        "acctsessionid": row["acctsessionid"],
        "acctstoptime": row["acctstoptime"].isoformat(),
    }


def close_by_staff(s: OrmSession, tenant_id: str, radacctid: int, *, actor_id: str | None) -> RowMapping:
    """Staff close: the closed row; NotFound (also for another tenant's session), Conflict naming
    acctstoptime when already closed. Audited as the system actor ``actor_id`` (the CLI); None when the
    caller records the event itself (the API, as its user, through ``AsyncSession.run_sync``)."""
    row = close_session(s, tenant_id, radacctid, closed_by=RadacctClosedBy.STAFF, cause=STAFF_CAUSE)
    if row is None:
        raise _refusal(s.execute(STOPPED_AT, {"t": tenant_id, "rid": radacctid}).first())
    if actor_id is not None:
        s.add(system_event(tenant_id, actor_id, "radacct", radacctid, "action", audit_changes(row)))
    return row
