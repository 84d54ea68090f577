"""Subscriber credentials: MD4/NT hash, the write-only pppoe_password, and the password action."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from ispops.db.session import Database
from ispops.radius import provisioning
from tests.api.conftest import TokenFor, api_settings, app_client, auth, client
from tests.factories import make_tenant

# Fixtures used below (the API ones live in tests/api/conftest.py, which applies to tests/api only).
__all__ = ["api_settings", "app_client", "auth", "client"]

SECRET = "Tr0ub4dor&3 horse"


# RFC 1320, appendix A.5.
@pytest.mark.parametrize(
    ("message", "digest"),
    [
        (b"", "31d6cfe0d16ae931b73c59d7e0c089c0"),
        (b"a", "bde52cb31de33e46245e05fbdbd6fb24"),
        (b"abc", "a448017aaf21d8525fc10ae87aa6729d"),
        (b"message digest", "d9130a8164549fe818874806e1c7014b"),
        (b"abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"),
        (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "043f8582f241db351ce627e153e7f0e4"),
        (b"1234567890" * 8, "e33b4ddc9c38f2199c3e7b164fcc0536"),
    ],
)
def test_md4_rfc1320_vectors(message: bytes, digest: str) -> None:
    assert provisioning.md4(message).hex() == digest


def test_md4_block_boundaries_are_padded_correctly() -> None:
    # 55, 56 and 64 bytes straddle the length field; all must give 16 bytes and differ.
    digests = {provisioning.md4(b"x" * n) for n in (55, 56, 63, 64, 65, 119, 120)}
    assert len(digests) == 7 and all(len(d) == 16 for d in digests)


@pytest.mark.parametrize(
    ("password", "nt_hash"),
    [
        ("password", "0x8846F7EAEE8FB117AD06BDD830B7586C"),
        ("clientPass", "0x44EBBA8D5312B8D611474411F56989AE"),  # RFC 2759 section 9.2
        ("", "0x31D6CFE0D16AE931B73C59D7E0C089C0"),
    ],
)
def test_nt_password_known_vectors(password: str, nt_hash: str) -> None:
    assert provisioning.nt_password_hash(password) == nt_hash
    assert provisioning.credential("nt_password", password) == ("NT-Password", nt_hash)
    assert provisioning.credential("cleartext", password) == ("Cleartext-Password", password)


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("x", True),
        ("a" * 128, True),
        (" spaced out ~", True),
        ("", False),
        ("a" * 129, False),
        ("tab\there", False),
        ("new\nline", False),
        ("caf\u00e9", False),
    ],
)
def test_password_rules(password: str, ok: bool) -> None:
    assert (provisioning.password_problem(password) is None) is ok


def _isp(db: Database, tenant: str, *, nt: bool = False) -> None:
    make_tenant(db, tenant)
    with db.platform() as s:
        s.execute(
            text("update tenants set radius_password_type = :p where id = :t"),
            {"p": "nt_password" if nt else "cleartext", "t": tenant},
        )


def _credentials(admin: psycopg.Connection[Any], tenant: str) -> list[tuple[Any, ...]]:
    return admin.execute(
        "select username, attribute, value from radcheck where tenant_id = %s "
        "and attribute in ('Cleartext-Password', 'NT-Password') order by username",
        (tenant,),
    ).fetchall()


def _create(client: TestClient, headers: dict[str, str], **extra: Any) -> Any:
    body = {"subscriber_number": "S-1", "service_type": "ftth", "pppoe_username": "alice", **extra}
    return client.post("/api/v1/subscribers", json=body, headers=headers)


def test_create_and_patch_take_a_write_only_password(
    client: TestClient, db: Database, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    _isp(db, "isp-a")
    h = auth("isp-a", "support_agent")
    made = _create(client, h, pppoe_password=SECRET)
    assert made.status_code == 201, made.text
    assert "pppoe_password" not in made.json() and SECRET not in made.text
    sid = made.json()["id"]
    assert _credentials(admin, "isp-a") == [("alice", "Cleartext-Password", SECRET)]
    assert admin.execute("select count(*) from subscribers where pppoe_password is not null").fetchone() == (0,)

    changed = client.patch(
        f"/api/v1/subscribers/{sid}", json={"pppoe_password": "n3w-one", "pppoe_username": "al"}, headers=h
    )
    assert changed.status_code == 200, changed.text
    assert "pppoe_password" not in changed.json() and "n3w-one" not in changed.text
    assert _credentials(admin, "isp-a") == [("al", "Cleartext-Password", "n3w-one")]

    # Only the password: the row is replaced, nothing else moves.
    assert client.patch(f"/api/v1/subscribers/{sid}", json={"pppoe_password": "third"}, headers=h).status_code == 200
    assert _credentials(admin, "isp-a") == [("al", "Cleartext-Password", "third")]
    assert admin.execute("select count(*) from subscribers where pppoe_password is not null").fetchone() == (0,)

    # Nowhere in the API: the subscriber, lists, radcheck (masked), the audit trail.
    admin_h = auth("isp-a", "tenant_admin")
    for url in (
        f"/api/v1/subscribers/{sid}",
        "/api/v1/subscribers",
        "/api/v1/subscribers?q=al",
        "/api/v1/radcheck",
        "/api/v1/audit_events?entity=subscribers",
    ):
        body = client.get(url, headers=admin_h)
        assert body.status_code == 200, (url, body.text)
        for secret in (SECRET, "n3w-one", "third"):
            assert secret not in body.text, url
    masked = client.get("/api/v1/radcheck?attribute=Cleartext-Password", headers=admin_h).json()["items"]
    assert [r["value"] for r in masked] == ["********"]
    # The OpenAPI document marks it write-only.
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert schema["SubscribersCreate"]["properties"]["pppoe_password"]["writeOnly"] is True
    assert "pppoe_password" not in schema["SubscribersRead"]["properties"]


def test_invalid_passwords_are_422_naming_the_field(
    client: TestClient, db: Database, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    _isp(db, "isp-a")
    h = auth("isp-a", "tenant_admin")
    for bad in ("", "x" * 129, "line\nbreak", None):
        refused = _create(client, h, pppoe_password=bad)
        assert refused.status_code == 422 and refused.json()["field"] == "pppoe_password", refused.text
    no_user = _create(client, h, pppoe_username=None, pppoe_password="fine")
    assert no_user.status_code == 422 and no_user.json()["field"] == "pppoe_username", no_user.text
    assert admin.execute("select count(*) from subscribers").fetchone() == (0,)
    sid = _create(client, h).json()["id"]
    action = client.post(f"/api/v1/subscribers/{sid}/password", json={"password": "\u00e9t\u00e9"}, headers=h)
    assert action.status_code == 422 and action.json()["field"] == "password", action.text
    assert _credentials(admin, "isp-a") == []


def test_password_action_roles_tenants_and_states(
    client: TestClient, db: Database, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    _isp(db, "isp-a")
    _isp(db, "isp-b")
    sid = _create(client, auth("isp-a", "tenant_admin"), pppoe_password="first").json()["id"]
    url = f"/api/v1/subscribers/{sid}/password"

    reset = client.post(url, json={"password": SECRET}, headers=auth("isp-a", "support_agent"))
    assert reset.status_code == 204 and reset.content == b""
    assert _credentials(admin, "isp-a") == [("alice", "Cleartext-Password", SECRET)]
    assert client.post(url, json={"password": "x"}, headers=auth("isp-a", "field_tech")).status_code == 403

    other = client.post(url, json={"password": "hijack"}, headers=auth("isp-b", "tenant_admin"))
    assert other.status_code == 404
    assert _credentials(admin, "isp-a") == [("alice", "Cleartext-Password", SECRET)]
    assert _credentials(admin, "isp-b") == []

    audit = admin.execute("select changes::text from audit_events where entity_id = %s", (sid,)).fetchall()
    assert audit and all(SECRET not in row[0] and "first" not in row[0] for row in audit)

    h = auth("isp-a", "tenant_admin")
    assert client.post(f"/api/v1/subscribers/{sid}/terminate", headers=h).status_code == 200
    assert _credentials(admin, "isp-a") == []  # terminated: every RADIUS row is gone
    late = client.post(url, json={"password": "again"}, headers=h)
    assert late.status_code == 409 and late.json()["field"] == "status"


def test_nt_password_tenant_and_switching_type(
    client: TestClient, db: Database, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    _isp(db, "isp-a", nt=True)
    h = auth("isp-a", "tenant_admin")
    sid = _create(client, h, pppoe_password="password").json()["id"]
    assert _credentials(admin, "isp-a") == [("alice", "NT-Password", "0x8846F7EAEE8FB117AD06BDD830B7586C")]

    # Switching the tenant to cleartext changes nothing until the next password set (a hash cannot be undone).
    with db.platform() as s:
        s.execute(text("update tenants set radius_password_type = 'cleartext' where id = 'isp-a'"))
    assert _credentials(admin, "isp-a") == [("alice", "NT-Password", "0x8846F7EAEE8FB117AD06BDD830B7586C")]
    assert (
        client.post(f"/api/v1/subscribers/{sid}/password", json={"password": "clientPass"}, headers=h).status_code
        == 204
    )
    assert _credentials(admin, "isp-a") == [("alice", "Cleartext-Password", "clientPass")]


def test_same_username_in_two_tenants_keeps_separate_passwords(
    client: TestClient, db: Database, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    _isp(db, "isp-a")
    _isp(db, "isp-b", nt=True)
    assert _create(client, auth("isp-a", "tenant_admin"), pppoe_password="pw-a").status_code == 201
    assert _create(client, auth("isp-b", "tenant_admin"), pppoe_password="password").status_code == 201
    assert _credentials(admin, "isp-a") == [("alice", "Cleartext-Password", "pw-a")]
    assert _credentials(admin, "isp-b") == [("alice", "NT-Password", "0x8846F7EAEE8FB117AD06BDD830B7586C")]


def test_rendered_attributes_cannot_be_edited_by_hand(
    client: TestClient, db: Database, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    _isp(db, "isp-a")
    h = auth("isp-a", "noc_engineer")
    sid = _create(client, auth("isp-a", "tenant_admin")).json()["id"]
    assert client.post(f"/api/v1/subscribers/{sid}/activate", headers=h).status_code == 200
    for table, attribute, value in [
        ("radreply", "Mikrotik-Rate-Limit", "1M/1M"),
        ("radreply", "Cisco-AVPair", "ip:sub-qos-policy-in=X"),
        ("radcheck", "Simultaneous-Use", "5"),
        ("radcheck", "Auth-Type", "Accept"),
    ]:
        refused = client.post(
            f"/api/v1/{table}",
            json={"username": "alice", "subscriber_id": sid, "attribute": attribute, "value": value},
            headers=h,
        )
        assert refused.status_code == 422 and refused.json()["field"] == "attribute", refused.text
    manual = client.post(
        "/api/v1/radreply",
        json={"username": "alice", "subscriber_id": sid, "attribute": "Cisco-AVPair", "value": "ip:addr-pool=biz"},
        headers=h,
    )
    assert manual.status_code == 201, manual.text
    turned = client.patch(
        f"/api/v1/radreply/{manual.json()['id']}", json={"value": "ip:sub-qos-policy-out=Y"}, headers=h
    )
    assert turned.status_code == 422
    rendered = admin.execute("select id from radreply where attribute = 'Acct-Interim-Interval'").fetchone()
    assert rendered is not None
    edit = client.patch(f"/api/v1/radreply/{rendered[0]}", json={"value": "60"}, headers=h)
    assert edit.status_code == 422 and edit.json()["field"] == "attribute"


def test_api_lifecycle_keeps_radius_rows_in_step(
    client: TestClient, db: Database, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    _isp(db, "isp-a")
    h = auth("isp-a", "tenant_admin")
    plans = [
        client.post(
            "/api/v1/bandwidth_profiles", json={"name": n, "download_mbps": d, "upload_mbps": u}, headers=h
        ).json()["id"]
        for n, d, u in (("Home 20", 20, 5), ("Home 50", 50, 10))
    ]
    sid = _create(client, h, pppoe_password=SECRET, bandwidth_profile_id=plans[0]).json()["id"]

    def rate() -> list[str]:
        return [
            r[0]
            for r in admin.execute(
                "select value from radreply where username = 'alice' and attribute = 'Mikrotik-Rate-Limit'"
            )
        ]

    def auth_type() -> list[str]:
        return [
            r[0]
            for r in admin.execute("select value from radcheck where username = 'alice' and attribute = 'Auth-Type'")
        ]

    assert auth_type() == ["Reject"] and rate() == []  # pending
    assert client.post(f"/api/v1/subscribers/{sid}/activate", headers=h).status_code == 200
    assert auth_type() == [] and rate() == ["5M/20M 0/0 0/0 0/0 5"]
    assert (
        client.patch(f"/api/v1/subscribers/{sid}", json={"bandwidth_profile_id": plans[1]}, headers=h).status_code
        == 200
    )
    assert rate() == ["10M/50M 0/0 0/0 0/0 5"]
    assert (
        client.patch(f"/api/v1/bandwidth_profiles/{plans[1]}", json={"download_mbps": 60}, headers=h).status_code == 200
    )
    assert rate() == ["10M/60M 0/0 0/0 0/0 5"]
    assert client.post(f"/api/v1/subscribers/{sid}/suspend", headers=h).status_code == 200
    assert auth_type() == ["Reject"] and rate() == [] and _credentials(admin, "isp-a") != []
    assert client.post(f"/api/v1/subscribers/{sid}/resume", headers=h).status_code == 200
    assert auth_type() == [] and rate() == ["10M/60M 0/0 0/0 0/0 5"]
    assert client.delete(f"/api/v1/subscribers/{sid}", headers=h).status_code == 204
    assert admin.execute("select count(*) from radcheck").fetchone() == (0,)
    assert admin.execute("select count(*) from radreply").fetchone() == (0,)
