"""bench/webhooks.py still runs: its smoke mode (200 events delivered, each once, every signature verified
with the reference library, and the bare-POST baseline; no figure looked at)."""

from __future__ import annotations

from tests.bench.test_smoke import smoke


def test_webhooks_smoke() -> None:
    smoke(
        "webhooks",
        r"^delivery, outbox -> receiver: 200 in [\d.]+ s = [\d,]+ deliveries/s",
        r"^baseline, bare httpx POSTs of the same bodies: ",
        r"^ratio: ours / bare = \d+\.\d{3}$",
        r"^checks: ok$",
    )
