"""One webhook POST: resolve and check the target (ispops.events.ssrf), sign (ispops.events.signing), send
without following redirects, and report what happened. No database here: the dispatcher records it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from ispops.events import signing, ssrf
from ispops.events.settings import WebhookSettings


@dataclass(frozen=True)
class Outcome:
    """What one attempt gave: the HTTP status (None when there was no answer), how long it took, an error
    for anything but a 2xx, and the start of the answer's body."""

    status_code: int | None
    latency_ms: int
    error: str | None
    response_body: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def client(settings: WebhookSettings) -> httpx.Client:
    """A client for deliveries: no redirects, no proxies from the environment, the delivery timeout."""
    limits = httpx.Limits(
        max_connections=max(4, settings.concurrency * 2), max_keepalive_connections=settings.concurrency
    )
    return httpx.Client(follow_redirects=False, trust_env=False, timeout=httpx.Timeout(settings.timeout), limits=limits)


def _body_text(response: httpx.Response, limit: int) -> str:
    raw = response.content[: limit * 4]
    return raw.decode("utf-8", errors="replace")[:limit]


def post(
    http: httpx.Client,
    url: str,
    secrets: Sequence[str],
    msg_id: str,
    body: bytes,
    settings: WebhookSettings,
    *,
    timestamp: int | None = None,
) -> Outcome:
    """POST ``body`` to ``url`` signed with ``secrets``; never raises for the endpoint's failures."""
    started = time.perf_counter()

    def took() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        target = ssrf.resolve(url, settings)
    except ssrf.UrlRefused as exc:
        return Outcome(None, took(), f"refused: {exc.message}", None)
    ts = int(time.time()) if timestamp is None else timestamp
    headers = signing.headers(secrets, msg_id, ts, body)
    headers["host"] = target.host_header
    headers["user-agent"] = "ispops-webhooks/1"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        response = http.post(target.connect_url(), content=body, headers=headers, extensions=extensions)
    except httpx.TimeoutException as exc:
        return Outcome(None, took(), f"timeout: {type(exc).__name__}", None)
    except httpx.HTTPError as exc:
        return Outcome(None, took(), f"{type(exc).__name__}: {exc}"[:500], None)
    text = _body_text(response, settings.response_body_limit)
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(code, took(), None, text)
    if 300 <= code < 400:
        return Outcome(code, took(), f"HTTP {code}: redirects are not followed", text)
    return Outcome(code, took(), f"HTTP {code}", text)
