"""bench/console.py still runs: its smoke mode on 1,000 subscribers (every page answered 200 with the
subscriber's own content, the bare endpoint with its row; no figure looked at)."""

from __future__ import annotations

from tests.bench.test_smoke import smoke


def test_console_smoke() -> None:
    out = smoke(
        "console",
        r"^360 page +[\d,]+ +\d+ +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+  p95 < 200 ms: (met|MISSED)$",
        r"^list, first page +[\d,]+ ",
        r"^list, search by number +[\d,]+ ",
        r"^bare endpoint +[\d,]+ +\d+ +[\d.]+ +[\d.]+ +[\d.]+ +1\.00",
        r"^data: radacct: 100 rows",
    )
    assert "errors under load" not in out
