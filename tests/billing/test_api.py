"""The billing hand-off over HTTP: exports as JSON and CSV, a subscriber's cycle, settings, the endpoint."""

from __future__ import annotations

import csv
import io
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from ispops.billing import jobs
from ispops.db.session import Database
from ispops.secrets.file import FileSecretStore
from tests.api.conftest import TokenFor
from tests.billing.conftest import at, make_isp, move_changes, plan, session, subscriber, update_subscriber


@pytest.fixture
def world(db: Database, admin: psycopg.Connection[Any]) -> dict[str, str]:
    """isp-a: A-1 changed plan on Nov 16 (50M -> 500M) and used the network; A-2 on day 15. isp-b: B-1."""
    make_isp(db, "isp-a")
    make_isp(db, "isp-b")
    slow, fast = plan(db, "isp-a", "50M"), plan(db, "isp-a", "500M", cap_gb=500)
    a1 = subscriber(db, "isp-a", "A-1", slow, activated=at("2026-10-01 00:00"))
    update_subscriber(db, "isp-a", a1, bandwidth_profile_id=fast)
    move_changes(admin, a1, at("2026-11-16 00:00"))
    session(db, "isp-a", a1, "x1", start=at("2026-11-20 10:00"), stop=at("2026-11-20 12:00"), up=1234, down=56789)
    a2 = subscriber(db, "isp-a", "A-2", slow, activated=at("2026-10-01 00:00"), billing_day=15)
    b1 = subscriber(db, "isp-b", "B-1", plan(db, "isp-b", "10M"), activated=at("2026-10-01 00:00"))
    return {"a1": a1, "a2": a2, "b1": b1, "slow": slow, "fast": fast}


def get(client: TestClient, headers: dict[str, str], path: str, status: int = 200, **params: Any) -> Any:
    response = client.get(f"/api/v1/billing/{path}", params=params, headers=headers)
    assert response.status_code == status, (path, response.text)
    return response


def test_usage_json_has_one_object_per_subscriber_with_prorated_periods(
    client: TestClient, auth: TokenFor, world: dict[str, str]
) -> None:
    doc = get(client, auth("isp-a", "support_agent"), "cycles/2026-11/usage.json").json()
    assert (doc["tenant_id"], doc["cycle"], doc["proration"], doc["closed_billing_days"]) == (
        "isp-a",
        "2026-11",
        "seconds",
        [],
    )
    by_number = {x["subscriber_number"]: x for x in doc["subscribers"]}
    assert sorted(by_number) == ["A-1", "A-2"]  # never another tenant's
    a1 = by_number["A-1"]
    assert a1["subscriber_id"] == world["a1"]
    assert (a1["cycle_start"], a1["cycle_end"], a1["cycle_closed"]) == (
        "2026-11-01T00:00:00Z",
        "2026-12-01T00:00:00Z",
        False,
    )
    assert (a1["input_octets"], a1["output_octets"], a1["total_octets"], a1["session_seconds"]) == (
        1234,
        56789,
        58023,
        7200,
    )
    assert (a1["bandwidth_profile_id"], a1["plan_name"], a1["data_cap_gb"], a1["over_cap"]) == (
        world["fast"],
        "500M",
        500,
        False,
    )
    assert a1["periods"] == [
        {
            "bandwidth_profile_id": world["slow"],
            "plan_name": "50M",
            "status": "active",
            "start": "2026-11-01T00:00:00Z",
            "end": "2026-11-16T00:00:00Z",
            "seconds": 15 * 86400,
            "fraction": "0.500000",
        },
        {
            "bandwidth_profile_id": world["fast"],
            "plan_name": "500M",
            "status": "active",
            "start": "2026-11-16T00:00:00Z",
            "end": "2026-12-01T00:00:00Z",
            "seconds": 15 * 86400,
            "fraction": "0.500000",
        },
    ]
    assert by_number["A-2"]["cycle_start"] == "2026-11-15T00:00:00Z"
    # the format parameter gives the same document
    same = get(client, auth("isp-a", "tenant_admin"), "cycles/2026-11/usage", format="json").json()
    assert same["subscribers"] == doc["subscribers"]
    only15 = get(client, auth("isp-a", "tenant_admin"), "cycles/2026-11/usage.json", billing_day=15).json()
    assert [x["subscriber_number"] for x in only15["subscribers"]] == ["A-2"]


def test_csv_exports_are_flat_rows(client: TestClient, auth: TokenFor, world: dict[str, str]) -> None:
    headers = auth("isp-a", "tenant_admin")
    response = get(client, headers, "cycles/2026-11/usage.csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="usage-2026-11.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["subscriber_number"] for r in rows] == ["A-1", "A-2"]
    assert {k: rows[0][k] for k in ("input_octets", "output_octets", "over_cap", "periods", "plan_name")} == {
        "input_octets": "1234",
        "output_octets": "56789",
        "over_cap": "false",
        "periods": "2",
        "plan_name": "500M",
    }
    assert get(client, headers, "cycles/2026-11/usage", format="csv").text == response.text

    periods = list(csv.DictReader(io.StringIO(get(client, headers, "cycles/2026-11/plan-history.csv").text)))
    assert [(p["subscriber_number"], p["plan_name"], p["period_start"], p["fraction"]) for p in periods] == [
        ("A-1", "50M", "2026-11-01T00:00:00Z", "0.500000"),
        ("A-1", "500M", "2026-11-16T00:00:00Z", "0.500000"),
        ("A-2", "50M", "2026-11-15T00:00:00Z", "1.000000"),
    ]
    doc = get(client, headers, "cycles/2026-11/plan-history.json").json()
    assert [p["plan_name"] for p in doc["periods"]] == ["50M", "500M", "50M"]


@pytest.mark.parametrize("bad", ["2026-13", "november", "2026-11-01", "26-11"])
def test_a_bad_cycle_is_422_naming_the_field(client: TestClient, auth: TokenFor, db: Database, bad: str) -> None:
    make_isp(db, "isp-a")
    for path in (f"cycles/{bad}/usage.json", f"cycles/{bad}/usage.csv", f"cycles/{bad}/plan-history"):
        problem = get(client, auth("isp-a", "tenant_admin"), path, 422).json()
        assert problem["field"] == "cycle", problem
    problem = get(client, auth("isp-a", "tenant_admin"), "cycles/2026-11/usage", 422, billing_day=29).json()
    assert problem["field"] == "billing_day"
    problem = get(client, auth("isp-a", "tenant_admin"), "cycles/2026-11/usage", 422, format="xml").json()
    assert problem["field"] == "format"


def test_another_tenants_subscriber_is_404(client: TestClient, auth: TokenFor, world: dict[str, str]) -> None:
    intruder = auth("isp-b", "tenant_admin")
    for path in (f"subscribers/{world['a1']}/cycle", f"subscribers/{world['a1']}/cycles/2026-11"):
        problem = get(client, intruder, path, 404).json()
        assert problem["status"] == 404
    b_doc = get(client, intruder, "cycles/2026-11/usage.json").json()
    assert [x["subscriber_number"] for x in b_doc["subscribers"]] == ["B-1"]
    # the owner sees them
    own = auth("isp-a", "support_agent")
    cycle = get(client, own, f"subscribers/{world['a2']}/cycle", on="2026-11-14").json()
    assert (cycle["cycle"], cycle["start_date"], cycle["end_date"]) == ("2026-10", "2026-10-15", "2026-11-15")
    line = get(client, own, f"subscribers/{world['a1']}/cycles/2026-11").json()
    assert line["input_octets"] == 1234


def test_roles(client: TestClient, auth: TokenFor, world: dict[str, str]) -> None:
    assert get(client, auth("isp-a", "field_tech"), "cycles/2026-11/usage.json", 403).json()["status"] == 403
    assert get(client, auth("isp-a", "noc_engineer"), "cycles/2026-11/usage.csv", 403).json()["status"] == 403
    support = auth("isp-a", "support_agent")
    assert client.put("/api/v1/billing/settings", json={}, headers=support).status_code == 403
    assert client.post("/api/v1/billing/cycles/2026-11/push", headers=support).status_code == 403
    assert get(client, support, "endpoint", 403).status_code == 403


def test_closed_cycles_show_in_the_exports_and_as_resources(
    client: TestClient, auth: TokenFor, db: Database, world: dict[str, str]
) -> None:
    jobs.close_due(db, "isp-a", now=at("2026-12-02 00:00"))
    headers = auth("isp-a", "tenant_admin")
    doc = get(client, headers, "cycles/2026-11/usage.json").json()
    assert doc["closed_billing_days"] == [1]
    assert {x["subscriber_number"]: x["cycle_closed"] for x in doc["subscribers"]} == {"A-1": True, "A-2": False}
    listed = client.get("/api/v1/billing_cycles", params={"cycle": "2026-11-01"}, headers=headers).json()["items"]
    assert [(c["billing_day"], c["subscribers"], c["input_octets"]) for c in listed] == [(1, 1, 1234)]
    history = client.get(
        "/api/v1/subscriber_plan_history", params={"subscriber_id": world["a1"]}, headers=headers
    ).json()["items"]
    assert [h["bandwidth_profile_id"] for h in history] == [world["fast"], world["slow"]]  # newest first


def test_settings_and_push_need_a_closed_cycle_and_an_endpoint(
    client: TestClient, auth: TokenFor, db: Database, world: dict[str, str], secret_store: FileSecretStore
) -> None:
    admin_h = auth("isp-a", "tenant_admin")
    assert get(client, admin_h, "settings").json() == {
        "close_after_hours": 6,
        "push_on_close": False,
        "endpoint_configured": False,
    }
    changed = client.put(
        "/api/v1/billing/settings", json={"close_after_hours": 48, "push_on_close": True}, headers=admin_h
    )
    assert changed.status_code == 200 and changed.json()["close_after_hours"] == 48
    bad = client.put("/api/v1/billing/settings", json={"close_after_hours": 1000}, headers=admin_h)
    assert bad.status_code == 422 and bad.json()["field"] == "close_after_hours"

    not_closed = client.post("/api/v1/billing/cycles/2026-11/push", headers=admin_h)
    assert not_closed.status_code == 409 and not_closed.json()["field"] == "cycle"
    jobs.close_due(db, "isp-a", now=at("2026-12-03 00:00"))
    no_endpoint = client.post("/api/v1/billing/cycles/2026-11/push", headers=admin_h)
    assert no_endpoint.status_code == 409 and no_endpoint.json()["field"] == "endpoint"
    bad_cycle = client.post("/api/v1/billing/cycles/2026-1/push", headers=admin_h)
    assert bad_cycle.status_code == 422 and bad_cycle.json()["field"] == "cycle"


@pytest.mark.parametrize(
    "url",
    [
        "http://billing.example.com/in",
        "https://127.0.0.1/in",
        "https://10.1.2.3/in",
        "https://169.254.169.254/latest",
        "https://[::1]/in",
        "https://localhost/in",
        "https://user:pw@billing.example.com/in",
        "ftp://billing.example.com/in",
    ],
)
def test_an_endpoint_that_is_not_https_or_points_inside_is_422_naming_url(
    client: TestClient, auth: TokenFor, db: Database, secret_store: FileSecretStore, url: str
) -> None:
    make_isp(db, "isp-a")
    response = client.put(
        "/api/v1/billing/endpoint", json={"url": url, "token": "secret-token"}, headers=auth("isp-a", "tenant_admin")
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "url"
    assert not secret_store.exists("tenants/isp-a/billing/endpoint")


def test_the_endpoint_is_kept_in_the_secret_store_and_never_shown(
    client: TestClient,
    auth: TokenFor,
    db: Database,
    admin: psycopg.Connection[Any],
    secret_store: FileSecretStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_isp(db, "isp-a")
    make_isp(db, "isp-b")
    monkeypatch.setenv("ISPOPS_BILLING_ALLOW_PRIVATE_ENDPOINTS", "1")
    headers = auth("isp-a", "tenant_admin")
    body = {"url": "http://127.0.0.1:8999/in", "token": "very-secret-token"}
    assert client.put("/api/v1/billing/endpoint", json=body, headers=headers).status_code == 204
    shown = get(client, headers, "endpoint").json()
    assert shown == {"configured": True, "url": "http://127.0.0.1:8999/in"}
    assert "very-secret-token" not in get(client, headers, "settings").text
    assert b"very-secret-token" in secret_store.get("tenants/isp-a/billing/endpoint")
    assert admin.execute("select endpoint_vault_path from billing_settings where tenant_id = 'isp-a'").fetchone() == (
        "tenants/isp-a/billing/endpoint",
    )
    assert get(client, auth("isp-b", "tenant_admin"), "endpoint").json() == {"configured": False, "url": None}
    assert client.delete("/api/v1/billing/endpoint", headers=headers).status_code == 204
    assert get(client, headers, "endpoint").json()["configured"] is False
    assert not secret_store.exists("tenants/isp-a/billing/endpoint")


def test_push_queues_the_job_with_the_cycle(
    client: TestClient,
    auth: TokenFor,
    db: Database,
    admin: psycopg.Connection[Any],
    world: dict[str, str],
    secret_store: FileSecretStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ISPOPS_BILLING_ALLOW_PRIVATE_ENDPOINTS", "1")
    headers = auth("isp-a", "tenant_admin")
    body = {"url": "http://127.0.0.1:8999/in", "token": "very-secret-token"}
    assert client.put("/api/v1/billing/endpoint", json=body, headers=headers).status_code == 204
    jobs.close_due(db, "isp-a", now=at("2026-12-02 00:00"))
    queued = client.post("/api/v1/billing/cycles/2026-11/push", params={"billing_day": 1}, headers=headers)
    assert queued.status_code == 202, queued.text
    job = admin.execute(
        "select task_name, args from procrastinate.procrastinate_jobs where id = %s", (queued.json()["job_id"],)
    ).fetchone()
    assert job is not None and job[0] == "billing.push_cycle"
    assert job[1] == {"tenant_id": "isp-a", "cycle": "2026-11", "billing_day": 1}
    audit = admin.execute(
        "select entity, entity_id, changes from audit_events where tenant_id = 'isp-a' and action = 'action'"
    ).fetchall()
    assert audit == [("billing_cycles", "2026-11", {"action": "push", "billing_day": 1})]
