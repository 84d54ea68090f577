"""The API does what it declares (issue 21, items 1-3).

- Every GET route refuses a query parameter it does not declare (422 naming it); ``q`` is either a search
  that finds nothing for a string that is nowhere, or not offered (and so refused).
- The OpenAPI document states the database's rules (bounds, lengths, patterns) for every writable column.
- Errors say what is allowed, in words.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from ispops.db.checks import parse
from ispops.db.server import libpq_dsn
from ispops.db.session import Database
from tests.api.conftest import TokenFor
from tests.factories import make_tenant, populate

NO_MATCH = "zzzzzz-no-match"


def _get_operations(client: TestClient) -> list[tuple[str, set[str]]]:
    """(path, declared query parameters) of every GET operation of the OpenAPI document."""
    doc = client.app.openapi()  # type: ignore[attr-defined]
    out = []
    for path, item in doc["paths"].items():
        op = item.get("get")
        if op is not None:
            out.append((path, {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}))
    return out


def _concrete(path: str, ids: dict[str, str], tenant: str) -> str:
    """The path with its parameters filled from seeded rows: /api/v1/<table>/{key}/… -> that table's row."""
    if path.startswith("/api/v1/tenants/"):
        return path.replace("{tenant_id}", tenant)
    if "{" not in path:
        return path
    table = path.split("/")[3]
    table = {"orders": "service_activations"}.get(table, table)  # lifecycle orders are service_activations rows
    table = {"billing": "subscribers"}.get(table, table)  # /billing/subscribers/{id}/…; a cycle is refused later
    return re.sub(r"\{[^}]+\}", ids[table], path)


def test_every_get_route_refuses_undeclared_parameters_and_q_finds_nothing_unmatched(
    client: TestClient, db: Database, auth: TokenFor
) -> None:
    ids = populate(db, "isp-a", 1)
    staff = auth("isp-a", "tenant_admin")
    operator = auth(None, operator=True)
    operations = _get_operations(client)
    searched = []
    for path, declared in operations:
        url = _concrete(path, ids, "isp-a")
        headers = operator if path.startswith("/api/v1/tenants") else staff
        unknown = client.get(url, params={"zz_unknown": "1"}, headers=headers)
        assert unknown.status_code == 422, (path, unknown.text)
        assert unknown.json()["field"] == "zz_unknown", path
        assert [e["field"] for e in unknown.json()["errors"]] == ["zz_unknown"], path
        search = client.get(url, params={"q": NO_MATCH}, headers=headers)
        if "q" in declared:
            assert search.status_code == 200, (path, search.text)
            assert search.json()["items"] == [] and search.json()["total"] == 0, path
            assert client.get(url, headers=headers).json()["total"] >= 1, path  # the seeded row is there
            searched.append(path)
        else:
            assert search.status_code == 422 and search.json()["field"] == "q", (path, search.text)
    # the lists the issue found ignoring q now search
    for name in (
        "radcheck",
        "radreply",
        "radacct",
        "radius_coa_attempts",
        "ip_allocations",
        "olts",
        "service_activations",
        "audit_events",
    ):
        assert f"/api/v1/{name}" in searched, name
    assert ("/api/v1/subscriber_usage_daily", {"q"}) not in operations


def test_radius_sessions_refuse_a_tenant_id_parameter(client: TestClient, db: Database, auth: TokenFor) -> None:
    make_tenant(db, "isp-a")
    answer = client.get("/api/v1/radius/sessions?tenant_id=isp-b", headers=auth("isp-a", "noc_engineer"))
    assert answer.status_code == 422
    assert answer.json()["field"] == "tenant_id" and "tenant_id" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("resource", "q", "found"),
    [
        ("radcheck", "USER1", 1),  # username, case-insensitive
        ("radcheck", "cleartext", 1),  # attribute
        ("radcheck", "pw-isp-a", 0),  # a credential's value is not searched: no oracle for passwords
        ("radreply", "10M/50M", 1),  # value
        ("radacct", "user1", 1),
        ("radius_coa_attempts", "user1", 1),
        ("ip_allocations", "10.0.0.10", 1),  # the address as people write it
        ("olts", "olt-1", 1),  # the OLT's device name
        ("service_activations", "new_serv", 1),
        ("audit_events", "devices", 1),
    ],
)
def test_q_searches_what_people_expect(
    client: TestClient, db: Database, auth: TokenFor, resource: str, q: str, found: int
) -> None:
    populate(db, "isp-a", 1)
    populate(db, "isp-b", 2)  # another tenant's rows are never found
    answer = client.get(f"/api/v1/{resource}", params={"q": q}, headers=auth("isp-a", "tenant_admin"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["total"] == found


# --- item 2: the OpenAPI document states the database's rules -------------------------------------------


def _property(schema: dict[str, Any]) -> dict[str, Any]:
    """A property's own schema, without the ``null`` branch of an optional one."""
    branches = schema.get("anyOf", [])
    if not any(b.get("type") == "null" for b in branches):
        return schema
    rest = [b for b in branches if b.get("type") != "null"]
    assert len(rest) == 1, schema
    return dict(rest[0])


def test_subscriber_billing_cycle_day_has_the_database_bounds(client: TestClient) -> None:
    schemas = client.app.openapi()["components"]["schemas"]  # type: ignore[attr-defined]
    day = schemas["SubscribersCreate"]["properties"]["billing_cycle_day"]
    assert (day["minimum"], day["maximum"]) == (1, 28)
    vlan = _property(schemas["SubscribersUpdate"]["properties"]["vlan_id"])
    assert (vlan["minimum"], vlan["maximum"]) == (1, 4094)


def test_every_simple_check_is_stated_in_the_openapi_document(client: TestClient, db: Database) -> None:
    """Walk pg_catalog: every simple ``ck_<table>__<column>`` on a column a Create schema accepts carries the
    same bounds in the OpenAPI document."""
    doc = client.app.openapi()  # type: ignore[attr-defined]
    schemas = doc["components"]["schemas"]
    with psycopg.connect(libpq_dsn(db.server.admin_url)) as conn:
        rows = conn.execute(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
            "WHERE c.contype = 'c' AND c.connamespace = 'public'::regnamespace AND c.conname LIKE 'ck\\_%' "
            "AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.conrelid)"
        ).fetchall()
    checked = 0
    for table, name, definition in rows:
        column = name.removeprefix(f"ck_{table}__")
        rule = parse(column, definition)
        model = "".join(p.capitalize() for p in table.split("_")) + "Create"
        if rule is None or rule.values is not None or model not in schemas:
            continue
        prop = schemas[model]["properties"].get(column)
        if prop is None:  # not writable through the API (read-only, hidden)
            continue
        stated = _property(prop)
        expected = {
            "minimum": rule.ge,
            "exclusiveMinimum": rule.gt,
            "maximum": rule.le,
            "exclusiveMaximum": rule.lt,
            "minLength": rule.min_length,
        }
        for key, value in expected.items():
            if value is not None:
                assert stated.get(key) == value, (name, key, stated)
        if rule.max_length is not None:
            assert stated.get("maxLength", 10**9) <= rule.max_length, (name, stated)
        if rule.pattern is not None or rule.forbidden is not None:
            assert "pattern" in stated, (name, stated)
        checked += 1
    assert checked >= 40  # latitudes, longitudes, VLANs, ports, lengths, patterns, …


def test_a_database_only_rule_answers_in_words(client: TestClient, db: Database, auth: TokenFor) -> None:
    make_tenant(db, "isp-a")
    answer = client.post(
        "/api/v1/bandwidth_profiles",
        json={"name": "50M", "download_mbps": 50, "upload_mbps": 10, "download_burst_mbps": 20},
        headers=auth("isp-a", "tenant_admin"),
    )
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["field"] == "download_burst_mbps"
    assert "download_burst_mbps must be at least download_mbps" in body["detail"]
    assert "ck_" not in body["detail"]
    assert body["errors"] == [
        {"field": "download_burst_mbps", "message": "download_burst_mbps must be at least download_mbps"}
    ]


def test_an_out_of_range_value_is_refused_before_the_database(client: TestClient, db: Database, auth: TokenFor) -> None:
    make_tenant(db, "isp-a")
    h = auth("isp-a", "tenant_admin")
    customer = client.post("/api/v1/customers", json={"customer_number": "C-1", "name": "Ada"}, headers=h).json()
    answer = client.post(
        "/api/v1/subscribers",
        json={
            "customer_id": customer["id"],
            "subscriber_number": "S-1",
            "service_type": "ftth",
            "billing_cycle_day": 31,
        },
        headers=h,
    )
    assert answer.status_code == 422
    assert answer.json()["errors"] == [{"field": "billing_cycle_day", "message": "must be between 1 and 28"}]


# --- item 3: messages a person understands -----------------------------------------------------------


def test_too_long_strings_count_characters(client: TestClient, db: Database, auth: TokenFor) -> None:
    make_tenant(db, "isp-a")
    h = auth("isp-a", "tenant_admin")
    long_number = client.post("/api/v1/customers", json={"customer_number": "C" * 51, "name": "Ada"}, headers=h)
    assert long_number.status_code == 422
    assert long_number.json()["errors"] == [{"field": "customer_number", "message": "at most 50 characters"}]
    long_search = client.get("/api/v1/customers", params={"q": "x" * 101}, headers=h)
    assert long_search.status_code == 422
    assert long_search.json()["errors"] == [{"field": "q", "message": "at most 100 characters"}]


def test_malformed_json_says_where(client: TestClient, db: Database, auth: TokenFor) -> None:
    make_tenant(db, "isp-a")
    answer = client.post(
        "/api/v1/customers",
        content=b'{"customer_number": "C-1",\n "name" "Ada"}',
        headers={**auth("isp-a", "tenant_admin"), "content-type": "application/json"},
    )
    assert answer.status_code == 422
    body = answer.json()
    assert body["field"] == "body"
    assert body["errors"][0]["message"] == (
        "the body is not valid JSON: Expecting ':' delimiter at line 2, column 9 (character 35)"
    )


def test_a_form_encoded_body_is_415(client: TestClient, db: Database, auth: TokenFor) -> None:
    make_tenant(db, "isp-a")
    answer = client.post(
        "/api/v1/customers", data={"customer_number": "C-1", "name": "Ada"}, headers=auth("isp-a", "tenant_admin")
    )
    assert answer.status_code == 415
    assert answer.json()["code"] == "unsupported_media_type"
    assert answer.headers["content-type"] == "application/problem+json"


def test_unknown_routes_and_methods_have_named_codes(client: TestClient) -> None:
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    wrong = client.put("/healthz")
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/customers", {"customer_number": "   ", "name": "Ada"}, "customer_number"),
        ("/api/v1/customers", {"customer_number": "C-1", "name": ""}, "name"),
        ("/api/v1/devices", {"name": " \t ", "device_type": "router"}, "name"),
        ("/api/v1/bandwidth_profiles", {"name": "  ", "download_mbps": 5, "upload_mbps": 1}, "name"),
    ],
)
def test_blank_names_and_numbers_are_refused(
    client: TestClient, db: Database, auth: TokenFor, path: str, body: dict[str, Any], field: str
) -> None:
    make_tenant(db, "isp-a")
    answer = client.post(path, json=body, headers=auth("isp-a", "tenant_admin"))
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"] == [{"field": field, "message": "must not be empty or only whitespace"}]


def test_a_blank_subscriber_number_is_refused(client: TestClient, db: Database, auth: TokenFor) -> None:
    ids = populate(db, "isp-a", 1)
    h = auth("isp-a", "tenant_admin")
    answer = client.post(
        "/api/v1/subscribers",
        json={"customer_id": ids["customers"], "subscriber_number": "   ", "service_type": "ftth"},
        headers=h,
    )
    assert answer.status_code == 422 and answer.json()["field"] == "subscriber_number"
    renamed = client.patch(f"/api/v1/subscribers/{ids['subscribers']}", json={"subscriber_number": " "}, headers=h)
    assert renamed.status_code == 422 and renamed.json()["field"] == "subscriber_number"
