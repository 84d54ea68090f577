"""Credentials are write-only: no read shows them, the OpenAPI document says so, and the audited
``reveal-secret`` action is the one way back, for the roles that need it (issue 21, item 5)."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from ispops.api.permissions import MATRIX, ROLES
from ispops.app import RESOURCES
from ispops.db.session import Database
from tests.api.conftest import TokenFor
from tests.factories import make_tenant

# The write-only columns each resource reveals (Resource.reveal).
FIELDS = {spec.name: spec.reveal for spec in RESOURCES if spec.reveal}
NAS_SECRETS = {"secret": "radius-shared-Xq7", "coa_secret": "coa-shared-Zp9w", "community": "nas-community-Jk3"}
SNMP_COMMUNITY = "snmp-community-Vb5"
ALL = (*NAS_SECRETS.values(), SNMP_COMMUNITY)
# Columns whose names sound secret but that hold no credential: where a secret lives in the secret store
# (reading the store needs its own credentials), a public key, and how passwords are stored.
NOT_SECRETS = {
    "acs_password_vault_path",
    "wifi_password_vault_path",
    "private_key_vault_path",
    "token_vault_path",
    "public_key",
    "server_public_key",
    "radius_password_type",
    "idempotency_key",  # a billing push's Idempotency-Key header (cycle and subscriber), no credential
}
SECRET_NAME = re.compile(r"secret|password|passwd|community|psk|private_key|_key$|token", re.IGNORECASE)


@pytest.fixture
def objects(client: TestClient, db: Database, auth: TokenFor) -> dict[str, Any]:
    """A NAS and a device with every credential set, in tenant-a; a NAS in tenant-b."""
    make_tenant(db, "tenant-a")
    make_tenant(db, "tenant-b")
    admin_a = auth("tenant-a", "tenant_admin")
    nas = client.post(
        "/api/v1/nas", json={"nasname": "127.0.0.51", "shortname": "bras1", **NAS_SECRETS}, headers=admin_a
    )
    device = client.post(
        "/api/v1/devices",
        json={"name": "sw1", "device_type": "switch", "snmp_community": SNMP_COMMUNITY},
        headers=admin_a,
    )
    other = client.post(
        "/api/v1/nas",
        json={"nasname": "127.0.0.52", "shortname": "bras-b", "secret": "tenant-b-secret"},
        headers=auth("tenant-b", "tenant_admin"),
    )
    for made in (nas, device, other):
        assert made.status_code == 201, made.text
        assert not [s for s in ALL if s in made.text], made.text  # not in the create response either
    return {"nas": nas.json()["id"], "devices": device.json()["id"], "other_nas": other.json()["id"]}


# Permission rows of one settings page per tenant rather than a collection.
SETTINGS_PAGES = {
    "ftth_class_settings": "/api/v1/ftth/settings/classes",
    "ftth_loss_settings": "/api/v1/ftth/settings/loss",
    "wireless_settings": "/api/v1/wireless/settings",
}


@pytest.mark.parametrize("role", ROLES)
def test_no_read_shows_a_credential(client: TestClient, auth: TokenFor, objects: dict[str, Any], role: str) -> None:
    who = auth("tenant-a", role)
    read = 0
    for name, perms in MATRIX.items():
        if role not in perms.get("read", frozenset()) or name == "tenant_radius_policy":
            continue
        pages = [client.get(SETTINGS_PAGES.get(name, f"/api/v1/{name}"), headers=who)]
        if name in objects:
            pages.append(client.get(f"/api/v1/{name}/{objects[name]}", headers=who))
        for page in pages:
            assert page.status_code == 200, (name, page.text)
            assert not [s for s in ALL if s in page.text], (name, page.text)
            read += 1
    if role in MATRIX["nas"]["read"]:
        listed = client.get("/api/v1/nas", headers=who).json()["items"]
        assert [n["shortname"] for n in listed] == ["bras1"]
        assert not set(NAS_SECRETS) & set(listed[0])
    assert read >= 10


def test_an_update_answer_shows_no_credential(client: TestClient, auth: TokenFor, objects: dict[str, Any]) -> None:
    noc = auth("tenant-a", "noc_engineer")
    changed = client.patch(f"/api/v1/nas/{objects['nas']}", json={"secret": "new-shared-secret"}, headers=noc)
    assert changed.status_code == 200, changed.text
    assert "new-shared-secret" not in changed.text and "secret" not in changed.json()
    shown = client.post(f"/api/v1/nas/{objects['nas']}/reveal-secret", headers=noc)
    assert shown.json()["secret"] == "new-shared-secret"
    # Too short for the database's rule: refused before it, naming the field.
    short = client.patch(f"/api/v1/nas/{objects['nas']}", json={"secret": "short"}, headers=noc)
    assert short.status_code == 422 and "secret" in short.text


def test_the_openapi_document_marks_credentials_write_only(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for resource, fields in {"Nas": FIELDS["nas"], "Devices": FIELDS["devices"]}.items():
        for name in fields:
            assert schemas[f"{resource}Create"]["properties"][name]["writeOnly"] is True
            assert schemas[f"{resource}Update"]["properties"][name]["writeOnly"] is True
            assert name not in schemas[f"{resource}Read"]["properties"]
    # No response schema of a resource has a field that sounds like a credential and is not known not to be.
    shown = sorted(
        f"{schema}.{prop}"
        for schema, body in schemas.items()
        if schema.endswith("Read")
        for prop in body.get("properties", {})
        if SECRET_NAME.search(prop) and prop not in NOT_SECRETS
    )
    assert shown == []


@pytest.mark.parametrize("role", ROLES)
def test_reveal_is_for_admins_and_noc_and_is_audited(
    client: TestClient, auth: TokenFor, objects: dict[str, Any], admin: psycopg.Connection[Any], role: str
) -> None:
    who = auth("tenant-a", role, user_id=f"user-{role}")
    nas = client.post(f"/api/v1/nas/{objects['nas']}/reveal-secret", headers=who)
    device = client.post(f"/api/v1/devices/{objects['devices']}/reveal-secret", headers=who)
    events = admin.execute(
        "select entity, entity_id, actor_id, action, changes, changes::text from audit_events "
        "where changes->>'action' = 'reveal_secret' order by id"
    ).fetchall()
    if role in ("tenant_admin", "noc_engineer"):
        assert nas.status_code == 200, nas.text
        assert nas.json() == NAS_SECRETS
        assert nas.headers["cache-control"] == "no-store"
        assert device.status_code == 200, device.text
        assert device.json() == {"snmp_community": SNMP_COMMUNITY}
        assert [e[:5] for e in events] == [
            (
                "nas",
                str(objects["nas"]),
                f"user-{role}",
                "action",
                {"action": "reveal_secret", "fields": ["secret", "coa_secret", "community"]},
            ),
            (
                "devices",
                objects["devices"],
                f"user-{role}",
                "action",
                {"action": "reveal_secret", "fields": ["snmp_community"]},
            ),
        ]
        assert not [s for e in events for s in ALL if s in e[5]]
    else:
        for refused in (nas, device):
            assert refused.status_code == 403, refused.text
            assert refused.json()["code"] == "permission_denied"
            assert not [s for s in ALL if s in refused.text]
        assert events == []


def test_reveal_of_another_tenants_object_is_404(
    client: TestClient, auth: TokenFor, objects: dict[str, Any], admin: psycopg.Connection[Any]
) -> None:
    who = auth("tenant-a", "tenant_admin")
    theirs = client.post(f"/api/v1/nas/{objects['other_nas']}/reveal-secret", headers=who)
    assert theirs.status_code == 404, theirs.text
    assert "tenant-b-secret" not in theirs.text
    theirs_device = client.post(
        f"/api/v1/devices/{objects['devices']}/reveal-secret", headers=auth("tenant-b", "tenant_admin")
    )
    assert theirs_device.status_code == 404
    # A deleted NAS is gone for reveal too.
    assert client.delete(f"/api/v1/nas/{objects['nas']}", headers=who).status_code == 204
    assert client.post(f"/api/v1/nas/{objects['nas']}/reveal-secret", headers=who).status_code == 404
    assert admin.execute("select count(*) from audit_events where changes->>'action' = 'reveal_secret'").fetchone() == (
        0,
    )
