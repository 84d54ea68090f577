"""Every resource, every verb: another tenant gets 404 and changes nothing; roles follow the matrix."""

from __future__ import annotations

from itertools import product
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from ispops.api.crud import Resource
from ispops.api.permissions import MATRIX, ROLES
from ispops.api.resources import RESOURCES
from ispops.db.session import Database
from ispops.subscribers.api import TRANSITIONS
from ispops.tenancy.api import USERS
from tests.api.conftest import TokenFor
from tests.factories import populate, snapshot

SPECS: dict[str, Resource] = {spec.name: spec for spec in [*RESOURCES, USERS]}


def test_every_resource_has_a_permission_row() -> None:
    assert set(SPECS) == set(MATRIX)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_other_tenant_gets_404_and_changes_nothing(
    name: str, client: TestClient, db: Database, admin: psycopg.Connection[Any], auth: TokenFor
) -> None:
    a = populate(db, "tenant-a", 1)
    populate(db, "tenant-b", 2)
    spec = SPECS[name]
    path = f"/api/v1/{name}/{a[name]}"
    intruder = auth("tenant-b", "tenant_admin")
    before = snapshot(admin, "tenant-a")

    responses = []
    if "get" in spec.verbs:
        responses += [client.get(path, headers=intruder), client.get(path + "?include_deleted=true", headers=intruder)]
    if "update" in spec.verbs:
        responses.append(client.patch(path, json={}, headers=intruder))
    if "delete" in spec.verbs:
        responses.append(client.delete(path, headers=intruder))
    if name == "subscribers":
        responses += [client.post(f"{path}/{action}", headers=intruder) for action in TRANSITIONS]
    assert responses
    for response in responses:
        assert response.status_code == 404, (response.request.method, response.request.url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 404

    listing = client.get(f"/api/v1/{name}", headers=intruder)
    assert listing.status_code == 200, listing.text
    ids = {str(item[spec.key_column]) for item in listing.json()["items"]}
    assert a[name] not in ids
    assert snapshot(admin, "tenant-a") == before


def create_body(client: TestClient, spec: Resource, row: dict[str, Any]) -> dict[str, Any]:
    fields = spec.create_model.model_fields
    body = {k: v for k, v in row.items() if k in fields and v is not None}
    if spec.name == "users":
        body.update(password="a-long-enough-password", email="new@tenant-a.example", roles=["field_tech"])
    return body


@pytest.mark.parametrize(("name", "role"), list(product(sorted(SPECS), ROLES)))
def test_role_matrix(name: str, role: str, client: TestClient, db: Database, auth: TokenFor) -> None:
    a = populate(db, "tenant-a", 1)
    spec = SPECS[name]
    perms = MATRIX[name]
    who = auth("tenant-a", role)
    admin_headers = auth("tenant-a", "tenant_admin")
    path = f"/api/v1/{name}/{a[name]}"

    def check(action: str, response: Any) -> None:
        allowed = role in perms.get(action, frozenset())
        limited = action == "update" and role in perms.get("update_installation", frozenset())
        context = (name, role, action, response.status_code, response.text[:300])
        assert response.status_code < 500, context
        if allowed or limited:
            assert response.status_code != 403, context
        else:
            assert response.status_code == 403, context
            assert response.json()["code"] == "permission_denied"

    check("read", client.get(f"/api/v1/{name}", headers=who))
    if "get" in spec.verbs:
        check("read", client.get(path, headers=who))
    row = client.get(path, headers=admin_headers).json()
    if "create" in spec.verbs:
        check("create", client.post(f"/api/v1/{name}", json=create_body(client, spec, row), headers=who))
    if "update" in spec.verbs:
        check("update", client.patch(path, json={}, headers=who))
    if name == "subscribers":
        check("suspend", client.post(f"{path}/suspend", json={"reason": "unpaid"}, headers=who))
    if "delete" in spec.verbs:
        check("delete", client.delete(path, headers=who))
