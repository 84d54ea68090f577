"""Subscribers, their customers and plans over HTTP; the lifecycle actions and the PPPoE password.

Status is not edited by PATCH: each transition is an action with its own permission, its own audit
event and its own rule about where it may start from (``ispops.subscribers.service``). The subscriber's
radcheck/radreply rows follow each change in the same transaction (database triggers, ``radius/sql/``).

(No ``from __future__ import annotations``: FastAPI reads the route functions' annotations.)
"""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from ispops.api import permissions
from ispops.api.crud import Resource, load
from ispops.auth.deps import Scope
from ispops.models import BandwidthProfile, Customer, Subscriber
from ispops.radius import provisioning
from ispops.subscribers import service
from ispops.subscribers.service import TRANSITIONS, Action

# What a field technician may change (permission update_installation, a limited update).
INSTALLATION_FIELDS = frozenset(
    {
        "installation_status",
        "installation_date",
        "installation_notes",
        "installed_by",
        "mac_address",
        "service_location_lat",
        "service_location_lng",
    }
)

CUSTOMERS = Resource(
    "customers",
    Customer,
    tag="customers",
    filters=("status", "customer_number"),
    search=("name", "email", "customer_number", "phone"),
    sort=("created_at", "name", "customer_number"),
)
SUBSCRIBERS = Resource(
    "subscribers",
    Subscriber,
    tag="subscribers",
    filters=(
        "status",
        "service_type",
        "connection_type",
        "customer_id",
        "bandwidth_profile_id",
        "installation_status",
        "pppoe_username",
        "subscriber_number",
    ),
    search=("subscriber_number", "pppoe_username", "service_address_line1", "service_address_city"),
    sort=("created_at", "subscriber_number", "status", "pppoe_username"),
    # Write-only: moved into radcheck on flush (ispops.radius.provisioning), never stored or returned.
    hidden=frozenset({"pppoe_password"}),
    create_extra={"pppoe_password": (provisioning.Password, None)},
    update_extra={"pppoe_password": (provisioning.Password, None)},
    read_only=frozenset(
        {
            "monthly_data_usage_gb",
            "last_usage_reset_date",
            "service_activated_at",
            "service_suspended_at",
            "service_terminated_at",
            "status",
            "suspension_reason",
        }
    ),
    limited_update={"update_installation": INSTALLATION_FIELDS},
)
BANDWIDTH_PROFILES = Resource(
    "bandwidth_profiles",
    BandwidthProfile,
    tag="plans",
    filters=("is_active", "name"),
    search=("name", "description"),
    sort=("created_at", "name", "download_mbps"),
)
RESOURCES: list[Resource] = [CUSTOMERS, SUBSCRIBERS, BANDWIDTH_PROFILES]

# The permission each transition needs (docs/permissions.md).
PERMISSIONS: dict[Action, str] = {
    "activate": "update",
    "suspend": "suspend",
    "resume": "suspend",
    "terminate": "update",
}


class TransitionBody(BaseModel):
    reason: str | None = Field(None, max_length=255, description="why (kept on the subscriber when suspending)")


class PasswordBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: provisioning.Password


def register(router: APIRouter) -> None:
    for action in TRANSITIONS:
        _transition(router, action)
    _password(router)


def _transition(router: APIRouter, action: Action) -> None:
    permission = PERMISSIONS[action]
    read_model = SUBSCRIBERS.read_model

    async def transition(key: Annotated[uuid.UUID, Path()], scope: Scope, body: TransitionBody | None = None) -> Any:
        permissions.require(scope.principal, "subscribers", permission)
        async with scope.session() as s:
            sub = await s.run_sync(
                service.change_status,
                tenant_id=scope.tenant_id,
                subscriber_id=key,
                action=action,
                reason=body.reason if body else None,
                principal=scope.principal,
                meta=scope.meta,
            )
            return read_model.model_validate(sub)

    router.add_api_route(
        f"/api/v1/subscribers/{{key}}/{action}",
        transition,
        methods=["POST"],
        response_model=read_model,
        tags=["subscribers"],
        summary=f"{action.capitalize()} a subscriber",
        operation_id=f"{action}_subscriber",
        responses={409: {"description": "not allowed from the subscriber's current status"}},
    )


def _password(router: APIRouter) -> None:
    """``POST /subscribers/{id}/password``: set or reset the PPPoE password (never returned)."""

    async def set_password(key: Annotated[uuid.UUID, Path()], body: PasswordBody, scope: Scope) -> Response:
        permissions.require(scope.principal, "subscribers", "update")
        tenant = scope.tenant_id
        async with scope.session() as s:
            sub = await load(s, SUBSCRIBERS, tenant, key, for_update=True)
            attribute = await s.run_sync(
                provisioning.set_password, tenant_id=tenant, subscriber_id=sub.id, password=body.password
            )
            scope.audit(s, "subscribers", sub.id, "action", {"action": "password", "attribute": attribute})
        return Response(status_code=204)

    router.add_api_route(
        "/api/v1/subscribers/{key}/password",
        set_password,
        methods=["POST"],
        status_code=204,
        response_class=Response,
        tags=["subscribers"],
        summary="Set a subscriber's PPPoE password",
        operation_id="set_subscriber_password",
        description="Stored in radcheck as Cleartext-Password or NT-Password per the tenant's "
        "radius_password_type; never returned by any endpoint.",
        responses={
            404: {"description": "not found (or another tenant's)"},
            409: {"description": "the subscriber is terminated"},
        },
    )
