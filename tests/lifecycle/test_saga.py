"""The saga engine with test plans whose steps write real rows: one transaction per step, the log and the
effect together, retries with backoff, compensation in reverse order, the pivot, waits, cancel."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from typing import Any

import psycopg
import pytest

from ispops.errors import Conflict
from ispops.lifecycle import crash, orders, saga
from tests.lifecycle.saga_support import (  # noqa: F401  (fixtures)
    Mark,
    Site,
    advance_jobs,
    fast_retries_fixture,
    marks,
    new_order,
    number,
    order_row,
    plan,
    site_fixture,
)


def events(admin: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """(event_type, subject, payload) of the outbox, oldest first."""
    rows = admin.execute("select event_type, subject, payload from event_outbox order by seq")
    return [tuple(r) for r in rows]


def test_steps_run_in_order_each_logged_with_its_effect(site: Site, admin: psycopg.Connection[Any]) -> None:
    order_id = new_order(site.db, site.tenant, site.subscribers[0])
    with plan(Mark("a"), Mark("b"), Mark("c")) as steps:
        assert saga.advance(site.db, site.tenant, order_id) == "completed"
        assert saga.advance(site.db, site.tenant, order_id) == "finished"  # a second run does nothing
    row = order_row(admin, order_id)
    assert row["workflow_status"] == "completed" and row["completed_at"] is not None
    assert row["started_at"] is not None and row["current_step"] is None
    assert [e["step"] for e in row["steps_completed"]] == ["a", "b", "c"]
    assert row["steps_completed"][2]["result"] == {"customer_number": number("c", order_id), "seen": ["a", "b"]}
    assert row["state"]["a"] == {"customer_number": number("a", order_id), "seen": []}
    assert marks(admin) == sorted(number(n, order_id) for n in "abc")
    assert [s.calls for s in steps] == [1, 1, 1]
    assert [s.done for s in steps] == [[f"order:{order_id}:{n}"] for n in "abc"]


def test_a_failure_undoes_the_completed_steps_newest_first(site: Site, admin: psycopg.Connection[Any]) -> None:
    order_id = new_order(site.db, site.tenant, site.subscribers[0])
    with plan(Mark("a"), Mark("b"), Mark("c", fail_always=True), Mark("d")) as steps:
        assert saga.advance(site.db, site.tenant, order_id) == "rolled_back"
    row = order_row(admin, order_id)
    assert row["workflow_status"] == "rolled_back" and row["phase"] == "compensating"
    assert row["failed_at"] is not None and row["completed_at"] is None
    assert (row["error_step"], row["error_message"]) == ("c", "c cannot be done")
    assert [e["step"] for e in row["steps_completed"]] == ["a", "b"]
    assert [c["step"] for c in row["compensations"]] == ["b", "a"]
    assert marks(admin) == []  # a and b undone; c's two rows went with its failed attempt
    assert steps[2].calls == 1 and steps[3].calls == 0  # not retryable: no second try
    assert [len(s.undone) for s in steps] == [1, 1, 0, 0]
    [event] = events(admin)
    assert event[0] == "order.failed" and event[1] == f"subscribers/{site.subscribers[0]}"
    assert event[2]["order_id"] == str(order_id) and event[2]["status"] == "rolled_back"
    assert (event[2]["error_step"], event[2]["compensated"]) == ("c", ["b", "a"])


def test_retryable_failures_back_off_then_succeed(site: Site, admin: psycopg.Connection[Any]) -> None:
    order_id = new_order(site.db, site.tenant, site.subscribers[0])
    with plan(Mark("a"), Mark("b", fail_times=2), Mark("c")) as steps:
        assert saga.advance(site.db, site.tenant, order_id) == "retrying"
        row = order_row(admin, order_id)
        assert row["attempts"] == {"b": 1} and row["retry_count"] == 1 and row["error_step"] == "b"
        assert row["workflow_status"] == "in_progress" and row["next_attempt_at"] is not None
        # the retry is queued for the backoff's time, in the transaction that recorded the failure
        job = advance_jobs(admin)[-1]
        assert job[0] == "todo" and job[1] == str(order_id) and job[2] == row["next_attempt_at"]
        assert row["next_attempt_at"] - row["last_error_at"] == dt.timedelta(seconds=saga.backoff(1))
        assert saga.advance(site.db, site.tenant, order_id) == "not_due"  # too early: nothing happens
        assert steps[1].calls == 1
        admin.execute("update service_activations set next_attempt_at = now() where id = %s", (order_id,))
        assert saga.advance(site.db, site.tenant, order_id) == "retrying"
        admin.execute("update service_activations set next_attempt_at = now() where id = %s", (order_id,))
        assert saga.advance(site.db, site.tenant, order_id) == "completed"
    row = order_row(admin, order_id)
    assert row["retry_count"] == 2 and row["attempts"] == {"b": 2}
    assert [e["attempt"] for e in row["steps_completed"]] == [1, 3, 1]
    assert marks(admin) == sorted(number(n, order_id) for n in "abc")  # b's failed tries left nothing twice


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [saga.backoff(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert saga.backoff(30) == saga.MAX_BACKOFF_SECONDS


@pytest.mark.usefixtures("fast_retries")
def test_retries_are_bounded_then_the_order_compensates(site: Site, admin: psycopg.Connection[Any]) -> None:
    order_id = new_order(site.db, site.tenant, site.subscribers[0])
    with plan(Mark("a"), Mark("b", crash=True)) as steps:
        outcomes = [saga.advance(site.db, site.tenant, order_id) for _ in range(saga.MAX_ATTEMPTS)]
    assert outcomes == ["retrying"] * (saga.MAX_ATTEMPTS - 1) + ["rolled_back"]
    assert steps[1].calls == saga.MAX_ATTEMPTS
    row = order_row(admin, order_id)
    assert row["workflow_status"] == "rolled_back" and row["retry_count"] == saga.MAX_ATTEMPTS
    assert row["error_message"] == "RuntimeError: b crashed"
    assert [c["step"] for c in row["compensations"]] == ["a"] and marks(admin) == []


@pytest.mark.usefixtures("fast_retries")
def test_past_the_pivot_a_failure_waits_for_a_retry_that_goes_forward(
    site: Site, admin: psycopg.Connection[Any]
) -> None:
    order_id = new_order(site.db, site.tenant, site.subscribers[0])
    c = Mark("c", fail_always=True)
    with plan(Mark("a"), Mark("b", pivot=True), c) as steps:
        assert saga.advance(site.db, site.tenant, order_id) == "failed"
        row = order_row(admin, order_id)
        assert row["workflow_status"] == "failed" and row["pivot_passed"] and row["compensations"] == []
        assert row["error_step"] == "c" and row["phase"] == "forward"
        assert marks(admin) == sorted(number(n, order_id) for n in "ab")  # nothing undone
        assert [(e[0], e[2]["status"], e[2]["order_type"]) for e in events(admin)] == [
            ("order.failed", "failed", "activate")
        ]
        with site.db.tenant(site.tenant) as s, pytest.raises(Conflict, match="point of no return"):
            orders.cancel(s, site.tenant, order_id)
        c.fail_always = False  # the engineer fixed what was wrong
        with site.db.tenant(site.tenant) as s:
            assert orders.retry(s, site.tenant, order_id).workflow_status == "in_progress"
        assert advance_jobs(admin)[-1][:2] == ("todo", str(order_id))
        assert saga.advance(site.db, site.tenant, order_id) == "completed"
        with site.db.tenant(site.tenant) as s, pytest.raises(Conflict, match="only a failed order"):
            orders.retry(s, site.tenant, order_id)
    assert [e["step"] for e in order_row(admin, order_id)["steps_completed"]] == ["a", "b", "c"]
    assert [s.calls for s in steps] == [1, 1, 2]


def test_a_waiting_step_keeps_its_writes_and_is_asked_again(site: Site, admin: psycopg.Connection[Any]) -> None:
    order_id = new_order(site.db, site.tenant, site.subscribers[0])
    with plan(Mark("a", waits=2), Mark("b")) as steps:
        assert saga.advance(site.db, site.tenant, order_id) == "waiting"
        row = order_row(admin, order_id)
        assert row["waiting_reason"] == "a waits" and row["current_step"] == "a" and row["steps_completed"] == []
        assert marks(admin) == [number("a", order_id)]  # committed with the wait
        assert advance_jobs(admin)[-1] == ("todo", str(order_id), row["next_attempt_at"])
        assert saga.advance(site.db, site.tenant, order_id) == "waiting"
        assert saga.advance(site.db, site.tenant, order_id) == "completed"
    row = order_row(admin, order_id)
    assert row["waiting_reason"] is None and row["attempts"] == {"a:waits": 2}
    assert steps[0].calls == 3 and marks(admin) == sorted(number(n, order_id) for n in "ab")


def test_a_step_that_waited_then_failed_is_undone_too(site: Site, admin: psycopg.Connection[Any]) -> None:
    order_id = new_order(site.db, site.tenant, site.subscribers[0])
    b = Mark("b", waits=1)
    with plan(Mark("a"), b) as steps:
        assert saga.advance(site.db, site.tenant, order_id) == "waiting"
        b.fail_always = True
        assert saga.advance(site.db, site.tenant, order_id) == "rolled_back"
    assert [c["step"] for c in order_row(admin, order_id)["compensations"]] == ["b", "a"]
    assert marks(admin) == [] and [len(s.undone) for s in steps] == [1, 1]


@pytest.mark.usefixtures("fast_retries")
def test_a_compensation_that_fails_is_retried_then_the_order_fails(site: Site, admin: psycopg.Connection[Any]) -> None:
    order_id = new_order(site.db, site.tenant, site.subscribers[0])
    a = Mark("a", compensate_fails=saga.MAX_ATTEMPTS)
    with plan(a, Mark("b", fail_always=True)):
        for _ in range(saga.MAX_ATTEMPTS):
            saga.advance(site.db, site.tenant, order_id)
        row = order_row(admin, order_id)
        assert (row["workflow_status"], row["phase"], row["error_step"]) == ("failed", "compensating", "a")
        assert row["attempts"]["compensate:a"] == saga.MAX_ATTEMPTS and marks(admin) == [number("a", order_id)]
        with site.db.tenant(site.tenant) as s:
            assert orders.retry(s, site.tenant, order_id).workflow_status == "compensating"
        assert saga.advance(site.db, site.tenant, order_id) == "rolled_back"
    assert marks(admin) == [] and a.compensate_calls == saga.MAX_ATTEMPTS + 1


def test_cancel_before_the_pivot_undoes_what_was_done(site: Site, admin: psycopg.Connection[Any]) -> None:
    order_id = new_order(site.db, site.tenant, site.subscribers[0])
    with plan(Mark("a"), Mark("b", waits=5), Mark("c", pivot=True)):
        assert saga.advance(site.db, site.tenant, order_id) == "waiting"
        with site.db.tenant(site.tenant) as s:
            cancelled = orders.cancel(s, site.tenant, order_id)
            assert cancelled.workflow_status == "in_progress" and cancelled.cancel_requested_at is not None
        assert saga.advance(site.db, site.tenant, order_id) == "rolled_back"
    row = order_row(admin, order_id)
    assert row["workflow_status"] == "cancelled" and row["failed_at"] is None
    assert events(admin) == []  # a cancel is not a failure
    assert [c["step"] for c in row["compensations"]] == ["b", "a"] and marks(admin) == []
    with site.db.tenant(site.tenant) as s, pytest.raises(Conflict, match="already ended"):
        orders.cancel(s, site.tenant, order_id)


def test_an_order_that_has_not_started_is_cancelled_at_once(site: Site, admin: psycopg.Connection[Any]) -> None:
    order_id = new_order(site.db, site.tenant, site.subscribers[0])
    with site.db.tenant(site.tenant) as s:
        assert orders.cancel(s, site.tenant, order_id).workflow_status == "cancelled"
    with plan(Mark("a")) as steps:
        assert saga.advance(site.db, site.tenant, order_id) == "finished"  # its queued job finds nothing to do
    assert steps[0].calls == 0 and marks(admin) == []


def test_an_order_without_a_plan_fails_with_the_reason(site: Site, admin: psycopg.Connection[Any]) -> None:
    order_id = new_order(site.db, site.tenant, site.subscribers[0], activation_type="suspension")
    with plan(Mark("a")):
        assert saga.advance(site.db, site.tenant, order_id) == "failed"
    row = order_row(admin, order_id)
    assert row["workflow_status"] == "failed" and "no plan for suspension" in row["error_message"]


def test_crash_labels_list_every_run_and_every_compensation_before_the_pivot() -> None:
    with plan(Mark("a"), Mark("b"), Mark("c", pivot=True), Mark("d")):
        labels = crash.crash_labels("new_service")
    runs = [f"activate:{n}:run:{m}" for n in "abcd" for m in ("before_commit", "after_commit")]
    undo = [f"activate:{n}:compensate:{m}" for n in "ab" for m in ("before_commit", "after_commit")]
    assert labels == runs + undo


def test_crash_point_ends_the_process_only_at_its_label() -> None:
    code = "from ispops.lifecycle.crash import crash_point; crash_point('x:y:run:after_commit'); print('alive')"
    env = {**os.environ, crash.ENV: "x:y:run:after_commit"}
    killed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert killed.returncode == crash.EXIT_STATUS and "alive" not in killed.stdout
    env[crash.ENV] = "x:y:run:before_commit"
    spared = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert spared.returncode == 0 and "alive" in spared.stdout


def test_a_cancel_during_a_failures_rollback_leaves_it_a_rollback(site: Site, admin: psycopg.Connection[Any]) -> None:
    order_id = new_order(site.db, site.tenant, site.subscribers[0])
    with plan(Mark("a", compensate_fails=1), Mark("b", fail_always=True)):
        assert saga.advance(site.db, site.tenant, order_id) == "retrying"  # a's compensation backs off
        with site.db.tenant(site.tenant) as s:
            same = orders.cancel(s, site.tenant, order_id)
            assert same.workflow_status == "compensating" and same.cancel_requested_at is None
        admin.execute("update service_activations set next_attempt_at = now() where id = %s", (order_id,))
        assert saga.advance(site.db, site.tenant, order_id) == "rolled_back"
    assert order_row(admin, order_id)["workflow_status"] == "rolled_back" and len(events(admin)) == 1
