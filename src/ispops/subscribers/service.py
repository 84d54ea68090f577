"""Subscriber services: the status transitions (activate, suspend, resume, terminate).

Keyword-only functions on the caller's unit of work, a synchronous ``Session`` (the API runs them through
``AsyncSession.run_sync``; a lifecycle job calls them on its own transaction): they lock, check, change,
flush and add the audit event; they never commit. The subscriber's radcheck/radreply rows follow each
change in the same transaction (database triggers, ``radius/sql/``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ispops.audit import service as audit
from ispops.auth.principal import Principal, RequestMeta
from ispops.errors import Conflict, NotFound
from ispops.events.outbox import emit
from ispops.models import Subscriber

Action = Literal["activate", "suspend", "resume", "terminate"]


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]  # the statuses it may start from
    target: str  # the resulting status


TRANSITIONS: dict[Action, Transition] = {
    "activate": Transition(frozenset({"pending", "on_hold"}), "active"),
    "suspend": Transition(frozenset({"active"}), "suspended"),
    "resume": Transition(frozenset({"suspended"}), "active"),
    "terminate": Transition(frozenset({"pending", "active", "suspended", "on_hold"}), "terminated"),
}
STATUS_EVENTS: dict[Action, str] = {
    "activate": "subscriber.activated",
    "suspend": "subscriber.suspended",
    "resume": "subscriber.resumed",
    "terminate": "subscriber.terminated",
}


def change_status(
    session: Session,
    *,
    tenant_id: str,
    subscriber_id: uuid.UUID,
    action: Action,
    reason: str | None = None,
    principal: Principal,
    meta: RequestMeta,
) -> Subscriber:
    """Apply ``action`` to the tenant's live subscriber and audit it as ``principal``'s.

    ``NotFound`` (404) for a missing, deleted or other tenant's subscriber; ``Conflict`` (409, field
    ``status``) when the action may not start from the subscriber's status. Suspending keeps ``reason``
    on the subscriber; activating and resuming clear it.
    """
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise ValueError(f"unknown subscriber action {action!r}")
    stmt = select(Subscriber).where(
        Subscriber.tenant_id == tenant_id, Subscriber.id == subscriber_id, Subscriber.deleted_at.is_(None)
    )
    sub = session.scalars(stmt.with_for_update()).first()
    if sub is None:
        raise NotFound("subscribers: no such record", table="subscribers")
    if sub.status not in transition.sources:
        raise Conflict(
            f"subscribers: cannot {action} a subscriber that is {sub.status}", table="subscribers", field="status"
        )
    before = sub.status
    now = dt.datetime.now(dt.UTC)
    sub.status = transition.target
    if action == "suspend":
        sub.suspension_reason, sub.service_suspended_at = reason, now
    elif action in ("resume", "activate"):
        sub.suspension_reason = None
        sub.service_activated_at = sub.service_activated_at or now
    else:
        sub.service_terminated_at = now
    session.flush()
    session.refresh(sub)
    session.add(
        audit.event(
            principal=principal,
            meta=meta,
            entity="subscribers",
            entity_id=str(sub.id),
            action="action",
            changes={"action": action, "status": [before, transition.target], "reason": reason},
        )
    )
    # The one place the subscriber status events are emitted (docs/events.md): the lifecycle's steps call here.
    emit(
        session,
        event_type=STATUS_EVENTS[action],
        subject=f"subscribers/{sub.id}",
        payload={"subscriber_id": sub.id, "status": [before, transition.target], "reason": reason, "by": principal.id},
    )
    return sub
