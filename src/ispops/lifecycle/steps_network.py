"""Lifecycle steps on the network side: the subscriber's IP address (IPAM) and its RADIUS credentials and
plan (docs/lifecycle.md).

RADIUS rows are not written here: radcheck/radreply are rendered by the database from the subscriber's
username, status, plan and static address (``radius/sql/render.sql``), in the same transaction. So
"provision RADIUS" sets those fields and writes the one row the database cannot compute, the credential
(``radius.provisioning.set_password``); a pending subscriber's rows say ``Auth-Type := Reject`` until the
activation step makes it active. Undoing it puts the fields back as the snapshot recorded them, and the
renderer removes what they no longer call for.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy import delete, or_, select

from ispops.errors import Conflict, IspopsError, NotFound, ValidationFailed
from ispops.ipam import service as ipam
from ispops.lifecycle.steps import Done, StepContext, StepFailed, Wait
from ispops.lifecycle.steps_common import BaseStep, as_uuid, failed, result_of, snapshot, subscriber
from ispops.models import IpAllocation, RadCheck, RadReply
from ispops.radius.provisioning import CREDENTIAL_ATTRIBUTES, set_password

ALLOCATE = "allocate_ip"
PROVISION = "provision_radius"


def _live_allocations(ctx: StepContext, pool_id: uuid.UUID | None = None) -> list[IpAllocation]:
    stmt = select(IpAllocation).where(
        IpAllocation.tenant_id == ctx.tenant_id,
        IpAllocation.subscriber_id == ctx.subscriber_id,
        IpAllocation.status != "released",
    )
    if pool_id is not None:
        stmt = stmt.where(IpAllocation.ip_pool_id == pool_id)
    return list(ctx.session.scalars(stmt.order_by(IpAllocation.allocated_at, IpAllocation.id)))


def _described(allocation: IpAllocation, *, reused: bool) -> dict[str, Any]:
    return {
        "allocation_id": str(allocation.id),
        "ip_address": str(allocation.ip_address).split("/")[0],
        "ip_pool_id": str(allocation.ip_pool_id),
        "reused": reused,
    }


class AllocateIp(BaseStep):
    """The subscriber's address from the order's pool. A live allocation of the subscriber in that pool
    from before the order is kept (``reused``: never released by a rollback); one this order made is found
    again on a rerun (live, the subscriber's, not in the snapshot)."""

    name = ALLOCATE

    def run(self, ctx: StepContext) -> Done | Wait:
        pool_id = as_uuid(ctx.params.get("ip_pool_id"))
        if pool_id is None:
            raise StepFailed("ip_pool_id: the order names no pool", field="ip_pool_id")
        before = set(snapshot(ctx).get("allocations", []))
        live = _live_allocations(ctx, pool_id)
        for allocation in live:
            if str(allocation.id) not in before:
                return Done(_described(allocation, reused=False))
        if live:
            return Done(_described(live[0], reused=True))
        try:
            made = ipam.allocate(ctx.session, tenant_id=ctx.tenant_id, pool_id=pool_id, subscriber_id=ctx.subscriber_id)
        except (Conflict, NotFound, ValidationFailed) as exc:
            raise failed(exc) from None
        return Done(_described(made, reused=False))

    def compensate(self, ctx: StepContext) -> None:
        before = set(snapshot(ctx).get("allocations", []))
        mine = result_of(ctx, self.name)
        if mine.get("reused"):
            return
        pool_id = as_uuid(ctx.params.get("ip_pool_id"))
        for allocation in _live_allocations(ctx, pool_id):
            if str(allocation.id) not in before:
                ipam.release(ctx.session, tenant_id=ctx.tenant_id, allocation_id=allocation.id)


def _credential_rows(ctx: StepContext) -> list[RadCheck]:
    return list(
        ctx.session.scalars(
            select(RadCheck).where(
                RadCheck.tenant_id == ctx.tenant_id,
                RadCheck.subscriber_id == ctx.subscriber_id,
                RadCheck.attribute.in_(tuple(CREDENTIAL_ATTRIBUTES.values())),
            )
        )
    )


class ProvisionRadius(BaseStep):
    """Username, plan and static address on the subscriber (the database renders its rows), and a
    credential when it has none (a random password; staff reveal or reset it through the audited API)."""

    name = PROVISION

    def run(self, ctx: StepContext) -> Done | Wait:
        sub = subscriber(ctx, lock=True)
        ip = result_of(ctx, ALLOCATE).get("ip_address")
        username = str(ctx.params["pppoe_username"])
        profile = as_uuid(ctx.params.get("bandwidth_profile_id"))
        try:
            if sub.pppoe_username != username:
                sub.pppoe_username = username
            if profile is not None and sub.bandwidth_profile_id != profile:
                sub.bandwidth_profile_id = profile
            if ip is not None and (sub.static_ip_address is None or str(sub.static_ip_address).split("/")[0] != ip):
                sub.static_ip_address = ip
            ctx.session.flush()
            rows = _credential_rows(ctx)
            if rows:
                attribute = rows[0].attribute
            else:
                attribute = set_password(
                    ctx.session,
                    tenant_id=ctx.tenant_id,
                    subscriber_id=ctx.subscriber_id,
                    password=secrets.token_urlsafe(12),
                )
        except IspopsError as exc:
            raise failed(exc) from None
        had = bool(snapshot(ctx).get("subscriber", {}).get("had_credential"))
        return Done(
            {
                "pppoe_username": username,
                "bandwidth_profile_id": str(profile) if profile else None,
                "static_ip_address": ip,
                "credential": attribute,
                "credential_written": not had,
            }
        )

    def compensate(self, ctx: StepContext) -> None:
        before = snapshot(ctx).get("subscriber")
        if not before:
            return
        sub = subscriber(ctx, lock=True)
        if not before.get("had_credential"):
            ctx.session.execute(
                delete(RadCheck)
                .where(
                    RadCheck.tenant_id == ctx.tenant_id,
                    RadCheck.subscriber_id == ctx.subscriber_id,
                    RadCheck.attribute.in_(tuple(CREDENTIAL_ATTRIBUTES.values())),
                )
                .execution_options(synchronize_session=False)
            )
        sub.pppoe_username = before.get("pppoe_username")
        sub.bandwidth_profile_id = as_uuid(before.get("bandwidth_profile_id"))
        sub.static_ip_address = before.get("static_ip_address")
        ctx.session.flush()


class ReleaseIp(BaseStep):
    """Termination: every live address of the subscriber goes back to its pool (the rows stay as history)."""

    name = "release_ip"

    def run(self, ctx: StepContext) -> Done | Wait:
        released = []
        for allocation in _live_allocations(ctx):
            ipam.release(ctx.session, tenant_id=ctx.tenant_id, allocation_id=allocation.id)
            released.append(str(allocation.ip_address).split("/")[0])
        sub = subscriber(ctx, lock=True)
        if sub.static_ip_address is not None:
            sub.static_ip_address = None
            ctx.session.flush()
        return Done({"released": released})


class RemoveRadius(BaseStep):
    """Termination: no radcheck/radreply row of the subscriber is left. The renderer removes them when the
    status becomes ``terminated``; this removes what it could not know of (rows under the subscriber's
    username without its id, made by hand) and says how many there were."""

    name = "remove_radius"

    def run(self, ctx: StepContext) -> Done | Wait:
        sub = subscriber(ctx)
        removed = 0
        for table in (RadCheck, RadReply):
            mine = table.subscriber_id == ctx.subscriber_id
            where = or_(mine, table.username == sub.pppoe_username) if sub.pppoe_username else mine
            result = ctx.session.execute(
                delete(table)
                .where(table.tenant_id == ctx.tenant_id, where)
                .execution_options(synchronize_session=False)
            )
            removed += int(getattr(result, "rowcount", 0) or 0)
        return Done({"removed": removed})
