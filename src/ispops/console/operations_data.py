"""What the operations pages list, read in the request's unit of work (sync, called through ``run_sync``).

Lists are pages of at most ``PAGE`` rows in a fixed order with an explicit tenant filter, each through an
index of its table: orders by ``(tenant_id, requested_at)`` (or by status), automation jobs by creation,
the audit log by ``(tenant_id, occurred_at DESC)`` (or by entity). Totals are capped (``COUNT_CAP``): a
page says "more than 10,000" rather than counting a tenant's whole history on every request.
Nothing here writes: the actions go through the domains' services and routes (``pages/operations.py``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ispops.errors import NotFound, ValidationFailed
from ispops.events import webhooks
from ispops.models.automation import AnsibleJobStatus
from ispops.models.events import DeliveryStatus

PAGE = 50
COUNT_CAP = 10_000


@dataclass
class Listing:
    rows: list[dict[str, Any]]
    total: int  # capped at COUNT_CAP + 1 ("more than COUNT_CAP")
    offset: int
    limit: int

    @property
    def more_than_cap(self) -> bool:
        return self.total > COUNT_CAP

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.rows) < self.total

    @property
    def has_prev(self) -> bool:
        return self.offset > 0


def _rows(session: Session, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in session.execute(text(sql), params).mappings()]


def _count(session: Session, sql_from_where: str, params: dict[str, Any]) -> int:
    """How many rows match, counted up to ``COUNT_CAP + 1`` only."""
    capped = f"SELECT count(*) FROM (SELECT 1 {sql_from_where} LIMIT {COUNT_CAP + 1}) AS c"
    return int(session.execute(text(capped), params).scalar_one())


def _choice(value: str | None, allowed: set[str], field: str) -> str | None:
    if value in (None, ""):
        return None
    if value not in allowed:
        raise ValidationFailed(f"{field}: one of {', '.join(sorted(allowed))}", field=field)
    return value


# --- orders (service_activations): read through ispops.lifecycle's own routes; here what the page adds ---


def subscriber_numbers(session: Session, tenant_id: str, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The subscriber number of each id (for the orders list)."""
    if not ids:
        return {}
    rows = session.execute(
        text("SELECT id, subscriber_number FROM subscribers WHERE tenant_id = :t AND id = ANY(:ids)"),
        {"t": tenant_id, "ids": list(set(ids))},
    )
    return {r[0]: r[1] for r in rows}


def step_log(order: Any) -> list[dict[str, Any]]:
    """An order's plan as rows to show (an ``ispops.lifecycle.schemas.OrderOut``): each step with its
    state — done (with its attempt, time and result), undone (compensated), running, waiting, failed or
    to do — plus any completed step no longer in the plan."""
    done = {e.step: e for e in order.steps_completed}
    undone = {e.step: e for e in order.compensations}
    names = list(order.plan or [])
    names += [n for n in done if n not in names]
    out: list[dict[str, Any]] = []
    for name in names:
        entry = done.get(name)
        row: dict[str, Any] = {"name": name, "state": "to do", "at": None, "attempt": None, "detail": ""}
        if entry is not None:
            row.update(state="done", at=_when(entry.completed_at), attempt=entry.attempt, detail=_short(entry.result))
        if name in undone:
            row.update(state="undone", at=_when(undone[name].at), attempt=undone[name].attempt)
        elif entry is None and name == order.current_step:
            if order.status == "failed" or (order.error_step == name and order.status in ("pending", "in_progress")):
                row.update(state="failed" if order.status == "failed" else "retrying", detail=order.error_message or "")
            elif order.waiting_reason:
                row.update(state="waiting", detail=order.waiting_reason)
            elif order.status in ("in_progress", "compensating"):
                row.update(state="running")
        out.append(row)
    return out


def _when(value: str | None) -> str | None:
    """An ISO time of the step log as people read it (UTC, to the second)."""
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return value


def _short(result: Any, limit: int = 160) -> str:
    if not result:
        return ""
    text_ = ", ".join(f"{k}: {v}" for k, v in dict(result).items())
    return text_ if len(text_) <= limit else text_[: limit - 1] + "…"


# --- automation jobs (ansible_jobs) --------------------------------------------------------------------

JOB_STATUSES = {s.value for s in AnsibleJobStatus}


def jobs(session: Session, tenant_id: str, *, status: str | None = None, offset: int = 0, limit: int = PAGE) -> Listing:
    status = _choice(status, JOB_STATUSES, "status")
    where = ["j.tenant_id = :t"]
    params: dict[str, Any] = {"t": tenant_id, "limit": limit, "offset": offset}
    if status:
        where.append("j.status = :status")
        params["status"] = status
    cond = " AND ".join(where)
    rows = _rows(
        session,
        "SELECT j.id, j.job_name, j.playbook_name, j.status, j.engine, j.check_mode, j.trigger_source, "
        "j.created_at, j.started_at, j.completed_at, j.duration_seconds, j.changed_tasks, j.failed_tasks, "
        "j.attempt, j.error, j.lifecycle_order_id, d.name AS device_name FROM ansible_jobs j "
        "LEFT JOIN devices d ON d.tenant_id = j.tenant_id AND d.id = j.target_device_id "
        f"WHERE {cond} ORDER BY j.created_at DESC, j.id LIMIT :limit OFFSET :offset",
        params,
    )
    return Listing(rows, _count(session, f"FROM ansible_jobs j WHERE {cond}", params), offset, limit)


def job(session: Session, tenant_id: str, job_id: uuid.UUID) -> dict[str, Any]:
    row = (
        session.execute(
            text(
                "SELECT j.*, d.name AS device_name FROM ansible_jobs j LEFT JOIN devices d "
                "ON d.tenant_id = j.tenant_id AND d.id = j.target_device_id WHERE j.tenant_id = :t AND j.id = :id"
            ),
            {"t": tenant_id, "id": job_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("ansible_jobs: no such record", table="ansible_jobs")
    return dict(row)


# --- audit log -----------------------------------------------------------------------------------------


def audit(
    session: Session,
    tenant_id: str,
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    offset: int = 0,
    limit: int = PAGE,
) -> Listing:
    """The tenant's audit trail, newest first, filtered by entity (and id), action, actor (email or id)
    and day range (``until`` inclusive)."""
    where = ["a.tenant_id = :t"]
    params: dict[str, Any] = {"t": tenant_id, "limit": limit, "offset": offset}
    for name, value, clause in (
        ("entity", entity, "a.entity = :entity"),
        ("entity_id", entity_id, "a.entity_id = :entity_id"),
        ("action", action, "a.action = :action"),
    ):
        if value:
            where.append(clause)
            params[name] = value.strip()
    if actor:
        actor = actor.strip()
        where.append(
            "(a.actor_id = :actor OR a.actor_id IN (SELECT u.id::text FROM users u WHERE u.tenant_id = :t "
            "AND lower(u.email) = lower(:actor)))"
        )
        params["actor"] = actor
    if since and until and since > until:
        raise ValidationFailed("since: must not be after until", field="since")
    if since:
        where.append("a.occurred_at >= :since")
        params["since"] = dt.datetime.combine(since, dt.time(), dt.UTC)
    if until:
        where.append("a.occurred_at < :until")
        params["until"] = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), dt.UTC)
    cond = " AND ".join(where)
    rows = _rows(
        session,
        "SELECT a.id, a.occurred_at, a.actor_kind, a.actor_id, u.email AS actor_email, host(a.ip) AS ip, "
        "a.request_id, a.entity, a.entity_id, a.action, a.changes FROM audit_events a "
        "LEFT JOIN users u ON a.actor_kind = 'user' AND u.tenant_id = a.tenant_id AND u.id::text = a.actor_id "
        f"WHERE {cond} ORDER BY a.occurred_at DESC, a.id DESC LIMIT :limit OFFSET :offset",
        params,
    )
    return Listing(rows, _count(session, f"FROM audit_events a WHERE {cond}", params), offset, limit)


def audit_entities(session: Session, tenant_id: str) -> list[str]:
    """Entities that appear in the tenant's recent audit trail (for the filter's choices)."""
    return list(
        session.execute(
            text(
                "SELECT DISTINCT entity FROM (SELECT entity FROM audit_events WHERE tenant_id = :t "
                "ORDER BY occurred_at DESC LIMIT 5000) AS recent ORDER BY entity"
            ),
            {"t": tenant_id},
        ).scalars()
    )


# --- users and the tenant ------------------------------------------------------------------------------


def users(session: Session, tenant_id: str) -> list[dict[str, Any]]:
    return _rows(
        session,
        "SELECT id, email, full_name, roles, is_active, mfa_enabled, last_login_at, created_at FROM users "
        "WHERE tenant_id = :t AND deleted_at IS NULL ORDER BY email LIMIT 1000",
        {"t": tenant_id},
    )


def tenant(session: Session, tenant_id: str) -> dict[str, Any]:
    row = (
        session.execute(
            text(
                "SELECT id, name, slug, status, plan_type, email, phone, billing_email, timezone, settings, "
                "max_users, current_users, max_subscribers, current_subscribers, trial_ends_at FROM tenants "
                "WHERE id = :t"
            ),
            {"t": tenant_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("tenants: no such tenant", table="tenants")
    return dict(row)


# --- webhooks (the events domain's tables) ------------------------------------------------------------


def endpoints(session: Session, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's webhook endpoints with their deliveries by status (last 7 days)."""
    return _rows(
        session,
        "SELECT e.id, e.url, e.description, e.event_types, e.enabled, e.created_at, e.secret_rotated_at, "
        "count(d.id) FILTER (WHERE d.status = 'succeeded') AS succeeded, "
        "count(d.id) FILTER (WHERE d.status = 'pending') AS pending, "
        "count(d.id) FILTER (WHERE d.status = 'dead') AS dead "
        "FROM webhook_endpoints e LEFT JOIN webhook_deliveries d ON d.tenant_id = e.tenant_id "
        "AND d.endpoint_id = e.id AND d.created_at >= now() - interval '7 days' "
        "WHERE e.tenant_id = :t AND e.deleted_at IS NULL GROUP BY e.id ORDER BY e.created_at LIMIT 200",
        {"t": tenant_id},
    )


def endpoint(session: Session, tenant_id: str, endpoint_id: uuid.UUID) -> dict[str, Any]:
    """One live endpoint (``ispops.events.webhooks.get_endpoint``: 404 for another tenant's)."""
    e = webhooks.get_endpoint(session, tenant_id, endpoint_id)
    return {
        "id": e.id,
        "url": e.url,
        "description": e.description,
        "event_types": list(e.event_types or []),
        "enabled": e.enabled,
        "created_at": e.created_at,
        "secret_rotated_at": e.secret_rotated_at,
    }


DELIVERY_STATUSES = {s.value for s in DeliveryStatus}
ATTEMPTS = text(
    "SELECT delivery_id, attempt, status_code, latency_ms, error, attempted_at FROM webhook_delivery_attempts "
    "WHERE tenant_id = :t AND delivery_id = ANY(:ids) ORDER BY attempted_at, attempt"
)


def deliveries(
    session: Session,
    tenant_id: str,
    endpoint_id: uuid.UUID,
    *,
    status: str | None = None,
    offset: int = 0,
    limit: int = PAGE,
) -> Listing:
    """An endpoint's deliveries, newest first (``ispops.events.webhooks.list_deliveries``), each with its
    attempts (the delivery log; one query for the page)."""
    status = _choice(status, DELIVERY_STATUSES, "status")
    found, total = webhooks.list_deliveries(
        session, tenant_id, endpoint_id=endpoint_id, status=status, limit=limit, offset=offset
    )
    columns = (
        "id", "event_id", "event_type", "status", "attempts", "next_attempt_at", "last_status_code", "last_error",
        "last_latency_ms", "delivered_at", "dead_at", "replays", "created_at",
    )  # fmt: skip
    rows = [{c: getattr(d, c) for c in columns} for d in found]
    log: dict[Any, list[dict[str, Any]]] = {}
    if rows:
        for a in session.execute(ATTEMPTS, {"t": tenant_id, "ids": [r["id"] for r in rows]}).mappings():
            log.setdefault(a["delivery_id"], []).append(dict(a))
    for r in rows:
        r["log"] = log.get(r["id"], [])
    return Listing(rows, total, offset, limit)
