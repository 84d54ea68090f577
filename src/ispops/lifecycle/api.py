"""Service orders over HTTP (docs/lifecycle.md, "API").

- ``POST /api/v1/orders``: submit (the row and its job in the request's transaction); 201.
- ``GET /api/v1/orders`` (filters: subscriber_id, status, type) and ``GET /api/v1/orders/{id}`` with the
  step log and the compensations.
- ``POST /api/v1/orders/{id}/cancel`` and ``POST /api/v1/orders/{id}/retry``.

``service_activations`` stays readable through the generic list and get (its history, searchable); it is
no longer created there: an order is created only through ``POST /api/v1/orders``, which runs it.
Permissions: ``orders.read`` to read, ``orders.create`` to submit, cancel or retry (the generic routes:
``service_activations.read``).

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)
"""

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from sqlalchemy.orm import Session

from ispops.api import permissions
from ispops.api.crud import Resource
from ispops.auth.deps import Scope
from ispops.lifecycle import orders
from ispops.lifecycle.schemas import OrderIn, OrderOut, OrderPage, full, summary
from ispops.models import ServiceActivation
from ispops.models.automation import WorkflowStatus

RESOURCES: list[Resource] = [
    Resource(
        "service_activations",
        ServiceActivation,
        tag="lifecycle",
        verbs=frozenset({"list", "get"}),
        filters=("subscriber_id", "workflow_status", "activation_type"),
        search=("activation_type", "current_step", "error_step", "error_message"),
        sort=("requested_at", "created_at"),
        default_sort="-requested_at",
    ),
]

router = APIRouter(tags=["lifecycle"])
Key = Annotated[uuid.UUID, Path(description="the order's id")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such order (or another tenant's)"}}
RESOURCE = "service_activations"
PERMISSION = "orders"  # ispops.api.permissions.MATRIX


def register(api: APIRouter) -> None:
    api.include_router(router)


@router.post(
    "/api/v1/orders",
    response_model=OrderOut,
    status_code=201,
    summary="Submit a service order (activate, plan_change, suspend, resume, terminate), now or scheduled",
    operation_id="submit_order",
    responses={
        404: {"description": "no such subscriber (or another tenant's)"},
        409: {"description": "the subscriber has an open order (open_order_id names it), or its status forbids this"},
        422: {"description": "a parameter is wrong (field names it)"},
    },
)
async def submit_order(body: OrderIn, scope: Scope) -> Any:
    permissions.require(scope.principal, PERMISSION, "create")
    request = orders.Submission(
        order_type=body.type, subscriber_id=body.subscriber_id, params=body.params, kind=body.kind, at=body.at
    )

    def run(s: Session) -> OrderOut:
        order = orders.submit(s, scope.tenant_id, request, requested_by=scope.principal.id)
        return full(order)

    async with scope.session() as s:
        out = await s.run_sync(run)
        scope.audit(s, RESOURCE, out.id, "create", {"type": out.type, "subscriber_id": str(out.subscriber_id)})
    return out


@router.get(
    "/api/v1/orders",
    response_model=OrderPage,
    summary="Orders, newest first",
    operation_id="list_orders",
)
async def list_orders(
    scope: Scope,
    subscriber_id: uuid.UUID | None = None,
    status: Annotated[WorkflowStatus | None, Query()] = None,
    type: Annotated[Literal["activate", "plan_change", "suspend", "resume", "terminate"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    permissions.require(scope.principal, PERMISSION, "read")

    def run(s: Session) -> OrderPage:
        rows, total = orders.listing(
            s,
            scope.tenant_id,
            subscriber_id=subscriber_id,
            status=status.value if status else None,
            order_type=type,
            limit=limit,
            offset=offset,
        )
        return OrderPage(items=[summary(r) for r in rows], total=total, limit=limit, offset=offset)

    async with scope.session() as s:
        return await s.run_sync(run)


@router.get(
    "/api/v1/orders/{key}",
    response_model=OrderOut,
    summary="An order with its plan, step log, compensations and errors",
    operation_id="get_order",
    responses=NOT_FOUND,
)
async def get_order(key: Key, scope: Scope) -> Any:
    permissions.require(scope.principal, PERMISSION, "read")
    async with scope.session() as s:
        return await s.run_sync(lambda ss: full(orders.get(ss, scope.tenant_id, key)))


@router.post(
    "/api/v1/orders/{key}/cancel",
    response_model=OrderOut,
    summary="Cancel an order before its pivot: not started, it ends at once; running, its steps are undone",
    operation_id="cancel_order",
    responses={**NOT_FOUND, 409: {"description": "past the pivot, failed or already ended"}},
)
async def cancel_order(key: Key, scope: Scope) -> Any:
    permissions.require(scope.principal, PERMISSION, "create")
    async with scope.session() as s:
        out = await s.run_sync(lambda ss: full(orders.cancel(ss, scope.tenant_id, key)))
        scope.audit(s, RESOURCE, key, "update", {"cancel_requested_at": str(out.cancel_requested_at)})
    return out


@router.post(
    "/api/v1/orders/{key}/retry",
    response_model=OrderOut,
    summary="Run a failed order on from where it stopped (forward, or on with its compensations)",
    operation_id="retry_order",
    responses={**NOT_FOUND, 409: {"description": "the order has not failed"}},
)
async def retry_order(key: Key, scope: Scope) -> Any:
    permissions.require(scope.principal, PERMISSION, "create")
    async with scope.session() as s:
        out = await s.run_sync(lambda ss: full(orders.retry(ss, scope.tenant_id, key)))
        scope.audit(s, RESOURCE, key, "update", {"retry": out.error_step})
    return out
