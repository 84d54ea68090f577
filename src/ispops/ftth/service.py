"""ONUs and their OLT PON ports: the lifecycle, ONU ids without duplicates, link state (docs/ftth.md).

Plain functions over the caller's ``Session`` (docs/architecture.md, "One kind of service"): keyword
arguments after the tenant and the ONU, ``flush`` and never ``commit``; the request or job owns the
transaction. Every query also filters ``tenant_id``; another tenant's ONU, OLT, port or splitter is
not found (404 for the ONU a path names, 422 naming the field for a reference in a body).

The lifecycle (``onus.status``)::

    discovered ──reserve_authorisation──▶ authorising ──complete_authorisation──▶ authorised
        ▲                                    │ fail_authorisation                   │ set_link_state
        │                                    ▼                                      ▼
        │                               auth_failed (keeps its id: retry is safe)  online ⇄ offline
        │                                                                           │ (last_down_cause)
        └──complete_deauthorisation── deauthorising ◀──begin_deauthorisation────────┘
    discovered / auth_failed ──retire──▶ retired

``replace`` (new serial, same configuration) and ``move`` (another PON port, the lowest free id there) put
the ONU back to ``authorising``: the OLT must be told, as for a first authorisation.

Who calls what. The routes of ``ftth/api.py`` (``POST /api/v1/onus/{id}/authorise``, ``…/deauthorise``,
``…/reboot``, ``…/replace``, ``…/move``, ``…/retire``) change the records here and then call
:data:`on_driver_action` (the hook). For an OLT without a driver (provisioned by hand) the action completes
at once in the same transaction (:func:`complete_by_hand`). The provisioning part (``ftth/provision_api.py``,
``ftth/drivers``) replaces that hook with one that, for an OLT with a driver, defers the driver job in the
same transaction (the ONU stays ``authorising`` / ``deauthorising`` until the job ends); the job
calls :func:`complete_authorisation` / :func:`fail_authorisation` (or the deauthorisation pair) in its own
transaction. Optical ingest calls :func:`set_link_state` / :func:`set_link_states`; OLT auto-find calls
:func:`record_discovered`.

ONU ids. :func:`reserve_authorisation` and :func:`move` lock the PON port's row (``FOR UPDATE``) and take
the lowest id no live ONU on that port holds; concurrent authorisations on one port therefore queue on that
lock and each sees the ids the previous ones took. The unique index ``uq_onus__pon_port_id__onu_id``
(live rows with an id) is the guarantee underneath: two live ONUs with one (port, id) cannot be stored,
whatever the path. ``olts.active_onus`` (online ONUs) and ``olts.active_pon_ports`` are counters kept by
triggers in the same transaction (``ispops db check`` recomputes them).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from ispops.errors import Conflict, ValidationFailed
from ispops.ftth import lookup

# Re-exported: the provisioning jobs and routes load ONUs and OLTs through the service module.
from ispops.ftth.lookup import get_olt as get_olt
from ispops.ftth.lookup import get_onu as get_onu
from ispops.ftth.lookup import pon_port as pon_port
from ispops.ftth.lookup import pon_port_usage as pon_port_usage
from ispops.models import OltPonPort, Onu
from ispops.models.ftth import OnuDownCause, OnuStatus

S = OnuStatus
# A driver job is running: nothing else may change the ONU until it ends.
BUSY = frozenset({S.AUTHORISING, S.DEAUTHORISING})
# Configured on the OLT.
ON_OLT = frozenset({S.AUTHORISED, S.ONLINE, S.OFFLINE})

# The configuration an authorisation sets (and replace keeps).
CONFIG_FIELDS = (
    "onu_type",
    "mode",
    "vlan_id",
    "service_port",
    "line_profile",
    "service_profile",
    "speed_profile",
    "zone",
    "subscriber_id",
    "vendor",
    "model",
)


@dataclass(frozen=True)
class DriverAction:
    """What the OLT must be told after a change here: ``authorise``, ``deauthorise``, ``reboot``,
    ``replace`` or ``move`` of ``onu`` (``previous``: the port and id it had, for deauthorise and move)."""

    action: str
    onu: Onu
    previous: tuple[uuid.UUID, int | None] | None = None


def complete_by_hand(session: Session, tenant_id: str, action: DriverAction) -> Onu:
    """An OLT without a driver (``olts.driver`` NULL) is provisioned by hand: the engineer has done (or does)
    the work on the OLT, so the action completes at once, in the caller's transaction. ``authorise``,
    ``replace`` and ``move`` end ``authorised``; ``deauthorise`` ends ``discovered`` (its id freed);
    ``reboot`` is only recorded (:func:`request_reboot` already did)."""
    if action.action in ("authorise", "replace", "move"):
        return complete_authorisation(session, tenant_id, action.onu.id)
    if action.action == "deauthorise":
        return complete_deauthorisation(session, tenant_id, action.onu.id)
    return action.onu


def _no_driver(session: Session, tenant_id: str, action: DriverAction) -> uuid.UUID | None:
    """The default hook, before provisioning is installed: every OLT is provisioned by hand."""
    complete_by_hand(session, tenant_id, action)
    return None


# The hook the action routes call after the change, in the same transaction; it returns the id of the
# driver job it queued, or None when the action was done by hand (completed in the transaction).
# Provisioning replaces it (``ispops.ftth.provision_api``) with one that defers the driver job on the
# request's own connection when the OLT has a driver, and calls :func:`complete_by_hand` when it has none.
on_driver_action: Callable[[Session, str, DriverAction], uuid.UUID | None] = _no_driver


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _serial_taken(session: Session, tenant_id: str, serial: str, *, other_than: uuid.UUID | None) -> Onu | None:
    stmt = select(Onu).where(Onu.tenant_id == tenant_id, Onu.serial_number == serial, Onu.deleted_at.is_(None))
    if other_than is not None:
        stmt = stmt.where(Onu.id != other_than)
    return session.scalar(stmt.with_for_update())


def _set_status(onu: Onu, status: OnuStatus, at: dt.datetime | None = None) -> None:
    if onu.status != status:
        onu.status = status
        onu.status_changed_at = at or _now()


def _refuse(onu: Onu, doing: str, allowed: Iterable[OnuStatus]) -> None:
    if onu.status not in set(allowed):
        raise Conflict(f"onus: cannot {doing} an ONU that is {onu.status}", table="onus", field="status")


# --- discovery -------------------------------------------------------------------------------------------


def record_discovered(
    session: Session,
    tenant_id: str,
    *,
    olt_id: uuid.UUID,
    serial_number: str,
    pon_port_id: uuid.UUID | None = None,
    frame: int | None = None,
    slot: int | None = None,
    port: int | None = None,
    vendor: str | None = None,
    model: str | None = None,
    loid: str | None = None,
    seen_at: dt.datetime | None = None,
) -> Onu:
    """Auto-find: the OLT reports an unconfigured ONU ``serial_number`` on a PON port (by id or frame/slot/port,
    created when not recorded yet). Upsert by serial: a new ONU is ``discovered``; a discovered or retired one
    moves to the reported port (a retired one is discovered again); one that is configured stays as it is
    (only ``last_seen``). Idempotent."""
    olt = lookup.get_olt(session, tenant_id, olt_id)
    where = lookup.pon_port(
        session, tenant_id, olt_id=olt.id, pon_port_id=pon_port_id, frame=frame, slot=slot, port=port, create=True
    )
    at = seen_at or _now()
    onu = _serial_taken(session, tenant_id, serial_number, other_than=None)
    if onu is None:
        onu = Onu(
            tenant_id=tenant_id,
            olt_id=olt.id,
            pon_port_id=where.id,
            serial_number=serial_number,
            vendor=vendor,
            model=model,
            loid=loid,
            status=S.DISCOVERED,
            status_changed_at=at,
            last_seen=at,
        )
        session.add(onu)
    else:
        onu.last_seen = at
        if onu.status in (S.DISCOVERED, S.RETIRED):
            onu.olt_id, onu.pon_port_id, onu.onu_id = olt.id, where.id, None
            onu.vendor = vendor or onu.vendor
            onu.model = model or onu.model
            onu.loid = loid or onu.loid
            _set_status(onu, S.DISCOVERED, at)
    session.flush()
    return onu


def unconfigured(session: Session, tenant_id: str, olt_id: uuid.UUID) -> Sequence[Onu]:
    """The OLT's discovered ONUs (its auto-find list), by port and serial; 404 for another tenant's OLT."""
    lookup.get_olt(session, tenant_id, olt_id, field=None)
    return session.scalars(
        select(Onu)
        .join(OltPonPort, (OltPonPort.tenant_id == Onu.tenant_id) & (OltPonPort.id == Onu.pon_port_id))
        .where(
            Onu.tenant_id == tenant_id,
            Onu.olt_id == olt_id,
            Onu.status == S.DISCOVERED,
            Onu.deleted_at.is_(None),
        )
        .order_by(OltPonPort.frame, OltPonPort.slot, OltPonPort.port, Onu.serial_number)
    ).all()


# --- authorisation ---------------------------------------------------------------------------------------


def reserve_authorisation(
    session: Session,
    tenant_id: str,
    onu_id: uuid.UUID | None = None,
    *,
    olt_id: uuid.UUID | None = None,
    pon_port_id: uuid.UUID | None = None,
    frame: int | None = None,
    slot: int | None = None,
    port: int | None = None,
    serial_number: str | None = None,
    auth_method: str = "serial",
    loid: str | None = None,
    splitter_id: uuid.UUID | None = None,
    splitter_port: int | None = None,
    **config: Any,
) -> Onu:
    """Reserve an ONU's authorisation: the lowest free ONU id on its PON port, its configuration, status
    ``authorising`` (the driver job then completes or fails it).

    Either ``onu_id``, a discovered (or ``auth_failed``: retried, keeping its id) ONU, or a new ONU by
    ``serial_number`` (or ``auth_method='loid'`` with ``loid``) on ``olt_id`` and a PON port
    (``pon_port_id`` or frame/slot/port). ``config``: the keys of :data:`CONFIG_FIELDS` (ONU type, mode
    routing/bridging, VLAN, service port, line/service/speed profile, zone, subscriber, vendor, model).
    A full or disabled port, or a serial another live ONU has: 409 naming it. Another tenant's OLT, port or
    splitter: 422 naming the field. Nothing is written when it refuses (the caller's transaction rolls back).
    """
    unknown = set(config) - set(CONFIG_FIELDS)
    if unknown:
        raise ValidationFailed(f"onus: unknown field {sorted(unknown)[0]}", table="onus", field=sorted(unknown)[0])
    if auth_method == "loid" and not loid:
        raise ValidationFailed("onus.loid: a LOID authorisation needs the loid", table="onus", field="loid")
    if onu_id is not None:
        onu = lookup.get_onu(session, tenant_id, onu_id, lock=True)
        _refuse(onu, "authorise", (S.DISCOVERED, S.AUTH_FAILED))
        olt = lookup.get_olt(session, tenant_id, olt_id or onu.olt_id)
        if pon_port_id is None and port is None and olt.id == onu.olt_id:
            pon_port_id = onu.pon_port_id
        where = lookup.pon_port(
            session, tenant_id, olt_id=olt.id, pon_port_id=pon_port_id, frame=frame, slot=slot, port=port
        )
        if serial_number is not None and serial_number != onu.serial_number:
            if _serial_taken(session, tenant_id, serial_number, other_than=onu.id) is not None:
                raise Conflict(
                    f"onus: serial_number {serial_number} is already another ONU's", table="onus", field="serial_number"
                )
            onu.serial_number = serial_number
    else:
        if olt_id is None:
            raise ValidationFailed("onus.olt_id: a value is required", table="onus", field="olt_id")
        serial = serial_number or (f"LOID:{loid}" if auth_method == "loid" else None)
        if serial is None:
            raise ValidationFailed("onus.serial_number: a value is required", table="onus", field="serial_number")
        olt = lookup.get_olt(session, tenant_id, olt_id)
        where = lookup.pon_port(
            session, tenant_id, olt_id=olt.id, pon_port_id=pon_port_id, frame=frame, slot=slot, port=port
        )
        # Lock the port before a new ONU row can be written: the row's key to the port takes a share lock on
        # it, and two authorisations holding that share lock would deadlock taking the port's lock below.
        where = lookup.lock_port(session, tenant_id, where)
        existing = _serial_taken(session, tenant_id, serial, other_than=None)
        if existing is not None and existing.status not in (S.DISCOVERED, S.RETIRED):
            raise Conflict(
                f"onus: serial_number {serial} is already authorised (ONU {existing.id}, {existing.status})",
                table="onus",
                field="serial_number",
            )
        if existing is None:
            onu = Onu(tenant_id=tenant_id, olt_id=olt.id, pon_port_id=where.id, serial_number=serial)
            session.add(onu)
        else:
            onu = existing
    if splitter_id is not None:
        lookup.splitter(session, tenant_id, splitter_id)
    keep = onu.onu_id if onu.status == S.AUTH_FAILED and onu.pon_port_id == where.id else None
    # Last, so that the port stays locked as briefly as possible (until the caller's commit); before any
    # change of the ONU is flushed.
    new_id = (
        keep if keep is not None else lookup.take_id(session, tenant_id, lookup.lock_port(session, tenant_id, where))
    )
    onu.olt_id, onu.pon_port_id, onu.onu_id = olt.id, where.id, new_id
    onu.auth_method, onu.loid = auth_method, loid if loid is not None else onu.loid
    onu.splitter_id, onu.splitter_port = splitter_id, splitter_port
    for key, value in config.items():
        setattr(onu, key, value)
    onu.admin_status = "enabled"
    _set_status(onu, S.AUTHORISING)
    session.flush()
    return onu


def complete_authorisation(
    session: Session, tenant_id: str, onu_id: uuid.UUID, *, at: dt.datetime | None = None
) -> Onu:
    """The driver configured the ONU: ``authorising`` → ``authorised``. Idempotent (a job retried after it
    succeeded, or a link report that came first, changes nothing)."""
    onu = lookup.get_onu(session, tenant_id, onu_id, lock=True)
    if onu.status in ON_OLT:
        return onu
    _refuse(onu, "complete the authorisation of", (S.AUTHORISING, S.AUTH_FAILED))
    onu.authorised_at = at or _now()
    _set_status(onu, S.AUTHORISED, at)
    session.flush()
    return onu


def fail_authorisation(session: Session, tenant_id: str, onu_id: uuid.UUID, *, at: dt.datetime | None = None) -> Onu:
    """The driver failed or timed out: ``authorising`` → ``auth_failed``. The ONU keeps its id, so authorising
    it again is safe (the driver gets the same id). Idempotent."""
    onu = lookup.get_onu(session, tenant_id, onu_id, lock=True)
    if onu.status == S.AUTH_FAILED:
        return onu
    _refuse(onu, "fail the authorisation of", (S.AUTHORISING,))
    _set_status(onu, S.AUTH_FAILED, at)
    session.flush()
    return onu


def begin_deauthorisation(session: Session, tenant_id: str, onu_id: uuid.UUID) -> Onu:
    """Deauthorise: ``authorised``/``online``/``offline``/``auth_failed`` → ``deauthorising`` (the driver
    removes it from the OLT, then :func:`complete_deauthorisation`)."""
    onu = lookup.get_onu(session, tenant_id, onu_id, lock=True)
    _refuse(onu, "deauthorise", (*ON_OLT, S.AUTH_FAILED))
    _set_status(onu, S.DEAUTHORISING)
    session.flush()
    return onu


def complete_deauthorisation(session: Session, tenant_id: str, onu_id: uuid.UUID) -> Onu:
    """The OLT no longer has the ONU: ``deauthorising`` → ``discovered``; its id is free. The configuration
    stays on the record, for authorising it again. Idempotent."""
    onu = lookup.get_onu(session, tenant_id, onu_id, lock=True)
    if onu.status == S.DISCOVERED:
        return onu
    _refuse(onu, "complete the deauthorisation of", (S.DEAUTHORISING,))
    onu.onu_id = None
    onu.admin_status = "disabled"
    onu.authorised_at = None
    _set_status(onu, S.DISCOVERED)
    session.flush()
    return onu


def fail_deauthorisation(session: Session, tenant_id: str, onu_id: uuid.UUID) -> Onu:
    """The driver could not remove it: back to ``authorised`` (it is still on the OLT). Idempotent."""
    onu = lookup.get_onu(session, tenant_id, onu_id, lock=True)
    if onu.status in ON_OLT:
        return onu
    _refuse(onu, "fail the deauthorisation of", (S.DEAUTHORISING,))
    _set_status(onu, S.AUTHORISED)
    session.flush()
    return onu


def deauthorise(session: Session, tenant_id: str, onu_id: uuid.UUID) -> Onu:
    """Contract name for :func:`begin_deauthorisation`."""
    return begin_deauthorisation(session, tenant_id, onu_id)


def request_reboot(session: Session, tenant_id: str, onu_id: uuid.UUID) -> Onu:
    """Bookkeeping of a reboot: only a configured ONU (``authorised``/``online``/``offline``) reboots; its
    uptime starts again. The link goes down and up by itself (:func:`set_link_state`)."""
    onu = lookup.get_onu(session, tenant_id, onu_id, lock=True)
    _refuse(onu, "reboot", ON_OLT)
    onu.uptime_seconds = 0
    session.flush()
    return onu


def replace(
    session: Session,
    tenant_id: str,
    onu_id: uuid.UUID,
    *,
    serial_number: str,
    vendor: str | None = None,
    model: str | None = None,
) -> Onu:
    """Swap the hardware: a new serial on the same record, port, id and configuration; ``authorising`` (the
    OLT must learn the new serial). A discovered record of the new serial (the new unit, auto-found) is
    removed; a serial another configured ONU has is a 409 naming ``serial_number``."""
    onu = lookup.get_onu(session, tenant_id, onu_id, lock=True)
    _refuse(onu, "replace", (*ON_OLT, S.AUTH_FAILED))
    other = _serial_taken(session, tenant_id, serial_number, other_than=onu.id)
    if other is not None:
        if other.status != S.DISCOVERED:
            raise Conflict(
                f"onus: serial_number {serial_number} is already another ONU's ({other.status})",
                table="onus",
                field="serial_number",
            )
        other.deleted_at = _now()
        session.flush()
    onu.serial_number = serial_number
    onu.vendor = vendor or onu.vendor
    onu.model = model or onu.model
    _set_status(onu, S.AUTHORISING)
    session.flush()
    return onu


def move(
    session: Session,
    tenant_id: str,
    onu_id: uuid.UUID,
    *,
    olt_id: uuid.UUID | None = None,
    pon_port_id: uuid.UUID | None = None,
    frame: int | None = None,
    slot: int | None = None,
    port: int | None = None,
    splitter_id: uuid.UUID | None = None,
    splitter_port: int | None = None,
) -> tuple[Onu, tuple[uuid.UUID, int | None]]:
    """Move a configured ONU to another PON port (of its OLT or another): the lowest free id there, the
    same configuration, ``authorising``. Returns the ONU and the (port, id) it left, which the driver
    removes. A full port is a 409 naming ``pon_port_id``."""
    onu = lookup.get_onu(session, tenant_id, onu_id, lock=True)
    _refuse(onu, "move", (*ON_OLT, S.AUTH_FAILED))
    olt = lookup.get_olt(session, tenant_id, olt_id or onu.olt_id)
    where = lookup.pon_port(
        session, tenant_id, olt_id=olt.id, pon_port_id=pon_port_id, frame=frame, slot=slot, port=port
    )
    if where.id == onu.pon_port_id:
        raise Conflict(f"onus: the ONU is already on PON port {where.name}", table="onus", field="pon_port_id")
    if splitter_id is not None:
        lookup.splitter(session, tenant_id, splitter_id)
    previous = (onu.pon_port_id, onu.onu_id)
    new_id = lookup.take_id(
        session, tenant_id, lookup.lock_port(session, tenant_id, where)
    )  # before any change is flushed
    onu.olt_id, onu.pon_port_id, onu.onu_id = olt.id, where.id, new_id
    if splitter_id is not None or splitter_port is not None:
        onu.splitter_id, onu.splitter_port = splitter_id, splitter_port
    _set_status(onu, S.AUTHORISING)
    session.flush()
    return onu, previous


def retire(session: Session, tenant_id: str, onu_id: uuid.UUID) -> Onu:
    """Take an ONU out of service for good: ``discovered``/``auth_failed`` → ``retired`` (deauthorise a
    configured one first). It gives up its ONU id and its splitter port; the record stays as history (a
    retired serial auto-found again is discovered again). Idempotent."""
    onu = lookup.get_onu(session, tenant_id, onu_id, lock=True)
    if onu.status == S.RETIRED:
        return onu
    if onu.status in ON_OLT:
        raise Conflict(
            f"onus: the ONU is {onu.status} on its OLT: deauthorise it before retiring it", table="onus", field="status"
        )
    _refuse(onu, "retire", (S.DISCOVERED, S.AUTH_FAILED))
    onu.onu_id = None
    onu.splitter_id = onu.splitter_port = None
    onu.admin_status = "disabled"
    _set_status(onu, S.RETIRED)
    session.flush()
    return onu


# --- link state ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkState:
    """One report: ONU ``onu_id`` is online or not; ``cause`` why it went down (``OnuDownCause``)."""

    onu_id: uuid.UUID
    online: bool
    cause: str | None = None
    at: dt.datetime | None = None


def set_link_states(session: Session, tenant_id: str, states: Sequence[LinkState]) -> int:
    """Apply link reports in one statement per report kind; returns how many ONUs changed status.

    Only configured ONUs (``authorised``/``online``/``offline``) follow the link: a report about an ONU
    being (de)authorised, discovered or retired is ignored. Going down records ``last_down_cause``
    (``unknown`` when none is given; ``dying_gasp`` is a power event at the subscriber, not a fibre fault)
    and ``last_down_at``; coming up records ``last_seen``. ``olts.active_onus`` follows by trigger."""
    causes = {c.value for c in OnuDownCause}
    changed = 0
    for state in states:
        if state.cause is not None and state.cause not in causes:
            raise ValidationFailed(
                f"onus.last_down_cause: {state.cause!r} is not one of {', '.join(sorted(causes))}",
                table="onus",
                field="last_down_cause",
            )
    now = _now()
    up = [s for s in states if s.online]
    down = [s for s in states if not s.online]
    live = (Onu.tenant_id == tenant_id, Onu.deleted_at.is_(None), Onu.status.in_(tuple(ON_OLT)))
    for s in up:
        at = s.at or now
        result = session.execute(
            update(Onu)
            .where(*live, Onu.id == s.onu_id)
            .values(
                status=S.ONLINE,
                last_seen=at,
                status_changed_at=_keep_if(S.ONLINE, Onu.status_changed_at, at),
            )
            .execution_options(synchronize_session=False)
        )
        changed += int(getattr(result, "rowcount", 0) or 0)
    for s in down:
        at = s.at or now
        result = session.execute(
            update(Onu)
            .where(*live, Onu.id == s.onu_id)
            .values(
                status=S.OFFLINE,
                # A repeated report keeps the first down time, and the cause unless it names one.
                last_down_cause=case(
                    (Onu.status == S.OFFLINE, func.coalesce(s.cause, Onu.last_down_cause)),
                    else_=s.cause or OnuDownCause.UNKNOWN,
                ),
                last_down_at=_keep_if(S.OFFLINE, Onu.last_down_at, at),
                status_changed_at=_keep_if(S.OFFLINE, Onu.status_changed_at, at),
            )
            .execution_options(synchronize_session=False)
        )
        changed += int(getattr(result, "rowcount", 0) or 0)
    return changed


def _keep_if(status: OnuStatus, column: Any, at: dt.datetime) -> Any:
    """``column`` keeps its value when the ONU is already in ``status`` (a repeated report), else ``at``."""
    return case((Onu.status == status, func.coalesce(column, at)), else_=at)


def set_link_state(
    session: Session,
    tenant_id: str,
    onu_id: uuid.UUID,
    *,
    online: bool,
    cause: str | None = None,
    at: dt.datetime | None = None,
) -> Onu:
    """One link report (see :func:`set_link_states`); 404 for another tenant's ONU."""
    onu = lookup.get_onu(session, tenant_id, onu_id)
    set_link_states(session, tenant_id, [LinkState(onu.id, online, cause, at)])
    session.refresh(onu)
    return onu
