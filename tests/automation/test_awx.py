"""The AWX / Automation Platform adapter against a local double of AWX's REST API v2 (AWX cannot run here):
launch with extra vars, limit, check and diff; poll; stdout and the same summary fields as a local run;
cancel; the token only in the secret store."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from ispops.automation import awx, jobs
from ispops.config import Settings
from ispops.db.session import Database
from ispops.secrets.file import FileSecretStore
from tests.api.conftest import TokenFor
from tests.automation.conftest import add_device
from tests.automation.doubles import AwxDouble, AwxTemplate, serving
from tests.automation.test_control import wait_for
from tests.automation.test_runs import launch, row

TOKEN = "awx-token-" + "z" * 24
SUMMARIES = [
    {"host_name": "edge-1", "ok": 3, "changed": 1, "failures": 0, "dark": 0, "skipped": 1, "rescued": 0, "ignored": 0}
]
EVENTS = [
    {
        "event": "runner_on_ok",
        "host_name": "edge-1",
        "task": "Gathering Facts",
        "changed": False,
        "event_data": {"res": {"ansible_facts": {"ansible_hostname": "edge-1", "ansible_env": {"X": "1"}}}},
    },
    {"event": "runner_on_ok", "host_name": "edge-1", "task": "set ntp", "changed": True, "event_data": {"res": {}}},
]


@pytest.fixture
def double() -> AwxDouble:
    return AwxDouble(
        TOKEN,
        templates={
            7: AwxTemplate(summaries=SUMMARIES, events=EVENTS),
            8: AwxTemplate(final="hang"),
            9: AwxTemplate(final="failed", summaries=[{**SUMMARIES[0], "failures": 1, "changed": 0}]),
        },
    )


@pytest.fixture
def awx_url(double: AwxDouble, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(awx, "POLL_SECONDS", 0.02)
    with serving(double) as url:
        yield url


@pytest.fixture
def noc(client: TestClient, tenants: list[str], auth: TokenFor) -> dict[str, str]:
    return auth("isp-a", "tenant_admin", user_id="admin-a")


def endpoint(client: TestClient, headers: dict[str, str], url: str) -> dict[str, Any]:
    made = client.post(
        "/api/v1/automation_endpoints", json={"kind": "awx", "url": url, "token": TOKEN}, headers=headers
    )
    assert made.status_code == 201, made.text
    return dict(made.json())


def test_a_job_template_runs_on_awx_and_is_recorded_like_a_local_run(
    client: TestClient,
    noc: dict[str, str],
    queue_db: Database,
    store: FileSecretStore,
    settings: Settings,
    awx_url: str,
    double: AwxDouble,
    admin: psycopg.Connection[Any],
) -> None:
    made = endpoint(client, noc, awx_url)
    assert "token" not in made and made["token_vault_path"].startswith("tenants/isp-a/automation/")
    device = add_device(queue_db, store, "isp-a", "edge-1")
    body = {
        "job_name": "ntp",
        "playbook_name": "ntp (AWX template 7)",
        "engine": "awx",
        "awx_job_template_id": 7,
        "extra_vars": {"ntp_server": "192.0.2.123"},
        "limit": [str(device)],
        "check_mode": True,
        "diff_mode": True,
    }
    job_id = client.post("/api/v1/ansible_jobs", json=body, headers=noc).json()["id"]

    jobs.run_job(queue_db, "isp-a", ansible_job_id=job_id, settings=settings, store=store)

    job = row(admin, uuid.UUID(job_id))
    assert job["status"] == "success" and job["awx_job_id"] == 101
    assert double.launches == [
        {"extra_vars": {"ntp_server": "192.0.2.123"}, "job_type": "check", "diff_mode": True, "limit": "edge-1"}
    ]
    assert job["stdout"].startswith("PLAY RECAP")
    assert job["stats"]["edge-1"]["changed"] == 1 and job["stats"]["edge-1"]["skipped"] == 1
    assert job["host_results"] == {"edge-1": {"changed": ["set ntp"], "failed": [], "unreachable": []}}
    assert job["ansible_facts"] == {"edge-1": {"ansible_hostname": "edge-1"}}  # the environment is not kept
    assert job["changed_tasks"] == 1 and job["failed_tasks"] == 0
    assert {r[3] for r in double.requests} == {f"Bearer {TOKEN}"}
    assert TOKEN not in json.dumps(job)
    everything = admin.execute("select string_agg(row_to_json(a)::text, '') from audit_events a").fetchone()
    assert everything is not None and TOKEN not in (everything[0] or "")
    assert store.get(made["token_vault_path"]).decode() == TOKEN


def test_a_failed_awx_job_is_failed_here(
    client: TestClient,
    noc: dict[str, str],
    queue_db: Database,
    store: FileSecretStore,
    settings: Settings,
    awx_url: str,
    admin: psycopg.Connection[Any],
) -> None:
    endpoint(client, noc, awx_url)
    body = {"job_name": "x", "playbook_name": "t9", "engine": "awx", "awx_job_template_id": 9}
    job_id = client.post("/api/v1/ansible_jobs", json=body, headers=noc).json()["id"]
    jobs.run_job(queue_db, "isp-a", ansible_job_id=job_id, settings=settings, store=store)
    job = row(admin, uuid.UUID(job_id))
    assert job["status"] == "failed" and job["failed_tasks"] == 1 and job["error"] == "AWX job 101 failed"


def test_cancelling_cancels_the_awx_job(
    client: TestClient,
    noc: dict[str, str],
    queue_db: Database,
    store: FileSecretStore,
    settings: Settings,
    awx_url: str,
    double: AwxDouble,
    admin: psycopg.Connection[Any],
) -> None:
    endpoint(client, noc, awx_url)
    body = {"job_name": "x", "playbook_name": "t8", "engine": "awx", "awx_job_template_id": 8}
    job_id = client.post("/api/v1/ansible_jobs", json=body, headers=noc).json()["id"]
    worker = threading.Thread(
        target=jobs.run_job,
        args=(queue_db, "isp-a"),
        kwargs={"ansible_job_id": job_id, "settings": settings, "store": store},
    )
    worker.start()
    wait_for(lambda: double.jobs.get(101, {}).get("status") == "running")
    assert client.post(f"/api/v1/ansible_jobs/{job_id}/cancel", headers=noc).status_code == 200
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert row(admin, uuid.UUID(job_id))["status"] == "cancelled"
    assert ("POST", "/api/v2/jobs/101/cancel/") in [(r[0], r[1]) for r in double.requests]


def test_without_an_awx_endpoint_the_run_fails_clearly(
    tenants: list[str], queue_db: Database, store: FileSecretStore, settings: Settings, admin: psycopg.Connection[Any]
) -> None:
    job_id = launch(queue_db, "isp-a", "t", engine="awx", awx_job_template_id=7)
    jobs.run_job(queue_db, "isp-a", ansible_job_id=str(job_id), settings=settings, store=store)
    job = row(admin, job_id)
    assert job["status"] == "failed" and job["error"] == "ansible_jobs.engine: the tenant has no AWX endpoint"
