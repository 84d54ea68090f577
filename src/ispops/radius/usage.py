"""Usage roll-up and data caps.

Each run, for one tenant, in the caller's transaction:

1. Moves what radacct sessions counted since the last run into ``subscriber_usage_daily`` (the day of the
   session's latest update, in the tenant's time zone). Each session remembers what was already counted
   (``radacct.counted_*``), so a run is idempotent and every session of a subscriber adds to the same
   total — usage is shared across simultaneous sessions. Only open sessions and sessions stopped in the
   last two days are looked at (both are indexed), never the whole history.
2. Sets ``subscribers.monthly_data_usage_gb`` to the usage of the current billing period (which starts on
   the subscriber's ``billing_cycle_day``) and ``last_usage_reset_date`` to that period's first day: the
   monthly figure resets by itself when a new period begins.
3. Applies the plan's caps: a throttle ends by itself (``throttled_until``), a subscriber suspended for a
   cap is resumed when the period's usage is under the cap again (a new period, or a raised cap); a daily
   cap exceeded throttles to the plan's FUP rate until the next local midnight; a monthly cap exceeded
   throttles until the next period, or suspends when the plan says ``cap_action = 'suspend'``.

RADIUS follows by itself: the provisioning triggers re-render the subscriber's reply attributes and the
CoA queue tells the NAS. A GB is 10^9 bytes (upload + download).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from ispops.db.session import Database
from ispops.events.outbox import emit

GB = 1_000_000_000
RECENT_STOPS = "interval '2 days'"
CAP_REASON = "data_cap"


@dataclass(frozen=True)
class RollupResult:
    tenant_id: str
    sessions: int = 0
    throttled: int = 0
    unthrottled: int = 0
    suspended: int = 0
    resumed: int = 0


MOVE = f"""
WITH candidates AS (
  SELECT radacctid, acctstarttime, counted_input_octets AS was_in, counted_output_octets AS was_out
    FROM radacct
   WHERE tenant_id = :t AND subscriber_id IS NOT NULL
     AND (acctstoptime IS NULL OR acctstoptime >= :now - {RECENT_STOPS})
     AND (acctinputoctets > counted_input_octets OR acctoutputoctets > counted_output_octets)
), moved AS (
  UPDATE radacct a
     SET counted_input_octets = a.acctinputoctets, counted_output_octets = a.acctoutputoctets
    FROM candidates c
   WHERE a.tenant_id = :t AND a.radacctid = c.radacctid AND a.acctstarttime = c.acctstarttime
  RETURNING a.subscriber_id,
            (coalesce(a.acctupdatetime, a.acctstoptime, a.acctstarttime) AT TIME ZONE :tz)::date AS day,
            a.acctinputoctets - c.was_in AS din, a.acctoutputoctets - c.was_out AS dout
), summed AS (
  INSERT INTO subscriber_usage_daily AS u (tenant_id, subscriber_id, day, input_octets, output_octets)
  SELECT :t, subscriber_id, day, sum(din), sum(dout) FROM moved GROUP BY subscriber_id, day
  ON CONFLICT (tenant_id, subscriber_id, day) DO UPDATE
     SET input_octets = u.input_octets + excluded.input_octets,
         output_octets = u.output_octets + excluded.output_octets,
         updated_at = now()
  RETURNING 1
)
SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM summed)
"""

# The current period's usage of every live subscriber of the tenant (0 when nothing was used).
PERIOD_USAGE = """
  SELECT s.id, ispops_billing_period_start(s.billing_cycle_day, :today) AS period_start,
         coalesce((SELECT sum(u.input_octets + u.output_octets) FROM subscriber_usage_daily u
                    WHERE u.tenant_id = :t AND u.subscriber_id = s.id
                      AND u.day >= ispops_billing_period_start(s.billing_cycle_day, :today)), 0) AS month_octets,
         coalesce((SELECT u.input_octets + u.output_octets FROM subscriber_usage_daily u
                    WHERE u.tenant_id = :t AND u.subscriber_id = s.id AND u.day = :today), 0) AS day_octets
    FROM subscribers s
   WHERE s.tenant_id = :t AND s.deleted_at IS NULL AND s.status IN ('active', 'suspended')
"""

MONTHLY = f"""
WITH p AS ({PERIOD_USAGE})
UPDATE subscribers s
   SET monthly_data_usage_gb = round(p.month_octets::numeric / {GB}, 2), last_usage_reset_date = p.period_start
  FROM p
 WHERE s.tenant_id = :t AND s.id = p.id
   AND (s.monthly_data_usage_gb IS DISTINCT FROM round(p.month_octets::numeric / {GB}, 2)
        OR s.last_usage_reset_date IS DISTINCT FROM p.period_start)
"""

UNTHROTTLE = """
UPDATE subscribers SET throttled_until = NULL
 WHERE tenant_id = :t AND throttled_until IS NOT NULL AND throttled_until <= :now
RETURNING id, 'unthrottle' AS action, NULL::timestamptz AS until
"""

RESUME = f"""
WITH p AS ({PERIOD_USAGE})
UPDATE subscribers s
   SET status = 'active', suspension_reason = NULL
  FROM p, bandwidth_profiles b
 WHERE s.tenant_id = :t AND s.id = p.id AND b.tenant_id = :t AND b.id = s.bandwidth_profile_id
   AND s.status = 'suspended' AND s.suspension_reason = '{CAP_REASON}'
   AND (b.monthly_data_cap_gb IS NULL OR p.month_octets < b.monthly_data_cap_gb::bigint * {GB})
RETURNING s.id, 'resume' AS action, NULL::timestamptz AS until
"""

# Local midnight after :today and the next period start, both as instants in the tenant's zone.
APPLY = f"""
WITH p AS ({PERIOD_USAGE}),
over AS (
  SELECT s.id, b.cap_action,
         b.monthly_data_cap_gb IS NOT NULL AND p.month_octets >= b.monthly_data_cap_gb::bigint * {GB} AS month_over,
         b.daily_data_cap_gb IS NOT NULL AND p.day_octets >= b.daily_data_cap_gb::bigint * {GB} AS day_over,
         ((:today + 1)::timestamp AT TIME ZONE :tz) AS day_end,
         (ispops_billing_period_start(s.billing_cycle_day, (p.period_start + 40))::timestamp AT TIME ZONE :tz)
           AS period_end
    FROM subscribers s JOIN p ON p.id = s.id
    JOIN bandwidth_profiles b ON b.tenant_id = :t AND b.id = s.bandwidth_profile_id
   WHERE s.tenant_id = :t AND s.status = 'active'
),
suspend AS (
  UPDATE subscribers s
     SET status = 'suspended', suspension_reason = '{CAP_REASON}', service_suspended_at = :now
    FROM over o
   WHERE s.tenant_id = :t AND s.id = o.id AND o.month_over AND o.cap_action = 'suspend'
  RETURNING s.id, 'suspend' AS action, NULL::timestamptz AS until
),
throttle AS (
  UPDATE subscribers s
     SET throttled_until = CASE WHEN o.month_over THEN o.period_end ELSE o.day_end END
    FROM over o
   WHERE s.tenant_id = :t AND s.id = o.id
     AND (o.month_over AND o.cap_action = 'throttle' OR o.day_over AND NOT (o.month_over AND o.cap_action = 'suspend'))
     AND (s.throttled_until IS NULL
          OR s.throttled_until < CASE WHEN o.month_over THEN o.period_end ELSE o.day_end END)
  RETURNING s.id, 'throttle' AS action, s.throttled_until AS until
)
SELECT id, action, until FROM suspend UNION ALL SELECT id, action, until FROM throttle
"""

AUDIT = """
INSERT INTO audit_events (tenant_id, actor_kind, actor_id, entity, entity_id, action, changes)
VALUES (:t, 'system', 'usage-rollup', 'subscribers', :id, 'action',
        jsonb_build_object('action', cast(:action as text), 'reason', 'data cap', 'until', cast(:until as text)))
"""


def rollup_tenant(session: Session, tenant_id: str, *, now: dt.datetime | None = None) -> RollupResult:
    """One tenant's roll-up and caps, in the caller's transaction (which must be for this tenant)."""
    now = now or dt.datetime.now(dt.UTC)
    params: dict[str, object] = {"t": tenant_id, "now": now}
    # One run per tenant at a time: two would count the same octets twice.
    session.execute(text("select pg_advisory_xact_lock(hashtext('ispops-usage:' || :t))"), params)
    tz = session.execute(text("select timezone from tenants where id = :t"), params).scalar_one_or_none() or "UTC"
    params["tz"] = tz
    params["today"] = session.execute(
        text("select (cast(:now as timestamptz) at time zone :tz)::date"), params
    ).scalar_one()
    sessions, _ = session.execute(text(MOVE), params).one()
    session.execute(text(MONTHLY), params)
    changes = list(session.execute(text(UNTHROTTLE), params))
    changes += list(session.execute(text(RESUME), params))
    changes += list(session.execute(text(APPLY), params))
    for sub_id, action, until in changes:
        session.execute(
            text(AUDIT),
            {"t": tenant_id, "id": str(sub_id), "action": action, "until": until.isoformat() if until else None},
        )
        # Domain events (docs/events.md): the cap reached; and the status changes made here, not by change_status.
        subject, cap = f"subscribers/{sub_id}", {"subscriber_id": sub_id, "reason": CAP_REASON}
        if action in ("throttle", "suspend"):
            emit(
                session,
                event_type="usage.cap_reached",
                subject=subject,
                payload={**cap, "action": action, "until": until},
            )
        if action in ("suspend", "resume"):
            status_event = "subscriber.suspended" if action == "suspend" else "subscriber.resumed"
            emit(session, event_type=status_event, subject=subject, payload=cap)
    counts = {
        a: sum(1 for _, action, _ in changes if action == a) for a in ("throttle", "unthrottle", "suspend", "resume")
    }
    return RollupResult(
        tenant_id, int(sessions), counts["throttle"], counts["unthrottle"], counts["suspend"], counts["resume"]
    )


def rollup_all(db: Database, *, now: dt.datetime | None = None) -> list[RollupResult]:
    """Every live tenant, each in its own transaction (a failing tenant does not stop the others)."""
    with db.platform() as s:
        tenants = list(
            s.execute(
                text("select id from tenants where deleted_at is null and status not in ('cancelled') order by id")
            ).scalars()
        )
    results = []
    for tenant_id in tenants:
        with db.tenant(tenant_id, enforce_status=False) as s:
            results.append(rollup_tenant(s, tenant_id, now=now))
    return results


def rollup_job(db: Database, tenant_id: str) -> None:
    """The ``radius.usage_rollup`` job: one tenant, one transaction."""
    with db.tenant(tenant_id, enforce_status=False) as s:
        rollup_tenant(s, tenant_id)
