"""radacct partitions: where rows land, uniqueness, maintenance ahead/behind, the DEFAULT partition."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from ispops.db import migrate
from ispops.db.partitions import list_partitions, maintain
from ispops.db.server import Server
from ispops.db.session import Database
from ispops.errors import Conflict
from tests.factories import make_tenant

INSERT = text(
    "insert into radacct (tenant_id, acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime) "
    "values (:t, :sid, :uid, 'user1', '192.0.2.1', :start) returning tableoid::regclass::text"
)


def add_session(db: Database, tenant: str, start: datetime, uid: str = "u1") -> str:
    with db.tenant(tenant) as s:
        return str(s.execute(INSERT, {"t": tenant, "sid": "s-" + uid, "uid": uid, "start": start}).scalar_one())


@pytest.fixture
def fresh_db(empty_server: Server) -> Iterator[Database]:
    """A database of its own: these tests move the calendar and drop partitions."""
    migrate.upgrade(empty_server)
    database = Database(empty_server)
    yield database
    database.dispose()


def test_session_started_40_days_ago_lands_in_its_months_partition(db: Database) -> None:
    make_tenant(db, "isp-a")
    start = datetime.now(UTC) - timedelta(days=40)
    assert add_session(db, "isp-a", start) == f"radacct_p{start:%Y%m}"


def test_on_a_fixed_calendar_40_days_back_is_last_months_partition(fresh_db: Database) -> None:
    report = maintain(fresh_db, months_ahead=3, today=date(2030, 5, 20))
    assert {"radacct_p203003", "radacct_p203004", "radacct_p203008"} <= set(report.created)
    make_tenant(fresh_db, "isp-a")
    start = datetime(2030, 5, 20, 12, tzinfo=UTC) - timedelta(days=40)  # 10 April 2030
    assert add_session(fresh_db, "isp-a", start) == "radacct_p203004"
    # Month bounds are UTC: 23:30 on 30 April in UTC-5 is already May in UTC.
    late = datetime(2030, 4, 30, 23, 30, tzinfo=UTC) + timedelta(hours=5)
    assert add_session(fresh_db, "isp-a", late, uid="u2") == "radacct_p203005"


def test_duplicate_session_key_is_rejected_per_tenant(db: Database) -> None:
    make_tenant(db, "isp-a")
    make_tenant(db, "isp-b")
    start = datetime.now(UTC).replace(microsecond=0)
    add_session(db, "isp-a", start)
    with pytest.raises(Conflict) as err:
        add_session(db, "isp-a", start)
    assert err.value.table == "radacct"
    assert "acctuniqueid" in err.value.message
    # Another tenant may carry the same NAS-generated unique id.
    add_session(db, "isp-b", start)
    with db.tenant("isp-a") as s:
        assert s.execute(text("select count(*) from radacct")).scalar() == 1


def test_maintenance_is_idempotent(db: Database) -> None:
    today = datetime.now(UTC).date()  # one date for both runs: a month may end between them
    first = maintain(db, months_ahead=4, today=today)
    second = maintain(db, months_ahead=4, today=today)
    assert second.created == [] and second.dropped == []
    assert second.existing == first.existing
    this_month = today.replace(day=1)
    assert f"radacct_p{this_month:%Y%m}" in second.existing
    assert second.ok


def test_retention_drops_old_partitions_only(fresh_db: Database) -> None:
    maintain(fresh_db, months_ahead=3, today=date(2027, 1, 15))
    report = maintain(fresh_db, months_ahead=3, retention_months=24, today=date(2029, 3, 10))
    # Cut-off is March 2027: Nov 2026 .. Feb 2027 go, March 2027 onwards stays.
    assert set(report.dropped) >= {"radacct_p202612", "radacct_p202701", "radacct_p202702"}
    assert "radacct_p202703" not in report.dropped
    with fresh_db.owner() as conn:
        names = list_partitions(conn)
    assert "radacct_p202702" not in names and "radacct_p202703" in names
    assert "radacct_default" in names
    assert "radacct_p202906" in names


def test_rows_without_a_partition_go_to_default_and_are_reported(fresh_db: Database) -> None:
    make_tenant(fresh_db, "isp-a")
    assert add_session(fresh_db, "isp-a", datetime(2099, 1, 5, tzinfo=UTC)) == "radacct_default"
    report = maintain(fresh_db)
    assert report.default_rows == 1
    assert not report.ok
    assert any("radacct_default" in p for p in report.problems)


def test_partition_blocked_by_default_rows_is_reported_and_others_still_made(fresh_db: Database) -> None:
    make_tenant(fresh_db, "isp-a")
    add_session(fresh_db, "isp-a", datetime(2099, 1, 5, tzinfo=UTC))
    report = maintain(fresh_db, months_ahead=2, today=date(2098, 12, 10))
    assert "radacct_p209812" in report.created
    assert "radacct_p209902" in report.created
    assert "radacct_p209901" not in report.created
    assert any("2099-01" in p for p in report.problems)
    # Nothing was lost: the row is still there, still in DEFAULT.
    with fresh_db.tenant("isp-a") as s:
        assert s.execute(text("select tableoid::regclass::text from radacct")).scalar() == "radacct_default"
