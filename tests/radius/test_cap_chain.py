"""The whole chain: accounting through FreeRADIUS → usage roll-up → cap exceeded → throttle rendered →
CoA received by the NAS (a FreeRADIUS CoA listener) → the next login also gets the FUP rate."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from pyrad import packet
from sqlalchemy import text

from ispops.db.session import Database
from ispops.radius.jobs import drain_coa_queue
from ispops.radius.provisioning import set_password
from ispops.radius.usage import GB, rollup_all
from tests.factories import make_tenant
from tests.radius.coa_listener import CoaListener, coa_listener  # noqa: F401 (fixture)
from tests.radius.freeradius import FreeRadius, Nas, reply_attributes

SECRET = "chain-secret-1"


@pytest.fixture(scope="module")
def chain(radius_db: Database, radiusd: FreeRadius, coa_listener: CoaListener) -> FreeRadius:  # noqa: F811
    make_tenant(radius_db, "capco")
    with radius_db.tenant("capco") as s:
        s.execute(
            text(
                "insert into nas (tenant_id, nasname, shortname, type, secret, require_ma, coa_port, coa_secret) "
                "values ('capco', '127.0.0.2', 'bras1', 'mikrotik', :s, 'no', :port, :coa)"
            ),
            {"s": SECRET, "port": coa_listener.port, "coa": coa_listener.secret},
        )
        plan = s.execute(
            text(
                "insert into bandwidth_profiles (tenant_id, name, download_mbps, upload_mbps, daily_data_cap_gb, "
                "cap_action, fup_download_mbps, fup_upload_mbps) "
                "values ('capco', 'Home 50', 50, 10, 1, 'throttle', 2, 1) returning id"
            )
        ).scalar_one()
        sub = s.execute(
            text(
                "insert into subscribers (tenant_id, subscriber_number, service_type, status, pppoe_username, "
                "bandwidth_profile_id) values ('capco', 'C-1', 'ftth', 'active', 'carl', :p) returning id"
            ),
            {"p": plan},
        ).scalar_one()
        set_password(s, tenant_id="capco", subscriber_id=sub, password="carl-pw")
    radiusd.start()
    return radiusd


def rate_at_login(nas: Nas) -> str:
    reply = nas.pap("carl", "carl-pw")
    assert reply is not None and reply.code == packet.AccessAccept
    [rate] = reply_attributes(reply)["Mikrotik-Rate-Limit"]
    return rate.decode() if isinstance(rate, bytes) else str(rate)


def test_cap_exceeded_throttles_and_the_nas_gets_a_coa(
    chain: FreeRadius,
    radius_db: Database,
    coa_listener: CoaListener,  # noqa: F811
) -> None:
    nas = Nas(chain, "127.0.0.2", SECRET)
    plan_rate = rate_at_login(nas)
    assert plan_rate.startswith("10M/50M"), plan_rate  # rx/tx: upload/download
    # The interim is the usage of the roll-up's day: both use `now` (an interim ten minutes ahead made the
    # test fail whenever those ten minutes crossed midnight UTC).
    now = int(time.time())
    for status, extra in (
        ("Start", {}),
        (
            "Interim-Update",
            {
                "Acct_Session_Time": 600,
                "Acct_Input_Octets": GB // 4,
                "Acct_Output_Gigawords": 0,
                "Acct_Output_Octets": GB,
            },
        ),
    ):
        reply = nas.accounting(
            status,
            User_Name="carl",
            Acct_Session_Id="carl-1",
            Event_Timestamp=now - 600 if status == "Start" else now,
            **extra,
        )
        assert reply is not None and reply.code == packet.AccountingResponse
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with radius_db.tenant("capco") as s:
            octets = s.execute(text("select acctoutputoctets from radacct where acctsessionid = 'carl-1'")).scalar()
        if octets == GB:
            break
        time.sleep(0.1)
    assert octets == GB, chain.log_text()[-3000:]

    coa_listener.reset()
    [result] = [r for r in rollup_all(radius_db, now=dt.datetime.fromtimestamp(now, dt.UTC)) if r.tenant_id == "capco"]
    assert result.throttled == 1

    report = drain_coa_queue(radius_db, "capco", timeout=1.0, retransmits=1, retry_delays=(0.0, 0.0))
    assert report["ack"] == 1, report
    [got] = coa_listener.received()
    assert got.packet_type == "CoA-Request"
    assert got.one("User-Name") == "carl" and got.one("Acct-Session-Id") == "carl-1"
    fup_rate = got.one("Mikrotik-Rate-Limit")
    assert fup_rate.startswith("1M/2M"), fup_rate
    # Simultaneous-Use is 1: a second login while the session is open is refused ...
    second = nas.pap("carl", "carl-pw")
    assert second is not None and second.code == packet.AccessReject
    # ... and after the session ends, a new login while throttled gets the FUP rate too.
    reply = nas.accounting(
        "Stop",
        User_Name="carl",
        Acct_Session_Id="carl-1",
        Event_Timestamp=now + 100,
        Acct_Session_Time=700,
        Acct_Output_Octets=GB,
    )
    assert reply is not None and reply.code == packet.AccountingResponse
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with radius_db.tenant("capco") as s:
            if s.execute(text("select acctstoptime from radacct where acctsessionid = 'carl-1'")).scalar():
                break
        time.sleep(0.1)
    assert rate_at_login(nas) == fup_rate
