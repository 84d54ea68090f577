"""Pushing closed cycles to the tenant's billing system, each record once.

For a closed cycle (month, billing day): every subscriber's usage record (``billing.usage``, the JSON export's
object), then the cycle's ``billing.cycle_closed`` event, each through the adapter with its idempotency key.
What was delivered is recorded in ``billing_pushes`` (short transactions, never open across the network):
a re-run skips it, so nothing is pushed twice. A delivery that fails is not recorded and stops the run with
``PushFailed`` (the job retries later); the ones delivered before it stay recorded. A crash between the
billing system's answer and our record re-sends that record with the same key next time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text

from ispops.billing import adapter as adapters
from ispops.billing import cycles, export, service
from ispops.billing.adapter import BillingAdapter, HttpBillingAdapter, PushItem
from ispops.db.session import Database
from ispops.errors import Conflict
from ispops.models import BillingCycle, BillingPush
from ispops.models.billing import BillingPushKind
from ispops.secrets import SecretStore
from ispops.secrets import runtime as secret_runtime

USAGE_TYPE = "billing.usage"
CLOSED_TYPE = "billing.cycle_closed"
RECORD_BATCH = 100


def usage_key(tenant_id: str, month: dt.date, subscriber_id: object) -> str:
    return f"ispops:{tenant_id}:{USAGE_TYPE}:{cycles.label(month)}:{subscriber_id}"


def event_key(tenant_id: str, month: dt.date, billing_day: int) -> str:
    return f"ispops:{tenant_id}:{CLOSED_TYPE}:{cycles.label(month)}:{billing_day}"


def event_payload(row: BillingCycle) -> dict[str, Any]:
    """What ``billing.cycle_closed`` says (outbox event and adapter push alike): the cycle, its totals, and
    where its exports are."""
    label = cycles.label(row.cycle)
    where = f"/api/v1/billing/cycles/{label}"
    query = f"?billing_day={row.billing_day}"
    return {
        "cycle_id": str(row.id),
        "cycle": label,
        "billing_day": row.billing_day,
        "starts_at": export._iso(row.starts_at),
        "ends_at": export._iso(row.ends_at),
        "closed_at": export._iso(row.closed_at),
        "subscribers": row.subscribers,
        "input_octets": row.input_octets,
        "output_octets": row.output_octets,
        "session_seconds": row.session_seconds,
        "exports": {
            "usage_json": f"{where}/usage.json{query}",
            "usage_csv": f"{where}/usage.csv{query}",
            "plan_history_json": f"{where}/plan-history.json{query}",
            "plan_history_csv": f"{where}/plan-history.csv{query}",
        },
    }


@dataclass
class PushReport:
    cycle: str
    pushed: int = 0
    skipped: int = 0
    events: int = 0


@dataclass(frozen=True)
class _Record:
    kind: BillingPushKind
    item: PushItem
    subscriber_id: str | None
    status: int


def _sha256(item: PushItem) -> str:
    return hashlib.sha256(item.body()).hexdigest()


def _record(db: Database, tenant_id: str, month: dt.date, records: list[_Record]) -> None:
    if not records:
        return
    with db.tenant(tenant_id, enforce_status=False) as s:
        for r in records:
            s.execute(
                text(
                    "insert into billing_pushes (tenant_id, kind, cycle, subscriber_id, event_type, idempotency_key, "
                    "response_status, payload_sha256) values (:t, :kind, :m, cast(:sid as uuid), :et, :key, :st, :sha) "
                    "on conflict (tenant_id, idempotency_key) do nothing"
                ),
                {
                    "t": tenant_id,
                    "kind": r.kind.value,
                    "m": month,
                    "sid": r.subscriber_id,
                    "et": r.item.type if r.kind is BillingPushKind.EVENT else None,
                    "key": r.item.key,
                    "st": r.status,
                    "sha": _sha256(r.item),
                },
            )
    records.clear()


def _open_adapter(store: SecretStore | None, tenant_id: str) -> HttpBillingAdapter:
    endpoint = adapters.load_endpoint(store or secret_runtime.current(), tenant_id)
    if endpoint is None:
        raise Conflict("endpoint: no billing endpoint is configured (PUT /api/v1/billing/endpoint)", field="endpoint")
    return HttpBillingAdapter(endpoint)


def push_cycle(
    db: Database,
    tenant_id: str,
    month: dt.date,
    *,
    billing_day: int | None = None,
    adapter: BillingAdapter | None = None,
    store: SecretStore | None = None,
) -> PushReport:
    """Push closed cycle ``month`` (one billing day, or every closed one) to the tenant's billing system."""
    report = PushReport(cycles.label(month))
    with db.tenant(tenant_id, enforce_status=False) as s:
        state = service.status(s, tenant_id, month)
        if billing_day is not None and not state.is_closed(billing_day):
            raise Conflict(
                f"cycle: {report.cycle} (billing day {billing_day}) is not closed yet; only closed cycles are pushed",
                field="cycle",
            )
        days = {billing_day} if billing_day is not None else set(state.closed)
        lines = [x for x in service.usage(s, tenant_id, month, billing_day=billing_day) if x.cycle.billing_day in days]
        done = set(
            s.execute(
                select(BillingPush.idempotency_key).where(
                    BillingPush.tenant_id == tenant_id, BillingPush.cycle == month
                )
            ).scalars()
        )
        rows = s.execute(
            select(BillingCycle)
            .where(BillingCycle.tenant_id == tenant_id, BillingCycle.cycle == month, BillingCycle.billing_day.in_(days))
            .order_by(BillingCycle.billing_day)
        ).scalars()
        events = [PushItem(event_key(tenant_id, month, r.billing_day), CLOSED_TYPE, event_payload(r)) for r in rows]
    todo = [
        PushItem(usage_key(tenant_id, month, x.subscriber_id), USAGE_TYPE, export.line_dict(x, state)) for x in lines
    ]
    report.skipped = sum(1 for i in todo if i.key in done) + sum(1 for e in events if e.key in done)
    todo = [i for i in todo if i.key not in done]
    events = [e for e in events if e.key not in done]
    if not todo and not events:
        return report
    own = adapter is None
    active: BillingAdapter = adapter if adapter is not None else _open_adapter(store, tenant_id)
    pending: list[_Record] = []
    by_key = {i.key: i for i in todo}
    try:
        pushed: Iterator[adapters.Pushed] = active.push_cycle(report.cycle, iter(todo))
        for result in pushed:
            item = by_key[result.key]
            pending.append(_Record(BillingPushKind.USAGE, item, item.data["subscriber_id"], result.status))
            report.pushed += 1
            if len(pending) >= RECORD_BATCH:
                _record(db, tenant_id, month, pending)
        _record(db, tenant_id, month, pending)
        for event in events:
            result = active.push_event(event)
            _record(db, tenant_id, month, [_Record(BillingPushKind.EVENT, event, None, result.status)])
            report.events += 1
    finally:
        _record(db, tenant_id, month, pending)  # what was delivered before a failure stays recorded
        if own and isinstance(active, HttpBillingAdapter):
            active.close()
    return report
