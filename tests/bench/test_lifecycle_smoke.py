"""bench/lifecycle.py still runs: its smoke mode (checks only, no figure looked at)."""

from __future__ import annotations

from tests.bench.test_smoke import smoke


def test_lifecycle_smoke() -> None:
    out = smoke(
        "lifecycle",
        r"^20 activations submitted at once, 2 workers x 2: all done in [\d.]+ s, [\d.]+ orders/s; "
        r"completion p50 [\d.]+ s p99 [\d.]+ s$",
        r"^baseline, the same domain calls in one transaction per subscriber .*; ratio saga/baseline throughput "
        r"[\d.]+$",
        r"^orphans: 0; duplicate side effects: 0; orders: \{'completed': 20\}$",
        r"^webhooks: ",
    )
    assert "checks: ok" in out
