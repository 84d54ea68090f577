"""Every benchmark under bench/ still runs: ``python bench/<script>.py --smoke`` on tiny data.

A smoke run uses its own embedded PostgreSQL in a scratch data dir that it removes, checks what the full
run checks (every request answered as it must be, no duplicate address, the bare endpoint's JSON equal to
the API's, every session open...) and exits non-zero when a check fails. Nothing here looks at a figure:
a smoke run on a busy machine is as good as on a quiet one. Run as CI does: ``python bench/<script>.py``
from the repository, as a subprocess, bounded in time.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ispops.radius.config import freeradius_binary

ROOT = Path(__file__).resolve().parent.parent.parent
STOCK_SCHEMA = Path("/etc/freeradius/3.0/mods-config/sql/main/postgresql/schema.sql")


def require(what: str, present: bool, install: str) -> None:
    """Skip without ``what`` on a developer's machine; under CI (.ci/run installs it) fail instead."""
    if not present:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is not installed but CI must run the benchmarks' smoke runs (see .ci/run)")
        pytest.skip(f"{what} is not installed ({install})")


def smoke(script: str, *expected: str, host_first: bool = True) -> str:
    """Run ``bench/<script>.py --smoke``; it must exit 0, print the host first (``host_first``), each of
    ``expected`` (regular expressions) and leave no scratch data behind."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISPOPS_")}  # never the developer's database
    done = subprocess.run(
        [sys.executable, f"bench/{script}.py", "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    if host_first:
        lines = [line for line in done.stdout.splitlines() if not line.startswith("smoke: ")]
        assert lines and lines[0].startswith("host: "), out[:500]  # the host (CPU model, cores) comes first
    for pattern in expected:
        assert re.search(pattern, out, re.M), f"{pattern!r} not in:\n{out[-4000:]}"
    scratch = re.search(r"^smoke: scratch data in (\S+)$", out, re.M)
    assert scratch is not None, out[:1000]
    assert not Path(scratch.group(1)).exists(), f"{script} left {scratch.group(1)} behind"
    return out


def test_api_read_smoke() -> None:
    require("wrk", shutil.which("wrk") is not None, "apt-get install wrk")
    smoke(
        "api_read",
        r"^  ours \(RLS on\) / bare endpoint, req/s +\d+\.\d{3}",
        r"^  RLS on / RLS off, req/s +\d+\.\d{3}",
        r"^bare endpoint #1 +[\d,]+ ",
    )


def test_ipam_smoke() -> None:
    smoke(
        "ipam",
        r"^ratio: allocations/s / counter floor = ",
        r"^duplicates by SQL over 124 allocation rows \(124 distinct addresses\): 0$",
        r"every client ended on 409 exhausted: True",
    )


def test_radius_smoke() -> None:
    require("FreeRADIUS", freeradius_binary() is not None, "apt-get install freeradius freeradius-postgresql")
    require("radclient", shutil.which("radclient") is not None, "apt-get install freeradius-utils")
    require("FreeRADIUS's PostgreSQL schema", STOCK_SCHEMA.exists(), "apt-get install freeradius-postgresql")
    # bench/radius.py's report is another change's (issue 20 item 3): only its smoke mode is checked here.
    smoke(
        "radius", r"^PAP auth +ours +\d+/s +stock +\d+/s +ratio \d", r"^Interim +ours +\d+/s +stock", host_first=False
    )


def test_radius_flood_smoke() -> None:
    require("FreeRADIUS", freeradius_binary() is not None, "apt-get install freeradius freeradius-postgresql")
    smoke("radius_flood", r"^  dynamic off +flood +200/s: +\d+ accepts/s")


def test_storm_smoke() -> None:
    require("FreeRADIUS", freeradius_binary() is not None, "apt-get install freeradius freeradius-postgresql")
    require("FreeRADIUS's PostgreSQL schema", STOCK_SCHEMA.exists(), "apt-get install freeradius-postgresql")
    out = smoke("storm", r"^  time to all sessions open, stock / ours: \d")
    for name in ("ours ", "stock"):  # every subscriber accepted and its session open, no reject
        assert re.search(rf"^  {name} all accepted .* rejects 0, unanswered 0$", out, re.M), out[-2000:]
