"""A tenant's RADIUS policy through ``GET/PATCH /api/v1/tenant/radius-policy`` (issue 13, item 7): who may,
what is refused, what it re-renders (radcheck/radreply, migration 0013) and the CoA it leads to."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from ispops.api.permissions import MATRIX, ROLES
from ispops.db.session import Database
from tests.api.conftest import TokenFor, api_settings, app_client, auth, client
from tests.factories import make_tenant

__all__ = ["api_settings", "app_client", "auth", "client"]  # fixtures (tests/api/conftest.py)

Admin = psycopg.Connection[Any]
PATH = "/api/v1/tenant/radius-policy"
DEFAULTS = {
    "radius_password_type": "cleartext",
    "radius_suspended_action": "reject",
    "radius_walled_garden_download_kbps": 256,
    "radius_walled_garden_upload_kbps": 256,
    "radius_walled_garden_list": "ispops-suspended",
    "radius_interim_interval": 300,
    "radius_session_timeout": None,
    "radius_stale_after_intervals": 3,
}


def add_subscriber(db: Database, tid: str, username: str, status: str, profile: uuid.UUID) -> uuid.UUID:
    with db.tenant(tid) as s:
        return uuid.UUID(
            str(
                s.execute(
                    text(
                        "insert into subscribers (tenant_id, subscriber_number, service_type, status, "
                        "bandwidth_profile_id, pppoe_username) values (:t, :n, 'ftth', :st, :p, :u) returning id"
                    ),
                    {"t": tid, "n": f"SUB-{username}", "st": status, "p": profile, "u": username},
                ).scalar_one()
            )
        )


@pytest.fixture
def site(db: Database) -> dict[str, Any]:
    """Two tenants, each with a plan, an active subscriber (alice) and a suspended one (bob)."""
    out: dict[str, Any] = {}
    for tid in ("tenant-a", "tenant-b"):
        make_tenant(db, tid)
        with db.tenant(tid) as s:
            plan = uuid.UUID(
                str(
                    s.execute(
                        text(
                            "insert into bandwidth_profiles (tenant_id, name, download_mbps, upload_mbps) "
                            "values (:t, 'basic', 50, 10) returning id"
                        ),
                        {"t": tid},
                    ).scalar_one()
                )
            )
        out[tid] = {
            "plan": plan,
            "alice": add_subscriber(db, tid, "alice", "active", plan),
            "bob": add_subscriber(db, tid, "bob", "suspended", plan),
        }
    return out


def rows(admin: Admin, tid: str, table: str, username: str) -> dict[str, str]:
    return dict(
        admin.execute(
            f"select attribute, value from {table} where tenant_id = %s and username = %s order by id",
            (tid, username),
        ).fetchall()
    )


def everything(admin: Admin) -> list[Any]:
    """The policy columns and every rendered row of both tenants, read past RLS."""
    return [
        admin.execute(f"select id, {', '.join(DEFAULTS)} from tenants order by id").fetchall(),
        admin.execute("select tenant_id, username, attribute, op, value from radcheck order by id").fetchall(),
        admin.execute("select tenant_id, username, attribute, op, value from radreply order by id").fetchall(),
        admin.execute("select count(*) from audit_events").fetchall(),
    ]


def test_admin_reads_and_changes_the_policy_and_the_rows_follow(
    site: dict[str, Any], client: TestClient, auth: TokenFor, admin: Admin
) -> None:
    headers = auth("tenant-a", "tenant_admin")
    got = client.get(PATH, headers=headers)
    assert got.status_code == 200, got.text
    assert got.json() == DEFAULTS
    assert rows(admin, "tenant-a", "radreply", "alice")["Acct-Interim-Interval"] == "300"
    assert rows(admin, "tenant-a", "radcheck", "bob") == {"Auth-Type": "Reject"}

    changed = client.patch(
        PATH,
        headers=headers,
        json={
            "radius_interim_interval": 600,
            "radius_session_timeout": 86400,
            "radius_suspended_action": "walled_garden",
            "radius_walled_garden_download_kbps": 1024,
            "radius_walled_garden_upload_kbps": 128,
            "radius_walled_garden_list": "unpaid",
            "radius_stale_after_intervals": 5,
        },
    )

    assert changed.status_code == 200, changed.text
    assert changed.json() == DEFAULTS | {
        "radius_interim_interval": 600,
        "radius_session_timeout": 86400,
        "radius_suspended_action": "walled_garden",
        "radius_walled_garden_download_kbps": 1024,
        "radius_walled_garden_upload_kbps": 128,
        "radius_walled_garden_list": "unpaid",
        "radius_stale_after_intervals": 5,
    }
    assert client.get(PATH, headers=headers).json() == changed.json()
    alice = rows(admin, "tenant-a", "radreply", "alice")
    assert (alice["Acct-Interim-Interval"], alice["Session-Timeout"]) == ("600", "86400")
    assert alice["Mikrotik-Rate-Limit"].startswith("10M/50M")  # still the plan
    bob = rows(admin, "tenant-a", "radreply", "bob")  # suspended: into the walled garden, rx/tx = up/down
    assert (bob["Mikrotik-Rate-Limit"], bob["Mikrotik-Address-List"]) == ("128k/1024k", "unpaid")
    assert rows(admin, "tenant-a", "radcheck", "bob") == {"Simultaneous-Use": "1"}
    # The other tenant's rows are untouched.
    assert rows(admin, "tenant-b", "radreply", "alice")["Acct-Interim-Interval"] == "300"
    assert rows(admin, "tenant-b", "radcheck", "bob") == {"Auth-Type": "Reject"}

    [(actor, entity, entity_id, action, changes)] = admin.execute(
        "select actor_id, entity, entity_id, action, changes from audit_events where tenant_id = 'tenant-a'"
    ).fetchall()
    assert (actor, entity, entity_id, action) == ("u-test", "tenants", "tenant-a", "update")
    assert changes["radius_interim_interval"] == [300, 600]
    assert changes["radius_session_timeout"] == [None, 86400]
    assert "radius_password_type" not in changes  # only what changed

    cleared = client.patch(
        PATH, headers=headers, json={"radius_session_timeout": None, "radius_password_type": "nt_password"}
    )
    assert cleared.status_code == 200, cleared.text
    assert "Session-Timeout" not in rows(admin, "tenant-a", "radreply", "alice")
    last = admin.execute("select changes from audit_events where tenant_id = 'tenant-a' order by id desc").fetchone()
    assert last is not None and last[0]["radius_password_type"] == ["cleartext", "nt_password"]  # not masked


def test_the_password_type_applies_at_the_next_password_set(
    site: dict[str, Any], client: TestClient, auth: TokenFor, admin: Admin
) -> None:
    headers = auth("tenant-a", "tenant_admin")
    assert client.patch(PATH, headers=headers, json={"radius_password_type": "nt_password"}).status_code == 200
    alice = site["tenant-a"]["alice"]
    response = client.post(f"/api/v1/subscribers/{alice}/password", headers=headers, json={"password": "password"})
    assert response.status_code == 204, response.text
    # MD4 of UTF-16LE "password" (RFC 1320 implementation in ispops.radius.provisioning)
    assert rows(admin, "tenant-a", "radcheck", "alice")["NT-Password"] == "0x8846F7EAEE8FB117AD06BDD830B7586C"


@pytest.mark.parametrize("role", ROLES)
def test_roles_follow_the_matrix(
    role: str, site: dict[str, Any], client: TestClient, auth: TokenFor, admin: Admin
) -> None:
    headers = auth("tenant-a", role)
    perms = MATRIX["tenant_radius_policy"]
    before = everything(admin)

    read = client.get(PATH, headers=headers)
    patch = client.patch(PATH, headers=headers, json={"radius_interim_interval": 900})

    for action, response in (("read", read), ("update", patch)):
        if role in perms[action]:
            assert response.status_code == 200, (action, response.text)
        else:
            assert response.status_code == 403, (action, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["code"] == "permission_denied"
    if role not in perms["update"]:
        assert everything(admin) == before


def test_operators_are_not_tenant_users(site: dict[str, Any], client: TestClient, auth: TokenFor) -> None:
    operator = auth(None, user_id="op-1", operator=True)
    assert client.get(PATH, headers=operator).status_code == 403
    assert client.patch(PATH, headers=operator, json={"radius_interim_interval": 900}).status_code == 403


BAD = [
    ("radius_interim_interval", 59),
    ("radius_interim_interval", 86401),
    ("radius_interim_interval", None),
    ("radius_interim_interval", "often"),
    ("radius_session_timeout", 59),
    ("radius_session_timeout", 31_536_001),
    ("radius_walled_garden_download_kbps", 7),
    ("radius_walled_garden_upload_kbps", 10_000_001),
    ("radius_walled_garden_list", "-unpaid"),
    ("radius_walled_garden_list", "un paid"),
    ("radius_walled_garden_list", "x" * 65),
    ("radius_walled_garden_list", ""),
    ("radius_walled_garden_list", None),
    ("radius_password_type", "md5"),
    ("radius_suspended_action", "drop"),
    ("radius_suspended_action", None),
    ("radius_stale_after_intervals", 1),
    ("radius_stale_after_intervals", 101),
    ("status", "active"),  # not a policy field: the tenant's status is the operator's
]


@pytest.mark.parametrize(("field", "value"), BAD)
def test_bad_values_are_422_naming_the_field_and_change_nothing(
    field: str, value: Any, site: dict[str, Any], client: TestClient, auth: TokenFor, admin: Admin
) -> None:
    before = everything(admin)
    response = client.patch(
        PATH, headers=auth("tenant-a", "tenant_admin"), json={"radius_interim_interval": 600, field: value}
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field
    assert everything(admin) == before


def test_the_route_is_only_ever_the_callers_own_tenant(
    site: dict[str, Any], client: TestClient, auth: TokenFor, admin: Admin
) -> None:
    b_admin = auth("tenant-b", "tenant_admin")
    response = client.patch(PATH, headers=b_admin, json={"radius_interim_interval": 1200})
    assert response.status_code == 200
    intervals = dict(admin.execute("select id, radius_interim_interval from tenants").fetchall())
    assert intervals == {"tenant-a": 300, "tenant-b": 1200}
    assert client.get(PATH, headers=auth("tenant-a", "tenant_admin")).json()["radius_interim_interval"] == 300
    # No way to name another tenant: an id in the path or the body is not a route or not a field.
    assert client.patch(f"{PATH}/tenant-a", headers=b_admin, json={"radius_interim_interval": 60}).status_code in (
        404,
        405,
    )
    assert client.patch(PATH, headers=b_admin, json={"id": "tenant-a"}).status_code == 422
    assert intervals == dict(admin.execute("select id, radius_interim_interval from tenants").fetchall())


def open_session(db: Database, tid: str, subscriber: uuid.UUID, username: str) -> None:
    with db.tenant(tid) as s:
        s.execute(
            text(
                "insert into radacct (tenant_id, subscriber_id, acctsessionid, acctuniqueid, username, nasipaddress, "
                "acctstarttime) values (:t, :sub, :u, :u, :u, '127.0.0.1', now() - interval '1 hour')"
            ),
            {"t": tid, "sub": subscriber, "u": username},
        )


@pytest.mark.parametrize(("action", "kind"), [("walled_garden", "coa"), ("reject", "disconnect")])
def test_the_suspended_action_decides_the_request_a_suspension_queues(
    action: str, kind: str, db: Database, site: dict[str, Any], client: TestClient, auth: TokenFor, admin: Admin
) -> None:
    """docs/radius.md, "What sends what": suspending an online subscriber queues a CoA into the walled garden
    or a Disconnect, as the tenant's policy says."""
    headers = auth("tenant-a", "tenant_admin")
    if action != "reject":
        assert client.patch(PATH, headers=headers, json={"radius_suspended_action": action}).status_code == 200
    alice = site["tenant-a"]["alice"]
    open_session(db, "tenant-a", alice, "alice")

    response = client.post(f"/api/v1/subscribers/{alice}/suspend", headers=headers, json={"reason": "unpaid"})

    assert response.status_code == 200, response.text
    assert admin.execute("select kind, reason from radius_coa_queue where tenant_id = 'tenant-a'").fetchall() == [
        (kind, "suspend")
    ]
    if kind == "coa":  # what the CoA will carry: the garden the policy describes
        assert rows(admin, "tenant-a", "radreply", "alice")["Mikrotik-Address-List"] == "ispops-suspended"
