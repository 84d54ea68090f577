"""Every resource, every verb: another tenant gets 404 and changes nothing; roles follow the matrix."""

from __future__ import annotations

from itertools import product
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from ispops.api.crud import Resource
from ispops.api.permissions import MATRIX, ROLES
from ispops.api.references import parent_checks
from ispops.app import RESOURCES
from ispops.db.session import Database
from ispops.subscribers.service import TRANSITIONS
from tests.api.bodies import PATCH, Site, create_body, raise_limits
from tests.api.conftest import TokenFor
from tests.factories import populate, snapshot

SPECS: dict[str, Resource] = {spec.name: spec for spec in RESOURCES}  # every domain's, users included
# (resource, field, referenced table) for every reference a client can set when creating a row.
REFERENCES = sorted(
    [
        (spec.name, check.field, check.parent)
        for spec in SPECS.values()
        if "create" in spec.verbs
        for check in parent_checks(spec.model.__table__)
    ]
    + [("vpn_tunnels", "ip_pool_id", "ip_pools")]  # not a column: the pool its address comes from
)


def everything(admin: psycopg.Connection[Any], tenant: str) -> dict[str, list[Any]]:
    """Every row of the tenant, and its ``tenants`` row (counters, status), read past RLS."""
    rows = snapshot(admin, tenant)
    rows["tenants"] = [
        r[0] for r in admin.execute("select row_to_json(t)::text from tenants t where id = %s", (tenant,)).fetchall()
    ]
    return rows


def two_tenants(client: TestClient, db: Database, admin: psycopg.Connection[Any], auth: TokenFor) -> tuple[Site, Site]:
    sites = []
    for tenant, n in (("tenant-a", 1), ("tenant-b", 2)):
        ids = populate(db, tenant, n)
        raise_limits(admin, tenant)
        sites.append(Site(client, tenant, auth(tenant, "tenant_admin"), ids))
    return sites[0], sites[1]


# Rows of the matrix for routes that are not CRUD resources; their own tests walk every cell.
NOT_CRUD = {
    "ftth_class_settings",
    "ftth_loss_settings",  # tests/ftth/test_budget.py
    "orders",  # tests/lifecycle/test_orders_api.py
    "tenant_radius_policy",  # tests/tenancy/test_radius_policy.py
    "webhook_endpoints",  # tests/events/test_webhooks_api.py
    "wireless_settings",
}


def test_every_resource_has_a_permission_row() -> None:
    assert set(SPECS) | NOT_CRUD == set(MATRIX)


def test_the_matrix_grants_no_verb_the_api_lacks() -> None:
    """A permission for a route that does not exist would mislead whoever reads docs/permissions.md."""
    missing = [
        (name, action)
        for name, spec in SPECS.items()
        for action in ("create", "update", "delete")
        if action in MATRIX[name] and action not in spec.verbs
    ]
    assert missing == []


@pytest.mark.usefixtures("secret_store")
@pytest.mark.parametrize("name", sorted(SPECS))
def test_other_tenant_gets_404_and_changes_nothing(
    name: str, client: TestClient, db: Database, admin: psycopg.Connection[Any], auth: TokenFor
) -> None:
    a, b = two_tenants(client, db, admin, auth)
    spec = SPECS[name]
    writable = bool({"update", "delete"} & spec.verbs)
    # A's row from the factory, and one A's admin just made through the API (which a leaked PATCH or
    # DELETE would change: nothing references it, and it has no rendered or credential attributes).
    targets = [a.ids[name]] + ([str(a.fresh(name)[spec.key_column])] if writable else [])
    own = str(b.fresh(name)[spec.key_column]) if writable else None
    intruder = b.headers
    before = everything(admin, "tenant-a")

    responses = []
    for key in targets:
        path = f"/api/v1/{name}/{key}"
        if "get" in spec.verbs:
            responses += [
                client.get(path, headers=intruder),
                client.get(f"{path}?include_deleted=true", headers=intruder),
            ]
        if "update" in spec.verbs:
            responses.append(client.patch(path, json=PATCH[name], headers=intruder))
        if "delete" in spec.verbs:
            responses.append(client.delete(path, headers=intruder))
        if name == "subscribers":
            responses += [client.post(f"{path}/{action}", json={}, headers=intruder) for action in TRANSITIONS]
    assert responses
    for response in responses:
        assert response.status_code == 404, (response.request.method, response.request.url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 404

    listing = client.get(f"/api/v1/{name}?limit=500", headers=intruder)
    assert listing.status_code == 200, listing.text
    assert not {str(item[spec.key_column]) for item in listing.json()["items"]} & set(targets)
    assert everything(admin, "tenant-a") == before

    # The same requests are valid: on B's own row they succeed.
    if "update" in spec.verbs:
        changed = client.patch(f"/api/v1/{name}/{own}", json=PATCH[name], headers=intruder)
        assert changed.status_code == 200, changed.text
        assert {k: changed.json()[k] for k in PATCH[name]} == PATCH[name]
    if "delete" in spec.verbs:
        assert client.delete(f"/api/v1/{name}/{own}", headers=intruder).status_code == 204


@pytest.mark.usefixtures("secret_store")
@pytest.mark.parametrize(("name", "field", "parent"), REFERENCES)
def test_referring_to_another_tenants_row_is_refused(
    name: str,
    field: str,
    parent: str,
    client: TestClient,
    db: Database,
    admin: psycopg.Connection[Any],
    auth: TokenFor,
) -> None:
    a, b = two_tenants(client, db, admin, auth)
    spec = SPECS[name]
    body = create_body(b, name)  # may create a parent of B's first (an OLT's device)
    assert field in spec.create_model.model_fields
    attempts = [("POST", f"/api/v1/{name}", {**body, field: a.ids[parent]})]
    if "update" in spec.verbs and field in spec.update_model.model_fields:
        mine = b.fresh(name)[spec.key_column]
        attempts.append(("PATCH", f"/api/v1/{name}/{mine}", {field: a.ids[parent]}))
    before = {t: everything(admin, t) for t in ("tenant-a", "tenant-b")}

    for method, path, payload in attempts:
        response = client.request(method, path, json=payload, headers=b.headers)
        assert response.status_code in (404, 422), (method, response.text)
        if response.status_code == 422:
            assert response.json()["field"] == field, response.text
    assert {t: everything(admin, t) for t in ("tenant-a", "tenant-b")} == before
    # With B's own row in that field, the same create succeeds.
    valid = {field: b.ids[parent], **body}
    assert client.post(f"/api/v1/{name}", json=valid, headers=b.headers).status_code == 201


@pytest.mark.usefixtures("secret_store")
@pytest.mark.parametrize(("name", "role"), list(product(sorted(SPECS), ROLES)))
def test_role_matrix(
    name: str, role: str, client: TestClient, db: Database, admin: psycopg.Connection[Any], auth: TokenFor
) -> None:
    site = Site(client, "tenant-a", auth("tenant-a", "tenant_admin"), populate(db, "tenant-a", 1))
    raise_limits(admin, "tenant-a")
    spec = SPECS[name]
    perms = MATRIX[name]
    who = auth("tenant-a", role)
    path = f"/api/v1/{name}/{site.ids[name]}"

    def check(action: str, response: Any, success: int) -> None:
        allowed = role in perms.get(action, frozenset())
        limited = action == "update" and role in perms.get("update_installation", frozenset())
        context = (name, role, action, response.status_code, response.text[:300])
        if allowed or limited:
            assert response.status_code == success, context
        else:
            assert response.status_code == 403, context
            assert response.json()["code"] == "permission_denied"

    check("read", client.get(f"/api/v1/{name}", headers=who), 200)
    if "get" in spec.verbs:
        check("read", client.get(path, headers=who), 200)
    if "create" in spec.verbs:
        check("create", client.post(f"/api/v1/{name}", json=create_body(site, name), headers=who), 201)
    if "update" in spec.verbs:
        target = site.fresh(name)[spec.key_column]
        response = client.patch(f"/api/v1/{name}/{target}", json=PATCH[name], headers=who)
        check("update", response, 200)
        if response.status_code == 200:
            assert {k: response.json()[k] for k in PATCH[name]} == PATCH[name]
    if name == "subscribers":
        check("suspend", client.post(f"{path}/suspend", json={"reason": "unpaid"}, headers=who), 200)
    if "delete" in spec.verbs:
        target = site.fresh(name)[spec.key_column]
        check("delete", client.delete(f"/api/v1/{name}/{target}", headers=who), 204)
