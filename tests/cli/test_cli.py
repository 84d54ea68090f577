"""The ``ispops`` command against the test database: help, db, tenants, users, seed, clear errors."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
import typer
from typer.testing import CliRunner

from ispops.cli import app
from ispops.config import get_settings
from ispops.db import migrate
from ispops.db.server import Server
from ispops.db.session import Database

runner = CliRunner()


@contextmanager
def cli_pointed_at(server: Server, base: Server) -> Iterator[dict[str, str]]:
    """Environment pointing the CLI at ``server``'s database, the same way a user would."""
    if server.embedded:
        env = {"ISPOPS_DATA_DIR": str(base_server_data_dir(base)), "ISPOPS_DATABASE_NAME": server.database}
    else:
        env = {"ISPOPS_DATABASE_URL": server.admin_url.render_as_string(hide_password=False)}
    env["COLUMNS"] = "200"
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        yield env
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


@pytest.fixture
def cli_env(db: Database, base_server: Server) -> Iterator[dict[str, str]]:
    """The CLI pointed at the session's test database (emptied before the test)."""
    with cli_pointed_at(db.server, base_server) as env:
        yield env


def base_server_data_dir(base: Server) -> str:
    host = base.admin_url.query["host"]
    assert isinstance(host, str)
    return os.path.dirname(host)


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "200", **(env or {})}, catch_exceptions=False)


def all_commands() -> list[list[str]]:
    """Every command and group of the CLI, found by walking the tree (a new command is covered too)."""

    def walk(command: object, path: list[str]) -> Iterator[list[str]]:
        yield path
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    return list(walk(typer.main.get_command(app), []))


# The commands issue 2 names; the walk above must find each of them.
REQUIRED_COMMANDS = [
    ["db", "upgrade"],
    ["db", "downgrade"],
    ["db", "maintain"],
    ["db", "check"],
    ["seed"],
    ["tenant", "create"],
    ["user", "create"],
    ["up"],
]


def test_the_required_commands_exist() -> None:
    found = all_commands()
    assert [c for c in REQUIRED_COMMANDS if c not in found] == []


def description(help_text: str) -> str:
    """The first non-blank line after ``Usage:`` (the command's summary), or '' if there is none."""
    lines = help_text.splitlines()
    usage = next(i for i, line in enumerate(lines) if "Usage:" in line)
    following = [line.strip() for line in lines[usage + 1 :] if line.strip()]
    first = following[0] if following else ""
    return "" if first.startswith(("╭", "+", "Options", "Arguments", "Commands")) else first


@pytest.mark.parametrize("command", all_commands(), ids=lambda c: " ".join(c) or "ispops")
def test_every_command_has_help(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    summary = description(result.output)
    assert len(summary.split()) >= 4, f"no description under Usage:\n{result.output}"
    assert "``" not in result.output  # reStructuredText quoting is not rendered: it shows literally


def test_description_finds_a_missing_summary() -> None:
    assert description("\n Usage: ispops x [OPTIONS]\n\n╭─ Options ─╮\n│ --help │\n") == ""
    assert description(" Usage: ispops x\n\n Do the thing to the database.\n") == "Do the thing to the database."


def test_upgrade_is_idempotent_and_reports_the_revision(cli_env: dict[str, str]) -> None:
    result = invoke("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert f"revision {migrate.head_revision()}" in result.output
    assert ("embedded PostgreSQL" in result.output) == ("ISPOPS_DATA_DIR" in cli_env)


def test_tenant_and_user_lifecycle(cli_env: dict[str, str], admin: psycopg.Connection[Any]) -> None:
    result = invoke("tenant", "create", "Lakeside Fibre", "--slug", "lakeside", "--max-subscribers", "500")
    assert result.exit_code == 0, result.output
    assert "Created tenant lakeside" in result.output

    again = invoke("tenant", "create", "Lakeside Again", "--slug", "lakeside")
    assert again.exit_code == 1
    assert "slug" in again.output and "already exists" in again.output
    assert "Traceback" not in again.output

    bad = invoke("tenant", "create", "Bad", "--slug", "Not A Slug")
    assert bad.exit_code == 1 and "tenants.slug" in bad.output

    env = {"ISPOPS_USER_PASSWORD": "correct horse battery"}
    made = invoke(
        "user",
        "create",
        "--tenant",
        "lakeside",
        "--email",
        "Noc@Lakeside.Example",
        "--role",
        "noc_engineer",
        "--role",
        "field_tech",
        env=env,
    )
    assert made.exit_code == 0, made.output
    row = admin.execute("select email, roles, password_hash, created_by from users").fetchone()
    assert row is not None
    assert row[0] == "noc@lakeside.example"
    assert row[1] == ["field_tech", "noc_engineer"]
    assert row[2].startswith("$argon2id$v=19$m=19456,t=2,p=1$")

    dup = invoke(
        "user", "create", "--tenant", "lakeside", "--email", "noc@lakeside.example", "--role", "field_tech", env=env
    )
    assert dup.exit_code == 1 and "already exists" in dup.output

    short = invoke(
        "user",
        "create",
        "--tenant",
        "lakeside",
        "--email",
        "x@lakeside.example",
        "--role",
        "field_tech",
        env={"ISPOPS_USER_PASSWORD": "short"},
    )
    assert short.exit_code == 1 and "users.password" in short.output

    ghost = invoke("user", "create", "--tenant", "nope", "--email", "x@nope.example", "--role", "field_tech", env=env)
    assert ghost.exit_code == 1 and "no tenant 'nope'" in ghost.output

    listing = invoke("tenant", "list")
    assert listing.exit_code == 0
    assert "lakeside" in listing.output and "1/5" in listing.output  # users against quota
    assert admin.execute("select count(*) from users").fetchone() == (1,)


def test_seed_demo_is_idempotent_and_consistent(cli_env: dict[str, str], admin: psycopg.Connection[Any]) -> None:
    first = invoke("seed", "--demo")
    assert first.exit_code == 0, first.output

    def counts() -> dict[str, int]:
        tables = [
            "tenants",
            "users",
            "subscribers",
            "radcheck",
            "radreply",
            "nas",
            "ip_pools",
            "devices",
            "olts",
            "onus",
            "splitters",
            "wireless_towers",
            "wireless_sectors",
            "wireless_subscribers",
            "fiber_cables",
            "customers",
            "bandwidth_profiles",
            "ip_allocations",
        ]
        return {t: int((admin.execute(f"select count(*) from {t}").fetchone() or (0,))[0]) for t in tables}

    before = counts()
    assert before["tenants"] == 2
    assert before["subscribers"] == 24
    # RADIUS is provisioned from the subscribers: one password each, the plan's rate for those in service.
    [(passwords, rates, active)] = admin.execute(
        "select (select count(*) from radcheck where attribute in ('Cleartext-Password', 'NT-Password')), "
        "(select count(*) from radreply where attribute = 'Mikrotik-Rate-Limit'), "
        "(select count(*) from subscribers where status = 'active')"
    ).fetchall()
    assert passwords == 24 and rates == active > 0
    # 3 sectors per ISP on its hill, and the WISP's second tower with 2 more (demo/wireless.py); per ISP 8 ONUs
    # of its subscribers and one found on 0/1/1, not yet authorised (demo/ftth.py)
    assert before["onus"] == 18 and before["wireless_subscribers"] == 8 and before["wireless_sectors"] == 8
    assert min(before.values()) >= 2

    second = invoke("seed", "--demo")
    assert second.exit_code == 0, second.output
    assert counts() == before

    check = invoke("db", "check")
    assert check.exit_code == 0, check.output
    assert "0 drifted" in check.output


def test_check_exits_non_zero_on_drift(cli_env: dict[str, str], admin: psycopg.Connection[Any]) -> None:
    assert invoke("seed", "--demo").exit_code == 0
    admin.execute("update tenants set current_subscribers = current_subscribers + 3 where id = 'lakeside-fibre'")
    result = invoke("db", "check")
    assert result.exit_code == 1
    assert "lakeside-fibre: tenants[lakeside-fibre].current_subscribers is 15, recomputed 12" in result.output


def test_maintain_reports_default_rows(cli_env: dict[str, str], admin: psycopg.Connection[Any]) -> None:
    assert invoke("seed", "--demo").exit_code == 0
    ok = invoke("db", "maintain")
    assert ok.exit_code == 0, ok.output
    assert "Created: none" in ok.output
    admin.execute(
        "insert into radacct (tenant_id, acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime) "
        "values ('lakeside-fibre', 's', 'u', 'x', '192.0.2.1', '2099-06-01')"
    )
    problem = invoke("db", "maintain")
    assert problem.exit_code == 1
    assert "radacct_default" in problem.output


def test_seed_without_flag_says_what_to_do() -> None:
    result = invoke("seed")
    assert result.exit_code == 2
    assert "--demo" in result.output


def test_unreachable_database_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISPOPS_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    get_settings.cache_clear()
    try:
        result = invoke("db", "check")
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "error:" in result.output and "Traceback" not in result.output


def test_operator_create_is_hashed_and_unique(cli_env: dict[str, str], admin: psycopg.Connection[Any]) -> None:
    env = {"ISPOPS_OPERATOR_PASSWORD": "operator-password-123"}
    made = invoke("operator", "create", "--email", "Ops@Example.NET", env=env)
    assert made.exit_code == 0, made.output
    row = admin.execute("select email, password_hash from platform_operators").fetchone()
    assert row is not None and row[0] == "ops@example.net" and row[1].startswith("$argon2id$")
    again = invoke("operator", "create", "--email", "ops@example.net", env=env)
    assert again.exit_code == 1 and "already exists" in again.output
