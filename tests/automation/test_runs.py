"""Real playbooks, real ansible-runner: against localhost and against an sshd managed host. Each run is an
``ansible_jobs`` row with its status, stdout, recap, per-host results, facts (from the events) and events;
no secret reaches the row, its events or its stdout, and the private directory is gone afterwards."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg

from ispops.automation import jobs, service
from ispops.config import Settings
from ispops.db.session import Database
from ispops.models.automation import AnsibleTriggerSource, AutomationPlaybook
from ispops.secrets.file import FileSecretStore
from tests.automation.conftest import ManagedHost, add_device, ssh_credentials, write_playbook

LOCAL = """
- hosts: localhost
  gather_facts: true
  tasks:
    - name: say hello
      ansible.builtin.command: echo hello-from-ansible
    - name: nothing to change
      ansible.builtin.debug:
        msg: "{{ greeting | default('hi') }}"
"""


def launch(db: Database, tenant: str, playbook: str, **kw: Any) -> uuid.UUID:
    with db.tenant(tenant) as s:
        job = service.launch(
            s,
            tenant,
            service.LaunchRequest(playbook_name=playbook, **kw),
            trigger_source=AnsibleTriggerSource.MANUAL,
            triggered_by="test",
        )
        return job.id


def register(db: Database, tenant: str, name: str, source: Path, playbook_file: str = "site.yml") -> None:
    with db.tenant(tenant) as s:
        s.add(
            AutomationPlaybook(
                tenant_id=tenant, name=name, source_type="directory", source=str(source), playbook_file=playbook_file
            )
        )


def row(admin: psycopg.Connection[Any], job_id: uuid.UUID) -> dict[str, Any]:
    found = admin.execute("select row_to_json(j)::text from ansible_jobs j where id = %s", (job_id,)).fetchone()
    assert found is not None
    data: dict[str, Any] = json.loads(found[0])
    return data


def events(admin: psycopg.Connection[Any], job_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = admin.execute(
        "select row_to_json(e)::text from ansible_job_events e where job_id = %s order by seq", (job_id,)
    ).fetchall()
    return [json.loads(r[0]) for r in rows]


def test_a_tenant_playbook_runs_on_localhost_and_its_run_is_recorded(
    tenants: list[str],
    queue_db: Database,
    settings: Settings,
    store: FileSecretStore,
    playbook_root: Path,
    admin: psycopg.Connection[Any],
) -> None:
    db = queue_db
    write_playbook(playbook_root / "hello", "site.yml", LOCAL)
    register(db, "isp-a", "hello", playbook_root / "hello")
    job_id = launch(db, "isp-a", "hello", extra_vars={"greeting": "hello-extra"})

    result = jobs.run_job(db, "isp-a", ansible_job_id=str(job_id), settings=settings, store=store)

    assert result == {"started": True, "status": "success"}
    job = row(admin, job_id)
    assert job["status"] == "success" and job["exit_code"] == 0
    assert "hello-extra" in job["stdout"] and "PLAY RECAP" in job["stdout"]
    assert job["stats"]["localhost"]["changed"] == 1 and job["stats"]["localhost"]["failures"] == 0
    assert job["changed_tasks"] == 1 and job["failed_tasks"] == 0
    assert job["host_results"]["localhost"]["changed"] == ["say hello"]
    # Facts come from the events (ansible-core >= 2.19 leaves the runner's fact cache empty).
    assert job["ansible_facts"]["localhost"]["ansible_hostname"]
    assert job["started_at"] and job["completed_at"] and job["duration_seconds"] is not None
    assert job["trigger_source"] == "manual" and job["triggered_by"] == "test"
    seen = events(admin, job_id)
    assert [e["seq"] for e in seen] == sorted(e["seq"] for e in seen)
    kinds = [e["event"] for e in seen]
    assert "playbook_on_start" in kinds and kinds[-1] == "playbook_on_stats"
    assert any(e["task"] == "say hello" and e["event"] == "runner_on_ok" for e in seen)
    assert list(Path(settings.automation_dir).iterdir()) == []  # the private directory is gone


def test_running_a_job_again_does_nothing(
    tenants: list[str],
    queue_db: Database,
    settings: Settings,
    store: FileSecretStore,
    playbook_root: Path,
    admin: psycopg.Connection[Any],
) -> None:
    db = queue_db
    write_playbook(playbook_root / "hello", "site.yml", LOCAL)
    register(db, "isp-a", "hello", playbook_root / "hello")
    job_id = launch(db, "isp-a", "hello")
    jobs.run_job(db, "isp-a", ansible_job_id=str(job_id), settings=settings, store=store)
    before = row(admin, job_id)
    assert jobs.run_job(db, "isp-a", ansible_job_id=str(job_id), settings=settings, store=store) == {
        "started": False,
        "reason": "already success",
    }
    assert row(admin, job_id) == before


def test_facts_come_from_the_managed_host_over_ssh_and_no_secret_is_kept(
    tenants: list[str],
    queue_db: Database,
    settings: Settings,
    store: FileSecretStore,
    managed_host: ManagedHost,
    admin: psycopg.Connection[Any],
) -> None:
    db = queue_db
    device = add_device(
        db, store, "isp-a", "core-1", port=managed_host.linux_port, credentials=ssh_credentials(managed_host)
    )
    job_id = launch(db, "isp-a", "facts.yml", limit=[device])

    jobs.run_job(db, "isp-a", ansible_job_id=str(job_id), settings=settings, store=store)

    job = row(admin, job_id)
    assert job["status"] == "success", job["stdout"]
    assert job["stats"]["core-1"]["ok"] == 2 and job["stats"]["core-1"]["unreachable"] == 0
    assert job["ansible_facts"]["core-1"]["ansible_user_id"] == managed_host.username
    assert job["inventory"]["hosts"] == {"core-1": {"device_id": str(device), "address": "127.0.0.1"}}
    assert_no_secret(admin, job_id, managed_host.private_key)
    assert list(Path(settings.automation_dir).iterdir()) == []


def test_mikrotik_playbook_sends_the_nas_secret_to_the_router_and_nowhere_else(
    tenants: list[str],
    queue_db: Database,
    settings: Settings,
    store: FileSecretStore,
    managed_host: ManagedHost,
    admin: psycopg.Connection[Any],
) -> None:
    db = queue_db
    device = add_device(
        db,
        store,
        "isp-a",
        "bras-1",
        port=managed_host.router_port,
        vendor="MikroTik",
        credentials=ssh_credentials(managed_host),
    )
    secret = "nas-shared-" + uuid.uuid4().hex
    admin.execute(
        "insert into nas (tenant_id, nasname, shortname, type, secret, coa_port) "
        "values ('isp-a', '127.0.0.1', 'bras-1', 'mikrotik', %s, 3799)",
        (secret,),
    )
    managed_host.router_log.write_text("")
    job_id = launch(db, "isp-a", "mikrotik_pppoe_radius.yml", target_device_id=device)

    jobs.run_job(db, "isp-a", ansible_job_id=str(job_id), settings=settings, store=store)

    job = row(admin, job_id)
    assert job["status"] == "success", job["stdout"]
    sent = managed_host.router_log.read_text()
    assert f'secret="{secret}"' in sent and "address=127.0.0.1" in sent
    assert "/ppp aaa set use-radius=yes accounting=yes" in sent
    assert "/radius incoming set accept=yes port=3799" in sent
    assert "/interface pppoe-server server add" in sent
    assert job["changed_tasks"] == 5
    assert_no_secret(admin, job_id, secret)
    assert_no_secret(admin, job_id, managed_host.private_key)


def test_backup_playbook_stores_the_configuration_like_the_device_backups(
    tenants: list[str],
    queue_db: Database,
    settings: Settings,
    store: FileSecretStore,
    managed_host: ManagedHost,
    admin: psycopg.Connection[Any],
) -> None:
    db = queue_db
    device = add_device(
        db,
        store,
        "isp-a",
        "edge-7",
        port=managed_host.router_port,
        vendor="MikroTik",
        credentials=ssh_credentials(managed_host),
    )
    job_id = launch(db, "isp-a", "backup.yml", target_device_id=device)

    jobs.run_job(db, "isp-a", ansible_job_id=str(job_id), settings=settings, store=store)

    job = row(admin, job_id)
    assert job["status"] == "success", job["stdout"]
    assert job["host_results"]["_backups"] == {str(device): "changed"}
    saved = admin.execute(
        "select config_backup_path, last_config_backup_error from devices where id = %s", (device,)
    ).fetchone()
    assert saved is not None and saved[1] is None
    assert Path(saved[0]).read_text() == managed_host.router_config.read_text()
    assert "set name=edge-7" not in json.dumps(job) + json.dumps(events(admin, job_id))  # no_log


def test_check_mode_with_diff_changes_nothing_and_shows_the_diff(
    tenants: list[str],
    queue_db: Database,
    settings: Settings,
    store: FileSecretStore,
    managed_host: ManagedHost,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
) -> None:
    db = queue_db
    device = add_device(
        db, store, "isp-a", "srv-1", port=managed_host.linux_port, credentials=ssh_credentials(managed_host)
    )
    root = tmp_path / "host-root"
    dry = launch(
        db,
        "isp-a",
        "linux_baseline.yml",
        limit=[device],
        extra_vars={"baseline_root": str(root)},
        check_mode=True,
        diff_mode=True,
    )
    jobs.run_job(db, "isp-a", ansible_job_id=str(dry), settings=settings, store=store)
    job = row(admin, dry)
    assert job["status"] == "success", job["stdout"]
    assert job["check_mode"] and job["changed_tasks"] > 0
    assert "+PasswordAuthentication no" in job["stdout"]  # the diff
    assert not (root / "etc" / "motd").exists()

    real = launch(db, "isp-a", "linux_baseline.yml", limit=[device], extra_vars={"baseline_root": str(root)})
    jobs.run_job(db, "isp-a", ansible_job_id=str(real), settings=settings, store=store)
    assert row(admin, real)["status"] == "success"
    assert "PasswordAuthentication no" in (root / "etc/ssh/sshd_config.d/50-ispops-baseline.conf").read_text()


def assert_no_secret(admin: psycopg.Connection[Any], job_id: uuid.UUID, secret: str) -> None:
    """The secret (or any line of it) is nowhere in the row, its events, the audit trail or the queue."""
    everything = json.dumps(row(admin, job_id)) + json.dumps(events(admin, job_id))
    everything += json.dumps([r[0] for r in admin.execute("select row_to_json(a)::text from audit_events a")])
    everything += json.dumps([r[0] for r in admin.execute("select args::text from procrastinate.procrastinate_jobs")])
    for piece in [secret, *(line for line in secret.splitlines() if len(line) >= 16)]:
        assert piece not in everything
        assert piece not in everything.replace("\\n", "\n")
