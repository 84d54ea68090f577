"""Lifecycle steps on the subscriber's account: its status (``subscribers.service.change_status``), its plan,
the CoA/Disconnect its live sessions get, and the events that tell billing and the world (docs/lifecycle.md).

CoA: the RADIUS domain queues a CoA or Disconnect (``radius_coa_queue``) by trigger in the very transaction
that changes a subscriber's status or plan while it has an open session, and every worker sends it the
moment it is queued (``radius.coa_follow``; retries and the attempts log are the RADIUS domain's). The
``coa`` step records what was queued for the order.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text

from ispops.errors import Conflict, IspopsError
from ispops.lifecycle.steps import Done, StepContext, StepFailed, Wait
from ispops.lifecycle.steps_common import (
    BaseStep,
    actor,
    as_uuid,
    emit,
    event_payload,
    failed,
    result_of,
    snapshot,
    subject,
    subscriber,
)
from ispops.models import BandwidthProfile
from ispops.subscribers import service as subscribers
from ispops.subscribers.service import TRANSITIONS, Action

BILLING_STARTED = "billing.service_started"
OPEN_SESSIONS = text(
    "SELECT count(*) FROM radacct WHERE tenant_id = :t AND acctstoptime IS NULL "
    "AND (subscriber_id = :s OR (subscriber_id IS NULL AND username = :u))"
)
QUEUED = text(
    "SELECT kind || '/' || reason FROM radius_coa_queue WHERE tenant_id = :t AND subscriber_id = :s ORDER BY id"
)


class ChangeStatus(BaseStep):
    """The subscriber's status (``activate``, ``suspend``, ``resume``, ``terminate``), audited as the order's
    user; radcheck/radreply follow by trigger, and so does the CoA/Disconnect of live sessions. The pivot
    of its order: once the subscriber is live (or suspended, resumed, terminated), the order only goes
    forward."""

    pivot = True

    def __init__(self, action: Action) -> None:
        self.action = action
        self.name = f"{action}_status"

    def run(self, ctx: StepContext) -> Done | Wait:
        target = TRANSITIONS[self.action].target
        sub = subscriber(ctx, lock=True)
        if sub.status == target:
            return Done({"status": target, "changed": False})
        before = sub.status
        principal, meta = actor(ctx)
        reason = ctx.params.get("reason")
        try:
            subscribers.change_status(
                ctx.session,
                tenant_id=ctx.tenant_id,
                subscriber_id=ctx.subscriber_id,
                action=self.action,
                reason=str(reason) if reason is not None else None,
                principal=principal,
                meta=meta,
            )
        except IspopsError as exc:
            raise failed(exc) from None
        return Done({"status": target, "changed": True, "from": before})


def ActivateStatus() -> ChangeStatus:  # noqa: N802 - reads as the step it makes
    return ChangeStatus("activate")


class SetPlan(BaseStep):
    """Plan change: the subscriber's ``bandwidth_profile_id`` (of its own tenant; validated at submission).
    The renderer rewrites its rate rows and a live session gets a CoA queued, in this transaction: the
    pivot of a plan change (the NAS is being told). Its undo, the plan it had (the snapshot, queuing a CoA
    back), is only for a plan that puts a step before it."""

    name = "set_plan"
    pivot = True

    def run(self, ctx: StepContext) -> Done | Wait:
        profile_id = as_uuid(ctx.params.get("bandwidth_profile_id"))
        profile = ctx.session.scalar(
            select(BandwidthProfile).where(
                BandwidthProfile.tenant_id == ctx.tenant_id,
                BandwidthProfile.id == profile_id,
                BandwidthProfile.deleted_at.is_(None),
            )
        )
        if profile is None:
            raise StepFailed(
                "bandwidth_profile_id: no such bandwidth profile in this tenant", field="bandwidth_profile_id"
            )
        sub = subscriber(ctx, lock=True)
        if sub.status == "terminated":
            raise failed(Conflict("subscribers: a terminated subscriber has no plan to change", field="status"))
        if sub.bandwidth_profile_id != profile.id:
            sub.bandwidth_profile_id = profile.id
            ctx.session.flush()
        before = snapshot(ctx).get("subscriber", {}).get("bandwidth_profile_id")
        return Done(
            {"from": before, "to": str(profile.id), "name": profile.name, "download_mbps": profile.download_mbps}
        )

    def compensate(self, ctx: StepContext) -> None:
        before = snapshot(ctx).get("subscriber")
        if not before:
            return
        sub = subscriber(ctx, lock=True)
        if str(sub.bandwidth_profile_id) == str(ctx.params.get("bandwidth_profile_id")):
            sub.bandwidth_profile_id = as_uuid(before.get("bandwidth_profile_id"))
            ctx.session.flush()


class Coa(BaseStep):
    """What the subscriber's live sessions were sent: the open sessions and the CoA/Disconnect requests
    queued for them (by the status or plan change before it)."""

    name = "coa"

    def run(self, ctx: StepContext) -> Done | Wait:
        sub = subscriber(ctx)
        params = {"t": ctx.tenant_id, "s": ctx.subscriber_id, "u": sub.pppoe_username or ""}
        sessions = int(ctx.session.execute(OPEN_SESSIONS, params).scalar_one())
        queued = [str(r) for r in ctx.session.execute(QUEUED, params).scalars()]
        return Done({"open_sessions": sessions, "queued": queued})


def _plan(ctx: StepContext) -> dict[str, Any]:
    sub = subscriber(ctx)
    profile = None
    if sub.bandwidth_profile_id is not None:
        profile = ctx.session.scalar(
            select(BandwidthProfile).where(
                BandwidthProfile.tenant_id == ctx.tenant_id, BandwidthProfile.id == sub.bandwidth_profile_id
            )
        )
    return {
        "status": sub.status,
        "subscriber_number": sub.subscriber_number,
        "bandwidth_profile_id": str(sub.bandwidth_profile_id) if sub.bandwidth_profile_id else None,
        "plan": profile.name if profile else None,
        "download_mbps": profile.download_mbps if profile else None,
        "upload_mbps": profile.upload_mbps if profile else None,
        "billing_cycle_day": sub.billing_cycle_day,
        "service_activated_at": sub.service_activated_at.isoformat() if sub.service_activated_at else None,
    }


class StartBilling(BaseStep):
    """Activation: billing starts — an event with the plan, the activation time and the billing cycle day
    (the billing system prorates from it). An event cannot be unsent: it comes after the pivot."""

    name = "start_billing"

    def run(self, ctx: StepContext) -> Done | Wait:
        payload = event_payload(ctx, **_plan(ctx))
        sent = emit(
            ctx.session, event_type=BILLING_STARTED, payload=payload, subject=subject(ctx.subscriber_id), key=ctx.key
        )
        return Done({"event": BILLING_STARTED, "emitted": sent})


class Notify(BaseStep):
    """The world is told the order's outcome. A status order's event (``subscriber.activated``,
    ``.suspended``, ``.resumed``, ``.terminated``) is emitted by ``subscribers.service.change_status`` in the
    pivot's own transaction (docs/events.md): this step only records it. A plan change has no status
    change: this step emits ``subscriber.plan_changed`` (with the plan, the address and the access the
    order set up), once per step key."""

    name = "notify"

    def __init__(self, event_type: str, *, emitted_by: str | None = None) -> None:
        self.event_type = event_type
        self.emitted_by = emitted_by

    def run(self, ctx: StepContext) -> Done | Wait:
        if self.emitted_by is not None:
            return Done({"event": self.event_type, "emitted_by": self.emitted_by})
        extra: dict[str, Any] = _plan(ctx)
        for step in ("allocate_ip", "authorise_onu", "register_cpe", "set_plan"):
            found = result_of(ctx, step)
            if found and "skipped" not in found:
                extra[step] = found
        payload = event_payload(ctx, **extra)
        sent = emit(
            ctx.session, event_type=self.event_type, payload=payload, subject=subject(ctx.subscriber_id), key=ctx.key
        )
        return Done({"event": self.event_type, "emitted": sent})
