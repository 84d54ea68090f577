"""bench/ftth_authorise.py still runs: its smoke mode (checks only, no figure looked at)."""

from __future__ import annotations

from tests.bench.test_smoke import smoke


def test_ftth_authorise_smoke() -> None:
    out = smoke(
        "ftth_authorise",
        r"^8 concurrent authorisations on one PON port, 2 rounds: median batch [\d.]+ ms",
        r"^baseline, the same 8 row writes with precomputed ids \(no allocator\): .*; ratio [\d.]+$",
        r"^duplicate ONU ids: 0 \(over 32 ONUs with an id\); each batch got ids 0-7: True$",
    )
    assert "checks: ok" in out
