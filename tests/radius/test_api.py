"""RADIUS views through the API: sessions, daily usage, the credentials check."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import text

from ispops.db.session import Database
from ispops.radius.provisioning import nt_password_hash
from tests.api.conftest import TokenFor
from tests.factories import make_tenant


def world(db: Database, tenant: str, nas_ip: str, *, password: str = "pw-1", nt: bool = False) -> dict[str, Any]:
    make_tenant(db, tenant)
    with db.tenant(tenant) as s:
        sub = s.execute(
            text(
                "insert into subscribers (tenant_id, subscriber_number, service_type, pppoe_username) "
                "values (:t, 'S-1', 'ftth', 'alice') returning id"
            ),
            {"t": tenant},
        ).scalar_one()
        nas = s.execute(
            text(
                "insert into nas (tenant_id, nasname, shortname, type, secret) "
                "values (:t, :ip, 'bras1', 'mikrotik', 'secret-123') returning id"
            ),
            {"t": tenant, "ip": nas_ip},
        ).scalar_one()
        cisco = s.execute(
            text(
                "insert into nas (tenant_id, nasname, shortname, type, secret) "
                "values (:t, :ip, 'bras2', 'cisco', 'secret-123') returning id"
            ),
            {"t": tenant, "ip": nas_ip.replace(".1", ".2")},
        ).scalar_one()
        s.execute(text("delete from radcheck where username = 'alice'"))
        s.execute(text("delete from radreply where username = 'alice'"))
        attribute, value = ("NT-Password", nt_password_hash(password)) if nt else ("Cleartext-Password", password)
        s.execute(
            text(
                "insert into radcheck (tenant_id, subscriber_id, username, attribute, op, value) values "
                "(:t, :s, 'alice', :a, ':=', :v), (:t, :s, 'alice', 'Simultaneous-Use', ':=', '1')"
            ),
            {"t": tenant, "s": sub, "a": attribute, "v": value},
        )
        s.execute(
            text(
                "insert into radreply (tenant_id, subscriber_id, username, attribute, op, value) values "
                "(:t, :s, 'alice', 'Mikrotik-Rate-Limit', ':=', '10M/50M'), "
                "(:t, :s, 'alice', 'Cisco-AVPair', '+=', 'ip:sub-qos-policy-in=x'), "
                "(:t, :s, 'alice', 'Session-Timeout', ':=', '3600')"
            ),
            {"t": tenant, "s": sub},
        )
        now = dt.datetime.now(dt.UTC)
        s.execute(
            text(
                "insert into radacct (tenant_id, subscriber_id, acctsessionid, acctuniqueid, username, "
                "nasipaddress, acctstarttime, acctinputoctets, acctoutputoctets) values "
                "(:t, :s, 'open-1', 'open-1', 'alice', :ip, :start, 100, 2000), "
                "(:t, :s, 'done-1', 'done-1', 'alice', :ip, :old, 5, 6)"
            ),
            {
                "t": tenant,
                "s": sub,
                "ip": nas_ip,
                "start": now - dt.timedelta(hours=1),
                "old": now - dt.timedelta(days=3),
            },
        )
        s.execute(
            text(
                "update radacct set acctstoptime = acctstarttime + interval '1 hour', acctsessiontime = 3600 "
                "where acctsessionid = 'done-1'"
            )
        )
        # Reported on a minute ago: not stale, so it counts against Simultaneous-Use (migration 0025).
        s.execute(
            text("update radacct set acctupdatetime = now() - interval '1 minute' where acctsessionid = 'open-1'")
        )
        s.execute(
            text(
                "insert into subscriber_usage_daily (tenant_id, subscriber_id, day, input_octets, "
                "output_octets) values (:t, :s, :today, 10, 20), (:t, :s, :yesterday, 1, 2)"
            ),
            {"t": tenant, "s": sub, "today": now.date(), "yesterday": now.date() - dt.timedelta(days=1)},
        )
    return {"sub": str(sub), "nas": int(nas), "cisco": int(cisco), "today": now.date().isoformat()}


def test_active_sessions_have_live_duration_and_bytes(client: TestClient, db: Database, auth: TokenFor) -> None:
    world(db, "acme", "192.0.2.1")
    world(db, "beta", "198.51.100.1")
    body = client.get("/api/v1/radius/sessions", headers=auth("acme", "support_agent")).json()
    assert body["total"] == 1
    [item] = body["items"]
    assert item["acctsessionid"] == "open-1" and item["nas_ip"] == "192.0.2.1"
    assert 3500 <= item["duration_seconds"] <= 3700
    assert (item["upload_octets"], item["download_octets"]) == (100, 2000)
    history = client.get("/api/v1/radius/sessions?active=false", headers=auth("acme", "noc_engineer")).json()
    assert {i["acctsessionid"] for i in history["items"]} == {"open-1", "done-1"}
    done = next(i for i in history["items"] if i["acctsessionid"] == "done-1")
    assert done["duration_seconds"] == 3600
    by_nas = client.get("/api/v1/radius/sessions?active=false&nas=198.51.100.1", headers=auth("acme", "tenant_admin"))
    assert by_nas.json()["total"] == 0  # beta's NAS address: nothing of acme's
    bad = client.get("/api/v1/radius/sessions?nas=not-an-ip", headers=auth("acme", "tenant_admin"))
    assert bad.status_code == 422 and "nas" in bad.text
    assert client.get("/api/v1/radius/sessions", headers=auth("acme", "field_tech")).status_code == 403


def test_usage_per_day_and_period(client: TestClient, db: Database, auth: TokenFor) -> None:
    ids = world(db, "acme", "192.0.2.1")
    other = world(db, "beta", "198.51.100.1")
    r = client.get(f"/api/v1/subscribers/{ids['sub']}/usage", headers=auth("acme", "support_agent"))
    assert r.status_code == 200, r.text
    body = r.json()
    today = dt.date.fromisoformat(str(ids["today"]))  # the day world() wrote, whatever the clock says now
    assert [d["day"] for d in body["days"]] == [str(today - dt.timedelta(days=1)), str(today)]
    assert body["days"][-1] == {"day": str(today), "upload_octets": 10, "download_octets": 20}
    assert body["period_start"] <= str(today)
    gone = client.get(f"/api/v1/subscribers/{other['sub']}/usage", headers=auth("acme", "tenant_admin"))
    assert gone.status_code == 404
    backwards = client.get(
        f"/api/v1/subscribers/{ids['sub']}/usage?from=2026-02-01&to=2026-01-01", headers=auth("acme", "tenant_admin")
    )
    assert backwards.status_code == 422 and "from" in backwards.text
    listing = client.get("/api/v1/subscriber_usage_daily", headers=auth("acme", "noc_engineer")).json()
    assert listing["total"] == 2 and all(i["subscriber_id"] == ids["sub"] for i in listing["items"])


def test_credentials_check(client: TestClient, db: Database, auth: TokenFor, admin: psycopg.Connection[Any]) -> None:
    ids = world(db, "acme", "192.0.2.1")
    other = world(db, "beta", "198.51.100.1", nt=True, password="beta-pw")
    url = f"/api/v1/subscribers/{ids['sub']}/test-credentials"
    tech = auth("acme", "field_tech")
    # One session is open and Simultaneous-Use is 1: a second login would be refused.
    busy = client.post(url, json={"password": "pw-1", "nas_id": ids["nas"]}, headers=tech).json()
    assert busy["result"] == "reject" and "already online" in busy["reason"]
    with db.tenant("acme") as s:
        s.execute(text("update radacct set acctstoptime = now() where acctsessionid = 'open-1'"))
    ok = client.post(url, json={"password": "pw-1", "nas_id": ids["nas"]}, headers=tech).json()
    assert ok["result"] == "accept" and ok["nas_type"] == "mikrotik"
    assert [(a["attribute"], a["value"]) for a in ok["reply"]] == [
        ("Mikrotik-Rate-Limit", "10M/50M"),
        ("Session-Timeout", "3600"),
    ]
    cisco = client.post(url, json={"password": "pw-1", "nas_id": ids["cisco"]}, headers=tech).json()
    assert [a["attribute"] for a in cisco["reply"]] == ["Cisco-AVPair", "Session-Timeout"]
    wrong = client.post(url, json={"password": "nope", "nas_id": ids["nas"]}, headers=tech).json()
    assert (wrong["result"], wrong["reason"]) == ("reject", "wrong password")
    # NT-Password at rest works too (beta's subscriber).
    with db.tenant("beta") as s:
        s.execute(text("update radacct set acctstoptime = now() where acctsessionid = 'open-1'"))
    nt = client.post(
        f"/api/v1/subscribers/{other['sub']}/test-credentials",
        json={"password": "beta-pw", "nas_id": other["nas"]},
        headers=auth("beta", "noc_engineer"),
    )
    assert nt.json()["result"] == "accept", nt.text
    # Another tenant's subscriber is 404; another tenant's NAS is an unknown NAS (422 naming nas_id).
    assert (
        client.post(
            f"/api/v1/subscribers/{other['sub']}/test-credentials",
            json={"password": "x", "nas_id": ids["nas"]},
            headers=tech,
        ).status_code
        == 404
    )
    foreign_nas = client.post(url, json={"password": "pw-1", "nas_id": other["nas"]}, headers=tech)
    assert foreign_nas.status_code == 422 and foreign_nas.json()["field"] == "nas_id"
    missing = client.post(url, json={"nas_id": ids["nas"]}, headers=tech)
    assert missing.status_code == 422 and "password" in missing.text
    # Suspended service: the renderer's Auth-Type := Reject.
    with db.tenant("acme") as s:
        s.execute(
            text(
                "insert into radcheck (tenant_id, username, attribute, op, value) "
                "values ('acme', 'alice', 'Auth-Type', ':=', 'Reject')"
            )
        )
    off = client.post(url, json={"password": "pw-1", "nas_id": ids["nas"]}, headers=tech).json()
    assert off["result"] == "reject" and "not active" in off["reason"]
    # Audited, without the password.
    changes = [
        r[0]
        for r in admin.execute(
            "select changes::text from audit_events where tenant_id = 'acme' and entity_id = %s", (ids["sub"],)
        )
    ]
    assert changes and all("pw-1" not in c and "nope" not in c for c in changes)
    assert (
        client.post(
            url, json={"password": "pw-1", "nas_id": ids["nas"]}, headers=auth("acme", "tenant_admin")
        ).status_code
        == 200
    )
