"""The audit trail: who (user, tenant, address), what, and the changed fields, never a secret in clear."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from ispops.audit.service import redact
from ispops.db.session import Database
from tests.api.conftest import TokenFor
from tests.factories import make_tenant

CLIENT_IP = "192.0.2.10"
SECRETS = ("radius-shared-1", "radius-shared-2", "coa-shared-1", "coa-shared-2", "snmp-ro-1", "snmp-ro-2")


@pytest.fixture
def remote(app_client: TestClient, db: Database) -> TestClient:
    """The session's app, as seen from a client at 192.0.2.10 (on emptied tables)."""
    other = TestClient(app_client.app, client=(CLIENT_IP, 50000), raise_server_exceptions=False)
    other.portal = app_client.portal  # the running app's event loop and lifespan state
    return other


def events(admin: psycopg.Connection[Any], entity: str) -> list[tuple[Any, ...]]:
    return admin.execute(
        "select tenant_id, actor_id, host(ip), action, changes, changes::text from audit_events "
        "where entity = %s order by id",
        (entity,),
    ).fetchall()


def test_nas_changes_are_audited_with_address_tenant_and_no_secret(
    remote: TestClient, db: Database, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    make_tenant(db, "isp-a")
    h = auth("isp-a", "noc_engineer", user_id="noc-1")
    made = remote.post(
        "/api/v1/nas",
        json={
            "nasname": "192.0.2.1",
            "shortname": "bras1",
            "type": "mikrotik",
            "secret": SECRETS[0],
            "coa_secret": SECRETS[2],
            "community": SECRETS[4],
            "description": "core BRAS",
        },
        headers=h,
    )
    assert made.status_code == 201, made.text
    changed = remote.patch(
        f"/api/v1/nas/{made.json()['id']}",
        json={"secret": SECRETS[1], "coa_secret": SECRETS[3], "community": SECRETS[5], "description": "edge BRAS"},
        headers=h,
    )
    assert changed.status_code == 200, changed.text

    rows = events(admin, "nas")
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("isp-a", "noc-1", CLIENT_IP, "create"),
        ("isp-a", "noc-1", CLIENT_IP, "update"),
    ]
    create, update = rows[0][4], rows[1][4]
    assert create["secret"] == create["coa_secret"] == create["community"] == "***"
    assert create["description"] == "core BRAS" and create["nasname"] == "192.0.2.1"
    assert update == {
        "secret": "***",
        "coa_secret": "***",
        "community": "***",
        "description": ["core BRAS", "edge BRAS"],
    }
    for _, _, _, _, _, raw in rows:
        assert not [s for s in SECRETS if s in raw], raw


def test_device_snmp_community_is_not_audited(
    remote: TestClient, db: Database, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    make_tenant(db, "isp-a")
    h = auth("isp-a", "noc_engineer")
    made = remote.post(
        "/api/v1/devices", json={"name": "sw1", "device_type": "switch", "snmp_community": SECRETS[4]}, headers=h
    )
    assert made.status_code == 201, made.text
    assert (
        remote.patch(f"/api/v1/devices/{made.json()['id']}", json={"snmp_community": SECRETS[5]}, headers=h).status_code
        == 200
    )
    rows = events(admin, "devices")
    assert [r[4].get("snmp_community") for r in rows] == ["***", "***"]
    assert all(r[2] == CLIENT_IP and r[0] == "isp-a" for r in rows)
    assert not [s for r in rows for s in SECRETS if s in r[5]]


def test_redaction_is_by_field_name_at_any_depth() -> None:
    changes = {
        "password": "p",
        "pppoe_password": ["a", "b"],
        "api_key": "k",
        "private_key_vault_path": "v",
        "snmp_community": "c",
        "SECRET": "s",
        "auth_token": "t",
        "mfa_recovery_codes": ["x"],
        "settings": {"vault": {"role_secret_id": "r", "url": "https://vault"}, "items": [{"key": "k2", "n": 1}]},
        "public_key": "wg-public",
        "name": "core",
        "description": ["a", "b"],
    }
    assert redact(changes) == {
        "password": "***",
        "pppoe_password": "***",
        "api_key": "***",
        "private_key_vault_path": "***",
        "snmp_community": "***",
        "SECRET": "***",
        "auth_token": "***",
        "mfa_recovery_codes": "***",
        "settings": {"vault": {"role_secret_id": "***", "url": "https://vault"}, "items": [{"key": "***", "n": 1}]},
        "public_key": "wg-public",
        "name": "core",
        "description": ["a", "b"],
    }
