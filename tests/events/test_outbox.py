"""The transactional outbox: an event exists iff its transaction commits; the wake-up job goes with it."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy import text

from ispops.db.session import Database
from ispops.events.outbox import emit, emit_once
from tests.factories import make_tenant


def _events(admin: psycopg.Connection[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return admin.execute("select tenant_id, event_type, subject, payload from event_outbox order by seq").fetchall()


def _dispatch_jobs(admin: psycopg.Connection[tuple[object, ...]]) -> int:
    row = admin.execute(
        "select count(*) from procrastinate.procrastinate_jobs where task_name = 'events.dispatch'"
    ).fetchone()
    assert row is not None
    return int(str(row[0]))


def test_emit_commits_with_the_change(db: Database, admin: psycopg.Connection[tuple[object, ...]]) -> None:
    make_tenant(db, "isp-a")
    jobs_before = _dispatch_jobs(admin)
    sub = uuid.uuid4()
    with db.tenant("isp-a") as s:
        emit(s, event_type="subscriber.suspended", payload={"subscriber_id": sub, "n": 1}, subject=f"subscribers/{sub}")
        emit(s, event_type="usage.cap_reached", payload={"subscriber_id": str(sub)})
    rows = _events(admin)
    assert [(r[0], r[1]) for r in rows] == [("isp-a", "subscriber.suspended"), ("isp-a", "usage.cap_reached")]
    assert rows[0][2] == f"subscribers/{sub}"
    assert rows[0][3] == {"subscriber_id": str(sub), "n": 1}
    assert _dispatch_jobs(admin) == jobs_before + 1  # one wake-up per transaction


def test_rollback_leaves_no_event_and_no_job(db: Database, admin: psycopg.Connection[tuple[object, ...]]) -> None:
    make_tenant(db, "isp-a")
    jobs_before = _dispatch_jobs(admin)
    with pytest.raises(RuntimeError), db.tenant("isp-a") as s:
        emit(s, event_type="order.failed", payload={"order_id": "x"})
        raise RuntimeError("the change failed")
    assert _events(admin) == []
    assert _dispatch_jobs(admin) == jobs_before


def test_emit_on_a_connection_and_in_the_tenant_only(db: Database) -> None:
    make_tenant(db, "isp-a")
    make_tenant(db, "isp-b")
    with db.tenant("isp-a") as s:
        emit(s.connection(), event_type="onu.alarm_raised", payload={"kind": "los"})
    with db.tenant("isp-b") as s:
        assert s.execute(text("select count(*) from event_outbox")).scalar_one() == 0
    with db.tenant("isp-a") as s:
        assert s.execute(text("select count(*) from event_outbox")).scalar_one() == 1


def test_unknown_type_is_refused(db: Database) -> None:
    make_tenant(db, "isp-a")
    with db.tenant("isp-a") as s, pytest.raises(ValueError, match="unknown event type"):
        emit(s, event_type="subscriber.exploded", payload={})


def test_emit_once_dedupes(db: Database, admin: psycopg.Connection[tuple[object, ...]]) -> None:
    make_tenant(db, "isp-a")
    for _ in range(2):
        with db.tenant("isp-a") as s:
            emit_once(s, event_type="session.started", payload={}, dedupe_key="radacct:u1:start")
    assert len(_events(admin)) == 1


def test_prune_keeps_recent_undispatched_and_pending(
    db: Database, admin: psycopg.Connection[tuple[object, ...]]
) -> None:
    from ispops.events.jobs import prune

    make_tenant(db, "isp-a")
    for _ in range(3):
        with db.tenant("isp-a") as s:
            emit(s, event_type="order.failed", payload={})
    ids = [str(r[0]) for r in admin.execute("select id from event_outbox order by seq").fetchall()]
    # old and dispatched (goes), old but never dispatched (stays), recent and dispatched (stays)
    admin.execute(
        "update event_outbox set occurred_at = now() - interval '40 days' where id = any(%s::uuid[])", (ids[:2],)
    )
    admin.execute("update event_outbox set dispatched_at = now() where id = any(%s::uuid[])", ([ids[0], ids[2]],))
    assert prune(db, "isp-a") == {"deleted": 1}
    left = {str(r[0]) for r in admin.execute("select id from event_outbox").fetchall()}
    assert left == {ids[1], ids[2]}
