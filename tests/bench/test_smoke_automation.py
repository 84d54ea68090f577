"""``bench/automation.py --smoke``: the automation benchmark still runs, its jobs succeed, its ratios print."""

from __future__ import annotations

from tests.bench.test_smoke import smoke


def test_automation_benchmark_smoke() -> None:
    smoke(
        "automation",
        r"^ratio single job: platform / bare ansible-runner = ",
        r"^ratio 2 concurrent jobs: platform / bare = ",
        r"^overhead per job \(median of 1\): -?\d+ ms = queue -> ansible start",
        r"^checks: 3 platform jobs success with events",
    )
