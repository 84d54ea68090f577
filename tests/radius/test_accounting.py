"""Accounting through a real FreeRADIUS: spooled to a detail file, replayed into the partitioned radacct."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from pyrad import packet
from sqlalchemy import text

from ispops.db.session import Database
from tests.factories import make_tenant
from tests.radius.freeradius import FreeRadius, Nas

SECRET = "acct-secret-1"
DAY = 86400


@pytest.fixture(scope="module")
def acct(radius_db: Database, radiusd: FreeRadius) -> FreeRadius:
    for tenant, address in (("acme", "127.0.0.2"), ("beta", "127.0.0.3")):
        make_tenant(radius_db, tenant)
        with radius_db.tenant(tenant) as s:
            s.execute(
                text(
                    "insert into nas (tenant_id, nasname, shortname, type, secret, require_ma) "
                    "values (:t, :a, 'bras1', 'mikrotik', :s, 'no')"
                ),
                {"t": tenant, "a": address, "s": SECRET},
            )
            sub = s.execute(
                text(
                    "insert into subscribers (tenant_id, subscriber_number, service_type, pppoe_username) "
                    "values (:t, 'S-1', 'ftth', 'bob') returning id"
                ),
                {"t": tenant},
            ).scalar_one()
            s.execute(
                text(
                    "insert into radcheck (tenant_id, subscriber_id, username, attribute, op, value) "
                    "values (:t, :sub, 'bob', 'Cleartext-Password', ':=', 'pw') on conflict do nothing"
                ),
                {"t": tenant, "sub": sub},
            )
    radiusd.start()
    return radiusd


def rows(db: Database, tenant: str, session_id: str) -> list[Any]:
    with db.tenant(tenant) as s:
        return list(
            s.execute(
                text(
                    "select acctsessionid, acctstarttime, acctupdatetime, acctstoptime, acctsessiontime, "
                    "acctinputoctets, acctoutputoctets, subscriber_id, tenant_id, acctterminatecause, "
                    "host(framedipaddress) as ip from radacct where acctsessionid = :sid order by radacctid"
                ),
                {"sid": session_id},
            ).mappings()
        )


def wait_for(check: Callable[[], bool], radius: FreeRadius, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("accounting did not arrive:\n" + radius.log_text()[-4000:])


def send(nas: Nas, status: str, sid: str, event: int, **extra: Any) -> None:
    reply = nas.accounting(status, User_Name="bob", Acct_Session_Id=sid, Event_Timestamp=event, **extra)
    assert reply is not None and reply.code == packet.AccountingResponse


def test_start_interim_stop_make_one_row_with_folded_gigawords(acct: FreeRadius, radius_db: Database) -> None:
    nas = Nas(acct, "127.0.0.2", SECRET)
    t0 = int(time.time()) - 600
    send(nas, "Start", "sess-1", t0, Framed_IP_Address="100.64.0.7")
    send(
        nas,
        "Interim-Update",
        "sess-1",
        t0 + 300,
        Acct_Session_Time=300,
        Acct_Input_Octets=1000,
        Acct_Output_Octets=5,
        Acct_Output_Gigawords=2,
    )
    send(
        nas,
        "Stop",
        "sess-1",
        t0 + 600,
        Acct_Session_Time=600,
        Acct_Input_Octets=2000,
        Acct_Output_Octets=7,
        Acct_Output_Gigawords=3,
        Acct_Terminate_Cause=1,
    )
    wait_for(
        lambda: (
            bool(rows(radius_db, "acme", "sess-1")) and rows(radius_db, "acme", "sess-1")[0]["acctstoptime"] is not None
        ),
        acct,
    )
    [row] = rows(radius_db, "acme", "sess-1")
    assert int(row["acctstarttime"].timestamp()) == t0
    assert int(row["acctstoptime"].timestamp()) == t0 + 600
    assert row["acctsessiontime"] == 600
    assert row["acctinputoctets"] == 2000
    assert row["acctoutputoctets"] == 3 * 2**32 + 7
    assert row["subscriber_id"] is not None and row["tenant_id"] == "acme"
    assert row["ip"] == "100.64.0.7"
    assert row["acctterminatecause"] == "User-Request"


def test_duplicates_are_idempotent(acct: FreeRadius, radius_db: Database) -> None:
    nas = Nas(acct, "127.0.0.2", SECRET)
    t0 = int(time.time()) - 100
    for _ in range(3):
        send(nas, "Start", "sess-dup", t0)
    send(nas, "Interim-Update", "sess-dup", t0 + 60, Acct_Session_Time=60, Acct_Input_Octets=10)
    send(nas, "Interim-Update", "sess-dup", t0 + 60, Acct_Session_Time=60, Acct_Input_Octets=10)
    send(nas, "Start", "sess-dup", t0)  # a late duplicate Start changes nothing
    wait_for(lambda: any(r["acctinputoctets"] == 10 for r in rows(radius_db, "acme", "sess-dup")), acct)
    time.sleep(1.5)  # let anything still in the spool land
    [row] = rows(radius_db, "acme", "sess-dup")
    assert row["acctinputoctets"] == 10
    assert row["acctstoptime"] is None


def test_interim_without_start_for_a_40_day_old_session(acct: FreeRadius, radius_db: Database) -> None:
    nas = Nas(acct, "127.0.0.2", SECRET)
    now = int(time.time())
    send(nas, "Interim-Update", "sess-old", now, Acct_Session_Time=40 * DAY, Acct_Input_Octets=77)
    wait_for(lambda: bool(rows(radius_db, "acme", "sess-old")), acct)
    [row] = rows(radius_db, "acme", "sess-old")
    assert int(row["acctstarttime"].timestamp()) == now - 40 * DAY
    with radius_db.tenant("acme") as s:
        partition = s.execute(
            text("select tableoid::regclass::text from radacct where acctsessionid = 'sess-old'")
        ).scalar_one()
    started = row["acctstarttime"]
    assert partition.endswith(f"{started:%Y_%m}") or partition.endswith(f"{started:%Y%m}"), partition
    # A stop for it later finds the same row (the window covers it).
    send(nas, "Stop", "sess-old", now + 60, Acct_Session_Time=40 * DAY + 60, Acct_Input_Octets=99)
    wait_for(lambda: rows(radius_db, "acme", "sess-old")[0]["acctstoptime"] is not None, acct)
    assert len(rows(radius_db, "acme", "sess-old")) == 1


def test_stop_without_start_creates_the_closed_session(acct: FreeRadius, radius_db: Database) -> None:
    nas = Nas(acct, "127.0.0.2", SECRET)
    now = int(time.time())
    send(nas, "Stop", "sess-nostart", now, Acct_Session_Time=120, Acct_Output_Octets=5)
    wait_for(lambda: bool(rows(radius_db, "acme", "sess-nostart")), acct)
    [row] = rows(radius_db, "acme", "sess-nostart")
    assert row["acctstoptime"] is not None and row["acctsessiontime"] == 120
    send(nas, "Interim-Update", "sess-nostart", now - 10, Acct_Session_Time=110, Acct_Output_Octets=4)
    time.sleep(1.5)
    [row] = rows(radius_db, "acme", "sess-nostart")  # a late interim does not reopen it
    assert row["acctstoptime"] is not None and row["acctoutputoctets"] == 5


def test_accounting_on_closes_the_nas_open_sessions_of_its_tenant_only(acct: FreeRadius, radius_db: Database) -> None:
    acme, beta = Nas(acct, "127.0.0.2", SECRET), Nas(acct, "127.0.0.3", SECRET)
    t0 = int(time.time()) - 50
    send(acme, "Start", "on-a", t0)
    send(beta, "Start", "on-b", t0)
    wait_for(lambda: bool(rows(radius_db, "acme", "on-a")) and bool(rows(radius_db, "beta", "on-b")), acct)
    reply = acme.accounting("Accounting-On", Event_Timestamp=t0 + 40)
    assert reply is not None and reply.code == packet.AccountingResponse
    wait_for(lambda: rows(radius_db, "acme", "on-a")[0]["acctstoptime"] is not None, acct)
    assert rows(radius_db, "acme", "on-a")[0]["acctterminatecause"] == "NAS-Reboot"
    assert rows(radius_db, "beta", "on-b")[0]["acctstoptime"] is None


def test_same_session_id_in_two_tenants_stays_apart(acct: FreeRadius, radius_db: Database) -> None:
    t0 = int(time.time()) - 30
    send(Nas(acct, "127.0.0.2", SECRET), "Start", "shared-id", t0)
    send(Nas(acct, "127.0.0.3", SECRET), "Start", "shared-id", t0)
    wait_for(lambda: bool(rows(radius_db, "acme", "shared-id")) and bool(rows(radius_db, "beta", "shared-id")), acct)
    assert len(rows(radius_db, "acme", "shared-id")) == 1
    assert len(rows(radius_db, "beta", "shared-id")) == 1
