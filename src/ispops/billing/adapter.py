"""The billing system behind one interface, and its one implementation: JSON over HTTP to the tenant's endpoint.

``BillingAdapter`` is what ispops.billing.push needs from a billing system: ``push_cycle`` delivers one cycle's
usage records (one per subscriber) and yields each one once the billing system accepted it; ``push_event``
delivers one event. Every delivery carries an idempotency key (``Idempotency-Key`` header): the same
cycle and subscriber always get the same key, so a billing system that honours the header never counts a
record twice, even when we re-send after a crash between its answer and our record of it.

``HttpBillingAdapter`` posts ``{"type": …, "idempotency_key": …, "data": …}`` with ``Authorization: Bearer
<token>`` to the tenant's URL. A connection error, a timeout, 408, 429 or 5xx is retried (``retries`` times,
waiting ``backoff * 2**n`` seconds, or what ``Retry-After`` says, at most 60 s); any other answer outside
2xx fails at once. The URL is checked again (ispops.billing.urls, the webhooks' SSRF rules: https, public
addresses) before each cycle and each event, and the posts go to the address that was checked.
The endpoint (URL and token) lives in the secret store at ``tenants/<tenant>/billing/endpoint``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ispops.billing import urls
from ispops.errors import IspopsError, ValidationFailed
from ispops.events import ssrf
from ispops.secrets import SecretNotFound, SecretStore, tenant_path

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_WAIT = 60.0


class PushFailed(IspopsError):
    """The billing system did not accept a delivery (after the retries); nothing of it was recorded."""

    status = 502
    code = "billing_push_failed"


@dataclass(frozen=True)
class PushItem:
    """One delivery: its idempotency key, its type (``billing.usage`` or an event type) and its data."""

    key: str
    type: str
    data: dict[str, Any]

    def body(self) -> bytes:
        doc = {"type": self.type, "idempotency_key": self.key, "data": self.data}
        return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("utf-8")


@dataclass(frozen=True)
class Pushed:
    key: str
    status: int


class BillingAdapter(Protocol):
    def push_cycle(self, cycle: str, items: Iterable[PushItem]) -> Iterator[Pushed]:
        """Deliver ``items`` of cycle ``cycle`` in order, yielding each once accepted; raise ``PushFailed``
        at the first one that is not (the ones yielded before it were delivered)."""
        ...

    def push_event(self, item: PushItem) -> Pushed:
        """Deliver one event; ``PushFailed`` when not accepted."""
        ...


class Endpoint(BaseModel):
    """The tenant's billing endpoint, kept as one JSON object in the secret store (write-only in the API)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    url: str = Field(min_length=8, max_length=2000, description="https URL the usage records are posted to")
    token: str = Field(
        min_length=8, max_length=4096, repr=False, json_schema_extra={"writeOnly": True}, description="bearer token"
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            return urls.check_url(value, resolve_names=False)
        except ValidationFailed as exc:
            raise ValueError(exc.message.removeprefix("url: ")) from None


def endpoint_path(tenant_id: str) -> str:
    return tenant_path(tenant_id, "billing", "endpoint")


def save_endpoint(store: SecretStore, tenant_id: str, endpoint: Endpoint) -> str:
    path = endpoint_path(tenant_id)
    store.put(path, endpoint.model_dump_json().encode("utf-8"))
    return path


def load_endpoint(store: SecretStore, tenant_id: str) -> Endpoint | None:
    try:
        raw = store.get(endpoint_path(tenant_id))
    except SecretNotFound:
        return None
    try:
        return Endpoint.model_validate(json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
        raise ValidationFailed(
            f"endpoint: the secret at {endpoint_path(tenant_id)} is not a billing endpoint ({type(exc).__name__})",
            field="endpoint",
        ) from None


def forget_endpoint(store: SecretStore, tenant_id: str) -> bool:
    path = endpoint_path(tenant_id)
    if not store.exists(path):
        return False
    store.delete(path)
    return True


class HttpBillingAdapter:
    """Posts each delivery as JSON to one URL (see the module docstring)."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, transport=transport)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpBillingAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait(self, attempt: int, response: httpx.Response | None) -> float:
        after = str(response.headers.get("retry-after", "")) if response is not None else ""
        if after.isdigit():
            return min(float(after), MAX_WAIT)
        return min(self.backoff * float(2**attempt), MAX_WAIT)

    def _post(self, item: PushItem, target: ssrf.Target) -> Pushed:
        headers = {
            "host": target.host_header,
            "content-type": "application/json",
            "authorization": f"Bearer {self.endpoint.token}",
            "idempotency-key": item.key,
            "user-agent": "ispops-billing/1",
        }
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        body = item.body()
        problem = ""
        for attempt in range(self.retries + 1):
            response: httpx.Response | None = None
            try:
                response = self._client.post(target.connect_url(), content=body, headers=headers, extensions=extensions)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if 200 <= response.status_code < 300:
                    return Pushed(item.key, response.status_code)
                problem = f"HTTP {response.status_code}"
                if response.status_code not in RETRY_STATUSES:
                    break
            if attempt < self.retries:
                self.sleep(self._wait(attempt, response))
        raise PushFailed(f"billing endpoint refused {item.type} {item.key}: {problem}")

    def push_cycle(self, cycle: str, items: Iterable[PushItem]) -> Iterator[Pushed]:
        target = urls.target(self.endpoint.url)  # checked again: the name may resolve elsewhere now
        for item in items:
            yield self._post(item, target)

    def push_event(self, item: PushItem) -> Pushed:
        return self._post(item, urls.target(self.endpoint.url))
