"""Events jobs (docs/events.md, docs/jobs.md).

- ``events.dispatch`` (queued by ``emit``, once per emitting transaction) and ``events.sweep`` (every minute,
  the safety net): ``dispatch`` — fan new events out to deliveries, send the due ones, record the results,
  in rounds until nothing is due; the HTTP runs outside any transaction, ``concurrency`` POSTs at once.
- ``events.prune`` (daily): dispatched events older than the retention go, with their deliveries and log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from ispops.db.session import Database
from ispops.events import delivery
from ispops.events import dispatch as dispatching
from ispops.events.outbox import DISPATCH_JOB
from ispops.events.settings import WebhookSettings
from ispops.secrets import runtime as secret_runtime
from ispops.secrets.store import SecretNotFound, SecretStore
from ispops.secrets.txn import secret_changes

log = logging.getLogger("ispops.events")

# A follow-up dispatch is queued for retries due within this many seconds; later ones wait for the sweep.
FOLLOW_UP_WITHIN = timedelta(seconds=60)


def _secrets(store: SecretStore, cache: dict[str, str | None], paths: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for path in paths:
        if path not in cache:
            try:
                cache[path] = store.get(path).decode("ascii")
            except SecretNotFound:
                cache[path] = None
        value = cache[path]
        if value is not None:
            out.append(value)
    return out


def deliver_round(
    db: Database,
    tenant_id: str,
    settings: WebhookSettings,
    store: SecretStore,
    send: Callable[[dispatching.Work, list[str]], delivery.Outcome],
    pool: ThreadPoolExecutor,
    *,
    batch: int = 200,
    fan_out_batch: int = 1000,
) -> dict[str, int]:
    """One round: fan out, claim, send (in ``pool``), record. Returns counts (``claimed`` 0: nothing due)."""
    with db.tenant(tenant_id, enforce_status=False) as s:
        fanned = dispatching.fan_out(s, tenant_id, batch=fan_out_batch)
        work = dispatching.claim(s, tenant_id, batch=batch, lease=settings.timeout + 60)
    cache: dict[str, str | None] = {}
    signed = [(w, _secrets(store, cache, w.secret_paths)) for w in work]
    outcomes = list(pool.map(lambda ws: send(*ws), signed))
    with db.tenant(tenant_id, enforce_status=False) as s:
        counts = dispatching.record(s, tenant_id, list(zip(work, outcomes, strict=True)), settings)
    return {"events": fanned, "claimed": len(work), **counts}


def dispatch(
    db: Database,
    tenant_id: str,
    *,
    max_rounds: int = 50,
    store: SecretStore | None = None,
    settings: WebhookSettings | None = None,
) -> dict[str, int]:
    """Fan out and deliver until nothing is due (or ``max_rounds``); queue a follow-up for a retry due soon."""
    settings = settings or WebhookSettings.from_env()
    store = store or secret_runtime.current()
    totals: dict[str, int] = {"events": 0, "claimed": 0, "succeeded": 0, "failed": 0, "dead": 0}
    with delivery.client(settings) as http, ThreadPoolExecutor(settings.concurrency) as pool:

        def send(work: dispatching.Work, secrets: list[str]) -> delivery.Outcome:
            if not secrets:
                return delivery.Outcome(None, 0, "the endpoint's secret is missing from the secret store", None)
            return delivery.post(http, work.url, secrets, str(work.event_id), work.body, settings)

        for _ in range(max_rounds):
            counts = deliver_round(db, tenant_id, settings, store, send, pool)
            for key, value in counts.items():
                totals[key] = totals.get(key, 0) + value
            if counts["claimed"] == 0 and counts["events"] == 0:
                break
    with db.tenant(tenant_id, enforce_status=False) as s:
        changes = secret_changes(s, store)
        for path in dispatching.end_expired_overlaps(s, tenant_id):
            changes.delete_after_commit(path)
        due = dispatching.next_due(s, tenant_id)
        now = datetime.now(UTC)
        if due is not None and now < due <= now + FOLLOW_UP_WITHIN:
            from ispops.jobs import defer_in

            defer_in(s, DISPATCH_JOB, schedule_at=due)
    return totals


# --- retention ---------------------------------------------------------------------------------------

_PRUNE = text(
    "DELETE FROM event_outbox WHERE tenant_id = :t AND dispatched_at IS NOT NULL "
    "AND occurred_at < now() - make_interval(days => :days) "
    "AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.tenant_id = event_outbox.tenant_id "
    "                AND d.event_id = event_outbox.id AND d.status = 'pending') "
    "RETURNING 1"
)


def prune(db: Database, tenant_id: str, *, settings: WebhookSettings | None = None) -> dict[str, int]:
    """Delete dispatched events older than the retention (their deliveries and log go with them), except
    those with a delivery still pending."""
    settings = settings or WebhookSettings.from_env()
    with db.tenant(tenant_id, enforce_status=False) as s:
        deleted = len(s.execute(_PRUNE, {"t": tenant_id, "days": settings.retention_days}).all())
    return {"deleted": deleted}
