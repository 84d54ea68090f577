"""Which steps each order runs, and the order's parameters checked at submission (docs/lifecycle.md,
"Steps per order type").

``validate`` runs twice: when the order is submitted (the API answers 404/409/422 and nothing is stored)
and as the first step of the plan (a scheduled order meets the world as it is by then). The step also
records the snapshot the later steps rely on (``steps_common``): the subscriber's RADIUS fields, its live
IP allocations, ONUs and CPE records as they were before the order touched anything.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ispops.automation import service as automation
from ispops.config import get_settings
from ispops.errors import Conflict, NotFound, ValidationFailed
from ispops.ftth import lookup
from ispops.ftth.service import ON_OLT
from ispops.lifecycle import steps_access, steps_account, steps_network
from ispops.lifecycle.steps import Done, Step, StepContext, Wait
from ispops.lifecycle.steps_common import VALIDATE, BaseStep, failed
from ispops.models import BandwidthProfile, IpAllocation, IpPool, Onu, RadCheck, Subscriber, WirelessSubscriber
from ispops.models.ftth import OnuStatus
from ispops.models.wireless import WirelessSector
from ispops.radius.provisioning import CREDENTIAL_ATTRIBUTES

# service_activations.activation_type -> the order type the steps and crash labels use.
ORDER_TYPES: dict[str, str] = {
    "new_service": "activate",
    "reactivation": "activate",
    "relocation": "activate",
    "activate": "activate",
    "plan_change": "plan_change",
    "suspension": "suspend",
    "suspend": "suspend",
    "resumption": "resume",
    "resume": "resume",
    "termination": "terminate",
    "terminate": "terminate",
}

FTTH_FIELDS = (
    "onu_id",
    "olt_id",
    "pon_port_id",
    "serial_number",
    "splitter_id",
    "splitter_port",
    "vlan_id",
    "line_profile",
    "service_profile",
    "onu_type",
)
WIRELESS_FIELDS = ("sector_id", "cpe_mac", "cpe_model", "install_latitude", "install_longitude", "install_address")
CONFIGURE_FIELDS = ("configure", "playbook_name", "target_device_id", "extra_vars")
FIELDS: dict[str, frozenset[str]] = {
    "activate": frozenset(
        # "access" is computed (ftth, wireless or none); accepted back when the validate step checks again
        (
            "ip_pool_id",
            "bandwidth_profile_id",
            "pppoe_username",
            "access",
            *FTTH_FIELDS,
            *WIRELESS_FIELDS,
            *CONFIGURE_FIELDS,
        )
    ),
    "plan_change": frozenset({"bandwidth_profile_id"}),
    "suspend": frozenset({"reason"}),
    "resume": frozenset(),
    "terminate": frozenset({"reason"}),
}
# Subscriber statuses each order may start from (relocation: a live subscriber moves).
STARTS: dict[str, frozenset[str]] = {
    "new_service": frozenset({"pending", "on_hold"}),
    "reactivation": frozenset({"pending", "on_hold"}),
    "activate": frozenset({"pending", "on_hold"}),
    "relocation": frozenset({"active"}),
    "plan_change": frozenset({"active", "suspended", "pending", "on_hold"}),
    "suspend": frozenset({"active"}),
    "resume": frozenset({"suspended"}),
    "terminate": frozenset({"pending", "active", "suspended", "on_hold"}),
}
USERNAME = re.compile(r"^[\x21-\x7e]{1,64}$")
MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


def order_type(activation_type: str) -> str:
    try:
        return ORDER_TYPES[activation_type]
    except KeyError:
        known = ", ".join(sorted(ORDER_TYPES))
        raise ValidationFailed(
            f"service_activations.activation_type: {activation_type!r} is not one of {known}",
            table="service_activations",
            field="activation_type",
        ) from None


# --- submission checks -------------------------------------------------------------------------------------


def _invalid(field: str, why: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {why}", field=field)


def _uuid(params: dict[str, Any], field: str) -> uuid.UUID | None:
    value = params.get(field)
    if value is None or value == "":
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise _invalid(field, "not a UUID") from None


def _int(params: dict[str, Any], field: str, low: int, high: int) -> int | None:
    value = params.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(field, f"an integer from {low} to {high}")
    return value


def _text(params: dict[str, Any], field: str, limit: int) -> str | None:
    value = params.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        raise _invalid(field, f"a string of 1 to {limit} characters")
    return value


def _number(params: dict[str, Any], field: str, low: float, high: float) -> float | None:
    value = params.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= float(value) <= high:
        raise _invalid(field, f"a number from {low:g} to {high:g}")
    return float(value)


def _profile(session: Session, tenant_id: str, profile_id: uuid.UUID) -> BandwidthProfile:
    """The tenant's live, active plan; another tenant's is as unknown as a missing one (422)."""
    profile = session.scalar(
        select(BandwidthProfile).where(
            BandwidthProfile.tenant_id == tenant_id,
            BandwidthProfile.id == profile_id,
            BandwidthProfile.deleted_at.is_(None),
        )
    )
    if profile is None:
        raise _invalid("bandwidth_profile_id", "no such bandwidth profile in this tenant")
    if not profile.is_active:
        raise _invalid("bandwidth_profile_id", f"the bandwidth profile {profile.name!r} is not active")
    return profile


def _pool(session: Session, tenant_id: str, pool_id: uuid.UUID | None) -> IpPool:
    """The named pool, or the tenant's first active subscriber pool (dynamic or static) by name."""
    stmt = select(IpPool).where(IpPool.tenant_id == tenant_id, IpPool.deleted_at.is_(None))
    if pool_id is not None:
        pool = session.scalar(stmt.where(IpPool.id == pool_id))
        if pool is None:
            raise _invalid("ip_pool_id", "no such IP pool in this tenant")
        if pool.pool_type not in ("dynamic", "static"):
            raise _invalid("ip_pool_id", f"pool {pool.name!r} is {pool.pool_type}: not for subscribers")
        if not pool.is_active:
            raise _invalid("ip_pool_id", f"pool {pool.name!r} is not active")
        if pool.delegated_prefix_length is not None:
            raise _invalid("ip_pool_id", f"pool {pool.name!r} delegates prefixes: name an address pool")
        return pool
    found = session.scalar(
        stmt.where(
            IpPool.is_active.is_(True),
            IpPool.pool_type.in_(("dynamic", "static")),
            func.family(IpPool.network_cidr) == 4,
        )
        .order_by(IpPool.name)
        .limit(1)
    )
    if found is None:
        raise _invalid("ip_pool_id", "the tenant has no active IPv4 subscriber pool: name one")
    return found


def _check_ftth(session: Session, tenant_id: str, subscriber_id: uuid.UUID, params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    onu_id = _uuid(params, "onu_id")
    serial = _text(params, "serial_number", 64)
    if onu_id is not None:
        try:
            onu = lookup.get_onu(session, tenant_id, onu_id)
        except NotFound:
            raise _invalid("onu_id", "no such ONU in this tenant") from None
        if onu.status not in (OnuStatus.DISCOVERED, OnuStatus.AUTH_FAILED):
            raise Conflict(f"onus: the ONU is {onu.status}: only a discovered ONU is authorised", field="onu_id")
        out["onu_id"] = str(onu.id)
        out["olt_id"] = str(onu.olt_id)
    else:
        olt_id = _uuid(params, "olt_id")
        if olt_id is None or serial is None:
            missing = "olt_id" if olt_id is None else "serial_number"
            raise _invalid(missing, "an FTTH activation names onu_id, or olt_id, pon_port_id and serial_number")
        lookup.get_olt(session, tenant_id, olt_id)
        pon_port_id = _uuid(params, "pon_port_id")
        if pon_port_id is None:
            raise _invalid("pon_port_id", "required with olt_id")
        lookup.pon_port(session, tenant_id, olt_id=olt_id, pon_port_id=pon_port_id)
        existing = session.scalar(
            select(Onu).where(Onu.tenant_id == tenant_id, Onu.serial_number == serial, Onu.deleted_at.is_(None))
        )
        if existing is not None and existing.status not in (OnuStatus.DISCOVERED, OnuStatus.RETIRED):
            raise Conflict(f"onus: serial_number {serial} is already {existing.status}", field="serial_number")
        out.update(olt_id=str(olt_id), pon_port_id=str(pon_port_id), serial_number=serial)
    splitter_id = _uuid(params, "splitter_id")
    if splitter_id is not None:
        lookup.splitter(session, tenant_id, splitter_id)
        out["splitter_id"] = str(splitter_id)
    for field, limit in (("line_profile", 100), ("service_profile", 100), ("onu_type", 50)):
        if (value := _text(params, field, limit)) is not None:
            out[field] = value
    for field, high in (("vlan_id", 4094), ("splitter_port", 1024)):
        if (number := _int(params, field, 1, high)) is not None:
            out[field] = number
    return out


def _check_wireless(session: Session, tenant_id: str, params: dict[str, Any]) -> dict[str, Any]:
    sector_id = _uuid(params, "sector_id")
    if sector_id is None:
        raise _invalid("sector_id", "a wireless activation names the sector")
    sector = session.scalar(
        select(WirelessSector.id).where(
            WirelessSector.tenant_id == tenant_id, WirelessSector.id == sector_id, WirelessSector.deleted_at.is_(None)
        )
    )
    if sector is None:
        raise _invalid("sector_id", "no such wireless sector in this tenant")
    mac = _text(params, "cpe_mac", 17)
    if mac is None or not MAC.match(mac):
        raise _invalid("cpe_mac", "a MAC address like 00:11:22:33:44:55")
    taken = session.scalar(
        select(WirelessSubscriber.id).where(
            WirelessSubscriber.tenant_id == tenant_id,
            func.lower(WirelessSubscriber.cpe_mac) == mac.lower(),
            WirelessSubscriber.deleted_at.is_(None),
        )
    )
    if taken is not None:
        raise Conflict(f"wireless_subscribers: a CPE with MAC {mac} is already registered", field="cpe_mac")
    lat = _number(params, "install_latitude", -90, 90)
    lng = _number(params, "install_longitude", -180, 180)
    if lat is None or lng is None:
        raise _invalid("install_latitude" if lat is None else "install_longitude", "required for a wireless CPE")
    out: dict[str, Any] = {
        "sector_id": str(sector_id),
        "cpe_mac": mac.lower(),
        "install_latitude": lat,
        "install_longitude": lng,
    }
    for field, limit in (("cpe_model", 100), ("install_address", 500)):
        if (value := _text(params, field, limit)) is not None:
            out[field] = value
    return out


def _check_configure(session: Session, tenant_id: str, params: dict[str, Any], access: str) -> dict[str, Any]:
    mode = params.get("configure", "auto")
    if mode not in ("auto", "tr069", "ansible", "none"):
        raise _invalid("configure", "one of auto, tr069, ansible, none")
    playbook = _text(params, "playbook_name", 255)
    if mode == "ansible" and playbook is None:
        raise _invalid("playbook_name", "required with configure ansible")
    if mode == "auto":
        if playbook is not None:
            mode = "ansible"
        elif access == "ftth" and get_settings().genieacs_nbi_url:
            mode = "tr069"
        else:
            mode = "none"
    if mode == "tr069" and access != "ftth":
        raise _invalid("configure", "TR-069 configures the ONU of an FTTH activation")
    out: dict[str, Any] = {"configure": mode}
    if mode == "ansible":
        assert playbook is not None
        automation.resolve_playbook(session, tenant_id, playbook)
        out["playbook_name"] = playbook
        target = _uuid(params, "target_device_id")
        if target is not None:
            automation.check_devices(session, tenant_id, [target], "target_device_id")
            out["target_device_id"] = str(target)
        out["extra_vars"] = automation.check_extra_vars(params.get("extra_vars") or {})
    return out


def _check_activate(
    session: Session, tenant_id: str, sub: Subscriber, params: dict[str, Any], *, at_submission: bool
) -> dict[str, Any]:
    profile_id = _uuid(params, "bandwidth_profile_id") or sub.bandwidth_profile_id
    if profile_id is None:
        raise _invalid("bandwidth_profile_id", "the subscriber has no plan: name one")
    _profile(session, tenant_id, profile_id)
    pool = _pool(session, tenant_id, _uuid(params, "ip_pool_id"))
    username = _text(params, "pppoe_username", 64) or sub.pppoe_username or sub.subscriber_number.lower()
    if not USERNAME.match(username):
        raise _invalid("pppoe_username", "1 to 64 printable ASCII characters without spaces")
    other = session.scalar(
        select(Subscriber.id).where(
            Subscriber.tenant_id == tenant_id,
            Subscriber.pppoe_username == username,
            Subscriber.id != sub.id,
            Subscriber.deleted_at.is_(None),
        )
    )
    if other is not None:
        raise Conflict(f"subscribers: the PPPoE username {username!r} is another subscriber's", field="pppoe_username")
    ftth = any(params.get(f) is not None for f in ("onu_id", "olt_id", "serial_number", "pon_port_id"))
    wireless = any(params.get(f) is not None for f in ("sector_id", "cpe_mac"))
    if ftth and wireless:
        raise _invalid("sector_id", "an activation is FTTH (an ONU) or wireless (a CPE), not both")
    out: dict[str, Any] = {
        "bandwidth_profile_id": str(profile_id),
        "ip_pool_id": str(pool.id),
        "pppoe_username": username,
        "access": "ftth" if ftth else "wireless" if wireless else "none",
    }
    if ftth and at_submission:
        out.update(_check_ftth(session, tenant_id, sub.id, params))
    elif ftth:
        out.update({k: params[k] for k in (*FTTH_FIELDS,) if params.get(k) is not None})
    if wireless and at_submission:
        out.update(_check_wireless(session, tenant_id, params))
    elif wireless:
        out.update({k: params[k] for k in WIRELESS_FIELDS if params.get(k) is not None})
    out.update(_check_configure(session, tenant_id, params, str(out["access"])))
    return out


def validate(
    session: Session, *, tenant_id: str, activation_type: str, subscriber_id: uuid.UUID, params: dict[str, Any]
) -> dict[str, Any]:
    """Check an order's parameters for its type at submission; returns them normalised (JSON values).
    Raises ``ValidationFailed`` (422) naming the field, ``NotFound`` (404) for a missing or another tenant's
    subscriber, ``Conflict`` (409) when the subscriber's status does not allow the order."""
    return _validate(session, tenant_id, activation_type, subscriber_id, params, at_submission=True)


def _validate(
    session: Session,
    tenant_id: str,
    activation_type: str,
    subscriber_id: uuid.UUID,
    params: dict[str, Any],
    *,
    at_submission: bool,
) -> dict[str, Any]:
    kind = order_type(activation_type)
    if not isinstance(params, dict):
        raise _invalid("params", "must be a JSON object")
    unknown = sorted(set(params) - FIELDS[kind])
    if unknown:
        raise _invalid(unknown[0], f"not a parameter of a {activation_type} order")
    sub = session.scalar(
        select(Subscriber).where(
            Subscriber.tenant_id == tenant_id, Subscriber.id == subscriber_id, Subscriber.deleted_at.is_(None)
        )
    )
    if sub is None:
        raise NotFound("subscribers: no such record", table="subscribers")
    allowed = STARTS.get(activation_type, STARTS[kind])
    if sub.status not in allowed:
        raise Conflict(
            f"subscribers: a {activation_type} order cannot start from a subscriber that is {sub.status}",
            table="subscribers",
            field="status",
        )
    if kind == "activate":
        return _check_activate(session, tenant_id, sub, params, at_submission=at_submission)
    if kind == "plan_change":
        profile_id = _uuid(params, "bandwidth_profile_id")
        if profile_id is None:
            raise _invalid("bandwidth_profile_id", "required for a plan change")
        _profile(session, tenant_id, profile_id)
        if profile_id == sub.bandwidth_profile_id and at_submission:
            raise Conflict("subscribers: the subscriber is already on this plan", field="bandwidth_profile_id")
        return {"bandwidth_profile_id": str(profile_id)}
    reason = _text(params, "reason", 255)
    return {"reason": reason} if reason is not None else {}


# --- the first step: check again, and record the snapshot ---------------------------------------------------


def take_snapshot(session: Session, tenant_id: str, subscriber_id: uuid.UUID) -> dict[str, Any]:
    """The subscriber's RADIUS fields and its live IP allocations, ONUs on an OLT and CPE records."""
    sub = session.scalars(
        select(Subscriber).where(Subscriber.tenant_id == tenant_id, Subscriber.id == subscriber_id)
    ).one()
    credential = session.scalar(
        select(func.count())
        .select_from(RadCheck)
        .where(
            RadCheck.tenant_id == tenant_id,
            RadCheck.subscriber_id == subscriber_id,
            RadCheck.attribute.in_(tuple(CREDENTIAL_ATTRIBUTES.values())),
        )
    )
    allocations = session.scalars(
        select(IpAllocation.id).where(
            IpAllocation.tenant_id == tenant_id,
            IpAllocation.subscriber_id == subscriber_id,
            IpAllocation.status != "released",
        )
    ).all()
    onus = session.scalars(
        select(Onu.id).where(
            Onu.tenant_id == tenant_id,
            Onu.subscriber_id == subscriber_id,
            Onu.deleted_at.is_(None),
            Onu.status.in_((*ON_OLT, OnuStatus.AUTHORISING)),
        )
    ).all()
    cpes = session.scalars(
        select(WirelessSubscriber.id).where(
            WirelessSubscriber.tenant_id == tenant_id,
            WirelessSubscriber.subscriber_id == subscriber_id,
            WirelessSubscriber.deleted_at.is_(None),
        )
    ).all()
    return {
        "subscriber": {
            "status": sub.status,
            "pppoe_username": sub.pppoe_username,
            "bandwidth_profile_id": str(sub.bandwidth_profile_id) if sub.bandwidth_profile_id else None,
            "static_ip_address": str(sub.static_ip_address) if sub.static_ip_address else None,
            "had_credential": bool(credential),
        },
        "allocations": sorted(str(a) for a in allocations),
        "onus": sorted(str(o) for o in onus),
        "cpes": sorted(str(c) for c in cpes),
    }


class Validate(BaseStep):
    """Check the order against the subscriber as it is now, and record the snapshot. No effect to undo."""

    name = VALIDATE

    def __init__(self, activation_type: str) -> None:
        self.activation_type = activation_type

    def run(self, ctx: StepContext) -> Done | Wait:
        try:
            _validate(
                ctx.session, ctx.tenant_id, self.activation_type, ctx.subscriber_id, ctx.params, at_submission=False
            )
        except (ValidationFailed, NotFound, Conflict) as exc:
            raise failed(exc) from None
        return Done(take_snapshot(ctx.session, ctx.tenant_id, ctx.subscriber_id))


# --- the plans -----------------------------------------------------------------------------------------------


def plan_for(activation_type: str) -> Sequence[Step]:
    """The ordered steps of an order of ``activation_type`` (a ``service_activations.activation_type``)."""
    kind = order_type(activation_type)
    first: list[Step] = [Validate(activation_type)]
    if kind == "activate":
        steps: list[Step] = [
            steps_network.AllocateIp(),
            steps_network.ProvisionRadius(),
            steps_access.AuthoriseOnu(),
            steps_access.RegisterCpe(),
            steps_access.ConfigureCpe(),
            steps_account.ActivateStatus(),
        ]
        if activation_type == "relocation":
            steps.append(steps_access.ReleasePrevious())
        return [
            *first,
            *steps,
            steps_account.StartBilling(),
            steps_account.Notify("subscriber.activated", emitted_by="activate_status"),
        ]
    if kind == "plan_change":
        return [
            *first,
            steps_account.SetPlan(),
            steps_account.Coa(),
            steps_account.Notify("subscriber.plan_changed"),
        ]
    if kind == "suspend":
        return [
            *first,
            steps_account.ChangeStatus("suspend"),
            steps_account.Coa(),
            steps_account.Notify("subscriber.suspended", emitted_by="suspend_status"),
        ]
    if kind == "resume":
        return [
            *first,
            steps_account.ChangeStatus("resume"),
            steps_account.Coa(),
            steps_account.Notify("subscriber.resumed", emitted_by="resume_status"),
        ]
    return [
        *first,
        steps_account.ChangeStatus("terminate"),
        steps_account.Coa(),
        steps_network.ReleaseIp(),
        steps_access.ReleaseAccess(),
        steps_network.RemoveRadius(),
        steps_account.Notify("subscriber.terminated", emitted_by="terminate_status"),
    ]
