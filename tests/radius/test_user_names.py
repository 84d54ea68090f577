"""User names RADIUS can match (issue 13, item 5): every name the API accepts authenticates and is accounted
under its own spelling, through a real FreeRADIUS whose rlm_sql escapes them (migration 0026)."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from pyrad import packet
from sqlalchemy import text

from ispops.db.session import Database
from ispops.radius.provisioning import set_password
from tests.api.conftest import TokenFor
from tests.factories import make_tenant
from tests.radius.freeradius import FreeRadius, Nas

SECRET = "names-secret-1"
NAMES = [
    "o'brien",
    "CORP\\bob",
    "a=b",
    "sp ace",
    "\u00fcn\u00efc\u00f6de",
    "plus+tag@realm",
    'q"uote',
    "50%off",
    "semi;colon",
    "br{ace}",
    "back\\t-not-a-tab",
    "=3D",
    "x\\101",
]


@pytest.fixture(scope="module")
def world(radius_db: Database, radiusd: FreeRadius) -> dict[str, str]:
    make_tenant(radius_db, "names")
    ids: dict[str, str] = {}
    with radius_db.tenant("names") as s:
        s.execute(
            text(
                "insert into nas (tenant_id, nasname, shortname, type, secret, require_ma) "
                "values ('names', '127.0.0.2', 'bras', 'mikrotik', :s, 'no')"
            ),
            {"s": SECRET},
        )
        for n, name in enumerate(NAMES):
            sid = str(
                s.execute(
                    text(
                        "insert into subscribers (tenant_id, subscriber_number, service_type, status, pppoe_username) "
                        "values ('names', :num, 'ftth', 'active', :u) returning id"
                    ),
                    {"num": f"N-{n}", "u": name},
                ).scalar_one()
            )
            set_password(s, tenant_id="names", subscriber_id=sid, password=f"pw-{n}")
            ids[name] = sid
    radiusd.start()
    return ids


@pytest.fixture
def tenants() -> list[str]:
    return ["names"]


@pytest.mark.parametrize(
    ("escaped", "name"),
    [
        # What FreeRADIUS 3.2.1's rlm_sql put into our queries for these names (read from radpostauth before
        # migration 0026): C-style printing first, then "=XX" for every byte outside the safe set.
        ("o=27brien", "o'brien"),
        ("CORP=5C=5Cbob", "CORP\\bob"),
        ("a=3Db", "a=b"),
        ("tab=5Ctx", "tab\tx"),
        ("q=5C=22x", 'q"x'),
        ("plus=2Bx", "plus+x"),
        ("\u00fcn\u00ef", "\u00fcn\u00ef"),
        ("plain.user@realm", "plain.user@realm"),
        ("=5C101", "A"),  # \101 octal
        ("=5C=5C101", "\\101"),
        ("=3", "=3"),  # not an escape: left as it is
    ],
)
def test_the_escaping_is_undone(radius: psycopg.Connection[Any], escaped: str, name: str) -> None:
    assert radius.execute("select ispops_radius_name(%s)", (escaped,)).fetchone() == (name,)


def test_every_stored_name_logs_in_through_freeradius(
    world: dict[str, str], radiusd: FreeRadius, owner: psycopg.Connection[Any]
) -> None:
    nas = Nas(radiusd, "127.0.0.2", SECRET)
    for n, name in enumerate(NAMES):
        ok = nas.pap(name, f"pw-{n}")
        assert ok is not None and ok.code == packet.AccessAccept, (name, radiusd.log_text()[-2000:])
        bad = nas.pap(name, "wrong")
        assert bad is not None and bad.code == packet.AccessReject, name
    # The authentication log (written before each answer) stores the names as they are too.
    owner.execute("select set_config('app.current_tenant_id', 'names', false)")
    logged = {r[0] for r in owner.execute("select username from radpostauth")}
    assert set(NAMES) <= logged


def test_accounting_keeps_the_name_and_links_the_subscriber(
    world: dict[str, str], radiusd: FreeRadius, owner: psycopg.Connection[Any]
) -> None:
    nas = Nas(radiusd, "127.0.0.2", SECRET)
    # Start and Stop: the session is accounted under the name, and closed again, so it never counts against
    # the Simultaneous-Use := 1 of these plan-less subscribers in the login test (whatever the order).
    for n, name in enumerate(NAMES):
        for status, extra in (("Start", {}), ("Stop", {"Acct_Session_Time": 60})):
            reply = nas.accounting(
                status, User_Name=name, Acct_Session_Id=f"names-{n}", Framed_IP_Address="100.64.9.1", **extra
            )
            assert reply is not None and reply.code == packet.AccountingResponse, (status, name)
    owner.execute("select set_config('app.current_tenant_id', 'names', false)")
    deadline = time.monotonic() + 20  # the spool is replayed within a few seconds
    rows: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline:
        rows = owner.execute(
            "select username, subscriber_id::text from radacct where acctsessionid like 'names-%' "
            "and acctstoptime is not null order by acctsessionid"
        ).fetchall()
        if len(rows) == len(NAMES):
            break
        time.sleep(0.2)
    assert sorted(rows) == sorted((name, world[name]) for name in NAMES), radiusd.log_text()[-2000:]


def test_control_characters_are_refused_naming_the_field(
    client: TestClient, db: Database, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    make_tenant(db, "isp-n")
    h = auth("isp-n", "tenant_admin")
    for name in ("tab\there", "new\nline", "bell\x07", "del\x7f"):
        made = client.post(
            "/api/v1/subscribers",
            headers=h,
            json={"subscriber_number": "S-1", "service_type": "ftth", "pppoe_username": name},
        )
        assert made.status_code == 422, made.text
        assert made.json()["field"] == "pppoe_username", made.text
        manual = client.post(
            "/api/v1/radreply",
            headers=h,
            json={"username": name, "attribute": "Reply-Message", "op": "=", "value": "hi"},
        )
        assert manual.status_code == 422, manual.text
        assert manual.json()["field"] == "username", manual.text
    assert admin.execute("select count(*) from subscribers where tenant_id = 'isp-n'").fetchone() == (0,)
    assert admin.execute("select count(*) from radreply where tenant_id = 'isp-n'").fetchone() == (0,)
    # The printable ones the issue named are taken.
    for n, name in enumerate(("o'brien", "CORP\\bob")):
        made = client.post(
            "/api/v1/subscribers",
            headers=h,
            json={"subscriber_number": f"S-{n}", "service_type": "ftth", "pppoe_username": name},
        )
        assert made.status_code == 201, made.text
