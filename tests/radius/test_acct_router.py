"""ispops_radius_acct as FreeRADIUS calls it, through the per-partition routing of migration 0017.

The direct path (a cached statement on the month's partition) and the fallback (the parent, for a window no
single monthly partition holds) must behave the same; the routing must follow partitions as they are created
and dropped; and the RADIUS role's new reach into partitions must stay tenant-confined.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ispops.config import APP_ROLE
from ispops.db.partitions import maintain
from ispops.db.server import Server, libpq_dsn
from ispops.db.session import Database
from tests.factories import make_tenant
from tests.radius.conftest import Conn, acct, session_rows


@pytest.fixture(scope="module")
def tenants(radius_db: Database) -> list[str]:
    for tenant in ("ra", "rb"):
        make_tenant(radius_db, tenant)
    return ["ra", "rb"]


def routed_partitions(owner_conn: Conn) -> set[str]:
    """Partitions the generated functions all reach directly (the accounting updates, the probes, 0019's interim)."""
    sources = [
        str(r[0])
        for r in owner_conn.execute(
            "select pg_get_functiondef(p.oid) from pg_proc p "
            "where p.proname in ('ispops_radacct_route', 'ispops_radius_acct', 'ispops_radius_interim')"
        ).fetchall()
    ]
    assert len(sources) == 3
    parts = owner_conn.execute(
        "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
        "where i.inhparent = 'public.radacct'::regclass"
    ).fetchall()
    return {p[0] for p in parts if all(f"public.{p[0]} " in source for source in sources)}


def monthly_partitions(owner_conn: Conn) -> set[str]:
    rows = owner_conn.execute(
        "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
        "where i.inhparent = 'public.radacct'::regclass and c.relname ~ '^radacct_p[0-9]{6}$'"
    ).fetchall()
    return {r[0] for r in rows}


def test_session_inside_one_month_updates_in_place(radius: Conn, owner: Conn) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    if start.day == 1 and start.hour == 0:  # keep the window inside one month (the other test covers that)
        start += timedelta(days=1)
    assert acct(radius, "start", "ra", "in-month", start, 0) == 1
    assert acct(radius, "interim", "ra", "in-month", start + timedelta(seconds=300), 300, octets=1000) == 1
    assert acct(radius, "start", "ra", "in-month", start + timedelta(seconds=1), 0) == 1  # a late Start: ignored
    assert (
        acct(radius, "stop", "ra", "in-month", start + timedelta(seconds=600), 600, octets=2000, cause="User-Request")
        == 1
    )
    # a late interim after the Stop changes nothing
    assert acct(radius, "interim", "ra", "in-month", start + timedelta(seconds=500), 500, octets=1500) == 1
    [row] = session_rows(owner, "ra", "in-month")
    assert row[0] == f"radacct_p{start:%Y%m}"
    assert (row[1], row[2], row[3], row[4]) == (
        start,
        start + timedelta(seconds=600),
        start + timedelta(seconds=600),
        600,
    )
    assert (row[5], row[6], row[7], row[8]) == (2000, 2000 + 4 * 2**30, "User-Request", "100.64.1.9")


def test_window_across_a_month_boundary_goes_through_the_parent(radius: Conn, owner: Conn) -> None:
    month = datetime.now(UTC).date().replace(day=1)
    start = datetime(month.year, month.month, 1, 0, 0, 40, tzinfo=UTC)  # window reaches into last month
    # an interim with no Start creates the session, a second one updates it, a Stop closes it
    assert acct(radius, "interim", "ra", "edge", start + timedelta(seconds=60), 60, octets=10) == 1
    assert acct(radius, "interim", "ra", "edge", start + timedelta(seconds=120), 120, octets=20) == 1
    assert acct(radius, "start", "ra", "edge", start, 0) == 1  # the Start arrives last: ignored
    assert acct(radius, "stop", "ra", "edge", start + timedelta(seconds=180), 180, octets=30) == 1
    assert acct(radius, "stop", "ra", "edge", start + timedelta(seconds=180), 180, octets=30) == 1  # duplicate
    [row] = session_rows(owner, "ra", "edge")
    assert row[0] == f"radacct_p{month:%Y%m}"
    assert (row[1], row[3], row[4], row[5]) == (start, start + timedelta(seconds=180), 180, 30)


def test_routing_follows_partitions_created_and_dropped(radius: Conn, owner: Conn, radius_db: Database) -> None:
    assert routed_partitions(owner) == monthly_partitions(owner)
    # made by the partition function: routed at once, and a session in that month is served
    owner.execute("select ispops_radacct_ensure_partition('2031-05-01')")
    assert "radacct_p203105" in routed_partitions(owner)
    start = datetime(2031, 5, 15, 12, 0, tzinfo=UTC)
    assert acct(radius, "start", "rb", "future", start, 0) == 1
    assert acct(radius, "interim", "rb", "future", start + timedelta(seconds=300), 300, octets=5) == 1
    assert [(r[0], r[5]) for r in session_rows(owner, "rb", "future")] == [("radacct_p203105", 5)]
    # made by hand: not routed until the next maintenance run, which routes every monthly partition
    owner.execute(
        "create table radacct_p203106 partition of radacct "
        "for values from ('2031-06-01 00:00:00+00') to ('2031-07-01 00:00:00+00')"
    )
    assert "radacct_p203106" not in routed_partitions(owner)
    report = maintain(radius_db, months_ahead=3, retention_months=24)
    assert report.ok, report.problems
    assert routed_partitions(owner) == monthly_partitions(owner) >= {"radacct_p203105", "radacct_p203106"}
    # dropped and re-routed: the month is no longer named, and its accounting still lands (in DEFAULT)
    owner.execute("drop table radacct_p203106")
    owner.execute("select ispops_radacct_build_router()")
    assert "radacct_p203106" not in routed_partitions(owner)
    june = datetime(2031, 6, 10, tzinfo=UTC)
    assert acct(radius, "interim", "rb", "dropped-month", june, 60, octets=1) == 1
    assert acct(radius, "interim", "rb", "dropped-month", june + timedelta(seconds=60), 120, octets=2) == 1
    assert [(r[0], r[5]) for r in session_rows(owner, "rb", "dropped-month")] == [("radacct_default", 2)]


def test_radius_role_reaches_partitions_only_within_its_tenant(radius: Conn, radius_server: Server) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    acct(radius, "start", "rb", "other-tenant", start, 0)
    part = f"radacct_p{start:%Y%m}"
    # no tenant set: the partition shows nothing
    assert radius.execute(f"select count(*) from {part}").fetchone() == (0,)
    # tenant ra set: rb's row can be neither seen nor changed through the partition
    with radius.transaction():
        radius.execute("select set_config('app.current_tenant_id', 'ra', true)")
        assert radius.execute(f"select count(*) from {part} where tenant_id = 'rb'").fetchone() == (0,)
        changed = radius.execute(f"update {part} set acctsessiontime = 99 where tenant_id = 'rb'")
        assert changed.rowcount == 0
    # the routing is the owner's to rebuild, and the application role still has no way into partitions
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        radius.execute("select ispops_radacct_build_router()")
    with (
        psycopg.connect(libpq_dsn(radius_server.url_for(APP_ROLE)), autocommit=True) as app,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        app.execute(f"select count(*) from {part}")


def test_partitions_leave_room_for_hot_updates(owner: Conn) -> None:
    owner.execute("select ispops_radacct_ensure_partition('2032-02-01')")
    rows = owner.execute(
        "select c.relname, c.reloptions from pg_inherits i join pg_class c on c.oid = i.inhrelid "
        "where i.inhparent = 'public.radacct'::regclass"
    ).fetchall()
    assert rows and all(opts == ["fillfactor=85"] for _, opts in rows), rows


def test_post_auth_log_alone_skips_the_flush_wait(radius: Conn, owner: Conn) -> None:
    """The auth log's own transaction commits without waiting for the WAL flush; nothing after it does."""
    with radius.transaction():
        radius.execute("select ispops_radius_postauth('ra', 'bob', 'Access-Accept', '127.0.0.2', '', '', '')")
        assert radius.execute("select current_setting('synchronous_commit')").fetchone() == ("off",)
    assert radius.execute("select current_setting('synchronous_commit')").fetchone() == ("on",)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    assert acct(radius, "start", "ra", "durable", start, 0) == 1
    assert radius.execute("select current_setting('synchronous_commit')").fetchone() == ("on",)
    owner.execute("select set_config('app.current_tenant_id', 'ra', false)")
    assert owner.execute(
        "select count(*) from radpostauth where username = 'bob' and reply = 'Access-Accept'"
    ).fetchone() == (1,)
