"""``ispops automation run``: launch from the command line (trigger ``cli``), run now or only queue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ispops.config import get_settings
from ispops.db.session import Database
from tests.automation.conftest import write_playbook
from tests.automation.test_runs import LOCAL, register
from tests.cli.test_cli import cli_env, invoke  # noqa: F401  (the fixture)


@pytest.fixture
def automation_env(cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    root = tmp_path / "plays"
    monkeypatch.setenv("ISPOPS_AUTOMATION_RUN_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("ISPOPS_AUTOMATION_PLAYBOOK_ROOTS", str(root))
    get_settings.cache_clear()
    return root


def test_run_now_prints_the_recap_and_records_the_cli_trigger(
    tenants: list[str], queue_db: Database, automation_env: Path, admin: psycopg.Connection[Any]
) -> None:
    write_playbook(automation_env / "hello", "site.yml", LOCAL)
    register(queue_db, "isp-a", "hello", automation_env / "hello")

    result = invoke("automation", "run", "hello", "--tenant", "isp-a", "-e", '{"greeting": "from-the-cli"}')

    assert result.exit_code == 0, result.output
    assert "from-the-cli" in result.output and "PLAY RECAP" in result.output
    assert ": success" in result.output
    found = admin.execute("select status, trigger_source, triggered_by, extra_vars::text from ansible_jobs").fetchall()
    assert len(found) == 1
    status, source, by, extra = found[0]
    assert (status, source, json.loads(extra)) == ("success", "cli", {"greeting": "from-the-cli"})
    assert by.startswith("cli:")


def test_no_wait_only_queues_and_bad_input_is_refused(
    tenants: list[str], queue_db: Database, automation_env: Path, admin: psycopg.Connection[Any]
) -> None:
    queued = invoke("automation", "run", "facts.yml", "--tenant", "isp-a", "--no-wait", "--check")
    assert queued.exit_code == 0, queued.output
    assert admin.execute("select status, check_mode from ansible_jobs").fetchall() == [("pending", True)]
    assert admin.execute("select task_name from procrastinate.procrastinate_jobs").fetchall() == [
        ("automation.run_job",)
    ]

    unknown = invoke("automation", "run", "nope.yml", "--tenant", "isp-a")
    assert unknown.exit_code == 1 and "playbook_name" in unknown.output
    not_object = invoke("automation", "run", "facts.yml", "--tenant", "isp-a", "-e", "[1]")
    assert not_object.exit_code == 1 and "must be a JSON object" in not_object.output
    foreign = invoke(
        "automation", "run", "facts.yml", "--tenant", "isp-a", "--device", "00000000-0000-0000-0000-000000000001"
    )
    assert foreign.exit_code == 1 and "limit" in foreign.output
    assert admin.execute("select count(*) from ansible_jobs").fetchone() == (1,)
