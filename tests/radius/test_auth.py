"""Authentication through a real FreeRADIUS with our rendered configuration (PAP, CHAP, tenants)."""

from __future__ import annotations

import pytest
from pyrad import packet
from sqlalchemy import text

from ispops.db.session import Database
from ispops.radius.provisioning import nt_password_hash
from tests.factories import make_tenant
from tests.radius.freeradius import FreeRadius, Nas, reply_attributes

SECRET = "nas-secret-1"
# tenant -> (status, [(nas address, nas type, require_ma)], alice's password)
WORLD = {
    "acme": (
        "active",
        [
            ("127.0.0.2", "mikrotik", "no"),
            ("127.0.0.5", "other", "no"),
            ("127.0.0.6", "cisco", "yes"),
            ("127.0.0.8", "juniper", "no"),
        ],
        "acme-pw",
    ),
    "beta": ("active", [("127.0.0.3", "cisco", "no")], "beta-pw"),
    "gamma": ("suspended", [("127.0.0.4", "mikrotik", "no")], "gamma-pw"),
}
REPLY = [
    ("Mikrotik-Rate-Limit", "10M/50M"),
    ("Cisco-AVPair", "ip:sub-qos-policy-in=up-10M"),
    ("Cisco-AVPair", "ip:sub-qos-policy-out=down-50M"),
    ("ERX-Qos-Profile-Name", "plan-50M"),
    ("WISPr-Bandwidth-Max-Up", "10000000"),
    ("WISPr-Bandwidth-Max-Down", "50000000"),
    ("Session-Timeout", "3600"),
]


@pytest.fixture(scope="module")
def world(radius_db: Database, radiusd: FreeRadius) -> FreeRadius:
    for tenant, (status, nases, password) in WORLD.items():
        make_tenant(radius_db, tenant, status="active")
        with radius_db.tenant(tenant) as s:
            for n, (address, nas_type, ma) in enumerate(nases):
                s.execute(
                    text(
                        "insert into nas (tenant_id, nasname, shortname, type, secret, require_ma) "
                        "values (:t, :a, :short, :type, :secret, :ma)"
                    ),
                    {"t": tenant, "a": address, "short": f"bras{n}", "type": nas_type, "secret": SECRET, "ma": ma},
                )
            s.execute(
                text(
                    "insert into radcheck (tenant_id, username, attribute, op, value) "
                    "values (:t, 'alice', 'Cleartext-Password', ':=', :pw)"
                ),
                {"t": tenant, "pw": password},
            )
            for attribute, value in REPLY:
                s.execute(
                    text(
                        "insert into radreply (tenant_id, username, attribute, op, value) "
                        "values (:t, 'alice', :a, '+=', :v)"
                    ),
                    {"t": tenant, "a": attribute, "v": value},
                )
            s.execute(
                text(
                    "insert into radcheck (tenant_id, username, attribute, op, value) values "
                    "(:t, 'carol', 'NT-Password', ':=', :nt), (:t, 'dave', 'Cleartext-Password', ':=', 'dave-pw'), "
                    "(:t, 'dave', 'Simultaneous-Use', ':=', '1')"
                ),
                {"t": tenant, "nt": nt_password_hash("carol-pw")},
            )
        if status != "active":
            with radius_db.platform() as s:
                s.execute(text("update tenants set status = :s where id = :t"), {"s": status, "t": tenant})
    radiusd.start()
    return radiusd


def test_pap_accepts_the_right_password_and_rejects_a_wrong_one(world: FreeRadius) -> None:
    nas = Nas(world, "127.0.0.2", SECRET)
    ok = nas.pap("alice", "acme-pw")
    assert ok is not None and ok.code == packet.AccessAccept, world.log_text()[-3000:]
    bad = nas.pap("alice", "wrong")
    assert bad is not None and bad.code == packet.AccessReject
    nobody = nas.pap("mallory", "acme-pw")
    assert nobody is not None and nobody.code == packet.AccessReject


def test_chap(world: FreeRadius) -> None:
    nas = Nas(world, "127.0.0.2", SECRET)
    ok = nas.chap("alice", "acme-pw")
    assert ok is not None and ok.code == packet.AccessAccept, world.log_text()[-3000:]
    bad = nas.chap("alice", "beta-pw")
    assert bad is not None and bad.code == packet.AccessReject


def test_same_username_in_two_tenants_each_nas_authenticates_only_its_own(world: FreeRadius) -> None:
    acme, beta = Nas(world, "127.0.0.2", SECRET), Nas(world, "127.0.0.3", SECRET)
    assert acme.pap("alice", "acme-pw").code == packet.AccessAccept  # type: ignore[union-attr]
    assert acme.pap("alice", "beta-pw").code == packet.AccessReject  # type: ignore[union-attr]
    assert beta.pap("alice", "beta-pw").code == packet.AccessAccept  # type: ignore[union-attr]
    assert beta.pap("alice", "acme-pw").code == packet.AccessReject  # type: ignore[union-attr]


def test_unknown_nas_is_dropped(world: FreeRadius) -> None:
    stranger = Nas(world, "127.0.0.9", SECRET)
    stranger.client.timeout = 1
    assert stranger.pap("alice", "acme-pw") is None
    assert "unknown client" in world.log_text()


def test_suspended_tenants_nas_is_rejected(world: FreeRadius) -> None:
    reply = Nas(world, "127.0.0.4", SECRET).pap("alice", "gamma-pw")
    assert reply is not None and reply.code == packet.AccessReject


def test_wrong_shared_secret_gets_no_accept(world: FreeRadius) -> None:
    nas = Nas(world, "127.0.0.2", "not-the-secret")
    nas.client.timeout = 1
    reply = nas.pap("alice", "acme-pw")
    assert reply is None or reply.code != packet.AccessAccept


@pytest.mark.parametrize(
    ("address", "expected", "absent"),
    [
        ("127.0.0.2", {"Mikrotik-Rate-Limit": ["10M/50M"]}, ("Cisco-AVPair", "WISPr-Bandwidth-Max-Up")),
        (
            "127.0.0.6",
            {"Cisco-AVPair": ["ip:sub-qos-policy-in=up-10M", "ip:sub-qos-policy-out=down-50M"]},
            ("Mikrotik-Rate-Limit", "WISPr-Bandwidth-Max-Up"),
        ),
        ("127.0.0.8", {"ERX-Qos-Profile-Name": ["plan-50M"]}, ("Mikrotik-Rate-Limit", "Cisco-AVPair")),
        (
            "127.0.0.5",
            {"WISPr-Bandwidth-Max-Up": [10000000], "WISPr-Bandwidth-Max-Down": [50000000]},
            ("Mikrotik-Rate-Limit", "Cisco-AVPair"),
        ),
    ],
    ids=["mikrotik", "cisco", "juniper", "generic"],
)
def test_reply_attributes_follow_the_nas_vendor(
    world: FreeRadius, address: str, expected: dict[str, list[object]], absent: tuple[str, ...]
) -> None:
    reply = Nas(world, address, SECRET).pap("alice", "acme-pw")
    assert reply is not None and reply.code == packet.AccessAccept, world.log_text()[-3000:]
    got = reply_attributes(reply)
    for attribute, values in expected.items():
        assert got[attribute] == values
    assert got["Session-Timeout"] == [3600]
    for attribute in absent:
        assert attribute not in got


def test_nas_requiring_message_authenticator_drops_unsigned_requests(world: FreeRadius) -> None:
    nas = Nas(world, "127.0.0.6", SECRET)
    nas.client.timeout = 1
    assert nas.pap_unsigned("alice", "acme-pw") is None
    signed = nas.pap("alice", "acme-pw")
    assert signed is not None and signed.code == packet.AccessAccept


def test_post_auth_log_is_per_tenant_and_has_no_password(world: FreeRadius, radius_db: Database) -> None:
    Nas(world, "127.0.0.3", SECRET).pap("alice", "beta-pw")
    Nas(world, "127.0.0.3", SECRET).pap("alice", "nope")
    with radius_db.tenant("beta") as s:
        rows = s.execute(text("select username, reply, host(nasipaddress) from radpostauth")).all()
        text_of_table = s.execute(text("select coalesce(string_agg(t::text, ''), '') from radpostauth t")).scalar()
    assert ("alice", "Access-Accept", "127.0.0.3") in rows
    assert ("alice", "Access-Reject", "127.0.0.3") in rows
    assert "beta-pw" not in str(text_of_table) and "nope" not in str(text_of_table)


def test_mschapv2_with_cleartext_and_with_nt_hash(world: FreeRadius) -> None:
    nas = Nas(world, "127.0.0.2", SECRET)
    ok = nas.mschapv2("alice", "acme-pw")
    assert ok is not None and ok.code == packet.AccessAccept, world.log_text()[-3000:]
    assert "MS-CHAP2-Success" in reply_attributes(ok)
    hashed = nas.mschapv2("carol", "carol-pw")
    assert hashed is not None and hashed.code == packet.AccessAccept, world.log_text()[-3000:]
    bad = nas.mschapv2("carol", "wrong")
    assert bad is not None and bad.code == packet.AccessReject


def test_nt_hash_works_for_pap_but_not_chap(world: FreeRadius) -> None:
    nas = Nas(world, "127.0.0.2", SECRET)
    assert nas.pap("carol", "carol-pw").code == packet.AccessAccept  # type: ignore[union-attr]
    assert nas.chap("carol", "carol-pw").code == packet.AccessReject  # type: ignore[union-attr]


def test_simultaneous_use_counts_open_sessions(world: FreeRadius, radius_db: Database) -> None:
    nas = Nas(world, "127.0.0.2", SECRET)
    assert nas.pap("dave", "dave-pw").code == packet.AccessAccept  # type: ignore[union-attr]
    with radius_db.tenant("acme") as s:
        s.execute(
            text(
                "insert into radacct (tenant_id, acctsessionid, acctuniqueid, username, nasipaddress, "
                "acctstarttime) values ('acme', 'd1', 'd1', 'dave', '127.0.0.2', now())"
            )
        )
    assert nas.pap("dave", "dave-pw").code == packet.AccessReject  # type: ignore[union-attr]
    # The same user name in another tenant has its own count.
    assert Nas(world, "127.0.0.3", SECRET).pap("dave", "dave-pw").code == packet.AccessAccept  # type: ignore[union-attr]
    with radius_db.tenant("acme") as s:
        s.execute(text("update radacct set acctstoptime = now() where acctsessionid = 'd1'"))
    assert nas.pap("dave", "dave-pw").code == packet.AccessAccept  # type: ignore[union-attr]
