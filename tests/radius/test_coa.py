"""CoA and Disconnect (RFC 5176) end to end: a change to a subscriber or a plan queues work in the same
transaction, the sender delivers it to a real FreeRADIUS playing the NAS's CoA listener, and every
request is recorded in radius_coa_attempts and visible through the API."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from ispops.db.session import Database
from tests.api.conftest import api_settings, app_client, auth, client
from tests.radius.coa_listener import CoaListener, coa_listener, nas_listener
from tests.radius.coa_world import (
    attempts,
    drain,
    isp,
    queue,
    reply_value,
    session,
    subscriber,
    update,
)

# Fixtures used below (the API ones live in tests/api/conftest.py, which applies to tests/api only).
__all__ = ["api_settings", "app_client", "auth", "client", "coa_listener", "isp", "nas_listener"]


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
