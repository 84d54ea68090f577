"""Orders over HTTP: submission in the request's transaction (row and job), one open order per subscriber
(a 409 naming it, also when two submissions race), the 404/409/422 of bad orders with nothing stored,
reading, filtering, cancel and retry, roles, and another tenant's order is a 404 everywhere."""

# ruff: noqa: F811  (the API fixtures are imported here, then named as parameters)
from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from ispops.lifecycle import orders
from tests.api.conftest import TokenFor, api_settings, app_client, auth, client  # noqa: F401  (fixtures)
from tests.lifecycle.saga_support import Site, add_subscriber, advance_jobs, site_fixture  # noqa: F401

ORDERS = "/api/v1/orders"


@pytest.fixture
def heads(client: TestClient, site: Site, auth: TokenFor) -> dict[str, dict[str, str]]:
    return {
        "noc": auth(site.tenant, "noc_engineer", user_id="noc-1"),
        "support": auth(site.tenant, "support_agent"),
        "field": auth(site.tenant, "field_tech"),
        "other": auth(site.other_tenant, "tenant_admin"),
    }


def refused(response: Any, status: int, field: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["field"] == field, body
    return body


def profile(site: Site, tenant: str, name: str) -> uuid.UUID:
    with site.db.tenant(tenant) as s:
        value = s.execute(
            text(
                "insert into bandwidth_profiles (tenant_id, name, download_mbps, upload_mbps) "
                "values (:t, :n, 100, 20) returning id"
            ),
            {"t": tenant, "n": name},
        ).scalar_one()
    assert isinstance(value, uuid.UUID)
    return value


def counts(admin: psycopg.Connection[Any]) -> tuple[int, int]:
    orders_row = admin.execute("select count(*) from service_activations").fetchone()
    jobs_row = admin.execute("select count(*) from procrastinate.procrastinate_jobs").fetchone()
    assert orders_row is not None and jobs_row is not None
    return int(orders_row[0]), int(jobs_row[0])


def test_an_order_is_stored_and_queued_in_one_transaction_and_read_back(
    client: TestClient, site: Site, heads: dict[str, dict[str, str]], admin: psycopg.Connection[Any]
) -> None:
    sub = site.subscribers[0]
    made = client.post(
        ORDERS,
        json={"type": "suspend", "subscriber_id": str(sub), "params": {"reason": "unpaid"}},
        headers=heads["noc"],
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["type"], body["activation_type"], body["status"]) == ("suspend", "suspension", "pending")
    assert body["params"] == {"reason": "unpaid"} and body["requested_by"] == "noc-1"
    assert body["steps_completed"] == [] and body["plan"] and body["plan"][0] == "validate"
    assert advance_jobs(admin) == [("todo", body["id"], advance_jobs(admin)[0][2])]
    got = client.get(f"{ORDERS}/{body['id']}", headers=heads["support"])
    assert got.status_code == 200 and got.json()["id"] == body["id"]
    # the generic history stays readable, and creates nothing any more
    assert client.get("/api/v1/service_activations", headers=heads["noc"]).json()["total"] == 1
    generic = client.post(
        "/api/v1/service_activations",
        json={"subscriber_id": str(sub), "activation_type": "new_service"},
        headers=heads["noc"],
    )
    assert generic.status_code == 405
    assert counts(admin) == (1, 1)


def test_a_second_open_order_is_a_409_naming_the_open_one(
    client: TestClient, site: Site, heads: dict[str, dict[str, str]], admin: psycopg.Connection[Any]
) -> None:
    sub = str(site.subscribers[0])
    first = client.post(ORDERS, json={"type": "suspend", "subscriber_id": sub}, headers=heads["noc"]).json()
    second = client.post(ORDERS, json={"type": "terminate", "subscriber_id": sub}, headers=heads["noc"])
    body = refused(second, 409, "subscriber_id")
    assert body["open_order_id"] == first["id"] and first["id"] in body["detail"]
    assert counts(admin) == (1, 1)
    # once the first ends, the subscriber takes orders again
    assert client.post(f"{ORDERS}/{first['id']}/cancel", headers=heads["noc"]).json()["status"] == "cancelled"
    again = client.post(ORDERS, json={"type": "terminate", "subscriber_id": sub}, headers=heads["noc"])
    assert again.status_code == 201, again.text


def _waiting_for_a_lock(admin: psycopg.Connection[Any]) -> bool:
    row = admin.execute(
        "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()"
    ).fetchone()
    return row is not None and int(row[0]) > 0


def test_two_submissions_racing_for_one_subscriber_one_wins_one_gets_409(
    site: Site, admin: psycopg.Connection[Any]
) -> None:
    sub = site.subscribers[0]
    submitted, release = threading.Event(), threading.Event()
    results: dict[str, Any] = {}

    def first() -> None:
        with site.db.tenant(site.tenant) as s:
            results["first"] = orders.submit(s, site.tenant, orders.Submission("suspend", sub, {})).id
            submitted.set()
            assert release.wait(30)  # still uncommitted while the second one arrives

    def second() -> None:
        try:
            with site.db.tenant(site.tenant) as s:
                results["second"] = orders.submit(s, site.tenant, orders.Submission("terminate", sub, {})).id
        except orders.OpenOrderExists as exc:
            results["second"] = exc

    one = threading.Thread(target=first)
    one.start()
    assert submitted.wait(30)
    two = threading.Thread(target=second)
    two.start()
    deadline = time.monotonic() + 30
    while not _waiting_for_a_lock(admin):
        assert time.monotonic() < deadline, "the second submission never waited"
        time.sleep(0.02)
    release.set()
    one.join(30)
    two.join(30)
    assert isinstance(results["second"], orders.OpenOrderExists)
    assert results["second"].extra == {"open_order_id": str(results["first"])}
    assert counts(admin) == (1, 1)


def test_the_database_refuses_a_second_open_order_whatever_the_path(site: Site, admin: psycopg.Connection[Any]) -> None:
    insert = (
        "insert into service_activations (tenant_id, subscriber_id, activation_type, workflow_status) "
        "values ('isp-a', %s, 'suspension', %s)"
    )
    admin.execute(insert, (site.subscribers[0], "failed"))
    admin.execute(insert, (site.subscribers[0], "completed"))  # finished orders do not count
    with pytest.raises(psycopg.errors.UniqueViolation, match="uq_service_activations__subscriber_id"):
        admin.execute(insert, (site.subscribers[0], "scheduled"))


def test_bad_orders_name_their_problem_and_store_nothing(
    client: TestClient, site: Site, heads: dict[str, dict[str, str]], admin: psycopg.Connection[Any]
) -> None:
    noc, sub = heads["noc"], str(site.subscribers[0])
    theirs = profile(site, site.other_tenant, "their-100M")
    ours = profile(site, site.tenant, "our-100M")
    terminated = add_subscriber(site.db, site.tenant, 50, status="terminated")
    refused(
        client.post(ORDERS, json={"type": "suspend", "subscriber_id": str(site.other_subscriber)}, headers=noc),
        404,
        "subscriber_id",
    )
    refused(client.post(ORDERS, json={"type": "resume", "subscriber_id": str(terminated)}, headers=noc), 409, "status")
    refused(
        client.post(
            ORDERS,
            json={"type": "plan_change", "subscriber_id": sub, "params": {"bandwidth_profile_id": str(theirs)}},
            headers=noc,
        ),
        422,
        "bandwidth_profile_id",
    )
    refused(client.post(ORDERS, json={"type": "upgrade", "subscriber_id": sub}, headers=noc), 422, "type")
    refused(
        client.post(ORDERS, json={"type": "suspend", "kind": "relocation", "subscriber_id": sub}, headers=noc),
        422,
        "kind",
    )
    refused(
        client.post(ORDERS, json={"type": "suspend", "subscriber_id": sub, "at": "2030-01-01T00:00:00"}, headers=noc),
        422,
        "at",
    )
    refused(
        client.post(ORDERS, json={"type": "suspend", "subscriber_id": sub, "params": {"colour": "red"}}, headers=noc),
        422,
        "colour",
    )
    assert counts(admin) == (0, 0)
    changed = client.post(
        ORDERS,
        json={"type": "plan_change", "subscriber_id": sub, "params": {"bandwidth_profile_id": str(ours)}},
        headers=noc,
    )
    assert changed.status_code == 201, changed.text
    assert admin.execute("select bandwidth_profile_id from service_activations").fetchone() == (ours,)


def test_lists_filter_and_another_tenants_order_is_a_404_everywhere(
    client: TestClient, site: Site, heads: dict[str, dict[str, str]]
) -> None:
    noc = heads["noc"]
    a = client.post(ORDERS, json={"type": "suspend", "subscriber_id": str(site.subscribers[0])}, headers=noc).json()
    b = client.post(ORDERS, json={"type": "terminate", "subscriber_id": str(site.subscribers[1])}, headers=noc).json()
    theirs = client.post(
        ORDERS, json={"type": "suspend", "subscriber_id": str(site.other_subscriber)}, headers=heads["other"]
    ).json()
    listed = client.get(ORDERS, headers=noc).json()
    assert listed["total"] == 2 and {o["id"] for o in listed["items"]} == {a["id"], b["id"]}
    assert [o["id"] for o in client.get(ORDERS, params={"type": "terminate"}, headers=noc).json()["items"]] == [b["id"]]
    by_sub = client.get(ORDERS, params={"subscriber_id": str(site.subscribers[0])}, headers=noc).json()["items"]
    assert [o["id"] for o in by_sub] == [a["id"]]
    assert client.get(ORDERS, params={"status": "completed"}, headers=noc).json()["total"] == 0
    refused(client.get(ORDERS, params={"status": "done"}, headers=noc), 422, "status")
    for response in (
        client.get(f"{ORDERS}/{theirs['id']}", headers=noc),
        client.post(f"{ORDERS}/{theirs['id']}/cancel", headers=noc),
        client.post(f"{ORDERS}/{theirs['id']}/retry", headers=noc),
    ):
        assert response.status_code == 404, response.text
    assert client.get(f"{ORDERS}/{theirs['id']}", headers=heads["other"]).status_code == 200


def test_cancel_and_retry_answer_409_when_they_do_not_apply_and_roles_are_checked(
    client: TestClient, site: Site, heads: dict[str, dict[str, str]]
) -> None:
    sub = str(site.subscribers[0])
    assert (
        client.post(ORDERS, json={"type": "suspend", "subscriber_id": sub}, headers=heads["field"]).status_code == 403
    )
    made = client.post(ORDERS, json={"type": "suspend", "subscriber_id": sub}, headers=heads["support"]).json()
    refused(client.post(f"{ORDERS}/{made['id']}/retry", headers=heads["noc"]), 409, "status")
    assert client.post(f"{ORDERS}/{made['id']}/cancel", headers=heads["field"]).status_code == 403
    cancelled = client.post(f"{ORDERS}/{made['id']}/cancel", headers=heads["noc"])
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    refused(client.post(f"{ORDERS}/{made['id']}/cancel", headers=heads["noc"]), 409, "status")
    assert client.get(ORDERS, headers=heads["field"]).status_code == 403
