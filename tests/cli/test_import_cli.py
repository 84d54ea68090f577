"""``ispops import subscribers FILE --tenant T [--dry-run]``: a 1,000-row file with two bad rows is refused
with both named (row + column) and nothing imported; the corrected file dry-runs clean, then imports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from ispops.db.session import Database
from tests.cli.test_cli import cli_env as cli_env  # the fixture
from tests.cli.test_cli import invoke
from tests.subscribers.test_bulk_import import csv_bytes, sample, setup_tenant


def test_import_subscribers_command(
    db: Database, admin: psycopg.Connection[Any], cli_env: dict[str, str], tmp_path: Path
) -> None:
    setup_tenant(db, "isp-a")
    rows = sample(1000)
    rows[99]["service_type"] = "carrier-pigeon"  # row 101
    rows[499]["username"] = rows[10]["username"]  # row 501: a duplicate of row 12
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes(rows))

    result = invoke("import", "subscribers", str(bad), "--tenant", "isp-a", env=cli_env)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if "│" in line]
    named = [[cell.strip() for cell in line.split("│")[1:3]] for line in lines]
    assert ["101", "service_type"] in named and ["501", "username"] in named
    assert "2 problem(s) in 1,000 rows" in result.output
    assert admin.execute("select count(*) from subscribers").fetchone() == (0,)

    rows[99]["service_type"] = "ftth"
    rows[499]["username"] = "fixed@isp"
    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes(rows))
    result = invoke("import", "subscribers", str(good), "--tenant", "isp-a", "--dry-run", env=cli_env)
    assert result.exit_code == 0, result.output
    assert "1,000 rows checked, no problems (dry run: nothing imported)" in result.output
    assert admin.execute("select count(*) from subscribers").fetchone() == (0,)

    result = invoke("import", "subscribers", str(good), "--tenant", "isp-a", env=cli_env)
    assert result.exit_code == 0, result.output
    assert "imported 1,000 subscribers" in result.output and "250 static addresses" in result.output
    assert admin.execute("select count(*), count(static_ip_address) from subscribers").fetchone() == (1000, 250)

    # Importing the same file again: every row is a duplicate now, nothing changes.
    result = invoke("import", "subscribers", str(good), "--tenant", "isp-a", env=cli_env)
    assert result.exit_code == 1 and "already exists in this tenant" in result.output
    assert admin.execute("select count(*) from subscribers").fetchone() == (1000,)


def test_unknown_tenant(cli_env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "x.csv"
    empty.write_bytes(csv_bytes(sample(1)))
    result = invoke("import", "subscribers", str(empty), "--tenant", "nobody", env=cli_env)
    assert result.exit_code == 1 and "error:" in result.output
