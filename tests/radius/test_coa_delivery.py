"""CoA and Disconnect delivery: NAK and timeout fallbacks, bounded retries, an ACKed Disconnect closing the
session, tenants reaching only their own NAS, the manual disconnect action, the CLI and --follow."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from ispops.db.session import Database
from ispops.radius.coa_follow import follow_coa_queue
from ispops.radius.jobs import drain_coa_queue
from tests.api.conftest import TokenFor, api_settings, app_client, auth, client, env_for
from tests.ports import free_udp_port
from tests.radius.coa_listener import ADDRESSES, CoaListener, coa_listener, nas_listener
from tests.radius.coa_world import attempts, drain, isp, nas, profile, queue, session, subscriber, tenant, update

# Fixtures used below (the API ones live in tests/api/conftest.py, which applies to tests/api only).
__all__ = ["api_settings", "app_client", "auth", "client", "coa_listener", "isp", "nas_listener"]


def test_coa_nak_falls_back_to_disconnect(
    db: Database, admin: psycopg.Connection[Any], isp: dict[str, Any], nas_listener: CoaListener
) -> None:
    nak = subscriber(db, "isp-a", "nak-erin", isp["basic"])
    session(db, "isp-a", nak, "nak-erin", "127.0.0.1", acctsessionid="E-1")
    update(
        db,
        "isp-a",
        "update subscribers set bandwidth_profile_id = :p where tenant_id = :t and id = :id",
        p=isp["fast"],
        id=nak,
    )

    drain(db, "isp-a")

    assert [r.packet_type for r in nas_listener.received()] == ["CoA-Request", "Disconnect-Request"]
    rows = attempts(admin, "isp-a")
    assert [(r["kind"], r["attempt"], r["result"], r["error_cause"]) for r in rows] == [
        ("coa", 1, "nak", 503),
        ("disconnect", 1, "ack", None),
    ]
    assert rows[0]["detail"] == "Session-Context-Not-Found"
    assert queue(admin, "isp-a") == []  # a NAK is an answer: no retry


def test_disconnect_nak_is_recorded_and_not_retried(
    db: Database, admin: psycopg.Connection[Any], isp: dict[str, Any], nas_listener: CoaListener
) -> None:
    frank = subscriber(db, "isp-a", "dnak-frank", isp["basic"])
    session(db, "isp-a", frank, "dnak-frank", "127.0.0.1", acctsessionid="F-1")
    update(db, "isp-a", "update subscribers set status = 'terminated' where tenant_id = :t and id = :id", id=frank)

    drain(db, "isp-a")

    assert [(r["kind"], r["result"], r["error_cause"]) for r in attempts(admin, "isp-a")] == [
        ("disconnect", "nak", 504)
    ]
    assert queue(admin, "isp-a") == []


def test_an_acked_disconnect_closes_the_session(
    db: Database, admin: psycopg.Connection[Any], isp: dict[str, Any], nas_listener: CoaListener
) -> None:
    frank = subscriber(db, "isp-a", "dnak-frank", isp["basic"])
    session(db, "isp-a", frank, "dnak-frank", "127.0.0.1", acctsessionid="F-1")
    carl = subscriber(db, "isp-a", "carl", isp["basic"])
    session(db, "isp-a", carl, "carl", "127.0.0.1", acctsessionid="C-1")
    update(
        db, "isp-a", "update subscribers set status = 'suspended' where tenant_id = :t and id = :id", id=isp["alice"]
    )  # Disconnect, ACKed
    update(
        db, "isp-a", "update subscribers set status = 'terminated' where tenant_id = :t and id = :id", id=frank
    )  # Disconnect, NAKed
    update(
        db,
        "isp-a",
        "update subscribers set bandwidth_profile_id = :p where tenant_id = :t and id = :id",
        p=isp["fast"],
        id=carl,
    )  # CoA, ACKed
    before = dt.datetime.now(dt.UTC)

    drain(db, "isp-a")

    after = dt.datetime.now(dt.UTC)
    assert sorted((r["acctsessionid"], r["kind"], r["result"]) for r in attempts(admin, "isp-a")) == [
        ("A-1", "disconnect", "ack"),
        ("C-1", "coa", "ack"),
        ("F-1", "disconnect", "nak"),
    ]
    rows = {
        r[0]: r[1:]
        for r in admin.execute(
            "select acctsessionid, acctstoptime, acctterminatecause, closed_by from radacct where tenant_id = 'isp-a'"
        )
    }
    stopped, cause, closed_by = rows["A-1"]
    assert before <= stopped <= after  # when the ACK came
    assert (cause, closed_by) == ("Admin-Reset", "disconnect")
    assert rows["F-1"] == (None, None, None)  # the NAS refused: still online
    assert rows["C-1"] == (None, None, None)  # a CoA changes the session, it does not end it


def test_unanswered_requests_are_retried_a_bounded_number_of_times(
    db: Database, admin: psycopg.Connection[Any], isp: dict[str, Any]
) -> None:
    closed = free_udp_port(*ADDRESSES)  # nothing listens there
    admin.execute("update nas set coa_port = %s where tenant_id = 'isp-a'", (closed,))
    update(db, "isp-a", "update subscribers set status = 'suspended' where tenant_id = :t")

    # The first round fails; the retry waits for its delay and a run before then sends nothing.
    first = drain_coa_queue(db, "isp-a", timeout=0.2, retransmits=1, retry_delays=(60.0, 60.0))
    assert (first["timeout"], first["retried"]) == (1, 1)
    assert queue(admin, "isp-a") == [("disconnect", "suspend", 1, isp["radacctid"], True)]
    assert drain_coa_queue(db, "isp-a", timeout=0.2, retransmits=1)["items"] == 0

    admin.execute("update radius_coa_queue set not_before = now() where tenant_id = 'isp-a'")
    rest = drain_coa_queue(db, "isp-a", timeout=0.2, retransmits=1, retry_delays=(0.0, 0.0))

    assert (rest["timeout"], rest["given_up"]) == (2, 1)
    rows = attempts(admin, "isp-a")
    assert [(r["kind"], r["attempt"], r["result"]) for r in rows] == [
        ("disconnect", 1, "timeout"),
        ("disconnect", 2, "timeout"),
        ("disconnect", 3, "timeout"),
    ]
    assert queue(admin, "isp-a") == []


def test_a_retry_overtaken_by_a_later_change_is_dropped(
    db: Database, admin: psycopg.Connection[Any], isp: dict[str, Any], nas_listener: CoaListener
) -> None:
    admin.execute("update nas set coa_port = %s where tenant_id = 'isp-a'", (free_udp_port(*ADDRESSES),))
    update(db, "isp-a", "update subscribers set status = 'suspended' where tenant_id = :t")
    drain_coa_queue(db, "isp-a", timeout=0.2, retransmits=1, retry_delays=(60.0, 60.0))
    assert [q[:3] for q in queue(admin, "isp-a")] == [("disconnect", "suspend", 1)]  # waiting to retry
    update(db, "isp-a", "update subscribers set status = 'active' where tenant_id = :t")  # resumed meanwhile
    admin.execute("update nas set coa_port = %s where tenant_id = 'isp-a'", (nas_listener.port,))
    admin.execute("update radius_coa_queue set not_before = now() where tenant_id = 'isp-a'")

    counts = drain(db, "isp-a")

    assert counts["superseded"] == 1
    assert [r.packet_type for r in nas_listener.received()] == ["CoA-Request"]  # the resume, not the Disconnect
    assert queue(admin, "isp-a") == []


def test_unanswered_coa_falls_back_to_disconnect_each_round(
    db: Database, admin: psycopg.Connection[Any], isp: dict[str, Any]
) -> None:
    admin.execute("update nas set coa_port = %s where tenant_id = 'isp-a'", (free_udp_port(*ADDRESSES),))
    update(db, "isp-a", "update subscribers set bandwidth_profile_id = :p where tenant_id = :t", p=isp["fast"])

    drain_coa_queue(db, "isp-a", timeout=0.2, retransmits=1, retry_delays=(0.0, 0.0), max_attempts=2)

    assert [(r["kind"], r["attempt"], r["result"]) for r in attempts(admin, "isp-a")] == [
        ("coa", 1, "timeout"),
        ("disconnect", 1, "timeout"),
        ("coa", 2, "timeout"),
        ("disconnect", 2, "timeout"),
    ]


def test_session_on_an_unknown_nas_is_recorded_as_an_error(
    db: Database, admin: psycopg.Connection[Any], isp: dict[str, Any], nas_listener: CoaListener
) -> None:
    admin.execute("update radacct set nasipaddress = '192.0.2.99' where tenant_id = 'isp-a'")
    update(db, "isp-a", "update subscribers set status = 'suspended' where tenant_id = :t")
    drain(db, "isp-a")
    [row] = attempts(admin, "isp-a")
    assert (row["result"], row["nas_id"]) == ("error", None)
    assert "192.0.2.99" in row["detail"]
    assert nas_listener.received() == []


# --- tenants --------------------------------------------------------------------------------------------


def test_each_tenant_reaches_only_its_own_nas(
    db: Database, admin: psycopg.Connection[Any], isp: dict[str, Any], nas_listener: CoaListener
) -> None:
    # isp-b has a user of the same name on its own NAS (127.0.0.2), whose CoA secret differs from its
    # RADIUS secret.
    tenant(db, admin, "isp-b")
    nas(db, "isp-b", "127.0.0.2", nas_listener.port, secret="radius-secret-b", coa_secret=nas_listener.secret)
    plan_b = profile(db, "isp-b", "b-basic", 30, 5)
    alice_b = subscriber(db, "isp-b", "alice", plan_b)
    session(db, "isp-b", alice_b, "alice", "127.0.0.2", acctsessionid="B-ALICE", framed="100.64.9.9")
    update(db, "isp-b", "update subscribers set status = 'suspended' where tenant_id = :t")

    assert drain(db, "isp-a")["items"] == 0  # isp-a's drain never sees isp-b's queue
    assert nas_listener.received() == []

    drain(db, None)  # every tenant

    [got] = nas_listener.received()
    assert (got.packet_type, got.destination) == ("Disconnect-Request", "127.0.0.2")
    assert (got.one("User-Name"), got.one("Acct-Session-Id"), got.one("Framed-IP-Address")) == (
        "alice",
        "B-ALICE",
        "100.64.9.9",
    )
    assert attempts(admin, "isp-a") == []
    assert [(r["result"], r["acctsessionid"]) for r in attempts(admin, "isp-b")] == [("ack", "B-ALICE")]


# --- API and CLI ----------------------------------------------------------------------------------------


def test_disconnect_action_queues_and_the_attempt_is_listed(
    db: Database,
    admin: psycopg.Connection[Any],
    isp: dict[str, Any],
    nas_listener: CoaListener,
    client: TestClient,
    auth: TokenFor,
) -> None:
    path = f"/api/v1/radius/sessions/{isp['radacctid']}/disconnect"
    support = auth("isp-a", "support_agent")

    response = client.post(path, headers=support)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body | {"queue_id": 0} == {
        "queue_id": 0,
        "radacctid": isp["radacctid"],
        "kind": "disconnect",
        "reason": "manual",
        "status": "queued",
    }
    again = client.post(path, headers=auth("isp-a", "noc_engineer"))
    assert again.status_code == 202 and again.json()["queue_id"] == body["queue_id"]
    assert queue(admin, "isp-a") == [("disconnect", "manual", 0, isp["radacctid"], False)]
    assert client.post(path, headers=auth("isp-a", "field_tech")).status_code == 403

    drain(db, "isp-a")

    [got] = nas_listener.received()
    assert (got.packet_type, got.one("Acct-Session-Id")) == ("Disconnect-Request", "A-1")
    listing = client.get("/api/v1/radius_coa_attempts?reason=manual&result=ack", headers=support)
    assert listing.status_code == 200, listing.text
    [item] = listing.json()["items"]
    assert (item["kind"], item["nas_id"], item["acctsessionid"], item["created_by"]) == (
        "disconnect",
        isp["nas"],
        "A-1",
        "u-test",
    )
    assert client.get(f"/api/v1/radius_coa_attempts/{item['id']}", headers=support).status_code == 200
    assert client.get("/api/v1/radius_coa_attempts?result=nak", headers=support).json()["total"] == 0

    admin.execute("update radacct set acctstoptime = now() where tenant_id = 'isp-a'")
    ended = client.post(path, headers=support)
    assert ended.status_code == 409
    assert ended.json()["field"] == "acctstoptime"


def test_other_tenant_cannot_disconnect_or_see_attempts(
    db: Database, admin: psycopg.Connection[Any], isp: dict[str, Any], client: TestClient, auth: TokenFor
) -> None:
    update(db, "isp-a", "update subscribers set status = 'suspended' where tenant_id = :t")
    admin.execute("update nas set coa_port = %s where tenant_id = 'isp-a'", (free_udp_port(*ADDRESSES),))
    drain_coa_queue(db, "isp-a", timeout=0.1, retransmits=1, max_attempts=1)
    [attempt_id] = [r[0] for r in admin.execute("select id from radius_coa_attempts")]
    tenant(db, admin, "isp-b")
    intruder = auth("isp-b", "tenant_admin")
    before = admin.execute("select count(*) from radius_coa_queue").fetchone()

    response = client.post(f"/api/v1/radius/sessions/{isp['radacctid']}/disconnect", headers=intruder)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert client.get(f"/api/v1/radius_coa_attempts/{attempt_id}", headers=intruder).status_code == 404
    assert client.get("/api/v1/radius_coa_attempts", headers=intruder).json()["items"] == []
    assert admin.execute("select count(*) from radius_coa_queue").fetchone() == before


def test_cli_coa_drain(
    db: Database, admin: psycopg.Connection[Any], isp: dict[str, Any], nas_listener: CoaListener
) -> None:
    update(db, "isp-a", "update subscribers set status = 'suspended' where tenant_id = :t")
    result = subprocess.run(
        [sys.executable, "-m", "ispops", "radius", "coa-drain", "--tenant", "isp-a", "--timeout", "1", "--json"],
        env=env_for(db.server) | {"COLUMNS": "200", "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"ack": 1' in result.stdout
    assert [r.packet_type for r in nas_listener.received()] == ["Disconnect-Request"]


def test_follow_sends_as_soon_as_the_change_commits(
    db: Database, admin: psycopg.Connection[Any], isp: dict[str, Any], nas_listener: CoaListener
) -> None:
    stopping = threading.Event()
    worker = threading.Thread(
        target=follow_coa_queue,
        args=(db,),
        kwargs={"interval": 600.0, "stop": stopping.is_set, "timeout": 0.5, "retransmits": 1},
    )
    worker.start()
    try:
        time.sleep(0.5)  # let it LISTEN (a change before that is found by its first full pass anyway)
        update(db, "isp-a", "update subscribers set status = 'suspended' where tenant_id = :t")
        deadline = time.monotonic() + 30
        while not nas_listener.received() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stopping.set()
        admin.execute("select pg_notify('ispops_radius_coa', 'wake-up')")  # end its wait
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert [r.packet_type for r in nas_listener.received()] == ["Disconnect-Request"]
    assert queue(admin, "isp-a") == []
