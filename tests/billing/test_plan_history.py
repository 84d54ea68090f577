"""Plan history: the subscribers triggers record every plan, status and deletion change as service periods."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ispops.db.session import Database
from tests.billing.conftest import history, make_isp, plan, subscriber, update_subscriber

ACTIVATED = dt.datetime(2026, 10, 20, 8, 30, tzinfo=dt.UTC)


def test_a_new_subscriber_opens_a_period_from_its_activation(db: Database) -> None:
    make_isp(db, "isp-a")
    p = plan(db, "isp-a", "100M")
    sub = subscriber(db, "isp-a", "A-1", p, activated=ACTIVATED)
    assert history(db, "isp-a", sub) == [(p, "active", ACTIVATED, None)]


def test_plan_and_status_changes_close_the_open_period_and_open_the_next(db: Database) -> None:
    make_isp(db, "isp-a")
    slow, fast = plan(db, "isp-a", "50M"), plan(db, "isp-a", "500M")
    sub = subscriber(db, "isp-a", "A-1", slow, activated=ACTIVATED)
    update_subscriber(db, "isp-a", sub, bandwidth_profile_id=fast)
    update_subscriber(db, "isp-a", sub, status="suspended")
    update_subscriber(db, "isp-a", sub, notes="not a billing change")  # no new period
    rows = history(db, "isp-a", sub)
    assert [(r[0], r[1]) for r in rows] == [(slow, "active"), (fast, "active"), (fast, "suspended")]
    # Contiguous: each period ends where the next begins; only the last is open.
    assert rows[0][2] == ACTIVATED
    assert [r[3] for r in rows[:-1]] == [r[2] for r in rows[1:]]
    assert rows[-1][3] is None


def test_two_changes_in_one_transaction_leave_no_empty_period(db: Database) -> None:
    make_isp(db, "isp-a")
    slow, fast = plan(db, "isp-a", "50M"), plan(db, "isp-a", "500M")
    sub = subscriber(db, "isp-a", "A-1", slow, activated=ACTIVATED)
    with db.tenant("isp-a") as s:
        s.execute(text("update subscribers set bandwidth_profile_id = :p where id = :id"), {"p": fast, "id": sub})
        s.execute(text("update subscribers set status = 'suspended' where id = :id"), {"id": sub})
    rows = history(db, "isp-a", sub)
    assert [(r[0], r[1]) for r in rows] == [(slow, "active"), (fast, "suspended")]
    assert rows[0][3] == rows[1][2] and rows[1][3] is None


def test_deleting_a_subscriber_ends_its_service_and_a_rolled_back_change_leaves_none(db: Database) -> None:
    make_isp(db, "isp-a")
    p, q = plan(db, "isp-a", "50M"), plan(db, "isp-a", "60M")
    sub = subscriber(db, "isp-a", "A-1", p, activated=ACTIVATED)
    with pytest.raises(RuntimeError), db.tenant("isp-a") as s:
        s.execute(text("update subscribers set bandwidth_profile_id = :p where id = :id"), {"p": q, "id": sub})
        raise RuntimeError("the order failed")
    assert history(db, "isp-a", sub) == [(p, "active", ACTIVATED, None)]
    update_subscriber(db, "isp-a", sub, deleted_at=dt.datetime.now(dt.UTC))
    rows = history(db, "isp-a", sub)
    assert len(rows) == 1 and rows[0][3] is not None


def test_imported_subscribers_in_one_statement_each_get_a_period(db: Database) -> None:
    make_isp(db, "isp-a")
    p = plan(db, "isp-a", "50M")
    with db.tenant("isp-a") as s:
        s.execute(
            text(
                "insert into subscribers (tenant_id, subscriber_number, service_type, status, bandwidth_profile_id) "
                "select :t, 'IMP-' || n, 'ftth', 'active', :p from generate_series(1, 25) n"
            ),
            {"t": "isp-a", "p": p},
        )
        counts = s.execute(
            text(
                "select count(distinct subscriber_id), count(*) filter (where valid_to is null) "
                "from subscriber_plan_history"
            )
        ).one()
    assert tuple(counts) == (25, 25)


def test_the_app_cannot_delete_history_and_one_period_is_open_at_most(
    db: Database, admin: psycopg.Connection[Any]
) -> None:
    make_isp(db, "isp-a")
    p = plan(db, "isp-a", "50M")
    sub = subscriber(db, "isp-a", "A-1", p, activated=ACTIVATED)
    with pytest.raises(DBAPIError), db.tenant("isp-a") as s:
        s.execute(text("delete from subscriber_plan_history where subscriber_id = :id"), {"id": sub})
    with pytest.raises(psycopg.errors.UniqueViolation):
        admin.execute(
            "insert into subscriber_plan_history (tenant_id, subscriber_id, status, valid_from) "
            "values ('isp-a', %s, 'active', now())",
            (sub,),
        )
