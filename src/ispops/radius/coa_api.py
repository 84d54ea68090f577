"""``POST /api/v1/radius/sessions/{radacctid}/disconnect``: "disconnect this session".

The request only queues the Disconnect (``radius_coa_queue``, reason ``manual``) and answers 202 with the
queue id; the CoA sender (the ``radius.drain_coa_queue`` job, or ``ispops radius coa-drain``) sends it,
woken by the ``ispops_radius_coa`` notification, and its outcome appears in
``GET /api/v1/radius_coa_attempts?reason=manual``. No HTTP request waits on a NAS that may never answer.
"""

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from ispops.api import permissions
from ispops.auth.deps import Scope
from ispops.errors import Conflict, NotFound
from ispops.models.radius import CoaKind, CoaReason, RadAcct, RadiusCoaQueue

router = APIRouter()


class DisconnectQueued(BaseModel):
    queue_id: int = Field(description="the radius_coa_queue item that will send the Disconnect-Request")
    radacctid: int
    kind: CoaKind = CoaKind.DISCONNECT
    reason: CoaReason = CoaReason.MANUAL
    status: str = Field("queued", description="always 'queued'; the outcome is in /api/v1/radius_coa_attempts")


@router.post(
    "/api/v1/radius/sessions/{radacctid}/disconnect",
    status_code=202,
    response_model=DisconnectQueued,
    tags=["radius"],
    summary="Disconnect an active session (queued Disconnect-Request to its NAS)",
    operation_id="disconnect_radius_session",
    responses={409: {"description": "the session has already ended"}},
)
async def disconnect_session(radacctid: Annotated[int, Path(ge=1, le=2**63 - 1)], scope: Scope) -> DisconnectQueued:
    permissions.require(scope.principal, "radacct", "disconnect")
    tenant_id = scope.tenant_id
    async with scope.session() as s:
        row = (
            await s.execute(
                select(RadAcct.subscriber_id, RadAcct.username, RadAcct.acctstoptime).where(
                    RadAcct.tenant_id == tenant_id, RadAcct.radacctid == radacctid
                )
            )
        ).first()
        if row is None:
            raise NotFound("radacct: no such record", table="radacct")
        subscriber_id, username, stopped = row
        if stopped is not None:
            raise Conflict("radacct: the session has already ended", table="radacct", field="acctstoptime")
        # A second click while the first is still waiting returns the same item.
        queue_id = await s.scalar(
            select(RadiusCoaQueue.id).where(
                RadiusCoaQueue.tenant_id == tenant_id,
                RadiusCoaQueue.radacctid == radacctid,
                RadiusCoaQueue.reason == CoaReason.MANUAL,
                RadiusCoaQueue.attempts == 0,
            )
        )
        if queue_id is None:
            item = RadiusCoaQueue(
                tenant_id=tenant_id,
                subscriber_id=subscriber_id,
                username=username,
                radacctid=radacctid,
                kind=CoaKind.DISCONNECT,
                reason=CoaReason.MANUAL,
            )
            s.add(item)
            await s.flush()
            queue_id = item.id
            await s.execute(select(func.pg_notify("ispops_radius_coa", tenant_id)))
            scope.audit(
                s, "radacct", radacctid, "action", {"action": "disconnect", "queue_id": queue_id, "username": username}
            )
    return DisconnectQueued(queue_id=queue_id, radacctid=radacctid)
