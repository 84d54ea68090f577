"""Subscriber lifecycle actions: activate, suspend, resume, terminate; and setting the PPPoE password.

Status is not edited by PATCH: each transition is an action with its own permission, its own audit
event and its own rule about where it may start from. The subscriber's radcheck/radreply rows follow each
change in the same transaction (database triggers, migration 0013).
"""

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from ispops.api import permissions
from ispops.api.crud import Resource, load
from ispops.audit.service import record
from ispops.auth.deps import get_db, get_full_principal, get_meta
from ispops.auth.principal import Principal, RequestMeta
from ispops.db.async_session import AsyncDatabase
from ispops.errors import Conflict
from ispops.radius import provisioning

# action -> (permission, statuses it may start from, resulting status)
TRANSITIONS: dict[str, tuple[str, frozenset[str], str]] = {
    "activate": ("update", frozenset({"pending", "on_hold"}), "active"),
    "suspend": ("suspend", frozenset({"active"}), "suspended"),
    "resume": ("suspend", frozenset({"suspended"}), "active"),
    "terminate": ("update", frozenset({"pending", "active", "suspended", "on_hold"}), "terminated"),
}


class TransitionBody(BaseModel):
    reason: str | None = Field(None, max_length=255, description="why (kept on the subscriber when suspending)")


def build(router: APIRouter, spec: Resource) -> None:
    read_model = spec.read_model

    def add(action: str) -> None:
        permission, sources, target = TRANSITIONS[action]

        async def transition(
            key: Annotated[uuid.UUID, Path()],
            principal: Annotated[Principal, Depends(get_full_principal)],
            db: Annotated[AsyncDatabase, Depends(get_db)],
            meta: Annotated[RequestMeta, Depends(get_meta)],
            body: TransitionBody | None = None,
        ) -> Any:
            permissions.require(principal, "subscribers", permission)
            reason = body.reason if body else None
            async with db.tenant(str(principal.tenant_id), user_id=principal.id) as s:
                sub = await load(s, spec, principal, key, for_update=True)
                if sub.status not in sources:
                    raise Conflict(
                        f"subscribers: cannot {action} a subscriber that is {sub.status}",
                        table="subscribers", field="status",
                    )
                before = sub.status
                now = dt.datetime.now(dt.UTC)
                sub.status = target
                if action == "suspend":
                    sub.suspension_reason, sub.service_suspended_at = reason, now
                elif action in ("resume", "activate"):
                    sub.suspension_reason = None
                    sub.service_activated_at = sub.service_activated_at or now
                else:
                    sub.service_terminated_at = now
                await s.flush()
                await s.refresh(sub)
                await record(
                    s, principal=principal, meta=meta, entity="subscribers", entity_id=str(sub.id),
                    action="action", changes={"action": action, "status": [before, target], "reason": reason},
                )
                return read_model.model_validate(sub)

        router.add_api_route(
            f"/api/v1/subscribers/{{key}}/{action}", transition, methods=["POST"], response_model=read_model,
            tags=["subscribers"], summary=f"{action.capitalize()} a subscriber", operation_id=f"{action}_subscriber",
            responses={409: {"description": "not allowed from the subscriber's current status"}},
        )

    for name in TRANSITIONS:
        add(name)
    build_password(router, spec)


class PasswordBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: provisioning.Password


def build_password(router: APIRouter, spec: Resource) -> None:
    """``POST /subscribers/{id}/password``: set or reset the PPPoE password (never returned)."""

    async def set_password(
        key: Annotated[uuid.UUID, Path()],
        body: PasswordBody,
        principal: Annotated[Principal, Depends(get_full_principal)],
        db: Annotated[AsyncDatabase, Depends(get_db)],
        meta: Annotated[RequestMeta, Depends(get_meta)],
    ) -> Response:
        permissions.require(principal, "subscribers", "update")
        tenant = str(principal.tenant_id)
        async with db.tenant(tenant, user_id=principal.id) as s:
            sub = await load(s, spec, principal, key, for_update=True)
            attribute = await provisioning.set_password_async(
                s, tenant_id=tenant, subscriber_id=sub.id, password=body.password
            )
            await record(
                s, principal=principal, meta=meta, entity="subscribers", entity_id=str(sub.id),
                action="action", changes={"action": "password", "attribute": attribute},
            )
        return Response(status_code=204)

    router.add_api_route(
        "/api/v1/subscribers/{key}/password", set_password, methods=["POST"], status_code=204,
        response_class=Response, tags=["subscribers"], summary="Set a subscriber's PPPoE password",
        operation_id="set_subscriber_password",
        description="Stored in radcheck as Cleartext-Password or NT-Password per the tenant's "
        "radius_password_type; never returned by any endpoint.",
        responses={404: {"description": "not found (or another tenant's)"},
                   409: {"description": "the subscriber is terminated"}},
    )
