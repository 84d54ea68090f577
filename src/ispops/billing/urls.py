"""Where the billing adapter may post: the webhooks' SSRF rules (ispops.events.ssrf), one set for both.

A tenant names the URL and the platform's workers post to it: without these checks a tenant could make them
reach loopback, link-local (cloud metadata at 169.254.169.254), private or otherwise internal addresses.
The URL must be https; every address its host resolves to must be public. It is checked when the endpoint
is configured (a 422 naming ``url``) and resolved again at the start of every push, which then connects to
the address it checked (the host name only in ``Host`` and TLS SNI), so DNS rebinding cannot steer it.

The operator's allowances are the webhooks' (``ISPOPS_WEBHOOK_ALLOW_HTTP``, ``ISPOPS_WEBHOOK_ALLOW_PRIVATE``,
``ISPOPS_WEBHOOK_ALLOWED_NETWORKS``), plus one for billing alone: ``ISPOPS_BILLING_ALLOW_PRIVATE_ENDPOINTS=1``
permits http and internal addresses for billing endpoints (a billing system on the operator's own network,
and tests on 127.0.0.1) without opening webhooks to them. Read at each check.
"""

from __future__ import annotations

import dataclasses
import os

from ispops.errors import ValidationFailed
from ispops.events import ssrf
from ispops.events.settings import WebhookSettings

ALLOW_ENV = "ISPOPS_BILLING_ALLOW_PRIVATE_ENDPOINTS"
INTERNAL_NAMES = ("localhost", ".localhost", ".local", ".internal")


def private_allowed() -> bool:
    return os.environ.get(ALLOW_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def rules(allow_private: bool | None = None) -> WebhookSettings:
    """The webhooks' rules, widened by the billing allowance."""
    settings = WebhookSettings.from_env()
    if private_allowed() if allow_private is None else allow_private:
        settings = dataclasses.replace(settings, allow_http=True, allow_private=True)
    return settings


def _refused(exc: ssrf.UrlRefused, field: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {exc.message.removeprefix('url: ')}", field=field)


def target(url: str, *, field: str = "endpoint", allow_private: bool | None = None) -> ssrf.Target:
    """``url`` checked completely, with the address to connect to; else a 422 naming ``field``."""
    settings = rules(allow_private)
    try:
        host = (ssrf.parse(url, settings).hostname or "").lower()
        if not settings.allow_private and (host == "localhost" or host.endswith(INTERNAL_NAMES[1:])):
            raise ssrf.UrlRefused(f"{host} is an internal name")
        return ssrf.resolve(url, settings)
    except ssrf.UrlRefused as exc:
        raise _refused(exc, field) from None


def check_url(url: str, *, field: str = "url", allow_private: bool | None = None, resolve_names: bool = True) -> str:
    """``url`` when the billing adapter may post to it, else a ``ValidationFailed`` naming ``field``. Without
    ``resolve_names`` only what needs no lookup is checked (a request body's shape)."""
    if resolve_names:
        return target(url, field=field, allow_private=allow_private).url
    try:
        ssrf.parse(url, rules(allow_private))
    except ssrf.UrlRefused as exc:
        raise _refused(exc, field) from None
    return url.strip()
