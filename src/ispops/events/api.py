"""Events and webhooks over HTTP (docs/events.md): the tenant's webhook endpoints (create, list, get,
update, delete, rotate the secret), their deliveries and log, the dead-letter list, replay, and the outbox.

Tenant admins only (webhook secrets and event payloads are the tenant's whole activity). Another tenant's
endpoint or delivery is a 404; a refused URL a 422 naming ``url``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ispops.api import permissions
from ispops.api.crud import Resource
from ispops.auth.deps import Scope
from ispops.auth.principal import Principal
from ispops.errors import PermissionDenied
from ispops.events import webhooks
from ispops.events.outbox import DISPATCH_JOB
from ispops.events.schemas import (
    AttemptRead,
    DeadQuery,
    DeliveryDetail,
    DeliveryPage,
    DeliveryQuery,
    DeliveryRead,
    EndpointCreate,
    EndpointPage,
    EndpointRead,
    EndpointUpdate,
    EndpointWithSecret,
    EventPage,
    EventQuery,
    EventRead,
    EventTypesRead,
    PageQuery,
    Replayed,
    ReplayRange,
)
from ispops.events.settings import WebhookSettings
from ispops.events.types import EVENT_TYPES
from ispops.models.events import DeliveryStatus, OutboxEvent, WebhookDelivery, WebhookEndpoint
from ispops.secrets import runtime as secret_runtime

RESOURCES: list[Resource] = []
EndpointId = Annotated[uuid.UUID, Path(description="the endpoint's id")]
DeliveryId = Annotated[uuid.UUID, Path(description="the delivery's id")]

router = APIRouter(tags=["webhooks"])


def register(api: APIRouter) -> None:
    api.include_router(router)


def _admin(principal: Principal) -> None:
    """Webhooks and events are for tenant admins (``webhook_endpoints`` in ispops.api.permissions)."""
    if not permissions.allowed(principal, "webhook_endpoints", "manage"):
        raise PermissionDenied("webhooks and events are for tenant admins")


def _endpoint(e: WebhookEndpoint) -> EndpointRead:
    return EndpointRead(
        id=e.id,
        url=e.url,
        description=e.description,
        event_types=list(e.event_types),
        enabled=e.enabled,
        rotated_at=e.secret_rotated_at,
        overlap_until=e.previous_secret_expires_at,
        created_at=e.created_at,
        updated_at=e.updated_at,
    )


def _delivery(d: WebhookDelivery) -> DeliveryRead:
    return DeliveryRead.model_validate(d, from_attributes=True)


def _wake(s: Session) -> None:
    from ispops.jobs import defer_in

    defer_in(s, DISPATCH_JOB)


@router.get("/api/v1/event_types", response_model=EventTypesRead, operation_id="event_types", summary="Event types")
async def list_event_types(scope: Scope) -> EventTypesRead:
    _admin(scope.principal)
    return EventTypesRead(event_types=list(EVENT_TYPES))


@router.get("/api/v1/events", response_model=EventPage, operation_id="list_events", summary="The outbox, newest first")
async def list_events(params: Annotated[EventQuery, Query()], scope: Scope) -> EventPage:
    _admin(scope.principal)
    stmt = select(OutboxEvent).where(OutboxEvent.tenant_id == scope.tenant_id)
    if params.event_type is not None:
        stmt = stmt.where(OutboxEvent.event_type == params.event_type)
    if params.subject is not None:
        stmt = stmt.where(OutboxEvent.subject == params.subject)
    async with scope.session() as s:
        total = await s.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = (await s.scalars(stmt.order_by(OutboxEvent.seq.desc()).limit(params.limit).offset(params.offset))).all()
        items = [EventRead.model_validate(r, from_attributes=True) for r in rows]
    return EventPage(items=items, total=int(total or 0), limit=params.limit, offset=params.offset)


@router.post(
    "/api/v1/webhook_endpoints",
    response_model=EndpointWithSecret,
    status_code=201,
    operation_id="create_webhook_endpoint",
    summary="Register a webhook endpoint; the answer shows its signing secret, once",
    responses={422: {"description": "a URL that is not https or points inside the network; unknown event types"}},
)
async def create_endpoint(body: EndpointCreate, scope: Scope) -> EndpointWithSecret:
    _admin(scope.principal)
    settings = WebhookSettings.from_env()
    store = secret_runtime.current()
    async with scope.session() as s:

        def run(ss: Session) -> tuple[WebhookEndpoint, str]:
            return webhooks.create_endpoint(
                ss,
                store,
                scope.tenant_id,
                url=body.url,
                event_types=body.event_types,
                description=body.description,
                enabled=body.enabled,
                settings=settings,
            )

        endpoint, secret = await s.run_sync(run)
        scope.audit(s, "webhook_endpoints", endpoint.id, "create", body.model_dump())
        await s.flush()
        await s.refresh(endpoint)
        return EndpointWithSecret(**_endpoint(endpoint).model_dump(), secret=secret)


@router.get("/api/v1/webhook_endpoints", response_model=EndpointPage, operation_id="list_webhook_endpoints")
async def list_endpoints(params: Annotated[PageQuery, Query()], scope: Scope) -> EndpointPage:
    _admin(scope.principal)
    async with scope.session() as s:
        rows, total = await s.run_sync(
            lambda ss: webhooks.list_endpoints(ss, scope.tenant_id, limit=params.limit, offset=params.offset)
        )
        items = [_endpoint(e) for e in rows]
    return EndpointPage(items=items, total=total, limit=params.limit, offset=params.offset)


@router.get("/api/v1/webhook_endpoints/{endpoint_id}", response_model=EndpointRead, operation_id="get_webhook_endpoint")
async def get_endpoint(endpoint_id: EndpointId, scope: Scope) -> EndpointRead:
    _admin(scope.principal)
    async with scope.session() as s:
        endpoint = await s.run_sync(lambda ss: webhooks.get_endpoint(ss, scope.tenant_id, endpoint_id))
        return _endpoint(endpoint)


@router.patch(
    "/api/v1/webhook_endpoints/{endpoint_id}", response_model=EndpointRead, operation_id="update_webhook_endpoint"
)
async def update_endpoint(endpoint_id: EndpointId, body: EndpointUpdate, scope: Scope) -> EndpointRead:
    _admin(scope.principal)
    settings = WebhookSettings.from_env()
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    async with scope.session() as s:
        endpoint, done = await s.run_sync(
            lambda ss: webhooks.update_endpoint(ss, scope.tenant_id, endpoint_id, changes, settings=settings)
        )
        if done:
            scope.audit(s, "webhook_endpoints", endpoint.id, "update", done)
            await s.flush()
        await s.refresh(endpoint)
        return _endpoint(endpoint)


@router.delete(
    "/api/v1/webhook_endpoints/{endpoint_id}",
    status_code=204,
    response_class=Response,
    operation_id="delete_webhook_endpoint",
    summary="Delete an endpoint: its pending deliveries are dead-lettered, its secrets deleted",
)
async def delete_endpoint(endpoint_id: EndpointId, scope: Scope) -> Response:
    _admin(scope.principal)
    store = secret_runtime.current()
    async with scope.session() as s:
        await s.run_sync(lambda ss: webhooks.delete_endpoint(ss, store, scope.tenant_id, endpoint_id))
        scope.audit(s, "webhook_endpoints", endpoint_id, "delete", {})
    return Response(status_code=204)


@router.post(
    "/api/v1/webhook_endpoints/{endpoint_id}/rotate-secret",
    response_model=EndpointWithSecret,
    operation_id="rotate_webhook_secret",
    summary="A new signing secret (shown once); the previous one also signs until overlap_until",
)
async def rotate_secret(endpoint_id: EndpointId, scope: Scope) -> EndpointWithSecret:
    _admin(scope.principal)
    settings = WebhookSettings.from_env()
    store = secret_runtime.current()
    async with scope.session() as s:
        rotated = await s.run_sync(
            lambda ss: webhooks.rotate_secret(ss, store, scope.tenant_id, endpoint_id, settings=settings)
        )
        scope.audit(s, "webhook_endpoints", endpoint_id, "action", {"action": "rotate_secret"})
        await s.flush()
        await s.refresh(rotated.endpoint)
        return EndpointWithSecret(**_endpoint(rotated.endpoint).model_dump(), secret=rotated.secret)


@router.get(
    "/api/v1/webhook_endpoints/{endpoint_id}/deliveries",
    response_model=DeliveryPage,
    operation_id="list_webhook_endpoint_deliveries",
    summary="The endpoint's deliveries, newest first, with their last attempt",
)
async def list_endpoint_deliveries(
    endpoint_id: EndpointId, params: Annotated[DeliveryQuery, Query()], scope: Scope
) -> DeliveryPage:
    _admin(scope.principal)
    async with scope.session() as s:
        rows, total = await s.run_sync(
            lambda ss: webhooks.list_deliveries(
                ss,
                scope.tenant_id,
                endpoint_id=endpoint_id,
                status=params.status,
                event_type=params.event_type,
                limit=params.limit,
                offset=params.offset,
            )
        )
        items = [_delivery(d) for d in rows]
    return DeliveryPage(items=items, total=total, limit=params.limit, offset=params.offset)


@router.get(
    "/api/v1/webhook_dead_letters",
    response_model=DeliveryPage,
    operation_id="list_webhook_dead_letters",
    summary="Deliveries whose every attempt failed (dead-letter list), newest first",
)
async def list_dead_letters(params: Annotated[DeadQuery, Query()], scope: Scope) -> DeliveryPage:
    _admin(scope.principal)
    async with scope.session() as s:
        rows, total = await s.run_sync(
            lambda ss: webhooks.list_deliveries(
                ss,
                scope.tenant_id,
                endpoint_id=params.endpoint_id,
                status=DeliveryStatus.DEAD,
                limit=params.limit,
                offset=params.offset,
            )
        )
        items = [_delivery(d) for d in rows]
    return DeliveryPage(items=items, total=total, limit=params.limit, offset=params.offset)


@router.get(
    "/api/v1/webhook_deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    operation_id="get_webhook_delivery",
    summary="One delivery and its log (every attempt: status code, latency, error, start of the answer)",
)
async def get_delivery(delivery_id: DeliveryId, scope: Scope) -> DeliveryDetail:
    _admin(scope.principal)
    async with scope.session() as s:

        def run(ss: Session) -> DeliveryDetail:
            d = webhooks.get_delivery(ss, scope.tenant_id, delivery_id)
            log = [
                AttemptRead.model_validate(a, from_attributes=True)
                for a in webhooks.attempts_of(ss, scope.tenant_id, delivery_id)
            ]
            return DeliveryDetail(**_delivery(d).model_dump(), log=log)

        return await s.run_sync(run)


@router.post(
    "/api/v1/webhook_deliveries/{delivery_id}/replay",
    response_model=DeliveryRead,
    operation_id="replay_webhook_delivery",
    summary="Send one delivery again (dead or delivered), with a fresh set of attempts",
)
async def replay_delivery(delivery_id: DeliveryId, scope: Scope) -> DeliveryRead:
    _admin(scope.principal)
    async with scope.session() as s:

        def run(ss: Session) -> DeliveryRead:
            d = webhooks.replay_delivery(ss, scope.tenant_id, delivery_id)
            _wake(ss)
            return _delivery(d)

        out = await s.run_sync(run)
        scope.audit(s, "webhook_deliveries", delivery_id, "action", {"action": "replay"})
    return out


@router.post(
    "/api/v1/webhook_endpoints/{endpoint_id}/replay",
    response_model=Replayed,
    operation_id="replay_webhook_endpoint_range",
    summary="Send again the endpoint's deliveries created in a time range (by default only the dead ones)",
)
async def replay_range(endpoint_id: EndpointId, body: ReplayRange, scope: Scope) -> Replayed:
    _admin(scope.principal)
    async with scope.session() as s:

        def run(ss: Session) -> int:
            n = webhooks.replay_range(
                ss,
                scope.tenant_id,
                endpoint_id,
                since=body.since,
                until=body.until or datetime.now(UTC),
                status=body.status,
            )
            if n:
                _wake(ss)
            return n

        n = await s.run_sync(run)
        scope.audit(s, "webhook_endpoints", endpoint_id, "action", {"action": "replay", "replayed": n})
    return Replayed(replayed=n)
