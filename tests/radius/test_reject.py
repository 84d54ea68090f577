"""Every Access-Reject has one shape, and every answer is signed (issue 13, items 2, 3 and 9).

Real FreeRADIUS with our rendered configuration: a wrong password, an unknown user, Simultaneous-Use
exceeded (a session opened through accounting first), Auth-Type Reject and a suspended tenant all get an
Access-Reject with nothing but a valid Message-Authenticator; accepts carry one too.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from pyrad import packet
from sqlalchemy import text

from ispops.db.session import Database
from tests.factories import make_tenant
from tests.radius.freeradius import FreeRadius, Nas, message_authenticator_valid, reply_attributes

SECRET = "reject-secret-1"
ACME_NAS = "127.0.0.40"
GAMMA_NAS = "127.0.0.41"  # its tenant is suspended
# What alice's accept carries and a reject must not (RFC 2865 5.44).
ALICE_REPLY = [
    ("Mikrotik-Rate-Limit", "10M/50M"),
    ("Acct-Interim-Interval", "300"),
    ("Framed-IP-Address", "100.64.9.9"),
    ("Session-Timeout", "3600"),
]


def add_nas(db: Database, tenant: str, address: str) -> None:
    with db.tenant(tenant) as s:
        s.execute(
            text(
                "insert into nas (tenant_id, nasname, shortname, type, secret, require_ma) "
                "values (:t, :a, 'bras', 'mikrotik', :s, 'no')"
            ),
            {"t": tenant, "a": address, "s": SECRET},
        )


def add_user(db: Database, tenant: str, user: str, password: str, *extra: tuple[str, str]) -> None:
    with db.tenant(tenant) as s:
        s.execute(
            text(
                "insert into radcheck (tenant_id, username, attribute, op, value) "
                "values (:t, :u, 'Cleartext-Password', ':=', :p)"
            ),
            {"t": tenant, "u": user, "p": password},
        )
        for attribute, value in extra:
            s.execute(
                text("insert into radcheck (tenant_id, username, attribute, op, value) values (:t, :u, :a, ':=', :v)"),
                {"t": tenant, "u": user, "a": attribute, "v": value},
            )
        for attribute, value in ALICE_REPLY:
            s.execute(
                text("insert into radreply (tenant_id, username, attribute, op, value) values (:t, :u, :a, ':=', :v)"),
                {"t": tenant, "u": user, "a": attribute, "v": value},
            )


@pytest.fixture(scope="module")
def world(radius_db: Database, radiusd: FreeRadius) -> FreeRadius:
    make_tenant(radius_db, "acme")
    make_tenant(radius_db, "gamma")
    add_nas(radius_db, "acme", ACME_NAS)
    add_nas(radius_db, "gamma", GAMMA_NAS)
    add_user(radius_db, "acme", "alice", "alice-pw")
    add_user(radius_db, "acme", "dave", "dave-pw", ("Simultaneous-Use", "1"))
    # erin is dave's twin for the log test, so neither test finds the other's open session (any order)
    add_user(radius_db, "acme", "erin", "erin-pw", ("Simultaneous-Use", "1"))
    add_user(radius_db, "acme", "barred", "barred-pw", ("Auth-Type", "Reject"))
    add_user(radius_db, "gamma", "alice", "gamma-pw")
    with radius_db.platform() as s:
        s.execute(text("update tenants set status = 'suspended' where id = 'gamma'"))
    radiusd.start()
    return radiusd


@pytest.fixture
def tenants() -> list[str]:
    return ["acme", "gamma"]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def open_session(world: FreeRadius, db: Database, nas: Nas, user: str, session_id: str) -> None:
    """A Start through FreeRADIUS (spooled, then replayed into radacct): the session counts once it is there."""
    reply = nas.accounting("Start", User_Name=user, Acct_Session_Id=session_id)
    assert reply is not None and reply.code == packet.AccountingResponse, world.log_text()[-2000:]

    def there() -> bool:
        with db.tenant("acme") as s:
            return bool(
                s.execute(
                    text("select count(*) from radacct where acctsessionid = :i and acctstoptime is null"),
                    {"i": session_id},
                ).scalar_one()
            )

    wait_for(there, f"session {session_id} in radacct")


def signed_reject(nas: Nas, reply: packet.Packet | None, world: FreeRadius) -> list[str]:
    assert reply is not None and reply.code == packet.AccessReject, world.log_text()[-3000:]
    assert nas.last_request is not None
    assert message_authenticator_valid(reply, nas.last_request, nas.secret)
    return sorted(reply_attributes(reply))


def test_every_reject_has_the_same_shape(world: FreeRadius, radius_db: Database) -> None:
    acme, gamma = Nas(world, ACME_NAS, SECRET), Nas(world, GAMMA_NAS, SECRET)
    assert acme.pap("dave", "dave-pw").code == packet.AccessAccept  # type: ignore[union-attr]
    open_session(world, radius_db, acme, "dave", "rej-dave-1")
    shapes = {
        "wrong password": signed_reject(acme, acme.pap("alice", "wrong"), world),
        "unknown user": signed_reject(acme, acme.pap("nobody", "alice-pw"), world),
        "Simultaneous-Use": signed_reject(acme, acme.pap("dave", "dave-pw"), world),
        "Auth-Type Reject": signed_reject(acme, acme.pap("barred", "barred-pw"), world),
        "suspended tenant": signed_reject(gamma, gamma.pap("alice", "gamma-pw"), world),
        "CHAP wrong password": signed_reject(acme, acme.chap("alice", "wrong"), world),
        "MS-CHAPv2 wrong password": signed_reject(acme, acme.mschapv2("alice", "wrong"), world),
        "MS-CHAPv2 unknown user": signed_reject(acme, acme.mschapv2("nobody", "wrong"), world),
    }
    assert shapes == {cause: ["Message-Authenticator"] for cause in shapes}


def test_accepts_carry_a_valid_message_authenticator(world: FreeRadius) -> None:
    nas = Nas(world, ACME_NAS, SECRET)
    for login in (nas.pap, nas.chap, nas.mschapv2):
        reply = login("alice", "alice-pw")
        assert reply is not None and reply.code == packet.AccessAccept, world.log_text()[-3000:]
        assert nas.last_request is not None
        assert message_authenticator_valid(reply, nas.last_request, nas.secret)
        got = reply_attributes(reply)
        assert got["Mikrotik-Rate-Limit"] == ["10M/50M"]
        assert got["Framed-IP-Address"] == ["100.64.9.9"]


def test_an_unsigned_request_gets_a_signed_answer(world: FreeRadius) -> None:
    """A NAS that sends no Message-Authenticator (require_ma = no) still gets one back."""
    nas = Nas(world, ACME_NAS, SECRET)
    for password, code in (("alice-pw", packet.AccessAccept), ("wrong", packet.AccessReject)):
        reply = nas.pap_unsigned("alice", password)
        assert reply is not None and reply.code == code
        assert nas.last_request is not None
        assert message_authenticator_valid(reply, nas.last_request, nas.secret)


def test_the_verifier_refuses_a_tampered_signature(world: FreeRadius) -> None:
    """The check above is a real one: the same reply with one bit changed does not pass."""
    nas = Nas(world, ACME_NAS, SECRET)
    reply = nas.pap("alice", "wrong")
    assert reply is not None and nas.last_request is not None
    raw = bytearray(reply.raw_packet)
    raw[-1] ^= 1
    reply.raw_packet = bytes(raw)
    assert not message_authenticator_valid(reply, nas.last_request, nas.secret)


def test_rejects_are_not_logged_as_proxy_failures(world: FreeRadius, radius_db: Database) -> None:
    nas = Nas(world, ACME_NAS, SECRET)
    open_session(world, radius_db, nas, "erin", "rej-erin-1")
    assert nas.pap("erin", "erin-pw").code == packet.AccessReject  # type: ignore[union-attr]
    assert nas.pap("nobody", "x").code == packet.AccessReject  # type: ignore[union-attr]
    assert nas.pap("barred", "barred-pw").code == packet.AccessReject  # type: ignore[union-attr]
    log = world.log_text()
    assert "Login incorrect" in log  # the rejects are logged ...
    assert "Cannot proxy" not in log  # ... as what they are


def test_the_start_log_has_no_warnings(world: FreeRadius) -> None:
    start = world.log_text().split("Ready to process requests")[0]
    assert "Ready" not in start and start.strip(), start
    warnings = [line for line in start.splitlines() if "warn" in line.lower() or 'Ignoring "' in line]
    assert warnings == []
