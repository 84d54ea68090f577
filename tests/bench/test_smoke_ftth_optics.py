"""``bench/ftth_optics.py --smoke``: the optical ingest benchmark still runs and its checks pass."""

from __future__ import annotations

from tests.bench.test_smoke import smoke


def test_ftth_optics_benchmark_smoke() -> None:
    out = smoke(
        "ftth_optics",
        r"^round 1: ingest .* bare COPY .* ratio .*stored 1,000, ONUs updated 1,000, alarms raised 15$",
        r"^round 2: .*stored 1,000, ONUs updated 1,000, alarms raised 0$",
        r"^optical ingest of 1,000 readings \(steady poll\): .* a bare COPY of the same rows",
        r"^checks: ok$",
    )
    assert "CHECK FAILED" not in out
