"""Webhook delivery to a real receiver on 127.0.0.1, signatures checked with the reference
``standardwebhooks`` library: fan-out by type, retries with backoff, dead letter, replay, rotation overlap,
no redirects, the SSRF check at delivery time, and other tenants' deliveries."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ispops.db.session import Database
from ispops.events.outbox import emit
from ispops.secrets.file import FileSecretStore
from tests.api.conftest import TokenFor
from tests.events import world
from tests.events.receiver import Receiver
from tests.factories import make_tenant

Admin = psycopg.Connection[tuple[Any, ...]]
pytestmark = pytest.mark.usefixtures("allow_local")


@pytest.fixture
def tenant(db: Database) -> str:
    make_tenant(db, "isp-a")
    make_tenant(db, "isp-b")
    return "isp-a"


def _deliveries(admin: Admin) -> list[tuple[Any, ...]]:
    return admin.execute(
        "select status, attempts, last_status_code, id, event_type from webhook_deliveries order by created_at"
    ).fetchall()


def _log(admin: Admin) -> list[tuple[Any, ...]]:
    return admin.execute(
        "select attempt, status_code, error, response_body, latency_ms from webhook_delivery_attempts "
        "order by attempted_at, attempt"
    ).fetchall()


def test_delivers_subscribed_types_signed_per_the_standard(
    db: Database, tenant: str, store: FileSecretStore, receiver: Receiver, admin: Admin
) -> None:
    _, secret = world.endpoint(db, store, tenant, receiver.url, ["subscriber.suspended"])
    world.event(db, tenant, "subscriber.suspended", subscriber_id="s-1")
    world.event(db, tenant, "usage.cap_reached", subscriber_id="s-1")  # not subscribed
    world.event(db, "isp-b", "subscriber.suspended", subscriber_id="s-9")  # another tenant's
    totals = world.dispatch(db, store, tenant)
    assert totals["succeeded"] == 1
    [got] = receiver.wait_for(1)
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == "subscriber.suspended" and payload["data"] == {"subscriber_id": "s-1"}
    assert payload["subject"] == "subscribers/x"
    event_id = admin.execute(
        "select id::text from event_outbox where event_type = 'subscriber.suspended' and tenant_id = 'isp-a'"
    ).fetchone()
    assert event_id is not None and got.headers["webhook-id"] == event_id[0] == payload["id"]
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(got.body, got.headers)
    [(status, attempts, code, _, _)] = _deliveries(admin)
    assert (status, attempts, code) == ("succeeded", 1, 200)
    [(attempt, code, error, body, latency)] = _log(admin)
    assert (attempt, code, error, body) == (1, 200, None, "ok") and latency >= 0
    # everything is dispatched: a second run sends nothing more
    assert world.dispatch(db, store, tenant)["claimed"] == 0
    assert receiver.count() == 1


def test_retries_until_the_receiver_recovers(
    db: Database, tenant: str, store: FileSecretStore, receiver: Receiver, admin: Admin
) -> None:
    world.endpoint(db, store, tenant, receiver.url, ["order.failed"])
    receiver.fail_next = 2
    world.event(db, tenant, "order.failed", order_id="o-1")
    world.dispatch(db, store, tenant)  # backoff 0 in these tests: every retry is due at once
    received = receiver.wait_for(3)
    assert len({r.headers["webhook-id"] for r in received}) == 1  # one message, three attempts
    [(status, attempts, code, _, _)] = _deliveries(admin)
    assert (status, attempts, code) == ("succeeded", 3, 200)
    assert [(a, c, e) for a, c, e, _, _ in _log(admin)] == [(1, 500, "HTTP 500"), (2, 500, "HTTP 500"), (3, 200, None)]


def test_backoff_doubles_and_is_bounded(
    db: Database,
    tenant: str,
    store: FileSecretStore,
    receiver: Receiver,
    admin: Admin,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ISPOPS_WEBHOOK_BACKOFF_BASE", "30")
    monkeypatch.setenv("ISPOPS_WEBHOOK_BACKOFF_MAX", "100")
    world.endpoint(db, store, tenant, receiver.url, ["order.failed"])
    receiver.fail_next = 10
    world.event(db, tenant, "order.failed")
    waits = []
    for _ in range(4):
        world.dispatch(db, store, tenant)
        row = admin.execute(
            "select d.next_attempt_at - a.attempted_at from webhook_deliveries d "
            "join webhook_delivery_attempts a on a.delivery_id = d.id order by a.attempt desc limit 1"
        ).fetchone()
        assert row is not None
        waits.append(row[0].total_seconds())
        admin.execute("update webhook_deliveries set next_attempt_at = now()")  # skip the wait
    assert waits == [30, 60, 100, 100]
    assert receiver.count() == 4


def test_dead_letter_then_replay(
    db: Database,
    tenant: str,
    store: FileSecretStore,
    receiver: Receiver,
    admin: Admin,
    client: TestClient,
    auth: TokenFor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ISPOPS_WEBHOOK_MAX_ATTEMPTS", "3")
    eid, secret = world.endpoint(db, store, tenant, receiver.url, ["cpe.signal_alarm"])
    receiver.fail_next = 100
    world.event(db, tenant, "cpe.signal_alarm", cpe="c-1")
    totals = world.dispatch(db, store, tenant)
    assert totals["dead"] == 1 and receiver.count() == 3
    a = auth(tenant, "tenant_admin")
    dead = client.get("/api/v1/webhook_dead_letters", headers=a).json()
    assert dead["total"] == 1
    delivery = dead["items"][0]
    assert delivery["status"] == "dead" and delivery["attempts"] == 3 and delivery["last_status_code"] == 500
    detail = client.get(f"/api/v1/webhook_deliveries/{delivery['id']}", headers=a).json()
    assert [x["status_code"] for x in detail["log"]] == [500, 500, 500]
    assert detail["log"][0]["response_body"] == "nope"
    # the other tenant cannot see or replay it
    b = auth("isp-b", "tenant_admin")
    assert client.get(f"/api/v1/webhook_deliveries/{delivery['id']}", headers=b).status_code == 404
    assert client.post(f"/api/v1/webhook_deliveries/{delivery['id']}/replay", headers=b).status_code == 404
    assert client.get("/api/v1/webhook_dead_letters", headers=b).json()["total"] == 0
    # replay after the receiver is fixed
    receiver.fail_next = 0
    r = client.post(f"/api/v1/webhook_deliveries/{delivery['id']}/replay", headers=a)
    assert r.status_code == 200 and r.json()["status"] == "pending" and r.json()["replays"] == 1
    world.dispatch(db, store, tenant)
    last = receiver.wait_for(4)[-1]
    assert Webhook(secret).verify(last.body, last.headers)["data"] == {"cpe": "c-1"}
    assert client.get("/api/v1/webhook_dead_letters", headers=a).json()["total"] == 0
    listed = client.get(f"/api/v1/webhook_endpoints/{eid}/deliveries", headers=a).json()
    assert [d["status"] for d in listed["items"]] == ["succeeded"]


def test_replay_a_range(
    db: Database,
    tenant: str,
    store: FileSecretStore,
    receiver: Receiver,
    client: TestClient,
    auth: TokenFor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ISPOPS_WEBHOOK_MAX_ATTEMPTS", "1")
    eid, _ = world.endpoint(db, store, tenant, receiver.url, ["onu.alarm_raised"])
    receiver.fail_next = 3
    for i in range(3):
        world.event(db, tenant, "onu.alarm_raised", n=i)
    world.dispatch(db, store, tenant)
    assert receiver.count() == 3
    a = auth(tenant, "tenant_admin")
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    r = client.post(f"/api/v1/webhook_endpoints/{eid}/replay", json={"since": since}, headers=a)
    assert r.status_code == 200 and r.json() == {"replayed": 3}
    world.dispatch(db, store, tenant)
    received = receiver.wait_for(6)
    assert sorted(json.loads(x.body)["data"]["n"] for x in received[3:]) == [0, 1, 2]
    assert client.get("/api/v1/webhook_dead_letters", headers=a).json()["total"] == 0
    bad = client.post(f"/api/v1/webhook_endpoints/{eid}/replay", json={"since": since, "until": since}, headers=a)
    assert bad.status_code == 422 and bad.json()["field"] == "until"


def test_rotation_signs_with_both_secrets_during_the_overlap(
    db: Database, tenant: str, store: FileSecretStore, receiver: Receiver, admin: Admin
) -> None:
    eid, old = world.endpoint(db, store, tenant, receiver.url, ["subscriber.resumed"])
    new = world.rotate(db, store, tenant, eid)
    world.event(db, tenant, "subscriber.resumed")
    world.dispatch(db, store, tenant)
    [got] = receiver.wait_for(1)
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(got.body, got.headers)
    Webhook(new).verify(got.body, got.headers)
    # the overlap ends: only the new secret signs, and the old one leaves the secret store
    admin.execute("update webhook_endpoints set previous_secret_expires_at = now() - interval '1 second'")
    world.dispatch(db, store, tenant)
    assert len(list(store.root.rglob("*.sec"))) == 1
    world.event(db, tenant, "subscriber.resumed")
    world.dispatch(db, store, tenant)
    second = receiver.wait_for(2)[1]
    assert len(second.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(second.body, second.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(second.body, second.headers)


def test_redirects_are_not_followed(
    db: Database, tenant: str, store: FileSecretStore, receiver: Receiver, admin: Admin
) -> None:
    world.endpoint(db, store, tenant, receiver.url, ["order.failed"])
    receiver.fail_next, receiver.fail_status = 1, 302
    receiver.fail_headers = {"location": f"http://127.0.0.1:{receiver.port}/elsewhere"}
    world.event(db, tenant, "order.failed")
    world.dispatch(db, store, tenant, max_rounds=1)
    assert [r.path for r in receiver.received] == ["/hooks"]
    [(_, code, error, _, _)] = _log(admin)
    assert code == 302 and error is not None and "redirects are not followed" in error


def test_the_address_is_checked_again_at_delivery(
    db: Database,
    tenant: str,
    store: FileSecretStore,
    receiver: Receiver,
    admin: Admin,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An endpoint accepted while the operator allowed loopback is not contacted once that is withdrawn."""
    world.endpoint(db, store, tenant, receiver.url, ["order.failed"])
    monkeypatch.delenv("ISPOPS_WEBHOOK_ALLOWED_NETWORKS")
    world.event(db, tenant, "order.failed")
    world.dispatch(db, store, tenant, max_rounds=1)
    assert receiver.count() == 0
    [(_, code, error, _, _)] = _log(admin)
    assert code is None and error is not None and error.startswith("refused: url: 127.0.0.1 is a loopback address")


def test_no_event_and_no_delivery_without_a_commit(
    db: Database, tenant: str, store: FileSecretStore, receiver: Receiver, admin: Admin
) -> None:
    world.endpoint(db, store, tenant, receiver.url, ["order.failed"])
    with pytest.raises(RuntimeError), db.tenant(tenant) as s:
        emit(s, event_type="order.failed", payload={})
        raise RuntimeError("rolled back")
    world.dispatch(db, store, tenant)
    assert receiver.count() == 0 and _deliveries(admin) == []


def test_disabled_and_deleted_endpoints_get_nothing(
    db: Database,
    tenant: str,
    store: FileSecretStore,
    receiver: Receiver,
    admin: Admin,
    client: TestClient,
    auth: TokenFor,
) -> None:
    a = auth(tenant, "tenant_admin")
    eid, _ = world.endpoint(db, store, tenant, receiver.url, ["order.failed"])
    assert client.patch(f"/api/v1/webhook_endpoints/{eid}", json={"enabled": False}, headers=a).status_code == 200
    world.event(db, tenant, "order.failed")
    world.dispatch(db, store, tenant)
    assert receiver.count() == 0 and _deliveries(admin) == []
    assert client.patch(f"/api/v1/webhook_endpoints/{eid}", json={"enabled": True}, headers=a).status_code == 200
    receiver.fail_next = 1
    world.event(db, tenant, "order.failed")
    world.dispatch(db, store, tenant, max_rounds=1)  # the first attempt fails; the retry is pending
    assert client.delete(f"/api/v1/webhook_endpoints/{eid}", headers=a).status_code == 204
    [(status, _, _, _, _)] = _deliveries(admin)
    assert status == "dead"  # a deleted endpoint's pending deliveries are dead-lettered
    world.dispatch(db, store, tenant)
    assert receiver.count() == 1
