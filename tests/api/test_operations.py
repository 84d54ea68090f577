"""Metrics by route and status, and what an unexpected error looks like from outside and in the log."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import psycopg
import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from ispops.app import create_app
from ispops.auth.deps import get_db
from ispops.config import Settings
from ispops.db.async_session import AsyncDatabase
from ispops.db.session import Database
from tests.api.conftest import TokenFor
from tests.factories import make_tenant

LATENCY = "ispops_http_request_duration_seconds"
INTERNALS = "the ledger at 0xdeadbeef is corrupt"


def latency_counts(client: TestClient) -> dict[tuple[str, str, str], float]:
    """``{(method, route, status): observations}`` of the latency histogram, as /metrics shows it."""
    out: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == f"{LATENCY}_count":
                labels = sample.labels
                out[(labels["method"], labels["route"], labels["status"])] = sample.value
    return out


def test_latency_is_observed_per_status(client: TestClient, db: Database, auth: TokenFor) -> None:
    make_tenant(db, "isp-a")
    h = auth("isp-a", "noc_engineer")
    device = client.post("/api/v1/devices", json={"name": "r1", "device_type": "switch"}, headers=h).json()["id"]
    route = "/api/v1/devices/{key}"
    before = latency_counts(client)
    assert client.get(f"/api/v1/devices/{device}", headers=h).status_code == 200
    assert client.get(f"/api/v1/devices/{uuid.uuid4()}", headers=h).status_code == 404
    assert client.get(f"/api/v1/devices/{uuid.uuid4()}", headers=h).status_code == 404
    after = latency_counts(client)
    ok, missing = ("GET", route, "200"), ("GET", route, "404")
    assert after[ok] - before.get(ok, 0) == 1
    assert after[missing] - before.get(missing, 0) == 2


@pytest.fixture
def failing_app(database: Database, api_settings: Settings) -> Any:
    """The real app plus one route that writes, then fails the way a bug does."""
    app = create_app(api_settings, server=database.server)

    @app.post("/test-only/boom")
    async def boom(db: AsyncDatabase = Depends(get_db)) -> None:
        async with db.tenant("isp-a") as s:
            await s.execute(
                text("insert into customers (tenant_id, customer_number, name) values ('isp-a', 'C-1', 'Ada')")
            )
            raise RuntimeError(INTERNALS)

    return app


def test_unexpected_error_is_500_problem_with_request_id_and_no_internals(
    failing_app: Any, db: Database, admin: psycopg.Connection[Any], caplog: pytest.LogCaptureFixture
) -> None:
    make_tenant(db, "isp-a")
    with TestClient(failing_app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR, "ispops.api"):
        response = client.post("/test-only/boom", headers={"X-Request-Id": "req-boom-1"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-boom-1"
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 500 and body["code"] == "internal_error" and body["request_id"] == "req-boom-1"
    for internal in (INTERNALS, "RuntimeError", "Traceback", "customers", "insert"):
        assert internal not in response.text
    logged = [r for r in caplog.records if r.name == "ispops.api" and "req-boom-1" in r.getMessage()]
    assert len(logged) == 1 and logged[0].levelno == logging.ERROR
    assert logged[0].exc_info is not None and str(logged[0].exc_info[1]) == INTERNALS  # the log has the details
    assert admin.execute("select count(*) from customers").fetchone() == (0,)  # the unit of work rolled back
