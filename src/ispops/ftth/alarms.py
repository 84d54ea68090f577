"""FTTH alarms: ONU Rx against its OLT's optical class with hysteresis, link alarms, power events.

Optical (``evaluate_optical``, called by the ingest with each ONU's newest reading):

- thresholds per OLT, from its optical class (``ispops.ftth.settings``: the tenant's class settings):
  ``critical`` is the class's ONU Rx sensitivity (B+ -27 dBm), ``warning`` that plus ``warn_margin_db``
  (B+ -25), ``overload`` the class's ONU Rx overload (B+ -8). The margin, the hysteresis and the storm
  rule are the tenant's alarm settings (``ftth_settings.alarms``, ``GET/PUT /api/v1/ftth/settings/alarms``);
- ``rx_low`` is raised at warning when Rx <= warning, escalated to critical when Rx <= critical, brought back
  to warning only when Rx > critical + hysteresis, and cleared only when Rx > warning + hysteresis;
  ``rx_high`` is raised when Rx >= overload and cleared when Rx < overload - hysteresis. A reading that
  wobbles around a threshold therefore changes nothing.

Link (``reconcile_link_alarms``, run by the poller after it has set the ONUs' link states): from each ONU's
state (``onus.status`` offline, ``last_down_cause``):

- LOS, LOSi, LOFi: a ``los`` alarm on the ONU (critical: a fibre fault);
- dying gasp: the ONU lost power. When ``storm_min_onus`` or more ONUs under one splitter are down by
  dying gasp (within ``storm_window_seconds`` of each other), that is ONE ``power_event`` on the splitter,
  listing them, not N faults; a lone one is an ``info`` ``dying_gasp`` alarm on the ONU;
- an ONU back online clears its alarm; a power event clears when the last of its ONUs is back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from ispops.errors import NotFound
from ispops.events.outbox import emit
from ispops.ftth.settings import OltProfile, load_classes

FIBRE_CAUSES = ("los", "losi", "lofi")
Dbm = float


class AlarmSettings(BaseModel):
    """The tenant's alarm settings (``ftth_settings.alarms``); every field has a default. The class limits
    themselves (ONU Rx sensitivity and overload per optical class) are the class settings
    (``ispops.ftth.settings``, ``ftth_settings.classes``)."""

    model_config = ConfigDict(extra="forbid")

    warn_margin_db: float = Field(
        default=2.0, ge=0, le=10, description="warning at the class's Rx sensitivity + this many dB"
    )
    hysteresis_db: float = Field(
        default=1.0,
        ge=0,
        le=5,
        description="an alarm clears (or de-escalates) only this many dB back past its threshold",
    )
    storm_min_onus: int = Field(
        default=2, ge=2, le=256, description="this many dying gasps under one splitter are one power event"
    )
    storm_window_seconds: int = Field(
        default=300, ge=10, le=3600, description="how close together those dying gasps must fall"
    )


@dataclass(frozen=True)
class Thresholds:
    critical: Dbm
    warning: Dbm
    overload: Dbm
    hysteresis: Dbm


def thresholds_of(profile: OltProfile, settings: AlarmSettings) -> Thresholds:
    """An OLT's alarm thresholds: its class's ONU Rx sensitivity (critical), that plus the margin
    (warning), its class's overload."""
    sensitivity = profile.thresholds.onu_rx_sensitivity_dbm
    return Thresholds(
        critical=sensitivity,
        warning=sensitivity + settings.warn_margin_db,
        overload=profile.thresholds.onu_rx_overload_dbm,
        hysteresis=settings.hysteresis_db,
    )


def load_settings(session: Session, tenant_id: str) -> AlarmSettings:
    """The tenant's alarm settings (defaults where nothing is stored)."""
    stored = session.execute(
        text("select alarms from ftth_settings where tenant_id = :t"), {"t": tenant_id}
    ).scalar_one_or_none()
    return AlarmSettings.model_validate(stored or {})


def save_settings(session: Session, tenant_id: str, settings: AlarmSettings) -> AlarmSettings:
    """Store the tenant's alarm settings (the whole section)."""
    session.execute(
        text(
            "insert into ftth_settings (tenant_id, alarms) values (:t, cast(:a as jsonb)) "
            "on conflict (tenant_id) do update set alarms = excluded.alarms"
        ),
        {"t": tenant_id, "a": settings.model_dump_json(exclude_defaults=False)},
    )
    return settings


def olt_thresholds(
    session: Session, tenant_id: str, settings: AlarmSettings
) -> tuple[dict[uuid.UUID, Thresholds], Thresholds]:
    """Thresholds per OLT of the tenant (its class, or its technology's default class), and GPON's default."""
    classes = load_classes(session, tenant_id)
    rows = session.execute(
        text("select id, technology, optical_class from olts where tenant_id = :t"), {"t": tenant_id}
    ).all()
    by_olt = {r.id: thresholds_of(classes.profile(r.technology, r.optical_class), settings) for r in rows}
    return by_olt, thresholds_of(classes.profile("gpon"), settings)


# ---------------------------------------------------------------------------------------------------------
# Optical alarms


@dataclass(frozen=True)
class LatestRx:
    """An ONU's newest Rx and where the ONU is (from the ingest's update of the ONU row)."""

    onu_id: uuid.UUID
    olt_id: uuid.UUID
    pon_port: int | None
    splitter_id: uuid.UUID | None
    rx_dbm: Dbm
    measured_at: datetime


@dataclass
class AlarmChanges:
    raised: int = 0
    cleared: int = 0
    changed: int = 0  # severity moved (warning <-> critical)
    ids: list[uuid.UUID] = field(default_factory=list)


def low_level(rx: Dbm, current: str | None, t: Thresholds) -> str | None:
    """The ``rx_low`` severity for ``rx`` given the open one (``current``), with hysteresis."""
    if rx <= t.critical or (current == "critical" and rx <= t.critical + t.hysteresis):
        return "critical"
    if rx <= t.warning or (current is not None and rx <= t.warning + t.hysteresis):
        return "warning"
    return None


def high_level(rx: Dbm, current: str | None, t: Thresholds) -> str | None:
    """The ``rx_high`` (overload) severity for ``rx`` given the open one, with hysteresis."""
    if rx >= t.overload or (current is not None and rx >= t.overload - t.hysteresis):
        return "critical"
    return None


RAISE = text(
    "insert into ftth_alarms (tenant_id, kind, severity, olt_id, pon_port, onu_id, splitter_id, value_dbm, "
    "threshold_dbm, raised_at) values (:t, :kind, :severity, :olt, :pon, :onu, :splitter, :value, :threshold, :at) "
    "returning id"
)
UPDATE = text(
    "update ftth_alarms set severity = :severity, value_dbm = :value, threshold_dbm = :threshold "
    "where tenant_id = :t and id = :id"
)
CLEAR = text(
    "update ftth_alarms set cleared_at = :at, value_dbm = :value where tenant_id = :t and id = :id "
    "and cleared_at is null"
)


@dataclass
class OpticalContext:
    """What the optical evaluation needs, read once per ingest: thresholds per OLT and the open alarms."""

    by_olt: dict[uuid.UUID, Thresholds]
    default: Thresholds
    open_alarms: dict[tuple[uuid.UUID, str], tuple[uuid.UUID, str]]

    @property
    def quiet_band(self) -> tuple[Dbm, Dbm]:
        """Rx strictly between these, on an ONU with no open alarm, cannot change anything."""
        every = [self.default, *self.by_olt.values()]
        return max(t.warning + t.hysteresis for t in every), min(t.overload - t.hysteresis for t in every)

    @property
    def alarmed_onus(self) -> list[uuid.UUID]:
        return sorted({onu for onu, _ in self.open_alarms})


def optical_context(session: Session, tenant_id: str, settings: AlarmSettings) -> OpticalContext:
    rows = session.execute(
        text(
            "select id, onu_id, kind, severity from ftth_alarms where tenant_id = :t and cleared_at is null "
            "and kind in ('rx_low', 'rx_high') and onu_id is not null"
        ),
        {"t": tenant_id},
    ).all()
    by_olt, default = olt_thresholds(session, tenant_id, settings)
    return OpticalContext(
        by_olt=by_olt,
        default=default,
        open_alarms={(r.onu_id, r.kind): (r.id, r.severity) for r in rows},
    )


def evaluate_optical(session: Session, tenant_id: str, latest: Sequence[LatestRx], ctx: OpticalContext) -> AlarmChanges:
    """Raise, move and clear ``rx_low``/``rx_high`` for the ONUs in ``latest`` (each ONU's newest Rx)."""
    changes = AlarmChanges()
    for reading in latest:
        t = ctx.by_olt.get(reading.olt_id, ctx.default)
        for kind, level in (("rx_low", low_level), ("rx_high", high_level)):
            current = ctx.open_alarms.get((reading.onu_id, kind))
            severity = level(reading.rx_dbm, current[1] if current else None, t)
            low_limit = t.critical if severity == "critical" else t.warning
            limit = t.overload if kind == "rx_high" else low_limit
            _apply(session, tenant_id, changes, reading, kind, current, severity, limit)
    return changes


def _apply(
    session: Session,
    tenant_id: str,
    changes: AlarmChanges,
    reading: LatestRx,
    kind: str,
    current: tuple[uuid.UUID, str] | None,
    severity: str | None,
    limit: Dbm,
) -> None:
    value = round(reading.rx_dbm, 2)
    if current is None and severity is not None:
        alarm_id = session.execute(
            RAISE,
            {
                "t": tenant_id,
                "kind": kind,
                "severity": severity,
                "olt": reading.olt_id,
                "pon": reading.pon_port,
                "onu": reading.onu_id,
                "splitter": reading.splitter_id,
                "value": value,
                "threshold": limit,
                "at": reading.measured_at,
            },
        ).scalar_one()
        changes.raised += 1
        changes.ids.append(alarm_id)
        onu, olt = reading.onu_id, reading.olt_id
        _event(session, "onu.alarm_raised", f"onus/{onu}", alarm_id=alarm_id, kind=kind, severity=severity,
               onu_id=onu, olt_id=olt, value_dbm=value, threshold_dbm=limit)  # fmt: skip
    elif current is not None and severity is None:
        session.execute(CLEAR, {"t": tenant_id, "id": current[0], "at": reading.measured_at, "value": value})
        changes.cleared += 1
        onu = reading.onu_id
        _event(session, "onu.alarm_cleared", f"onus/{onu}", alarm_id=current[0], kind=kind, onu_id=onu, value_dbm=value)
    elif current is not None and severity != current[1]:
        session.execute(
            UPDATE, {"t": tenant_id, "id": current[0], "severity": severity, "value": value, "threshold": limit}
        )
        changes.changed += 1


# ---------------------------------------------------------------------------------------------------------
# Link alarms and power events


@dataclass
class LinkChanges:
    los_raised: int = 0
    dying_gasp_raised: int = 0
    power_events_raised: int = 0
    power_events_grown: int = 0
    cleared: int = 0


def reconcile_link_alarms(session: Session, tenant_id: str, *, now: datetime | None = None) -> LinkChanges:
    """Bring the tenant's ``los``/``dying_gasp``/``power_event`` alarms in line with its ONUs' link state.

    Idempotent: run it after every poll (or state change); only differences are written.
    """
    settings = load_settings(session, tenant_id)
    changes = LinkChanges()
    at = now or session.execute(text("select now()")).scalar_one()
    down = session.execute(
        text(
            "select id, olt_id, pon_port, splitter_id, last_down_cause, coalesce(last_down_at, :at) as down_at "
            "from onus where tenant_id = :t and deleted_at is null and status = 'offline'"
        ),
        {"t": tenant_id, "at": at},
    ).all()
    down_by_id = {r.id: r for r in down}
    open_rows = session.execute(
        text(
            "select id, kind, onu_id, splitter_id, members, raised_at from ftth_alarms where tenant_id = :t "
            "and cleared_at is null and kind in ('los', 'dying_gasp', 'power_event')"
        ),
        {"t": tenant_id},
    ).all()
    onu_alarm: dict[uuid.UUID, Any] = {}
    events: dict[uuid.UUID, Any] = {}
    for row in open_rows:
        if row.kind == "power_event":
            events[row.splitter_id] = row
        else:
            onu_alarm[row.onu_id] = row

    # 1. Clear what is no longer true: an ONU back up, or down for another reason now.
    for onu_id, row in list(onu_alarm.items()):
        now_down = down_by_id.get(onu_id)
        if now_down is None or _link_kind(now_down.last_down_cause) != row.kind:
            _clear(session, tenant_id, row.id, at)
            changes.cleared += 1
            del onu_alarm[onu_id]
    for event_splitter, row in list(events.items()):
        still = [m for m in row.members if uuid.UUID(m) in down_by_id]
        if not still:
            _clear(session, tenant_id, row.id, at)
            changes.cleared += 1
            del events[event_splitter]

    # 2. Fibre faults: one alarm per ONU.
    gasps: dict[uuid.UUID | None, list[Any]] = {}
    for r in down:
        kind = _link_kind(r.last_down_cause)
        if kind == "los" and r.id not in onu_alarm:
            _raise_onu(session, tenant_id, r, "los", "critical", at)
            changes.los_raised += 1
        elif kind == "dying_gasp":
            gasps.setdefault(r.splitter_id, []).append(r)

    # 3. Dying gasps: grouped under their splitter.
    window = timedelta(seconds=settings.storm_window_seconds)
    for splitter_id, group in gasps.items():
        event = events.get(splitter_id) if splitter_id is not None else None
        if event is not None:
            members = set(event.members)
            group = [r for r in group if str(r.id) not in members]
            fresh = [r for r in group if abs(r.down_at - event.raised_at) <= window]
            if fresh:
                _grow_event(session, tenant_id, event.id, members | {str(r.id) for r in fresh}, onu_alarm, fresh, at)
                changes.power_events_grown += 1
                group = [r for r in group if r not in fresh]
        elif splitter_id is not None:
            storm = _storm(group, window)
            if len(storm) >= settings.storm_min_onus:
                _raise_event(session, tenant_id, splitter_id, storm, onu_alarm, at)
                changes.power_events_raised += 1
                group = [r for r in group if r not in storm]
        for r in group:
            if r.id not in onu_alarm:
                _raise_onu(session, tenant_id, r, "dying_gasp", "info", at)
                changes.dying_gasp_raised += 1
    return changes


def _link_kind(cause: str | None) -> str | None:
    if cause in FIBRE_CAUSES:
        return "los"
    if cause == "dying_gasp":
        return "dying_gasp"
    return None


def _storm(group: list[Any], window: timedelta) -> list[Any]:
    """The largest set of ``group`` that went down within ``window`` of each other."""
    ordered = sorted(group, key=lambda r: r.down_at)
    best: list[Any] = []
    start = 0
    for end in range(len(ordered)):
        while ordered[end].down_at - ordered[start].down_at > window:
            start += 1
        if end - start + 1 > len(best):
            best = ordered[start : end + 1]
    return best


def _raise_onu(session: Session, tenant_id: str, r: Any, kind: str, severity: str, at: datetime) -> None:
    alarm_id = session.execute(
        text(
            "insert into ftth_alarms (tenant_id, kind, severity, olt_id, pon_port, onu_id, splitter_id, cause, "
            "raised_at, members) values (:t, :kind, :severity, :olt, :pon, :onu, :splitter, :cause, :at, "
            "cast(:members as jsonb)) returning id"
        ),
        {
            "t": tenant_id,
            "kind": kind,
            "severity": severity,
            "olt": r.olt_id,
            "pon": r.pon_port,
            "onu": r.id,
            "splitter": r.splitter_id,
            "cause": r.last_down_cause,
            "at": r.down_at if r.down_at <= at else at,
            "members": json.dumps([str(r.id)]),
        },
    ).scalar_one()
    _event(session, "onu.alarm_raised", f"onus/{r.id}", alarm_id=alarm_id, kind=kind, severity=severity,
           onu_id=r.id, olt_id=r.olt_id, cause=r.last_down_cause)  # fmt: skip


def _raise_event(
    session: Session,
    tenant_id: str,
    splitter_id: uuid.UUID,
    storm: list[Any],
    onu_alarm: dict[uuid.UUID, Any],
    at: datetime,
) -> None:
    """One power event for the storm; the members' own dying-gasp alarms fold into it."""
    _fold(session, tenant_id, [r.id for r in storm], onu_alarm, at)
    first = storm[0]
    alarm_id = session.execute(
        text(
            "insert into ftth_alarms (tenant_id, kind, severity, olt_id, pon_port, splitter_id, cause, raised_at, "
            "onu_count, members, detail) values (:t, 'power_event', 'warning', :olt, :pon, :splitter, "
            "'dying_gasp', :at, :n, cast(:members as jsonb), :detail) returning id"
        ),
        {
            "t": tenant_id,
            "olt": first.olt_id,
            "pon": first.pon_port,
            "splitter": splitter_id,
            "at": min(r.down_at for r in storm),
            "n": len(storm),
            "members": json.dumps(sorted(str(r.id) for r in storm)),
            "detail": f"{len(storm)} ONUs under one splitter sent dying gasp: a power cut, not fibre faults",
        },
    ).scalar_one()
    _event(session, "onu.alarm_raised", f"splitters/{splitter_id}", alarm_id=alarm_id, kind="power_event",
           severity="warning", splitter_id=splitter_id, olt_id=first.olt_id,
           onu_ids=sorted(str(r.id) for r in storm))  # fmt: skip


def _grow_event(
    session: Session,
    tenant_id: str,
    event_id: uuid.UUID,
    members: set[str],
    onu_alarm: dict[uuid.UUID, Any],
    fresh: list[Any],
    at: datetime,
) -> None:
    _fold(session, tenant_id, [r.id for r in fresh], onu_alarm, at)
    session.execute(
        text(
            "update ftth_alarms set members = cast(:members as jsonb), onu_count = :n, "
            "detail = :n || ' ONUs under one splitter sent dying gasp: a power cut, not fibre faults' "
            "where tenant_id = :t and id = :id"
        ),
        {"t": tenant_id, "id": event_id, "members": json.dumps(sorted(members)), "n": len(members)},
    )


def _fold(
    session: Session, tenant_id: str, onu_ids: Iterable[uuid.UUID], onu_alarm: dict[uuid.UUID, Any], at: datetime
) -> None:
    for onu_id in onu_ids:
        row = onu_alarm.pop(onu_id, None)
        if row is not None and row.kind == "dying_gasp":
            _clear(session, tenant_id, row.id, at, detail="part of a power event on its splitter")


def _clear(session: Session, tenant_id: str, alarm_id: uuid.UUID, at: datetime, detail: str | None = None) -> None:
    row = session.execute(
        text(
            "update ftth_alarms set cleared_at = :at, detail = coalesce(:detail, detail) "
            "where tenant_id = :t and id = :id and cleared_at is null returning kind, onu_id, splitter_id"
        ),
        {"t": tenant_id, "id": alarm_id, "at": at, "detail": detail},
    ).one_or_none()
    if row is not None:
        subject = f"onus/{row.onu_id}" if row.onu_id else f"splitters/{row.splitter_id}"
        _event(session, "onu.alarm_cleared", subject, alarm_id=alarm_id, kind=row.kind, onu_id=row.onu_id,
               splitter_id=row.splitter_id)  # fmt: skip


def _event(session: Session, event_type: str, subject: str, **payload: Any) -> None:
    """An ``onu.alarm_raised`` / ``onu.alarm_cleared`` domain event, in the alarm's transaction (docs/events.md)."""
    emit(session, event_type=event_type, subject=subject, payload=payload)


# ---------------------------------------------------------------------------------------------------------
# Listing


AlarmState = Literal["open", "cleared", "all"]
ALARM_COLUMNS = (
    "id, kind, severity, olt_id, pon_port, onu_id, splitter_id, onu_count, members, value_dbm, threshold_dbm, "
    "cause, raised_at, cleared_at, detail"
)


def _require(session: Session, tenant_id: str, table: str, key: uuid.UUID | None, field: str) -> None:
    if key is None:
        return
    found = session.execute(
        text(f"select 1 from {table} where tenant_id = :t and id = :id"),
        {"t": tenant_id, "id": key},
    ).first()
    if found is None:
        raise NotFound(f"{table}: no such {table[:-1]} {key}", table=table, field=field)


def list_alarms(
    session: Session,
    tenant_id: str,
    *,
    olt_id: uuid.UUID | None = None,
    pon_port: int | None = None,
    onu_id: uuid.UUID | None = None,
    splitter_id: uuid.UUID | None = None,
    kind: str | None = None,
    state: AlarmState = "open",
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Alarms of an OLT, one of its PON ports, an ONU or a splitter (newest first), and how many match.
    An ONU's list includes the power events it is a member of. A filter naming another tenant's (or no)
    OLT, ONU or splitter is a NotFound."""
    _require(session, tenant_id, "olts", olt_id, "olt_id")
    _require(session, tenant_id, "onus", onu_id, "onu_id")
    _require(session, tenant_id, "splitters", splitter_id, "splitter_id")
    where = ["tenant_id = :t"]
    params: dict[str, Any] = {"t": tenant_id, "limit": limit, "offset": offset}
    for column, value in (("olt_id", olt_id), ("pon_port", pon_port), ("splitter_id", splitter_id), ("kind", kind)):
        if value is not None:
            where.append(f"{column} = :{column}")
            params[column] = value
    if onu_id is not None:
        where.append("(onu_id = :onu_id or members @> jsonb_build_array(cast(:onu_id as text)))")
        params["onu_id"] = onu_id
    if state == "open":
        where.append("cleared_at is null")
    elif state == "cleared":
        where.append("cleared_at is not null")
    condition = " and ".join(where)
    total = session.execute(text(f"select count(*) from ftth_alarms where {condition}"), params).scalar_one()
    rows = session.execute(
        text(
            f"select {ALARM_COLUMNS} from ftth_alarms where {condition} "
            "order by raised_at desc, id limit :limit offset :offset"
        ),
        params,
    ).mappings()
    return [dict(r) for r in rows], int(total)


def summary(session: Session, tenant_id: str, *, olt_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    """Open alarms counted per OLT and PON port, by kind and severity (a power event counts once)."""
    _require(session, tenant_id, "olts", olt_id, "olt_id")
    rows = session.execute(
        text(
            "select olt_id, pon_port, kind, severity, count(*) as alarms, sum(onu_count) as onus "
            "from ftth_alarms where tenant_id = :t and cleared_at is null "
            "and (cast(:olt as uuid) is null or olt_id = cast(:olt as uuid)) "
            "group by olt_id, pon_port, kind, severity order by olt_id, pon_port, kind, severity"
        ),
        {"t": tenant_id, "olt": olt_id},
    ).mappings()
    return [dict(r) for r in rows]
