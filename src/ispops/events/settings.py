"""Platform settings of webhook delivery: the operator's, read from the environment when used (so a test
or an operator can change them without a restart of anything but the process).

| variable | default | meaning |
|---|---|---|
| ``ISPOPS_WEBHOOK_ALLOW_HTTP`` | off | accept ``http://`` endpoint URLs (otherwise https only) |
| ``ISPOPS_WEBHOOK_ALLOW_PRIVATE`` | off | accept URLs resolving to loopback, private, link-local, ... addresses |
| ``ISPOPS_WEBHOOK_ALLOWED_NETWORKS`` | empty | comma-separated CIDRs accepted even though not public |
| ``ISPOPS_WEBHOOK_TIMEOUT`` | 10 | seconds for one POST (connect + answer) |
| ``ISPOPS_WEBHOOK_MAX_ATTEMPTS`` | 8 | attempts before a delivery is dead-lettered |
| ``ISPOPS_WEBHOOK_BACKOFF_BASE`` | 10 | seconds before the 2nd attempt; doubled each time |
| ``ISPOPS_WEBHOOK_BACKOFF_MAX`` | 21600 | the longest wait between attempts (6 h) |
| ``ISPOPS_WEBHOOK_ROTATION_OVERLAP`` | 86400 | seconds the previous secret still signs after a rotation |
| ``ISPOPS_WEBHOOK_CONCURRENCY`` | 8 | POSTs in flight at once per dispatch job |
| ``ISPOPS_EVENT_RETENTION_DAYS`` | 30 | dispatched events (and their deliveries) kept this long |
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from ispops.errors import ConfigurationError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
TRUE = frozenset({"1", "true", "yes", "on"})


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in TRUE


def _number(name: str, default: float, *, minimum: float = 0) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}: {raw!r} is not a number") from None
    if value < minimum:
        raise ConfigurationError(f"{name}: at least {minimum}")
    return value


def _networks(name: str) -> tuple[IPNetwork, ...]:
    out: list[IPNetwork] = []
    for part in os.environ.get(name, "").split(","):
        if part.strip():
            try:
                out.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                raise ConfigurationError(f"{name}: {part.strip()!r} is not a network") from None
    return tuple(out)


@dataclass(frozen=True)
class WebhookSettings:
    allow_http: bool = False
    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    timeout: float = 10.0
    max_attempts: int = 8
    backoff_base: float = 10.0
    backoff_max: float = 21600.0
    rotation_overlap: float = 86400.0
    concurrency: int = 8
    retention_days: int = 30
    response_body_limit: int = 2048

    @classmethod
    def from_env(cls) -> WebhookSettings:
        return cls(
            allow_http=_flag("ISPOPS_WEBHOOK_ALLOW_HTTP"),
            allow_private=_flag("ISPOPS_WEBHOOK_ALLOW_PRIVATE"),
            allowed_networks=_networks("ISPOPS_WEBHOOK_ALLOWED_NETWORKS"),
            timeout=_number("ISPOPS_WEBHOOK_TIMEOUT", 10.0, minimum=0.1),
            max_attempts=int(_number("ISPOPS_WEBHOOK_MAX_ATTEMPTS", 8, minimum=1)),
            backoff_base=_number("ISPOPS_WEBHOOK_BACKOFF_BASE", 10.0),
            backoff_max=_number("ISPOPS_WEBHOOK_BACKOFF_MAX", 21600.0),
            rotation_overlap=_number("ISPOPS_WEBHOOK_ROTATION_OVERLAP", 86400.0),
            concurrency=int(_number("ISPOPS_WEBHOOK_CONCURRENCY", 8, minimum=1)),
            retention_days=int(_number("ISPOPS_EVENT_RETENTION_DAYS", 30, minimum=1)),
        )

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt: base, 2 x base, 4 x base, ... up to the max."""
        return float(min(self.backoff_max, self.backoff_base * 2 ** max(0, attempts - 1)))
