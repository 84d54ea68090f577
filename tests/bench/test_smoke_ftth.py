"""bench/ftth.py still runs: its smoke mode on a tiny plant (checks only, no figure looked at)."""

from __future__ import annotations

from tests.bench.test_smoke import smoke


def test_ftth_plant_smoke() -> None:
    out = smoke(
        "ftth",
        r"^loss budget, 256 ONUs \(median of 1\): [\d.]+ s .*; ratio [\d.]+$",
        r"^per-PON report, 20 PON ports of 4: p50 [\d.]+ ms, p99 [\d.]+ ms .*; ratio [\d.]+$",
        r"^suspects: 1 upstream of a splitter \(planted 1\), 1 drops \(planted 1\)$",
    )
    assert "checks: ok" in out
