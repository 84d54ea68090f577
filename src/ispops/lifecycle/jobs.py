"""Lifecycle jobs: ``lifecycle.advance`` runs an order on (the saga engine), ``lifecycle.resume_stalled``
finds open orders that are due but have no live job and queues one.

An order that is due always has a job: submission, a wait, a retry's backoff, a cancel and an engineer's
retry each queue it in the transaction that makes the order due. The job can still go missing — its
procrastinate retries ran out (a database outage), it was failed by the stalled-job sweep after killing
its worker five times, somebody deleted it — or sit ``doing`` on a dead worker until the minute sweep
notices. ``resume_stalled`` is the safety net for both, and for scheduled orders whose time has come.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from ispops.db.session import Database
from ispops.jobs import defer_in
from ispops.jobs.app import STALLED_AFTER_SECONDS
from ispops.lifecycle import saga

# Open, due orders of the tenant with no job that will run them: none waiting ('todo') and none running
# on a worker that still sends heartbeats. procrastinate's tables have no RLS; the order's tenant is ours.
_STALLED = text(
    """
    select a.id
      from service_activations a
     where a.tenant_id = current_setting('app.current_tenant_id')
       and a.workflow_status in ('pending', 'scheduled', 'in_progress', 'compensating')
       and coalesce(a.next_attempt_at, a.requested_at) <= clock_timestamp() - make_interval(secs => :grace)
       and not exists (
             select 1
               from procrastinate.procrastinate_jobs j
               left join procrastinate.procrastinate_workers w on w.id = j.worker_id
              where j.task_name = :task
                and j.args ->> 'order_id' = a.id::text
                and (j.status = 'todo'
                     or (j.status = 'doing'
                         and w.last_heartbeat > clock_timestamp() - make_interval(secs => :stalled_after))))
     order by a.next_attempt_at nulls first
     limit :batch
       for update of a skip locked
    """
)


def advance(db: Database, tenant_id: str, *, order_id: str) -> dict[str, str]:
    """The ``lifecycle.advance`` job: run the order on as far as it goes now."""
    return {"order_id": order_id, "outcome": saga.advance(db, tenant_id, uuid.UUID(order_id))}


def resume_stalled(
    db: Database,
    tenant_id: str,
    *,
    grace_seconds: float = 30.0,
    stalled_after: float = STALLED_AFTER_SECONDS,
    batch: int = 500,
) -> dict[str, Any]:
    """The ``lifecycle.resume_stalled`` job: queue ``lifecycle.advance`` for every open order due for
    ``grace_seconds`` with no waiting job and no running one on a live worker (heartbeat within
    ``stalled_after`` seconds). A dead worker's job is also put back by ``jobs.retry_stalled``; the engine's
    row lock and step log make the two runs harmless."""
    with db.tenant(tenant_id, enforce_status=False) as s:
        ids = list(
            s.scalars(
                _STALLED,
                {"grace": grace_seconds, "stalled_after": stalled_after, "task": saga.ADVANCE_JOB, "batch": batch},
            )
        )
        for order_id in ids:
            defer_in(s, saga.ADVANCE_JOB, order_id=str(order_id))
    return {"resumed": len(ids), "orders": [str(i) for i in ids]}
