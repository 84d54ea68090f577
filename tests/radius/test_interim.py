"""ispops_radius_interim (migration 0019): the lean Interim-Update FreeRADIUS tries before the full call.

It must update an open session exactly as ``ispops_radius_acct('interim', ...)`` does, and answer false
(so that FreeRADIUS falls back to the full call) whenever the session is not open: no Start seen, already
stopped, another tenant's. The FreeRADIUS side (lean query first, the full one when it returns no row) runs
in tests/radius/test_accounting.py, whose interims with and without a Start take both paths.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from ispops.db.session import Database
from tests.factories import make_tenant
from tests.radius.conftest import acct, session_rows

Conn = psycopg.Connection[tuple[Any, ...]]


@pytest.fixture(scope="module")
def tenants(radius_db: Database) -> list[str]:
    for tenant in ("ia", "ib"):
        make_tenant(radius_db, tenant)
    return ["ia", "ib"]


def interim(conn: Conn, tenant: str, uid: str, event: datetime, session_time: int, octets: int) -> bool:
    """As the FreeRADIUS query sends it: a row when an open session was updated, none otherwise."""
    rows = conn.execute(
        "select 1 where ispops_radius_interim(%s, %s, %s, 'bob', '127.0.0.2', '1', %s, %s, %s, 0, %s, 1, "
        "'100.64.1.9', '', '', '')",
        (tenant, uid, f"sid-{uid}", int(event.timestamp()), session_time, octets, octets),
    ).fetchall()
    return len(rows) == 1


def start_time() -> datetime:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    if start.day == 1 and start.hour == 0:  # keep the window inside one month
        start += timedelta(days=1)
    return start


def test_updates_an_open_session_exactly_as_the_full_call(radius: Conn, owner: Conn) -> None:
    start = start_time()
    for uid in ("lean", "full"):
        assert acct(radius, "start", "ia", uid, start, 0) == 1
    assert interim(radius, "ia", "lean", start + timedelta(seconds=300), 300, 1000)
    assert acct(radius, "interim", "ia", "full", start + timedelta(seconds=300), 300, octets=1000) == 1
    [lean] = session_rows(owner, "ia", "lean")
    [full] = session_rows(owner, "ia", "full")
    assert lean == full
    assert lean[2] == start + timedelta(seconds=300) and lean[4] == 300
    assert (lean[5], lean[6]) == (1000, 1000 + 4 * 2**30)  # gigawords folded the same way
    # counters never go backwards: an older interim arriving late keeps the larger values
    assert interim(radius, "ia", "lean", start + timedelta(seconds=200), 200, 10)
    [late] = session_rows(owner, "ia", "lean")
    assert (late[4], late[5]) == (300, 1000)


def test_no_open_session_answers_false_and_writes_nothing(radius: Conn, owner: Conn) -> None:
    start = start_time()
    # no Start seen: nothing created (the full call that follows creates the session)
    assert not interim(radius, "ia", "nostart", start + timedelta(seconds=60), 60, 5)
    assert session_rows(owner, "ia", "nostart") == []
    assert acct(radius, "interim", "ia", "nostart", start + timedelta(seconds=60), 60, octets=5) == 1
    assert len(session_rows(owner, "ia", "nostart")) == 1
    # stopped: a late interim neither reopens nor changes it
    assert acct(radius, "start", "ia", "stopped", start, 0) == 1
    assert acct(radius, "stop", "ia", "stopped", start + timedelta(seconds=600), 600, octets=50) == 1
    before = session_rows(owner, "ia", "stopped")
    assert not interim(radius, "ia", "stopped", start + timedelta(seconds=500), 500, 40)
    assert session_rows(owner, "ia", "stopped") == before


def test_another_tenants_session_is_not_touched(radius: Conn, owner: Conn) -> None:
    start = start_time()
    assert acct(radius, "start", "ia", "shared-uid", start, 0) == 1
    before = session_rows(owner, "ia", "shared-uid")
    assert not interim(radius, "ib", "shared-uid", start + timedelta(seconds=60), 60, 999)
    assert session_rows(owner, "ia", "shared-uid") == before
    assert session_rows(owner, "ib", "shared-uid") == []


def test_window_across_a_month_boundary_goes_through_the_parent(radius: Conn, owner: Conn) -> None:
    month = datetime.now(UTC).date().replace(day=1)
    start = datetime(month.year, month.month, 1, 0, 0, 40, tzinfo=UTC)  # the window reaches into last month
    assert acct(radius, "start", "ia", "edge-lean", start, 0) == 1
    assert interim(radius, "ia", "edge-lean", start + timedelta(seconds=60), 60, 10)
    [row] = session_rows(owner, "ia", "edge-lean")
    assert (row[4], row[5]) == (60, 10)


def test_session_id_computed_like_the_full_call(radius: Conn, owner: Conn) -> None:
    """With no Acct-Unique-Session-Id from FreeRADIUS, both compute the same MD5 and find the same row."""
    start = start_time()
    row = radius.execute(
        "select ispops_radius_acct('start', 'ia', '', 'sid-md5', 'bob', '', '127.0.0.2', '1', 'Virtual', %s, 0, "
        "0, 0, 0, 0, '', '', '', '', '', '', '', '', '', '', '', '', '')",
        (int(start.timestamp()),),
    ).fetchone()
    assert row == (1,)
    updated = radius.execute(
        "select 1 where ispops_radius_interim('ia', '', 'sid-md5', 'bob', '127.0.0.2', '1', %s, 30, 7, 0, 7, 0, "
        "'', '', '', '')",
        (int(start.timestamp()) + 30,),
    ).fetchall()
    assert len(updated) == 1
    owner.execute("select set_config('app.current_tenant_id', 'ia', false)")
    assert owner.execute("select acctinputoctets from radacct where acctsessionid = 'sid-md5'").fetchall() == [(7,)]


def test_only_the_snapshot_skips_the_flush_wait(radius: Conn, owner: Conn) -> None:
    """An open session's interim commits without waiting for the WAL flush; the fallback and the rest wait."""
    start = start_time()
    assert acct(radius, "start", "ia", "async", start, 0) == 1
    with radius.transaction():
        assert interim(radius, "ia", "async", start + timedelta(seconds=60), 60, 5)
        assert radius.execute("select current_setting('synchronous_commit')").fetchone() == ("off",)
    assert radius.execute("select current_setting('synchronous_commit')").fetchone() == ("on",)
    with radius.transaction():  # the full call (a new session, a Stop) keeps the server's setting
        assert acct(radius, "interim", "ia", "async-new", start + timedelta(seconds=60), 60, octets=5) == 1
        assert radius.execute("select current_setting('synchronous_commit')").fetchone() == ("on",)
    assert acct(radius, "stop", "ia", "async", start + timedelta(seconds=120), 120, octets=9) == 1
    assert radius.execute("select current_setting('synchronous_commit')").fetchone() == ("on",)
    [row] = session_rows(owner, "ia", "async")
    assert (row[3], row[5]) == (start + timedelta(seconds=120), 9)


def test_operator_can_make_interims_durable(radius: Conn) -> None:
    start = start_time()
    assert acct(radius, "start", "ia", "durable", start, 0) == 1
    radius.execute("set ispops.durable_interim = on")  # as ALTER ROLE ispops_radius SET ... would
    with radius.transaction():
        assert interim(radius, "ia", "durable", start + timedelta(seconds=60), 60, 5)
        assert radius.execute("select current_setting('synchronous_commit')").fetchone() == ("on",)
