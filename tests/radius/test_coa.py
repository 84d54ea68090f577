"""CoA and Disconnect (RFC 5176) end to end: a change to a subscriber or a plan queues work in the same
transaction, the sender delivers it to a real FreeRADIUS playing the NAS's CoA listener, and every
request is recorded in radius_coa_attempts and visible through the API."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from ispops.db.session import Database
from ispops.radius.jobs import drain_coa_queue, follow_coa_queue
from tests.api.conftest import TokenFor, api_settings, app_client, auth, client, env_for
from tests.factories import make_tenant
from tests.ports import free_udp_port
from tests.radius.coa_listener import ADDRESSES, CoaListener, coa_listener, nas_listener

# Fixtures used below (the API ones live in tests/api/conftest.py, which applies to tests/api only).
__all__ = ["api_settings", "app_client", "auth", "client", "coa_listener", "nas_listener"]


def drain(db: Database, tid: str | None) -> dict[str, Any]:
    """Drain with short timeouts and no waiting between retry rounds (the listener answers at once)."""
    return drain_coa_queue(db, tid, timeout=0.3, retransmits=1, retry_delays=(0.0, 0.0))


# --- data -----------------------------------------------------------------------------------------------


def tenant(db: Database, admin: psycopg.Connection[Any], tid: str, *, suspended: str = "reject") -> str:
    make_tenant(db, tid)
    admin.execute("update tenants set radius_suspended_action = %s where id = %s", (suspended, tid))
    return tid


def nas(
    db: Database,
    tid: str,
    address: str,
    port: int,
    *,
    secret: str,
    coa_secret: str | None = None,
    nas_type: str = "mikrotik",
) -> int:
    with db.tenant(tid) as s:
        return int(
            s.execute(
                text(
                    "insert into nas (tenant_id, nasname, shortname, type, secret, coa_port, coa_secret) "
                    "values (:t, :a, :n, :ty, :s, :p, :cs) returning id"
                ),
                {
                    "t": tid,
                    "a": address,
                    "n": f"bras-{address}",
                    "ty": nas_type,
                    "s": secret,
                    "p": port,
                    "cs": coa_secret,
                },
            ).scalar_one()
        )


def profile(db: Database, tid: str, name: str, down: int, up: int) -> uuid.UUID:
    with db.tenant(tid) as s:
        return uuid.UUID(
            str(
                s.execute(
                    text(
                        "insert into bandwidth_profiles (tenant_id, name, download_mbps, upload_mbps) "
                        "values (:t, :n, :d, :u) returning id"
                    ),
                    {"t": tid, "n": name, "d": down, "u": up},
                ).scalar_one()
            )
        )


def subscriber(db: Database, tid: str, username: str, plan: uuid.UUID, *, status: str = "active") -> uuid.UUID:
    with db.tenant(tid) as s:
        return uuid.UUID(
            str(
                s.execute(
                    text(
                        "insert into subscribers (tenant_id, subscriber_number, service_type, status, "
                        "bandwidth_profile_id, pppoe_username) values (:t, :n, 'ftth', :st, :p, :u) returning id"
                    ),
                    {"t": tid, "n": f"SUB-{username}", "st": status, "p": plan, "u": username},
                ).scalar_one()
            )
        )


def session(
    db: Database,
    tid: str,
    sub: uuid.UUID | None,
    username: str,
    nas_address: str,
    *,
    acctsessionid: str,
    framed: str | None = "100.64.0.10",
) -> int:
    with db.tenant(tid) as s:
        return int(
            s.execute(
                text(
                    "insert into radacct (tenant_id, subscriber_id, acctsessionid, acctuniqueid, username, "
                    "nasipaddress, framedipaddress, acctstarttime) values (:t, :sub, :sid, :uid, :u, "
                    "cast(:nas as inet), cast(:ip as inet), now() - interval '1 hour') returning radacctid"
                ),
                {
                    "t": tid,
                    "sub": sub,
                    "sid": acctsessionid,
                    "uid": f"u-{acctsessionid}",
                    "u": username,
                    "nas": nas_address,
                    "ip": framed,
                },
            ).scalar_one()
        )


def update(db: Database, tid: str, sql: str, **params: Any) -> None:
    with db.tenant(tid, user_id="u-noc") as s:
        s.execute(text(sql), {"t": tid, **params})


def queue(admin: psycopg.Connection[Any], tid: str) -> list[tuple[Any, ...]]:
    return admin.execute(
        "select kind, reason, attempts, radacctid, not_before > now() from radius_coa_queue "
        "where tenant_id = %s order by id",
        (tid,),
    ).fetchall()


def attempts(admin: psycopg.Connection[Any], tid: str) -> list[dict[str, Any]]:
    cur = admin.execute(
        "select kind, reason, attempt, result, error_cause, nas_id, username, acctsessionid, attributes, detail, "
        "created_by from radius_coa_attempts where tenant_id = %s order by id",
        (tid,),
    )
    names = [c.name for c in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def reply_value(admin: psycopg.Connection[Any], tid: str, username: str, attribute: str) -> str:
    row = admin.execute(
        "select value from radreply where tenant_id = %s and username = %s and attribute = %s",
        (tid, username, attribute),
    ).fetchone()
    assert row is not None, f"provisioning (migration 0013) rendered no {attribute} for {username}"
    return str(row[0])


@pytest.fixture
def isp(db: Database, admin: psycopg.Connection[Any], nas_listener: CoaListener) -> dict[str, Any]:
    """Tenant isp-a: a MikroTik NAS at 127.0.0.1 (the listener), two plans, one subscriber online."""
    tid = tenant(db, admin, "isp-a")
    nas_id = nas(db, tid, "127.0.0.1", nas_listener.port, secret=nas_listener.secret)
    basic, fast = profile(db, tid, "basic", 50, 10), profile(db, tid, "fast", 200, 20)
    alice = subscriber(db, tid, "alice", basic)
    radacctid = session(db, tid, alice, "alice", "127.0.0.1", acctsessionid="A-1")
    return {"t": tid, "nas": nas_id, "basic": basic, "fast": fast, "alice": alice, "radacctid": radacctid}


# --- what the triggers queue ----------------------------------------------------------------------------


def test_plan_change_sends_a_coa_with_the_new_rate(
    db: Database, admin: psycopg.Connection[Any], isp: dict[str, Any], nas_listener: CoaListener
) -> None:
    update(db, "isp-a", "update subscribers set bandwidth_profile_id = :p where tenant_id = :t", p=isp["fast"])
    assert queue(admin, "isp-a") == [("coa", "plan_change", 0, None, False)]
    new_rate = reply_value(admin, "isp-a", "alice", "Mikrotik-Rate-Limit")
    assert new_rate.startswith("20M/200M")  # rx/tx from the router's view: upload/download

    counts = drain(db, "isp-a")

    assert counts["ack"] == 1 and counts["items"] == 1
    [got] = nas_listener.received()
    assert got.packet_type == "CoA-Request"
    assert got.destination == "127.0.0.1"
    assert got.one("User-Name") == "alice"
    assert got.one("Acct-Session-Id") == "A-1"
    assert got.one("Framed-IP-Address") == "100.64.0.10"
    assert got.one("Mikrotik-Rate-Limit") == new_rate
    assert "Message-Authenticator" in got.attributes
    # Only the MikroTik rendering (and vendor-neutral attributes) reach a MikroTik.
    assert not any(name.startswith(("Cisco-", "ERX-", "WISPr-")) for name in got.attributes)
    [row] = attempts(admin, "isp-a")
    assert row | {"attributes": None, "detail": None} == {
        "kind": "coa",
        "reason": "plan_change",
        "attempt": 1,
        "result": "ack",
        "error_cause": None,
        "nas_id": isp["nas"],
        "username": "alice",
        "acctsessionid": "A-1",
        "attributes": None,
        "detail": None,
        "created_by": "u-noc",
    }
    assert row["attributes"]["Mikrotik-Rate-Limit"] == new_rate
    assert queue(admin, "isp-a") == []


def test_suspend_with_reject_disconnects(
    db: Database, admin: psycopg.Connection[Any], isp: dict[str, Any], nas_listener: CoaListener
) -> None:
    update(db, "isp-a", "update subscribers set status = 'suspended' where tenant_id = :t")
    assert queue(admin, "isp-a") == [("disconnect", "suspend", 0, None, False)]

    drain(db, "isp-a")

    [got] = nas_listener.received()
    assert got.packet_type == "Disconnect-Request"
    assert (got.one("User-Name"), got.one("Acct-Session-Id")) == ("alice", "A-1")
    assert "Mikrotik-Rate-Limit" not in got.attributes
    assert [(r["kind"], r["reason"], r["result"]) for r in attempts(admin, "isp-a")] == [
        ("disconnect", "suspend", "ack")
    ]


def test_suspend_into_walled_garden_sends_its_attributes_and_resume_restores_the_plan(
    db: Database, admin: psycopg.Connection[Any], isp: dict[str, Any], nas_listener: CoaListener
) -> None:
    admin.execute(
        "update tenants set radius_suspended_action = 'walled_garden', "
        "radius_walled_garden_download_kbps = 512, radius_walled_garden_upload_kbps = 128 "
        "where id = 'isp-a'"
    )
    update(db, "isp-a", "update subscribers set status = 'suspended' where tenant_id = :t")
    drain(db, "isp-a")
    update(db, "isp-a", "update subscribers set status = 'active' where tenant_id = :t")
    drain(db, "isp-a")

    suspended, resumed = nas_listener.received()
    assert suspended.packet_type == resumed.packet_type == "CoA-Request"
    assert suspended.one("Mikrotik-Rate-Limit") == "128k/512k"
    assert suspended.one("Mikrotik-Address-List") == "ispops-suspended"
    assert resumed.one("Mikrotik-Rate-Limit").startswith("10M/50M")
    assert "Mikrotik-Address-List" not in resumed.attributes
    assert [(r["kind"], r["reason"], r["result"]) for r in attempts(admin, "isp-a")] == [
        ("coa", "suspend", "ack"),
        ("coa", "resume", "ack"),
    ]


def test_terminate_and_soft_delete_disconnect(
    db: Database, admin: psycopg.Connection[Any], isp: dict[str, Any], nas_listener: CoaListener
) -> None:
    bob = subscriber(db, "isp-a", "bob", isp["basic"])
    session(db, "isp-a", bob, "bob", "127.0.0.1", acctsessionid="B-1")
    update(
        db, "isp-a", "update subscribers set status = 'terminated' where tenant_id = :t and id = :id", id=isp["alice"]
    )
    update(db, "isp-a", "update subscribers set deleted_at = now() where tenant_id = :t and id = :id", id=bob)
    assert queue(admin, "isp-a") == [("disconnect", "terminate", 0, None, False)] * 2

    drain(db, "isp-a")

    assert sorted((r.packet_type, r.one("User-Name")) for r in nas_listener.received()) == [
        ("Disconnect-Request", "alice"),
        ("Disconnect-Request", "bob"),
    ]


def test_throttle_and_unthrottle_send_coas(
    db: Database, admin: psycopg.Connection[Any], isp: dict[str, Any], nas_listener: CoaListener
) -> None:
    update(
        db,
        "isp-a",
        "update bandwidth_profiles set fup_download_mbps = 2, fup_upload_mbps = 1 where tenant_id = :t and id = :p",
        p=isp["basic"],
    )
    drain(db, "isp-a")  # the profile edit itself: a plan_change CoA
    nas_listener.reset()

    update(db, "isp-a", "update subscribers set throttled_until = now() + interval '1 day' where tenant_id = :t")
    drain(db, "isp-a")
    update(db, "isp-a", "update subscribers set throttled_until = null where tenant_id = :t")
    drain(db, "isp-a")

    throttled, unthrottled = nas_listener.received()
    assert throttled.one("Mikrotik-Rate-Limit") == "1M/2M"
    assert unthrottled.one("Mikrotik-Rate-Limit").startswith("10M/50M")
    assert [r["reason"] for r in attempts(admin, "isp-a")] == ["plan_change", "throttle", "unthrottle"]


def test_profile_edit_queues_one_coa_per_active_subscriber_online(
    db: Database, admin: psycopg.Connection[Any], isp: dict[str, Any], nas_listener: CoaListener
) -> None:
    bob = subscriber(db, "isp-a", "bob", isp["basic"])
    session(db, "isp-a", bob, "bob", "127.0.0.1", acctsessionid="B-1")
    subscriber(db, "isp-a", "carol", isp["basic"])  # offline
    dave = subscriber(db, "isp-a", "dave", isp["basic"], status="suspended")
    session(db, "isp-a", dave, "dave", "127.0.0.1", acctsessionid="D-1")  # online, but walled off: untouched

    update(
        db,
        "isp-a",
        "update bandwidth_profiles set download_mbps = 80, upload_mbps = 16 where tenant_id = :t and id = :p",
        p=isp["basic"],
    )
    assert queue(admin, "isp-a") == [("coa", "plan_change", 0, None, False)] * 2
    update(
        db,
        "isp-a",
        "update bandwidth_profiles set download_mbps = 100 where tenant_id = :t and id = :p",
        p=isp["basic"],
    )
    assert len(queue(admin, "isp-a")) == 2  # the same change twice: queued once
    update(
        db,
        "isp-a",
        "update bandwidth_profiles set description = 'renamed' where tenant_id = :t and id = :p",
        p=isp["basic"],
    )
    assert len(queue(admin, "isp-a")) == 2  # nothing rendered changed

    drain(db, "isp-a")

    got = {r.one("User-Name"): r.one("Mikrotik-Rate-Limit") for r in nas_listener.received()}
    assert set(got) == {"alice", "bob"}
    assert all(rate.startswith("16M/100M") for rate in got.values())


def test_no_open_session_queues_and_sends_nothing(
    db: Database, admin: psycopg.Connection[Any], isp: dict[str, Any], nas_listener: CoaListener
) -> None:
    admin.execute("update radacct set acctstoptime = now() where tenant_id = 'isp-a'")
    update(db, "isp-a", "update subscribers set bandwidth_profile_id = :p where tenant_id = :t", p=isp["fast"])
    update(db, "isp-a", "update subscribers set status = 'suspended' where tenant_id = :t")
    assert queue(admin, "isp-a") == []
    assert drain(db, "isp-a")["items"] == 0
    assert nas_listener.received() == []
    assert attempts(admin, "isp-a") == []


def test_a_rolled_back_change_queues_nothing(db: Database, admin: psycopg.Connection[Any], isp: dict[str, Any]) -> None:
    with pytest.raises(RuntimeError), db.tenant("isp-a") as s:
        s.execute(text("update subscribers set status = 'suspended' where tenant_id = 'isp-a'"))
        assert s.execute(text("select count(*) from radius_coa_queue")).scalar_one() == 1
        raise RuntimeError("the request failed after the change")
    assert queue(admin, "isp-a") == []


def test_a_newer_change_supersedes_a_pending_one(
    db: Database, admin: psycopg.Connection[Any], isp: dict[str, Any], nas_listener: CoaListener
) -> None:
    update(db, "isp-a", "update subscribers set bandwidth_profile_id = :p where tenant_id = :t", p=isp["fast"])
    update(db, "isp-a", "update subscribers set status = 'suspended' where tenant_id = :t")
    assert [q[:2] for q in queue(admin, "isp-a")] == [("coa", "plan_change"), ("disconnect", "suspend")]

    counts = drain(db, "isp-a")

    assert counts["superseded"] == 1
    assert [r.packet_type for r in nas_listener.received()] == ["Disconnect-Request"]


# --- answers: NAK, timeout ------------------------------------------------------------------------------


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
