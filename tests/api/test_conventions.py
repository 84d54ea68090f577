"""The conventions every resource shares: errors, pagination, filters, soft delete, audit, quotas."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi.testclient import TestClient

from ispops.db.session import Database
from tests.api.conftest import TokenFor
from tests.factories import make_tenant


def new_device(client: TestClient, headers: dict[str, str], name: str, **extra: Any) -> Any:
    return client.post("/api/v1/devices", json={"name": name, "device_type": "router", **extra}, headers=headers)


def test_operational_endpoints(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
    client.get("/api/v1/devices")  # one 401 to count
    metrics = client.get("/metrics").text
    assert 'ispops_http_requests_total{method="GET",route="/api/v1/devices",status="401"}' in metrics
    assert "ispops_http_request_duration_seconds_bucket" in metrics
    assert client.get("/healthz").headers["x-request-id"]


def test_errors_are_problem_json(client: TestClient, auth: TokenFor) -> None:
    make_tenant_response = client.get("/api/v1/devices")
    assert make_tenant_response.status_code == 401
    body = make_tenant_response.json()
    assert make_tenant_response.headers["content-type"] == "application/problem+json"
    assert body["status"] == 401 and body["title"] and body["request_id"]
    bad = client.get("/api/v1/devices", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401


def test_validation_names_the_field(client: TestClient, db: Database, auth: TokenFor) -> None:
    make_tenant(db, "isp-a")
    h = auth("isp-a", "noc_engineer")
    missing = client.post("/api/v1/devices", json={"device_type": "router"}, headers=h)
    assert missing.status_code == 422 and missing.json()["field"] == "name"
    wrong_enum = new_device(client, h, "r1", status="exploded")
    assert wrong_enum.status_code == 422 and wrong_enum.json()["field"] == "status"
    bad_ip = new_device(client, h, "r1", management_ip="300.1.1.1")
    assert bad_ip.status_code == 422 and bad_ip.json()["field"] == "management_ip"
    bad_mac = new_device(client, h, "r1", mac_address="zz:zz")  # passes the schema, the database names it
    assert bad_mac.status_code == 422 and bad_mac.json()["field"] == "mac_address"
    unknown = new_device(client, h, "r1", colour="red")
    assert unknown.status_code == 422 and unknown.json()["field"] == "colour"
    sort = client.get("/api/v1/devices?sort=secret", headers=h)
    assert sort.status_code == 422 and sort.json()["field"] == "sort"


def test_duplicate_is_409_and_soft_delete_frees_the_name(
    client: TestClient, db: Database, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    make_tenant(db, "isp-a")
    h = auth("isp-a", "tenant_admin", user_id="admin-1")
    first = new_device(client, h, "core-1")
    assert first.status_code == 201, first.text
    assert first.json()["created_by"] == "admin-1"
    dup = new_device(client, h, "core-1")
    assert dup.status_code == 409 and dup.json()["field"] == "name"
    device_id = first.json()["id"]
    assert client.delete(f"/api/v1/devices/{device_id}", headers=h).status_code == 204
    assert client.get(f"/api/v1/devices/{device_id}", headers=h).status_code == 404
    assert client.get(f"/api/v1/devices/{device_id}?include_deleted=true", headers=h).status_code == 200
    noc = auth("isp-a", "noc_engineer")
    assert client.get(f"/api/v1/devices/{device_id}?include_deleted=true", headers=noc).status_code == 403
    assert new_device(client, h, "core-1").status_code == 201
    row = admin.execute("select count(*) from devices where name = 'core-1'").fetchone()
    assert row == (2,)


def test_list_filters_sorts_searches_and_pages(client: TestClient, db: Database, auth: TokenFor) -> None:
    make_tenant(db, "isp-a")
    h = auth("isp-a", "noc_engineer")
    for i in range(7):
        kind = "router" if i % 2 else "switch"
        assert (
            client.post(
                "/api/v1/devices",
                json={"name": f"dev-{i}", "device_type": kind, "site_name": "North POP" if i < 3 else "South"},
                headers=h,
            ).status_code
            == 201
        )
    page = client.get("/api/v1/devices?device_type=router&sort=-name&limit=2", headers=h).json()
    assert page["total"] == 3 and [d["name"] for d in page["items"]] == ["dev-5", "dev-3"]
    rest = client.get("/api/v1/devices?device_type=router&sort=-name&limit=2&offset=2", headers=h).json()
    assert [d["name"] for d in rest["items"]] == ["dev-1"]
    found = client.get("/api/v1/devices?q=north%20pop", headers=h).json()
    assert found["total"] == 3
    assert client.get("/api/v1/devices?q=100%25", headers=h).json()["total"] == 0  # % is literal
    assert client.get("/api/v1/devices?limit=501", headers=h).status_code == 422


def test_audit_trail_records_who_what_and_the_changes(client: TestClient, db: Database, auth: TokenFor) -> None:
    make_tenant(db, "isp-a")
    h = auth("isp-a", "tenant_admin", user_id="admin-7")
    created = new_device(client, h, "core-1").json()
    client.patch(f"/api/v1/devices/{created['id']}", json={"site_name": "POP 2", "name": "core-1"}, headers=h)
    events = client.get(
        f"/api/v1/audit_events?entity=devices&entity_id={created['id']}&sort=occurred_at", headers=h
    ).json()["items"]
    assert [e["action"] for e in events] == ["create", "update"]
    assert events[1]["changes"] == {"site_name": [None, "POP 2"]}  # unchanged fields are not listed
    assert all(e["actor_id"] == "admin-7" and e["request_id"] for e in events)
    noc = auth("isp-a", "noc_engineer")
    assert client.get("/api/v1/audit_events", headers=noc).status_code == 403


def test_audit_events_are_append_only_for_the_app(db: Database, admin: psycopg.Connection[Any]) -> None:
    make_tenant(db, "isp-a")
    admin.execute(
        "insert into audit_events (tenant_id, actor_kind, entity, entity_id, action) "
        "values ('isp-a', 'system', 'x', '1', 'create')"
    )
    with db.app_engine.connect() as conn:
        for sql in ("update audit_events set action = 'delete'", "delete from audit_events"):
            ok = conn.exec_driver_sql(
                "select has_table_privilege('audit_events', %s)", ("UPDATE" if sql.startswith("update") else "DELETE",)
            ).scalar()
            assert ok is False


def test_quota_exceeded_is_409_naming_the_limit(
    client: TestClient, db: Database, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    make_tenant(db, "isp-a")
    admin.execute("update tenants set max_routers = 1 where id = 'isp-a'")
    h = auth("isp-a", "noc_engineer")
    assert new_device(client, h, "r1").status_code == 201
    over = new_device(client, h, "r2")
    assert over.status_code == 409
    assert over.json()["code"] == "quota_exceeded" and over.json()["field"] == "max_routers"
    assert new_device(client, h, "sw1", device_type="switch").status_code == 201  # other kinds unaffected


def test_user_olt_and_wireless_ap_quotas_are_409_naming_the_limit(
    client: TestClient, db: Database, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    make_tenant(db, "isp-a")
    admin.execute("update tenants set max_users = 1, max_olts = 1, max_wireless_aps = 1 where id = 'isp-a'")
    h = auth("isp-a", "tenant_admin")

    def user(n: int) -> Any:
        return client.post(
            "/api/v1/users",
            json={"email": f"u{n}@isp-a.example", "password": "a-long-enough-one", "roles": ["field_tech"]},
            headers=h,
        )

    def olt(n: int) -> Any:
        device = new_device(client, h, f"olt-dev-{n}", device_type="olt").json()["id"]
        return client.post("/api/v1/olts", json={"device_id": device, "technology": "gpon"}, headers=h)

    def ap(n: int) -> Any:
        return new_device(client, h, f"ap-{n}", device_type="wireless_ap")

    for make, resource, limit in [
        (user, "users", "max_users"),
        (olt, "olts", "max_olts"),
        (ap, "devices", "max_wireless_aps"),
    ]:
        first = make(1)
        assert first.status_code == 201, first.text
        over = make(2)
        assert over.status_code == 409, over.text
        assert over.json()["code"] == "quota_exceeded" and over.json()["field"] == limit
        # A deleted row no longer counts: the quota is on live rows.
        assert client.delete(f"/api/v1/{resource}/{first.json()['id']}", headers=h).status_code == 204
        assert make(3).status_code == 201
    row = admin.execute("select current_users, current_olts, current_wireless_aps from tenants").fetchone()
    assert row == (1, 1, 1)
    assert new_device(client, h, "sw-1", device_type="switch").status_code == 201  # other kinds unaffected


def test_include_deleted_on_lists_is_for_tenant_admins(client: TestClient, db: Database, auth: TokenFor) -> None:
    make_tenant(db, "isp-a")
    admin_h = auth("isp-a", "tenant_admin")
    kept = new_device(client, admin_h, "kept").json()["id"]
    gone = new_device(client, admin_h, "gone").json()["id"]
    assert client.delete(f"/api/v1/devices/{gone}", headers=admin_h).status_code == 204

    def ids(headers: dict[str, str], query: str = "") -> set[str]:
        response = client.get(f"/api/v1/devices{query}", headers=headers)
        assert response.status_code == 200, response.text
        return {d["id"] for d in response.json()["items"]}

    assert ids(admin_h) == {kept}
    assert ids(admin_h, "?include_deleted=true") == {kept, gone}
    listed = client.get("/api/v1/devices?include_deleted=true", headers=admin_h).json()
    assert listed["total"] == 2 and [d["deleted_at"] is not None for d in listed["items"] if d["id"] == gone] == [True]
    for role in ("noc_engineer", "support_agent", "field_tech"):
        h = auth("isp-a", role)
        assert ids(h) == {kept}
        refused = client.get("/api/v1/devices?include_deleted=true", headers=h)
        assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
