"""Helpers of the delivery tests: an endpoint made through the service, events, one dispatch run."""

from __future__ import annotations

import uuid

from ispops.db.session import Database
from ispops.events import jobs, webhooks
from ispops.events.outbox import emit
from ispops.events.settings import WebhookSettings
from ispops.secrets.store import SecretStore


def endpoint(db: Database, store: SecretStore, tenant: str, url: str, types: list[str]) -> tuple[uuid.UUID, str]:
    with db.tenant(tenant) as s:
        e, secret = webhooks.create_endpoint(
            s, store, tenant, url=url, event_types=types, settings=WebhookSettings.from_env()
        )
        return e.id, secret


def rotate(db: Database, store: SecretStore, tenant: str, endpoint_id: uuid.UUID) -> str:
    with db.tenant(tenant) as s:
        return webhooks.rotate_secret(s, store, tenant, endpoint_id, settings=WebhookSettings.from_env()).secret


def event(db: Database, tenant: str, event_type: str = "subscriber.suspended", **payload: object) -> None:
    with db.tenant(tenant) as s:
        emit(s, event_type=event_type, payload=dict(payload), subject="subscribers/x")


def dispatch(db: Database, store: SecretStore, tenant: str, max_rounds: int = 50) -> dict[str, int]:
    return jobs.dispatch(db, tenant, store=store, max_rounds=max_rounds)
