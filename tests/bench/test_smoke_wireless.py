"""bench/wireless.py still runs: its smoke mode on a tiny plant (checks only, no figure looked at)."""

from __future__ import annotations

from tests.bench.test_smoke import smoke


def test_wireless_smoke() -> None:
    out = smoke(
        "wireless",
        r"^serviceability, 200 sectors, 30 points: p50 [\d.]+ ms, p99 [\d.]+ ms .*; ratio [\d.]+$",
        r"^coverage recomputation, 50 sectors: [\d.]+ s .*; ratio [\d.]+$",
        r"^CPE telemetry ingest, 500 readings of 50 CPEs: [\d.]+ s .*; ratio [\d.]+$",
    )
    assert "checks: ok" in out
