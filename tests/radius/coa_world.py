"""The CoA tests' world: a tenant with a NAS whose CoA listener is a real FreeRADIUS, plans, subscribers
online, and the queue, attempts and reply rows to look at (tests/radius/test_coa*.py)."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from ispops.db.session import Database
from ispops.radius.jobs import drain_coa_queue
from tests.factories import make_tenant
from tests.radius.coa_listener import CoaListener, coa_listener, nas_listener

__all__ = ["coa_listener", "nas_listener"]


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
