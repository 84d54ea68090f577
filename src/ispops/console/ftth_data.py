"""What the console's FTTH pages show, read through the FTTH domain's services (docs/ftth.md).

Plain functions over the request's synchronous ``Session`` (called through ``session.run_sync``), tenant
filtered like every service; another tenant's OLT, PON port or ONU is a ``NotFound`` (the console's 404
page). Nothing here writes, except :func:`authorise`, which is the API's authorise route step by step:
``service.reserve_authorisation``, then ``service.on_driver_action`` (the driver job, or completion by hand
for an OLT without a driver), then the audit event — all in the caller's unit of work.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ispops.errors import NotFound
from ispops.ftth import alarms, budget, optics, service, trace
from ispops.ftth.schemas import AuthoriseDiscovered
from ispops.models import Device, Olt, Onu

# Light health of an ONU, from its newest Rx against its OLT's class thresholds (the optical alarms'
# thresholds, without their hysteresis): what the lists and the map colour by.
HEALTH_COLOURS = {
    "ok": "#2e7d32",
    "warning": "#f9a825",
    "critical": "#c62828",
    "overload": "#6a1b9a",
    "offline": "#455a64",
    "unknown": "#9e9e9e",
}
ON_OLT = ("authorised", "online", "offline")


def health_of(status: str, rx: float | None, t: alarms.Thresholds | None) -> str:
    """``offline`` (configured and down), else by the Rx: ``overload`` at or above the class's overload,
    ``critical`` at or below its sensitivity, ``warning`` within the warning margin, ``ok``; ``unknown``
    without a reading (or an ONU not configured)."""
    if status == "offline":
        return "offline"
    if rx is None or t is None or status not in ON_OLT:
        return "unknown"
    if rx >= t.overload:
        return "overload"
    if rx <= t.critical:
        return "critical"
    if rx <= t.warning:
        return "warning"
    return "ok"


def thresholds(session: Session, tenant_id: str) -> Callable[[uuid.UUID], alarms.Thresholds]:
    """The alarm thresholds of each of the tenant's OLTs (its class, or its technology's default)."""
    by_olt, default = alarms.olt_thresholds(session, tenant_id, alarms.load_settings(session, tenant_id))
    return lambda olt_id: by_olt.get(olt_id, default)


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


# --- OLTs ------------------------------------------------------------------------------------------------

OLTS = text(
    """
SELECT o.id, d.name, d.vendor, d.model, d.operational_status, d.management_ip::text AS management_ip,
       o.technology, o.optical_class, o.driver, o.active_onus, o.active_pon_ports, o.max_pon_ports,
       count(u.id) FILTER (WHERE u.status IN ('authorised', 'online', 'offline')) AS configured,
       count(u.id) FILTER (WHERE u.status = 'discovered') AS unconfigured,
       count(u.id) FILTER (WHERE u.status = 'offline') AS offline
  FROM olts o
  JOIN devices d ON d.tenant_id = o.tenant_id AND d.id = o.device_id
  LEFT JOIN onus u ON u.tenant_id = o.tenant_id AND u.olt_id = o.id AND u.deleted_at IS NULL
 WHERE o.tenant_id = :t AND o.deleted_at IS NULL
 GROUP BY o.id, d.id
 ORDER BY d.name, o.id
"""
)


def olt_list(session: Session, tenant_id: str) -> list[dict[str, Any]]:
    """Every live OLT with its device, counters and how many ONUs are configured, unconfigured, offline."""
    return [dict(r) for r in session.execute(OLTS, {"t": tenant_id}).mappings()]


def olt_detail(session: Session, tenant_id: str, olt_id: uuid.UUID) -> dict[str, Any]:
    """The OLT, its device, its PON ports with their use, and its unconfigured (auto-found) ONUs."""
    olt = service.get_olt(session, tenant_id, olt_id, field=None)
    device = session.scalars(select(Device).where(Device.tenant_id == tenant_id, Device.id == olt.device_id)).one()
    ports = service.pon_port_usage(session, tenant_id, olt.id)
    found = service.unconfigured(session, tenant_id, olt.id)
    names = {p["id"]: p["name"] for p in ports}
    return {
        "olt": olt,
        "device": device,
        "ports": ports,
        "unconfigured": [
            {
                "id": o.id,
                "serial_number": o.serial_number,
                "vendor": o.vendor,
                "model": o.model,
                "loid": o.loid,
                "pon_port_id": o.pon_port_id,
                "port_name": names.get(o.pon_port_id),
                "last_seen": o.last_seen,
            }
            for o in found
        ],
    }


# --- PON ports -------------------------------------------------------------------------------------------

PORT_ONUS = text(
    """
SELECT u.id, u.serial_number, u.onu_id, u.status, u.rx_power_dbm::float8 AS rx, u.tx_power_dbm::float8 AS tx,
       u.distance_meters, u.last_down_cause, u.last_seen, u.splitter_id, u.splitter_port, u.olt_id,
       s.subscriber_number, s.id AS subscriber_id
  FROM onus u
  LEFT JOIN subscribers s ON s.tenant_id = u.tenant_id AND s.id = u.subscriber_id
 WHERE u.tenant_id = :t AND u.pon_port_id = :pon AND u.deleted_at IS NULL AND u.status <> 'retired'
 ORDER BY u.onu_id NULLS LAST, u.serial_number
"""
)


def port_onus(session: Session, tenant_id: str, pon_port_id: uuid.UUID) -> list[dict[str, Any]]:
    """The ONUs on a PON port (by ONU id), each with its light health."""
    limits = thresholds(session, tenant_id)
    out = []
    for r in session.execute(PORT_ONUS, {"t": tenant_id, "pon": pon_port_id}).mappings():
        row = dict(r)
        row["health"] = health_of(row["status"], row["rx"], limits(row["olt_id"]))
        out.append(row)
    return out


def splitter_tree(traced: dict[str, Any]) -> list[dict[str, Any]]:
    """The PON's splitters as a tree (``children``: splitters and ONUs by output port), roots first, from
    ``trace.trace_pon``."""
    nodes = {s["id"]: {**s, "kind": "splitter", "children": []} for s in traced["splitters"]}
    roots: list[dict[str, Any]] = []
    for s in traced["splitters"]:
        parent = nodes.get(s["parent_splitter_id"] or "")
        (parent["children"] if parent else roots).append(nodes[s["id"]])
    for o in traced["onus"]:
        holder = nodes.get(o["splitter_id"] or "")
        if holder is not None:
            holder["children"].append({**o, "kind": "onu", "port": o["splitter_port"]})
    for node in nodes.values():
        node["children"].sort(
            key=lambda c: (c.get("parent_output_port") if c["kind"] == "splitter" else c.get("port")) or 0
        )
    return roots


def pon_detail(session: Session, tenant_id: str, pon_port_id: uuid.UUID) -> dict[str, Any]:
    """A PON port: its OLT, its ONUs with their light, its splitter tree, and the trace and loss-budget
    report (every traced ONU's budget, the suspects, which ONUs and splitters they implicate)."""
    port = trace.pon_port(session, tenant_id, pon_port_id)  # NotFound for another tenant's port
    traced = trace.trace_pon(session, tenant_id, pon_port_id)
    report = budget.pon_report(session, tenant_id, pon_port_id)
    names = {s["id"]: s["name"] for s in traced["splitters"]}
    serials = {o["id"]: o["serial_number"] for o in traced["onus"]}
    suspect_onus: set[str] = set()
    suspect_splitters: set[str] = set()
    for s in report["suspects"]:
        suspect_onus.update(s["onu_ids"])
        if s["kind"] == "upstream_of_splitter":
            suspect_splitters.add(s["splitter_id"])
    hops = {s["id"]: s["hop"] for s in traced["splitters"]} | {o["id"]: o["hop"] for o in traced["onus"]}
    return {
        "port": port,
        "onus": port_onus(session, tenant_id, pon_port_id),
        "tree": splitter_tree(traced),
        "splitter_names": names,
        "serials": serials,
        "hops": hops,
        "report": report,
        "suspect_onus": suspect_onus,
        "suspect_splitters": suspect_splitters,
    }


# --- ONUs ------------------------------------------------------------------------------------------------


def onu_detail(session: Session, tenant_id: str, onu_id: uuid.UUID) -> dict[str, Any]:
    """An ONU: its record, OLT and port, light health, trace and loss budget."""
    onu = service.get_onu(session, tenant_id, onu_id)
    olt = session.scalars(select(Olt).where(Olt.tenant_id == tenant_id, Olt.id == onu.olt_id)).one()
    device = session.scalars(select(Device).where(Device.tenant_id == tenant_id, Device.id == olt.device_id)).one()
    port = trace.pon_port(session, tenant_id, onu.pon_port_id)
    limits = thresholds(session, tenant_id)(olt.id)
    return {
        "onu": onu,
        "olt": olt,
        "device": device,
        "port": port,
        "health": health_of(onu.status, _f(onu.rx_power_dbm), limits),
        "thresholds": limits,
        "trace": trace.trace_onu(session, tenant_id, onu.id),
        "budget": budget.onu_budget(session, tenant_id, onu.id),
    }


SERIES = ("rx_avg_dbm", "rx_min_dbm", "rx_max_dbm", "olt_rx_avg_dbm")


def optics_series(
    session: Session, tenant_id: str, onu_id: uuid.UUID, *, days: int = 7, now: dt.datetime | None = None
) -> dict[str, Any]:
    """An ONU's optical history for the chart, in uPlot's column layout: ``x`` (Unix seconds) and one list
    per series. From the hourly rollups over ``days``; when none are closed yet, the raw readings (Rx as
    every series' value). 404 for another tenant's ONU."""
    end = now or dt.datetime.now(dt.UTC)
    start = end - dt.timedelta(days=days)
    rows = optics.history(session, tenant_id, onu_id, start=start, end=end, resolution="hourly")
    resolution = "hourly"
    if not rows:
        resolution = "raw"
        raw = optics.history(session, tenant_id, onu_id, start=start, end=end, resolution="raw")
        rows = [
            {
                "at": r["at"],
                "rx_avg_dbm": r["rx_dbm"],
                "rx_min_dbm": r["rx_dbm"],
                "rx_max_dbm": r["rx_dbm"],
                "olt_rx_avg_dbm": r["olt_rx_dbm"],
            }
            for r in raw
        ]
    return {
        "resolution": resolution,
        "x": [int(r["at"].timestamp()) for r in rows],
        **{name: [_f(r[name]) for r in rows] for name in SERIES},
    }


@dataclass(frozen=True)
class Authorised:
    onu: Onu
    provisioning: str  # "job" or "manual"
    job_id: uuid.UUID | None


def authorise(
    session: Session, tenant_id: str, onu_id: uuid.UUID, body: AuthoriseDiscovered
) -> tuple[Authorised, dict[str, Any]]:
    """Authorise a discovered ONU exactly as ``POST /api/v1/onus/{id}/authorise`` does: reserve the lowest
    free id (``service.reserve_authorisation``), then the driver hook (a job, or done by hand at once for an
    OLT without a driver). Returns the outcome and the audit ``changes`` (the caller adds the event)."""
    onu = service.reserve_authorisation(
        session,
        tenant_id,
        onu_id,
        olt_id=body.olt_id,
        serial_number=body.serial_number,
        auth_method=body.auth_method,
        loid=body.loid,
        splitter_id=body.splitter_id,
        splitter_port=body.splitter_port,
        **body.address(),
        **body.config(),
    )
    job_id = service.on_driver_action(session, tenant_id, service.DriverAction("authorise", onu))
    how = "manual" if job_id is None else "job"
    session.refresh(onu)
    changes = {"action": "authorise", **body.model_dump(mode="json", exclude_none=True), "provisioning": how}
    return Authorised(onu, how, job_id), changes


def require_onu(session: Session, tenant_id: str, onu_id: uuid.UUID) -> Onu:
    """The tenant's live ONU, or NotFound."""
    onu = session.scalar(select(Onu).where(Onu.tenant_id == tenant_id, Onu.id == onu_id, Onu.deleted_at.is_(None)))
    if onu is None:
        raise NotFound("onus: no such record", table="onus")
    return onu
