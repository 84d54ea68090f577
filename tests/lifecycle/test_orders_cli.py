"""``ispops orders submit|show|list|retry|cancel`` against the test database."""

from __future__ import annotations

import json
import re
from typing import Any

import psycopg

from tests.cli.test_cli import cli_env, invoke  # noqa: F401  (the fixture)
from tests.lifecycle.saga_support import Mark, Site, advance_jobs, plan, site_fixture  # noqa: F401

ID = re.compile(r"order ([0-9a-f-]{36})")


def test_submit_queues_and_show_list_cancel_follow_it(
    cli_env: dict[str, str],  # noqa: F811
    site: Site,
    admin: psycopg.Connection[Any],
) -> None:
    sub = str(site.subscribers[0])
    made = invoke("orders", "submit", "suspend", sub, "--tenant", "isp-a", "-p", '{"reason": "unpaid"}')
    assert made.exit_code == 0, made.output
    found = ID.search(made.output)
    assert found is not None and "status pending" in made.output
    order_id = found.group(1)
    assert [j[:2] for j in advance_jobs(admin)] == [("todo", order_id)]
    assert admin.execute("select requested_by from service_activations").fetchone()[0].startswith("cli:")  # type: ignore[index]

    shown = invoke("orders", "show", order_id, "--tenant", "isp-a", "--json")
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.output)
    assert body["id"] == order_id and body["params"] == {"reason": "unpaid"} and body["plan"][0] == "validate"

    listed = invoke("orders", "list", "--tenant", "isp-a", "--status", "pending")
    assert listed.exit_code == 0 and order_id in listed.output and "1 of 1" in listed.output
    assert "0 of 0" in invoke("orders", "list", "--tenant", "isp-b").output

    twice = invoke("orders", "submit", "terminate", sub, "--tenant", "isp-a")
    assert twice.exit_code == 1 and order_id in twice.output  # the open order, named
    not_failed = invoke("orders", "retry", order_id, "--tenant", "isp-a")
    assert not_failed.exit_code == 1 and "only a failed order" in not_failed.output
    cancelled = invoke("orders", "cancel", order_id, "--tenant", "isp-a")
    assert cancelled.exit_code == 0 and "status cancelled" in cancelled.output
    hidden = invoke("orders", "show", order_id, "--tenant", "isp-b")
    assert hidden.exit_code == 1 and "no such order" in hidden.output


def test_submit_wait_runs_the_order_here_and_bad_input_is_refused(
    cli_env: dict[str, str],  # noqa: F811
    site: Site,
    admin: psycopg.Connection[Any],
) -> None:
    sub = str(site.subscribers[0])
    with plan(Mark("a"), Mark("b"), activation_type="suspension"):
        done = invoke("orders", "submit", "suspend", sub, "--tenant", "isp-a", "--wait")
    assert done.exit_code == 0, done.output
    assert "status completed" in done.output and re.search(r"done\s+a", done.output)
    assert admin.execute("select workflow_status from service_activations").fetchall() == [("completed",)]

    foreign = invoke("orders", "submit", "suspend", str(site.other_subscriber), "--tenant", "isp-a")
    assert foreign.exit_code == 1 and "no such record" in foreign.output
    not_json = invoke("orders", "submit", "suspend", sub, "--tenant", "isp-a", "-p", "{")
    assert not_json.exit_code == 1 and "--params: not JSON" in not_json.output
    bad_type = invoke("orders", "submit", "upgrade", sub, "--tenant", "isp-a")
    assert bad_type.exit_code == 1 and "type: one of" in bad_type.output
    assert admin.execute("select count(*) from service_activations").fetchone() == (1,)
