"""What the subscriber 360 page shows, read in the request's unit of work (sync, called through ``run_sync``).

Every query names the tenant explicitly (RLS hides the rest anyway) and is bounded: one subscriber's
rows through the per-subscriber indexes (open sessions: the partial index on open radacct rows; usage:
``subscriber_usage_daily``'s unique key; orders, CoA attempts, audit events: their per-subscriber or
per-entity indexes), a handful of rows each. Another tenant's or a deleted subscriber is ``NotFound``.

The ONU's light levels come from the FTTH domain's own history (``ftth.optics.history``), the CPE's plan
SNR from ``wireless.telemetry.plan_snr``; nothing here writes.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ispops.errors import NotFound
from ispops.ftth import optics
from ispops.models import WirelessSubscriber
from ispops.wireless import telemetry

GB = 1_000_000_000
USAGE_DAYS = 31
USAGE_PERIODS = 6
ORDERS_SHOWN = 10
COA_SHOWN = 15
AUDIT_SHOWN = 15
OPTICS_HOURS = 72
# New passwords: letters and digits a person can read aloud without ambiguity (no 0/O, 1/l/I).
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105 - an alphabet
PASSWORD_LENGTH = 16

SUBSCRIBER = text(
    """
SELECT s.id, s.subscriber_number, s.status, s.suspension_reason, s.service_type, s.connection_type,
       s.pppoe_username, host(s.static_ip_address) AS static_ip, s.vlan_id, s.mac_address,
       s.service_address_line1, s.service_address_line2, s.service_address_city, s.service_address_postal_code,
       s.service_address_country, s.service_location_lat, s.service_location_lng,
       s.installation_status, s.installation_date, s.monthly_data_usage_gb, s.billing_cycle_day,
       s.throttled_until, s.service_activated_at, s.service_suspended_at, s.service_terminated_at,
       s.notes, s.created_at, s.updated_at, s.customer_id, c.name AS customer_name, c.customer_number,
       s.bandwidth_profile_id, b.name AS plan_name, b.download_mbps, b.upload_mbps, b.monthly_data_cap_gb,
       b.daily_data_cap_gb, b.cap_action, b.fup_download_mbps, b.fup_upload_mbps,
       ispops_billing_period_start(s.billing_cycle_day, current_date) AS period_start
  FROM subscribers s
  LEFT JOIN customers c ON c.tenant_id = s.tenant_id AND c.id = s.customer_id
  LEFT JOIN bandwidth_profiles b ON b.tenant_id = s.tenant_id AND b.id = s.bandwidth_profile_id
 WHERE s.tenant_id = :t AND s.id = :id AND s.deleted_at IS NULL
"""
)
# Open sessions: the partial index idx_radacct_open_subscriber (tenant_id, subscriber_id) WHERE open.
SESSIONS_SQL = """
SELECT radacctid, username, host(nasipaddress) AS nas_ip, host(framedipaddress) AS framed_ip,
       host(delegatedipv6prefix) AS delegated_prefix, acctsessionid, callingstationid, acctstarttime,
       acctupdatetime, greatest(extract(epoch FROM now() - acctstarttime)::bigint, coalesce(acctsessiontime, 0))
         AS duration_seconds,
       acctinputoctets AS upload_octets, acctoutputoctets AS download_octets
  FROM radacct
 WHERE tenant_id = :t AND subscriber_id = :id AND acctstoptime IS NULL
 ORDER BY acctstarttime DESC
 LIMIT 20
"""
SESSIONS = text(SESSIONS_SQL)
# The days since the first billing period shown (at most ~6 months of one subscriber's rows), each with the
# first day of its billing period (the subscriber's cycle day): the daily chart and the per-period totals
# the monthly cap counts, in one query.
USAGE_DAYS_SQL = """
SELECT day, input_octets, output_octets, ispops_billing_period_start(:cycle, day) AS period
  FROM subscriber_usage_daily
 WHERE tenant_id = :t AND subscriber_id = :id AND day >= :since AND day <= :until
"""
ONUS = text(
    """
SELECT o.id, o.serial_number, o.vendor, o.model, o.status, o.admin_status, o.operational_status,
       o.rx_power_dbm, o.tx_power_dbm, o.distance_meters, o.last_seen, o.last_down_cause, o.last_down_at,
       o.onu_id, o.olt_id, d.name AS olt_name, pp.name AS pon_port_name
  FROM onus o
  JOIN olts l ON l.tenant_id = o.tenant_id AND l.id = o.olt_id
  JOIN devices d ON d.tenant_id = l.tenant_id AND d.id = l.device_id
  LEFT JOIN olt_pon_ports pp ON pp.tenant_id = o.tenant_id AND pp.id = o.pon_port_id
 WHERE o.tenant_id = :t AND o.subscriber_id = :id AND o.deleted_at IS NULL
 ORDER BY o.created_at
"""
)
ONU_ALARMS = text(
    """
SELECT kind, severity, value_dbm, threshold_dbm, raised_at, detail FROM ftth_alarms
 WHERE tenant_id = :t AND onu_id = :onu AND cleared_at IS NULL ORDER BY raised_at
"""
)
CPE_ALARMS = text(
    """
SELECT kind, detail, measured, expected, raised_at FROM wireless_cpe_alarms
 WHERE tenant_id = :t AND wireless_subscriber_id = :cpe AND cleared_at IS NULL ORDER BY raised_at
"""
)
CPE_SECTOR = text(
    """
SELECT s.name AS sector_name, t.name AS tower_name FROM wireless_sectors s
  JOIN wireless_towers t ON t.tenant_id = s.tenant_id AND t.id = s.tower_id
 WHERE s.tenant_id = :t AND s.id = :sector
"""
)
# The lists of the page, each one subscriber's rows through its own index, read in one round trip
# (``BUNDLE``): every part is a subquery aggregated to JSON. Limits keep each part small.
ADDRESSES_SQL = """
SELECT host(a.ip_address) AS ip, a.status, a.mac_address, a.lease_end, a.allocated_at, p.name AS pool_name,
       p.pool_type, a.ip_pool_id
  FROM ip_allocations a JOIN ip_pools p ON p.tenant_id = a.tenant_id AND p.id = a.ip_pool_id
 WHERE a.tenant_id = :t AND a.subscriber_id = :id AND a.status <> 'released'
"""
ORDERS_SQL = f"""
SELECT id, activation_type, workflow_status, current_step, steps_completed, requested_at, started_at,
       completed_at, failed_at, error_step, error_message, retry_count, requested_by, bandwidth_profile_id
  FROM service_activations
 WHERE tenant_id = :t AND subscriber_id = :id
 ORDER BY requested_at DESC
 LIMIT {ORDERS_SHOWN}
"""
COA_ATTEMPTS_SQL = f"""
SELECT created_at AS at, kind, reason, result, attempt, error_cause, detail, username, acctsessionid
  FROM radius_coa_attempts
 WHERE tenant_id = :t AND subscriber_id = :id
 ORDER BY created_at DESC
 LIMIT {COA_SHOWN}
"""
COA_PENDING_SQL = f"""
SELECT id, kind, reason, attempts, not_before, last_error, created_at, radacctid
  FROM radius_coa_queue
 WHERE tenant_id = :t AND subscriber_id = :id
 ORDER BY id DESC
 LIMIT {COA_SHOWN}
"""
# The subscriber's own events and those of its latest orders (submitted, cancelled, retried), with the
# acting user's email: both through the index on (tenant_id, entity, entity_id, occurred_at).
AUDIT_SQL = f"""
SELECT a.occurred_at, a.actor_kind, a.actor_id, u.email AS actor_email, a.entity, a.action, a.changes
  FROM audit_events a
  LEFT JOIN users u ON a.actor_kind = 'user' AND u.tenant_id = a.tenant_id AND u.id::text = a.actor_id
 WHERE a.tenant_id = :t
   AND ((a.entity = 'subscribers' AND a.entity_id = :sid)
        OR (a.entity = 'service_activations' AND a.entity_id = ANY(ARRAY(
              SELECT o.id::text FROM service_activations o WHERE o.tenant_id = :t AND o.subscriber_id = :id
               ORDER BY o.requested_at DESC LIMIT {ORDERS_SHOWN}))))
 ORDER BY a.occurred_at DESC
 LIMIT {AUDIT_SHOWN}
"""
PLANS_SQL = """
SELECT id, name, download_mbps, upload_mbps FROM bandwidth_profiles
 WHERE tenant_id = :t AND deleted_at IS NULL AND is_active ORDER BY name LIMIT 500
"""
POOLS_SQL = """
SELECT id, name, host(network_cidr) || '/' || masklen(network_cidr) AS cidr FROM ip_pools
 WHERE tenant_id = :t AND deleted_at IS NULL AND is_active AND pool_type IN ('dynamic', 'static')
   AND delegated_prefix_length IS NULL AND family(network_cidr) = 4
 ORDER BY name LIMIT 200
"""
DISCOVERED_ONUS_SQL = """
SELECT id, serial_number, pon_port FROM onus
 WHERE tenant_id = :t AND deleted_at IS NULL AND status IN ('discovered', 'auth_failed')
 ORDER BY serial_number LIMIT 200
"""
SECTORS_SQL = """
SELECT s.id, t.name || ' / ' || s.name AS name FROM wireless_sectors s
  JOIN wireless_towers t ON t.tenant_id = s.tenant_id AND t.id = s.tower_id
 WHERE s.tenant_id = :t AND s.deleted_at IS NULL ORDER BY 2 LIMIT 200
"""
PLANS = text(PLANS_SQL)


@dataclass
class Usage:
    period_start: dt.date
    period_octets: int
    monthly_cap_gb: int | None
    daily_cap_gb: int | None
    days: list[dict[str, Any]]  # day, upload, download (octets), total_gb
    periods: list[dict[str, Any]]  # period (first day), gb

    @property
    def period_gb(self) -> float:
        return self.period_octets / GB

    @property
    def period_percent(self) -> float | None:
        if not self.monthly_cap_gb:
            return None
        return 100.0 * self.period_gb / self.monthly_cap_gb

    def chart(self) -> dict[str, Any]:
        """The two uPlot series (daily and per billing period) with their caps, as JSON for the page."""
        return {
            "daily": {
                "x": [_epoch(d["day"]) for d in self.days],
                "gb": [round(d["total_gb"], 3) for d in self.days],
                "cap": self.daily_cap_gb,
            },
            "periods": {
                "x": [_epoch(p["period"]) for p in self.periods],
                "gb": [round(p["gb"], 3) for p in self.periods],
                "cap": self.monthly_cap_gb,
            },
        }


@dataclass
class Subscriber360:
    subscriber: dict[str, Any]
    sessions: list[dict[str, Any]]
    usage: Usage
    addresses: list[dict[str, Any]]
    onus: list[dict[str, Any]]
    cpes: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    coa_attempts: list[dict[str, Any]]
    coa_pending: list[dict[str, Any]]
    audit: list[dict[str, Any]]
    actors: dict[str, str] = field(default_factory=dict)  # user id -> email, for the audit trail
    # the order forms' choices: plans, pools, and the access an activation may name (ONUs, sectors)
    choices: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


def _epoch(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def _rows(session: Session, stmt: Any, **params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in session.execute(stmt, params).mappings()]


def subscriber_row(session: Session, tenant_id: str, subscriber_id: uuid.UUID) -> dict[str, Any]:
    """The subscriber with its plan and customer; ``NotFound`` for a missing, deleted or other tenant's one."""
    row = session.execute(SUBSCRIBER, {"t": tenant_id, "id": subscriber_id}).mappings().first()
    if row is None:
        raise NotFound("subscribers: no such record", table="subscribers")
    return dict(row)


def open_sessions(session: Session, tenant_id: str, subscriber_id: uuid.UUID) -> list[dict[str, Any]]:
    return _rows(session, SESSIONS, t=tenant_id, id=subscriber_id)


def usage(sub: dict[str, Any], rows: list[dict[str, Any]], *, today: dt.date) -> Usage:
    """Daily usage of the last ``USAGE_DAYS`` days and the totals of the last ``USAGE_PERIODS`` billing
    periods (the current one last), against the plan's daily and monthly caps, from the rows of
    ``USAGE_DAYS_SQL`` (with ``usage_window``'s bounds)."""
    period_start: dt.date = sub["period_start"]
    first_day = today - dt.timedelta(days=USAGE_DAYS - 1)
    days: list[dict[str, Any]] = []
    totals: dict[dt.date, int] = {}
    for r in sorted(rows, key=lambda r: r["day"]):
        up, down = int(r["input_octets"]), int(r["output_octets"])
        totals[r["period"]] = totals.get(r["period"], 0) + up + down
        if r["day"] >= first_day:
            days.append({"day": r["day"], "upload": up, "download": down, "total_gb": (up + down) / GB})
    periods = [{"period": p, "gb": octets / GB} for p, octets in sorted(totals.items())][-USAGE_PERIODS:]
    return Usage(
        period_start=period_start,
        period_octets=totals.get(period_start, 0),
        monthly_cap_gb=sub["monthly_data_cap_gb"],
        daily_cap_gb=sub["daily_data_cap_gb"],
        days=days,
        periods=periods,
    )


def usage_window(sub: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """The days ``usage`` needs: the daily chart's and the first billing period's shown."""
    since = min(today - dt.timedelta(days=USAGE_DAYS - 1), sub["period_start"] - dt.timedelta(days=31 * USAGE_PERIODS))
    return {"cycle": sub["billing_cycle_day"], "since": since, "until": today}


def onus(session: Session, tenant_id: str, subscriber_id: uuid.UUID, *, now: dt.datetime) -> list[dict[str, Any]]:
    """The subscriber's ONUs with their open alarms and the last ``OPTICS_HOURS`` hours of light levels
    (hourly rollups from the FTTH domain)."""
    out = _rows(session, ONUS, t=tenant_id, id=subscriber_id)
    for onu in out:
        onu["alarms"] = _rows(session, ONU_ALARMS, t=tenant_id, onu=onu["id"])
        history = optics.history(
            session, tenant_id, onu["id"], start=now - dt.timedelta(hours=OPTICS_HOURS), end=now, resolution="hourly"
        )
        onu["history"] = history
    return out


def cpes(session: Session, tenant_id: str, subscriber_id: uuid.UUID) -> list[dict[str, Any]]:
    """The subscriber's wireless CPEs: signal against the prediction and the plan's need, open alarms."""
    found = session.scalars(
        select(WirelessSubscriber)
        .where(
            WirelessSubscriber.tenant_id == tenant_id,
            WirelessSubscriber.subscriber_id == subscriber_id,
            WirelessSubscriber.deleted_at.is_(None),
        )
        .order_by(WirelessSubscriber.created_at)
    ).all()
    out = []
    for cpe in found:
        where = session.execute(CPE_SECTOR, {"t": tenant_id, "sector": cpe.sector_id}).mappings().first()
        out.append(
            {
                "id": cpe.id,
                "mac": cpe.cpe_mac,
                "model": cpe.cpe_model,
                "ip": cpe.cpe_ip,
                "status": cpe.status,
                "sector_name": where["sector_name"] if where else None,
                "tower_name": where["tower_name"] if where else None,
                "signal_dbm": cpe.signal_strength_dbm,
                "predicted_signal_dbm": _float(cpe.predicted_signal_dbm),
                "noise_dbm": cpe.noise_floor_dbm,
                "snr_db": cpe.snr_db,
                "predicted_snr_db": _float(cpe.predicted_snr_db),
                "plan_needs_snr_db": telemetry.plan_snr(session, tenant_id, cpe),
                "link_speed_mbps": cpe.link_speed_mbps,
                "distance_km": _float(cpe.distance_km),
                "last_seen": cpe.last_seen,
                "alarms": _rows(session, CPE_ALARMS, t=tenant_id, cpe=cpe.id),
            }
        )
    return out


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def plans(session: Session, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's active plans, for the change-plan form."""
    return _rows(session, PLANS, t=tenant_id)


# What each part of the page needs the role to be allowed to read (``ispops.api.permissions``).
SECTIONS: dict[str, tuple[str, str]] = {
    "sessions": ("radacct", "read"),
    "usage": ("subscriber_usage_daily", "read"),
    "addresses": ("ip_allocations", "read"),
    "onus": ("onus", "read"),
    "cpes": ("wireless_subscribers", "read"),
    "orders": ("orders", "read"),  # ispops.lifecycle.api.PERMISSION
    "coa": ("radius_coa_attempts", "read"),
    "audit": ("audit_events", "read"),
}
# part of the bundle -> (its subquery, the order of its rows, the section that shows it)
PARTS: dict[str, tuple[str, str, str]] = {
    "sessions": (SESSIONS_SQL, "x.acctstarttime DESC", "sessions"),
    "usage": (USAGE_DAYS_SQL, "x.day", "usage"),
    "addresses": (ADDRESSES_SQL, "x.allocated_at", "addresses"),
    "orders": (ORDERS_SQL, "x.requested_at DESC", "orders"),
    "coa_attempts": (COA_ATTEMPTS_SQL, "x.at DESC", "coa"),
    "coa_pending": (COA_PENDING_SQL, "x.id DESC", "coa"),
    "audit": (AUDIT_SQL, "x.occurred_at DESC", "audit"),
    "plans": (PLANS_SQL, "x.name", "choices"),
    "pools": (POOLS_SQL, "x.name", "choices"),
    "discovered_onus": (DISCOVERED_ONUS_SQL, "x.serial_number", "choices:ftth"),
    "sectors": (SECTORS_SQL, "x.name", "choices:wireless"),
}
EXISTS = {
    "onus": "EXISTS (SELECT 1 FROM onus WHERE tenant_id = :t AND subscriber_id = :id AND deleted_at IS NULL)",
    "cpes": "EXISTS (SELECT 1 FROM wireless_subscribers WHERE tenant_id = :t AND subscriber_id = :id "
    "AND deleted_at IS NULL)",
}
# JSON has no time types: these keys come back as ISO text and are read back as times and days.
TIME_KEYS = frozenset(
    {"acctstarttime", "acctupdatetime", "lease_end", "allocated_at", "requested_at", "started_at", "completed_at",
     "failed_at", "at", "not_before", "created_at", "occurred_at"}
)  # fmt: skip
DATE_KEYS = frozenset({"day", "period"})


def bundle_sql(wanted: frozenset[str]) -> str:
    """One SELECT of the wanted parts, each aggregated to a JSON array, and of the ONU/CPE presence."""
    columns = [
        f"(SELECT coalesce(json_agg(x ORDER BY {order}), '[]'::json) FROM ({sql}) AS x) AS {name}"
        for name, (sql, order, _) in PARTS.items()
        if name in wanted
    ]
    columns += [f"{sql} AS has_{name}" for name, sql in EXISTS.items() if name in wanted]
    return "SELECT " + ",\n       ".join(columns or ["1 AS nothing"])


def _typed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        for key, value in row.items():
            if isinstance(value, str):
                if key in TIME_KEYS:
                    row[key] = dt.datetime.fromisoformat(value)
                elif key in DATE_KEYS:
                    row[key] = dt.date.fromisoformat(value)
    return rows


def load(
    session: Session,
    tenant_id: str,
    subscriber_id: uuid.UUID,
    *,
    sections: frozenset[str] = frozenset(SECTIONS),
    choices: bool = False,
    now: dt.datetime | None = None,
) -> Subscriber360:
    """Everything the 360 page shows for one subscriber, in two round trips (the subscriber, then the
    bundle of its lists) plus the ONU's and CPE's details when it has any; parts not in ``sections`` are
    not read. ``choices``: also the order forms' choices."""
    now = now or dt.datetime.now(dt.UTC)
    sub = subscriber_row(session, tenant_id, subscriber_id)
    keys = set(sections)
    if choices:
        keys |= {"choices", f"choices:{sub['service_type']}"}
    wanted = frozenset(name for name, (_, _, section) in PARTS.items() if section in keys)
    wanted |= frozenset(name for name in EXISTS if name in sections)
    params = {"t": tenant_id, "id": subscriber_id, "sid": str(subscriber_id)} | usage_window(sub, now.date())
    got = dict(session.execute(text(bundle_sql(wanted)), params).mappings().one())
    part = {name: _typed(list(got.get(name) or [])) for name in PARTS}
    audit = part["audit"]
    view = Subscriber360(
        subscriber=sub,
        sessions=part["sessions"],
        usage=usage(sub, part["usage"], today=now.date()),
        addresses=part["addresses"],
        onus=onus(session, tenant_id, subscriber_id, now=now) if got.get("has_onus") else [],
        cpes=cpes(session, tenant_id, subscriber_id) if got.get("has_cpes") else [],
        orders=part["orders"],
        coa_attempts=part["coa_attempts"],
        coa_pending=part["coa_pending"],
        audit=audit,
        actors={a["actor_id"]: a["actor_email"] for a in audit if a.get("actor_email")},
    )
    if choices:
        view.choices = {
            "plans": [
                (str(r["id"]), f"{r['name']} ({r['download_mbps']}/{r['upload_mbps']} Mbps)") for r in part["plans"]
            ],
            "pools": [(str(r["id"]), f"{r['name']} ({r['cidr']})") for r in part["pools"]],
            "onus": [(str(r["id"]), f"{r['serial_number']} (PON {r['pon_port']})") for r in part["discovered_onus"]],
            "sectors": [(str(r["id"]), str(r["name"])) for r in part["sectors"]],
        }
    return view


def new_password(length: int = PASSWORD_LENGTH) -> str:
    """A random password (``secrets``): 16 characters of 55 give about 92 bits."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))
