"""``ispops billing …``: export, close, cycle (push is the same function the job runs, tests in test_close_and_push)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ispops.db.session import Database
from tests.billing.conftest import at, make_isp, plan, session, subscriber
from tests.cli.test_cli import cli_env, invoke  # noqa: F401  (the fixture)


def test_export_close_and_cycle(db: Database, cli_env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    make_isp(db, "isp-a")
    sub = subscriber(db, "isp-a", "A-1", plan(db, "isp-a", "50M"), activated=at("2026-10-01 00:00"), billing_day=3)
    session(db, "isp-a", sub, "c1", start=at("2026-11-04 10:00"), stop=at("2026-11-04 10:30"), up=11, down=22)

    as_json = invoke("billing", "export", "--tenant", "isp-a", "--cycle", "2026-11", env=cli_env)
    assert as_json.exit_code == 0, as_json.output
    doc = json.loads(as_json.stdout)
    assert [(x["subscriber_number"], x["input_octets"], x["output_octets"]) for x in doc["subscribers"]] == [
        ("A-1", 11, 22)
    ]
    out = tmp_path / "periods.csv"
    as_csv = invoke(
        "billing", "export", "--tenant", "isp-a", "--cycle", "2026-11", "--format", "csv", "--what", "plan-history",
        "-o", str(out), env=cli_env,
    )  # fmt: skip
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["subscriber_number"], r["period_start"], r["fraction"]) for r in rows] == [
        ("A-1", "2026-11-03T00:00:00Z", "1.000000")
    ]

    bad = invoke("billing", "export", "--tenant", "isp-a", "--cycle", "2026-13", env=cli_env)
    assert bad.exit_code == 1 and "--cycle" in bad.output

    cycle = invoke("billing", "cycle", "--tenant", "isp-a", "--subscriber", sub, "--on", "2026-11-02", env=cli_env)
    assert cycle.exit_code == 0 and "cycle 2026-10 (billing day 3): 2026-10-03 to 2026-11-03" in cycle.output

    closed = invoke("billing", "close", "--tenant", "isp-a", "--cycle", "2026-11", env=cli_env)
    assert closed.exit_code == 0 and "closed 2026-11 (billing day 3): 1 subscribers" in closed.output
    again = invoke("billing", "close", "--tenant", "isp-a", "--cycle", "2026-11", env=cli_env)
    assert again.exit_code == 0 and "nothing to close" in again.output
