"""Subscriber lifecycle actions: activate, suspend, resume, terminate.

Status is not edited by PATCH: each transition is an action with its own permission, its own audit
event and its own rule about where it may start from. (RADIUS provisioning and CoA hang off these
transitions when the RADIUS issue lands.)
"""

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from ispops.api import permissions
from ispops.api.crud import Resource, load
from ispops.audit.service import record
from ispops.auth.deps import get_db, get_full_principal, get_meta
from ispops.auth.principal import Principal, RequestMeta
from ispops.db.async_session import AsyncDatabase
from ispops.errors import Conflict

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
