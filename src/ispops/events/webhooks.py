"""Webhook endpoints and their deliveries: the tenant-facing service (sync, over the caller's ``Session``;
the API calls it through ``run_sync``). Never commits.

An endpoint's signing secret is written to the secret store at a new path each time (creation, rotation)
and shown once; the row keeps only paths. A rotation keeps the previous secret signing too until
``previous_secret_expires_at`` (the overlap), so receivers can switch at their pace.
"""

from __future__ import annotations

import secrets as pysecrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from ispops.db.blocking import call_blocking
from ispops.errors import NotFound, ValidationFailed
from ispops.events import signing, ssrf
from ispops.events.settings import WebhookSettings
from ispops.events.types import EVENT_TYPES
from ispops.models.events import DeliveryStatus, WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint
from ispops.secrets.store import SecretStore, tenant_path
from ispops.secrets.txn import secret_changes

ENDPOINT_FIELDS = frozenset({"url", "event_types", "description", "enabled"})


def _secret_path(tenant_id: str, endpoint_id: uuid.UUID) -> str:
    return tenant_path(tenant_id, "webhooks", str(endpoint_id), f"secret-{pysecrets.token_hex(4)}")


def check_event_types(event_types: Sequence[str]) -> list[str]:
    if not event_types:
        raise ValidationFailed("event_types: name at least one event type", field="event_types")
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown:
        raise ValidationFailed(f"event_types: unknown {', '.join(unknown)}", field="event_types")
    return sorted(set(event_types))


def check_url(url: str, settings: WebhookSettings) -> str:
    """The URL, if webhooks may go there (ispops.events.ssrf); a 422 naming ``url`` otherwise."""
    return call_blocking(ssrf.resolve, url, settings).url


def get_endpoint(s: Session, tenant_id: str, endpoint_id: uuid.UUID, *, lock: bool = False) -> WebhookEndpoint:
    stmt = select(WebhookEndpoint).where(
        WebhookEndpoint.tenant_id == tenant_id,
        WebhookEndpoint.id == endpoint_id,
        WebhookEndpoint.deleted_at.is_(None),
    )
    if lock:
        stmt = stmt.with_for_update()
    endpoint = s.scalars(stmt).one_or_none()
    if endpoint is None:
        raise NotFound("webhook endpoint not found", table="webhook_endpoints")
    return endpoint


def list_endpoints(s: Session, tenant_id: str, *, limit: int, offset: int) -> tuple[list[WebhookEndpoint], int]:
    base = select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.deleted_at.is_(None))
    total = s.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = s.scalars(base.order_by(WebhookEndpoint.created_at, WebhookEndpoint.id).limit(limit).offset(offset)).all()
    return list(rows), int(total)


def create_endpoint(
    s: Session,
    store: SecretStore,
    tenant_id: str,
    *,
    url: str,
    event_types: Sequence[str],
    description: str | None = None,
    enabled: bool = True,
    settings: WebhookSettings,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (the only time the secret is shown)."""
    checked = check_url(url, settings)
    types = check_event_types(event_types)
    endpoint_id = uuid.uuid4()
    secret = signing.new_secret()
    path = _secret_path(tenant_id, endpoint_id)
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        tenant_id=tenant_id,
        url=checked,
        event_types=types,
        description=description,
        enabled=enabled,
        secret_vault_path=path,
    )
    s.add(endpoint)
    s.flush()
    secret_changes(s, store).put(path, secret.encode("ascii"))
    return endpoint, secret


def update_endpoint(
    s: Session, tenant_id: str, endpoint_id: uuid.UUID, changes: dict[str, Any], *, settings: WebhookSettings
) -> tuple[WebhookEndpoint, dict[str, Any]]:
    """Apply ``changes`` (url, event_types, description, enabled); returns the endpoint and what changed."""
    endpoint = get_endpoint(s, tenant_id, endpoint_id, lock=True)
    if "url" in changes:
        if changes["url"] is None:
            raise ValidationFailed("url: required", field="url")
        changes["url"] = check_url(changes["url"], settings)
    if "event_types" in changes:
        changes["event_types"] = check_event_types(changes["event_types"] or [])
    if "enabled" in changes and changes["enabled"] is None:
        raise ValidationFailed("enabled: true or false", field="enabled")
    done: dict[str, Any] = {}
    for key, value in changes.items():
        if getattr(endpoint, key) != value:
            done[key] = [getattr(endpoint, key), value]
            setattr(endpoint, key, value)
    s.flush()
    return endpoint, done


def delete_endpoint(s: Session, store: SecretStore, tenant_id: str, endpoint_id: uuid.UUID) -> None:
    """Soft-delete the endpoint; its pending deliveries are dead-lettered; its secrets go once committed."""
    endpoint = get_endpoint(s, tenant_id, endpoint_id, lock=True)
    endpoint.deleted_at = datetime.now(UTC)
    s.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.tenant_id == tenant_id,
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.DEAD, dead_at=func.now(), last_error="endpoint deleted", locked_until=None)
    )
    changes = secret_changes(s, store)
    for path in (endpoint.secret_vault_path, endpoint.previous_secret_vault_path):
        if path:
            changes.delete_after_commit(path)
    s.flush()


@dataclass(frozen=True)
class Rotated:
    endpoint: WebhookEndpoint
    secret: str


def rotate_secret(
    s: Session, store: SecretStore, tenant_id: str, endpoint_id: uuid.UUID, *, settings: WebhookSettings
) -> Rotated:
    """A new secret; the current one keeps signing (beside it) for the overlap window."""
    endpoint = get_endpoint(s, tenant_id, endpoint_id, lock=True)
    changes = secret_changes(s, store)
    if endpoint.previous_secret_vault_path:  # a rotation during an overlap ends the older one now
        changes.delete_after_commit(endpoint.previous_secret_vault_path)
    now = datetime.now(UTC)
    secret = signing.new_secret()
    path = _secret_path(tenant_id, endpoint_id)
    endpoint.previous_secret_vault_path = endpoint.secret_vault_path
    endpoint.previous_secret_expires_at = now + timedelta(seconds=settings.rotation_overlap)
    endpoint.secret_vault_path = path
    endpoint.secret_rotated_at = now
    s.flush()
    changes.put(path, secret.encode("ascii"))
    return Rotated(endpoint, secret)


# --- deliveries --------------------------------------------------------------------------------------


def _deliveries(tenant_id: str) -> Select[WebhookDelivery]:
    return select(WebhookDelivery).where(WebhookDelivery.tenant_id == tenant_id)


def list_deliveries(
    s: Session,
    tenant_id: str,
    *,
    endpoint_id: uuid.UUID | None = None,
    status: str | None = None,
    event_type: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[WebhookDelivery], int]:
    stmt = _deliveries(tenant_id)
    if endpoint_id is not None:
        get_endpoint(s, tenant_id, endpoint_id)
        stmt = stmt.where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    if event_type is not None:
        stmt = stmt.where(WebhookDelivery.event_type == event_type)
    total = s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    order = (WebhookDelivery.created_at.desc(), WebhookDelivery.id)
    rows = s.scalars(stmt.order_by(*order).limit(limit).offset(offset)).all()
    return list(rows), int(total)


def get_delivery(s: Session, tenant_id: str, delivery_id: uuid.UUID) -> WebhookDelivery:
    row = s.scalars(_deliveries(tenant_id).where(WebhookDelivery.id == delivery_id)).one_or_none()
    if row is None:
        raise NotFound("webhook delivery not found", table="webhook_deliveries")
    return row


def attempts_of(s: Session, tenant_id: str, delivery_id: uuid.UUID) -> list[WebhookDeliveryAttempt]:
    return list(
        s.scalars(
            select(WebhookDeliveryAttempt)
            .where(WebhookDeliveryAttempt.tenant_id == tenant_id, WebhookDeliveryAttempt.delivery_id == delivery_id)
            .order_by(WebhookDeliveryAttempt.attempted_at, WebhookDeliveryAttempt.attempt)
        ).all()
    )


_REPLAY_VALUES: dict[str, Any] = {
    "status": DeliveryStatus.PENDING,
    "attempts": 0,
    "next_attempt_at": func.now(),
    "locked_until": None,
    "dead_at": None,
    "replays": WebhookDelivery.replays + 1,
}


def replay_delivery(s: Session, tenant_id: str, delivery_id: uuid.UUID) -> WebhookDelivery:
    """Send a delivery again (dead or not) with a fresh set of attempts; its endpoint must still exist."""
    delivery = get_delivery(s, tenant_id, delivery_id)
    get_endpoint(s, tenant_id, delivery.endpoint_id)  # a deleted endpoint's deliveries cannot be replayed
    s.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.id == delivery_id)
        .values(**_REPLAY_VALUES)
    )
    s.flush()
    s.refresh(delivery)
    return delivery


def replay_range(
    s: Session,
    tenant_id: str,
    endpoint_id: uuid.UUID,
    *,
    since: datetime,
    until: datetime | None,
    status: str | None,
) -> int:
    """Send again the endpoint's deliveries created in ``[since, until)`` (``status``: only those; None: all
    but the ones still pending). Returns how many."""
    get_endpoint(s, tenant_id, endpoint_id, lock=True)
    if until is not None and until <= since:
        raise ValidationFailed("until: must be after since", field="until")
    stmt = (
        update(WebhookDelivery)
        .where(
            WebhookDelivery.tenant_id == tenant_id,
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.created_at >= since,
        )
        .values(**_REPLAY_VALUES)
        .returning(WebhookDelivery.id)
    )
    if until is not None:
        stmt = stmt.where(WebhookDelivery.created_at < until)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    else:
        stmt = stmt.where(WebhookDelivery.status != DeliveryStatus.PENDING)
    return len(s.execute(stmt).all())
