"""Automation over HTTP: launching (and the 4xx that name the field), progress paged by offset, cancel,
retry, tenant playbooks and schedules; another tenant's job is a 404 everywhere."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from ispops.automation import jobs
from ispops.config import Settings
from ispops.db.session import Database
from ispops.secrets.file import FileSecretStore
from tests.api.conftest import TokenFor
from tests.automation.conftest import add_device, write_playbook
from tests.automation.test_runs import LOCAL, row

JOBS = "/api/v1/ansible_jobs"


@pytest.fixture
def heads(client: TestClient, tenants: list[str], auth: TokenFor) -> dict[str, dict[str, str]]:
    out = {t: auth(t, "noc_engineer", user_id=f"noc-of-{t}") for t in tenants}
    return out | {"admin": auth("isp-a", "tenant_admin"), "support": auth("isp-a", "support_agent")}


def refused(response: Any, field: str, status: int = 422) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field, response.text


def test_a_launch_is_queued_with_its_user_and_a_bad_one_names_its_field(
    client: TestClient,
    heads: dict[str, dict[str, str]],
    queue_db: Database,
    store: FileSecretStore,
    settings: Settings,
    admin: psycopg.Connection[Any],
) -> None:
    mine = add_device(queue_db, store, "isp-a", "r1")
    theirs = add_device(queue_db, store, "isp-b", "r2")
    a = heads["isp-a"]
    made = client.post(
        JOBS, json={"job_name": "nightly", "playbook_name": "facts.yml", "limit": [str(mine)]}, headers=a
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["status"] == "pending" and body["trigger_source"] == "api" and body["triggered_by"] == "noc-of-isp-a"
    assert body["inventory"] == {"device_ids": [str(mine)]}
    queued = admin.execute("select task_name, args->>'ansible_job_id' from procrastinate.procrastinate_jobs").fetchall()
    assert queued == [("automation.run_job", body["id"])]

    before = admin.execute("select count(*) from ansible_jobs").fetchone()
    refused(client.post(JOBS, json={"job_name": "x", "playbook_name": "nope.yml"}, headers=a), "playbook_name")
    refused(
        client.post(JOBS, json={"job_name": "x", "playbook_name": "facts.yml", "limit": [str(theirs)]}, headers=a),
        "limit",
    )
    refused(
        client.post(JOBS, json={"job_name": "x", "playbook_name": "facts.yml", "extra_vars": [1, 2]}, headers=a),
        "extra_vars",
    )
    refused(
        client.post(
            JOBS,
            json={"job_name": "x", "playbook_name": "facts.yml", "extra_vars": {"ansible_host": "203.0.113.9"}},
            headers=a,
        ),
        "extra_vars",
    )
    refused(
        client.post(
            JOBS, json={"job_name": "x", "playbook_name": "facts.yml", "target_device_id": str(theirs)}, headers=a
        ),
        "target_device_id",
    )
    refused(
        client.post(JOBS, json={"job_name": "x", "playbook_name": "facts.yml", "timeout_seconds": 0}, headers=a),
        "timeout_seconds",
    )
    refused(
        client.post(JOBS, json={"job_name": "x", "playbook_name": "x", "engine": "awx"}, headers=a),
        "awx_job_template_id",
    )
    assert admin.execute("select count(*) from ansible_jobs").fetchone() == before
    assert len(admin.execute("select 1 from procrastinate.procrastinate_jobs").fetchall()) == 1


def test_progress_is_paged_by_offset_and_the_job_can_be_retried(
    client: TestClient,
    heads: dict[str, dict[str, str]],
    queue_db: Database,
    store: FileSecretStore,
    settings: Settings,
    admin: psycopg.Connection[Any],
    playbook_root: Path,
) -> None:
    a, b = heads["isp-a"], heads["isp-b"]
    write_playbook(playbook_root / "hello", "site.yml", LOCAL)
    registered = client.post(
        "/api/v1/automation_playbooks",
        json={"name": "hello", "source_type": "directory", "source": str(playbook_root / "hello")},
        headers=heads["admin"],
    )
    assert registered.status_code == 201, registered.text
    job_id = client.post(JOBS, json={"job_name": "hello", "playbook_name": "hello"}, headers=a).json()["id"]
    assert row(admin, uuid.UUID(job_id))["playbook_id"] == registered.json()["id"]
    assert client.get(f"{JOBS}/{job_id}/events?zz_unknown=1", headers=a).status_code == 422
    nothing = client.get(f"{JOBS}/{job_id}/events", headers=a).json()
    assert nothing == {"status": "pending", "finished": False, "offset": 0, "next_offset": 0, "events": []}

    jobs.run_job(queue_db, "isp-a", ansible_job_id=job_id, settings=settings, store=store)

    first = client.get(f"{JOBS}/{job_id}/events?limit=3", headers=a).json()
    assert first["finished"] and first["status"] == "success" and len(first["events"]) == 3
    rest = client.get(f"{JOBS}/{job_id}/events?offset={first['next_offset']}", headers=a).json()
    seqs = [e["seq"] for e in first["events"] + rest["events"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert rest["events"][-1]["event"] == "playbook_on_stats"
    assert "hello" in "".join(e["stdout"] or "" for e in first["events"] + rest["events"])

    refused(client.post(f"{JOBS}/{job_id}/retry", headers=a), "status", 409)  # it succeeded
    refused(client.post(f"{JOBS}/{job_id}/cancel", headers=a), "status", 409)  # it has finished
    admin.execute("update ansible_jobs set status = 'failed' where id = %s", (job_id,))
    again = client.post(f"{JOBS}/{job_id}/retry", headers=a)
    assert again.status_code == 201, again.text
    assert again.json()["retry_of_id"] == job_id and again.json()["attempt"] == 2
    cancelled = client.post(f"{JOBS}/{again.json()['id']}/cancel", headers=a)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

    # Another tenant: 404 for all of it, and nothing changes.
    before = row(admin, uuid.UUID(job_id))
    for response in (
        client.get(f"{JOBS}/{job_id}/events", headers=b),
        client.post(f"{JOBS}/{job_id}/cancel", headers=b),
        client.post(f"{JOBS}/{job_id}/retry", headers=b),
        client.get(f"{JOBS}/{job_id}", headers=b),
    ):
        assert response.status_code == 404, response.text
    assert row(admin, uuid.UUID(job_id)) == before
    # A role without ansible_jobs.create may not cancel.
    support = client.post(f"{JOBS}/{job_id}/cancel", headers=heads["support"])
    assert support.status_code == 403


def test_a_playbook_outside_the_allowed_roots_is_refused(
    client: TestClient,
    heads: dict[str, dict[str, str]],
    settings: Settings,
    playbook_root: Path,
    tmp_path: Path,
    admin: psycopg.Connection[Any],
) -> None:
    h = heads["admin"]
    outside = tmp_path / "elsewhere"
    write_playbook(outside, "site.yml", LOCAL)
    write_playbook(playbook_root / "ok", "site.yml", LOCAL)
    (playbook_root / "sneaky").symlink_to(outside)
    url = "/api/v1/automation_playbooks"

    def post(**body: Any) -> Any:
        return client.post(
            url, json={"name": f"p-{uuid.uuid4().hex[:6]}", "source_type": "directory", **body}, headers=h
        )

    refused(post(source=str(outside)), "source")
    refused(post(source=str(playbook_root / "ok" / ".." / ".." / "elsewhere")), "source")
    refused(post(source=str(playbook_root / "sneaky")), "source")  # a symbolic link out of the root
    refused(post(source="relative/dir"), "source")
    refused(post(source=str(playbook_root / "ok"), playbook_file="../../elsewhere/site.yml"), "playbook_file")
    refused(post(source=str(playbook_root / "ok"), playbook_file="/etc/passwd"), "playbook_file")
    refused(post(source=str(playbook_root / "ok"), playbook_file="missing.yml"), "playbook_file")
    refused(post(source_type="git", source=f"file://{outside}"), "source")
    refused(post(source_type="git", source="ext::sh -c touch% /tmp/pwned"), "source")
    refused(post(source_type="git", source="https://git.example.net/x.git", git_ref="--upload-pack=evil"), "git_ref")
    shipped = client.post(
        url, json={"name": "backup.yml", "source_type": "directory", "source": str(playbook_root / "ok")}, headers=h
    )
    refused(shipped, "name", 409)
    assert admin.execute("select count(*) from automation_playbooks").fetchone() == (0,)
    assert post(source=str(playbook_root / "ok")).status_code == 201


def test_a_playbook_from_a_local_git_repository_runs(
    client: TestClient,
    heads: dict[str, dict[str, str]],
    queue_db: Database,
    store: FileSecretStore,
    settings: Settings,
    playbook_root: Path,
    admin: psycopg.Connection[Any],
) -> None:
    repo = playbook_root / "repo"
    write_playbook(repo / "plays", "hello.yml", LOCAL)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.net", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@example.net"
    for command in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "plays"]):
        subprocess.run(["git", "-C", str(repo), *command], check=True, env=env)
    body = {
        "name": "from-git",
        "source_type": "git",
        "source": f"file://{repo}",
        "git_ref": "main",
        "playbook_file": "plays/hello.yml",
    }
    assert client.post("/api/v1/automation_playbooks", json=body, headers=heads["admin"]).status_code == 201
    job_id = client.post(JOBS, json={"job_name": "g", "playbook_name": "from-git"}, headers=heads["isp-a"]).json()["id"]
    jobs.run_job(queue_db, "isp-a", ansible_job_id=job_id, settings=settings, store=store)
    job = row(admin, uuid.UUID(job_id))
    assert job["status"] == "success", job["error"] or job["stdout"]
    assert "hello-from-ansible" not in (job["error"] or "")
    assert job["host_results"]["localhost"]["changed"] == ["say hello"]


def test_schedules_refuse_a_bad_cron_and_launch_when_due(
    client: TestClient,
    heads: dict[str, dict[str, str]],
    queue_db: Database,
    store: FileSecretStore,
    admin: psycopg.Connection[Any],
) -> None:
    a = heads["isp-a"]
    url = "/api/v1/automation_schedules"
    refused(client.post(url, json={"name": "s", "playbook_name": "facts.yml", "cron": "every day"}, headers=a), "cron")
    refused(
        client.post(url, json={"name": "s", "playbook_name": "ghost.yml", "cron": "0 2 * * *"}, headers=a),
        "playbook_name",
    )
    made = client.post(url, json={"name": "s", "playbook_name": "facts.yml", "cron": "0 2 * * *"}, headers=a)
    assert made.status_code == 201, made.text
    created = dt.datetime.fromisoformat(made.json()["created_at"])
    first = created.replace(hour=2, minute=0, second=0, microsecond=0)
    first += dt.timedelta(days=1) if first <= created else dt.timedelta(0)

    def at(moment: dt.datetime) -> dict[str, int]:
        return jobs.run_schedules(queue_db, "isp-a", at=moment.isoformat())

    assert at(first - dt.timedelta(minutes=1)) == {"launched": 0, "skipped": 0}
    assert at(first + dt.timedelta(seconds=30)) == {"launched": 1, "skipped": 0}
    assert at(first + dt.timedelta(minutes=1)) == {"launched": 0, "skipped": 0}  # not again until tomorrow
    assert jobs.run_schedules(queue_db, "isp-b", at=(first + dt.timedelta(days=3)).isoformat())["launched"] == 0
    launched = admin.execute("select trigger_source, triggered_by, schedule_id::text from ansible_jobs").fetchall()
    assert launched == [("scheduled", f"schedule:{made.json()['id']}", made.json()["id"])]
