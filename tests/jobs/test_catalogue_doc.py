"""docs/jobs.md lists every job the platform registers, with its scope, and no job that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

from ispops.jobs.app import FAN_OUT, REMOVE_OLD, RETRY_STALLED
from ispops.jobs.registry import CATALOGUE

DOC = Path(__file__).resolve().parents[2] / "docs" / "jobs.md"
ROW = re.compile(r"^\| `(?P<name>[a-z0-9_.]+)` \| (?P<scope>[^|]+?) \|", re.MULTILINE)


def documented() -> dict[str, str]:
    text = DOC.read_text()
    table = text[text.index("## What is registered") :]
    table = table[: table.index("\n\n", table.index("| job |"))]
    return {m["name"]: m["scope"].strip() for m in ROW.finditer(table)}


def test_every_job_is_in_docs_jobs_md_with_its_scope() -> None:
    rows = documented()
    expected = {spec.name: spec.scope for spec in CATALOGUE} | {FAN_OUT: "—", RETRY_STALLED: "—", REMOVE_OLD: "—"}
    assert rows == expected
