"""The tenant resources and how each is exposed. Domain behaviour lives in the hooks named here."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, exists, or_

from ispops.api.crud import Resource
from ispops.api.reveal import write_only
from ispops.api.schemas import Inet, Str
from ispops.db import checks
from ispops.devices import service as devices_service
from ispops.errors import ValidationFailed
from ispops.ipam import api as ipam_api
from ispops.models import (
    AnsibleJob,
    AuditEvent,
    BandwidthProfile,
    Customer,
    Device,
    FiberCable,
    IpAllocation,
    IpPool,
    Nas,
    Olt,
    Onu,
    RadAcct,
    RadCheck,
    RadiusCoaAttempt,
    RadReply,
    ServiceActivation,
    Splitter,
    Subscriber,
    SubscriberUsageDaily,
    VpnTunnel,
    WirelessSector,
    WirelessSubscriber,
    WirelessTower,
)
from ispops.radius import nas as radius_nas
from ispops.radius import provisioning
from ispops.vpn import api as vpn_api
from ispops.vpn import service as vpn_service

# RADIUS attributes that carry a credential: never shown, never edited here (credentials are
# provisioned from the subscriber).
PASSWORD_ATTRIBUTES = frozenset(
    {"Cleartext-Password", "NT-Password", "MD5-Password", "SHA-Password", "SHA1-Password", "Crypt-Password",
     "SSHA-Password", "SMD5-Password", "User-Password", "LM-Password"}
)
INSTALLATION_FIELDS = frozenset(
    {"installation_status", "installation_date", "installation_notes", "installed_by", "mac_address",
     "service_location_lat", "service_location_lng"}
)
STAMPS = ("created_at", "updated_at")


def _refuse_rendered(table: str, attribute: str, value: str) -> None:
    """Rows the database renders from the subscriber's plan, status and policy are not edited by hand."""
    if provisioning.is_managed(table, attribute, value):
        raise ValidationFailed(
            f"{table}.attribute: {attribute} is rendered from the subscriber's plan, status and RADIUS policy",
            table=table, field="attribute",
        )


def _no_password_attribute(obj: Any, data: dict[str, Any]) -> None:
    _refuse_rendered("radcheck", obj.attribute, data.get("value", obj.value))
    if obj.attribute in PASSWORD_ATTRIBUTES:
        raise ValidationFailed(
            f"radcheck.attribute: {obj.attribute} is managed from the subscriber's credentials",
            table="radcheck", field="attribute",
        )


async def _create_radcheck(session: Any, principal: Any, body: BaseModel) -> Any:
    data = body.model_dump(exclude_unset=True)
    if data.get("attribute") in PASSWORD_ATTRIBUTES:
        raise ValidationFailed(
            f"radcheck.attribute: {data['attribute']} is managed from the subscriber's credentials",
            table="radcheck", field="attribute",
        )
    _refuse_rendered("radcheck", data.get("attribute", ""), data.get("value", ""))
    obj = RadCheck(**data, tenant_id=principal.tenant_id)
    session.add(obj)
    return obj


def _radreply_editable(obj: Any, data: dict[str, Any]) -> None:
    _refuse_rendered("radreply", obj.attribute, obj.value)
    _refuse_rendered("radreply", data.get("attribute", obj.attribute), data.get("value", obj.value))


async def _create_radreply(session: Any, principal: Any, body: BaseModel) -> Any:
    data = body.model_dump(exclude_unset=True)
    _refuse_rendered("radreply", data.get("attribute", ""), data.get("value", ""))
    obj = RadReply(**data, tenant_id=principal.tenant_id)
    session.add(obj)
    return obj


def _masked(row: dict[str, Any]) -> dict[str, Any]:
    if row["attribute"] in PASSWORD_ATTRIBUTES:
        return {**row, "value": "********"}
    return row


def _radcheck_value_search(model: Any, pattern: str) -> ColumnElement[bool]:
    """A value is searched unless it is a credential: a search must not tell what a password contains."""
    return and_(model.attribute.not_in(PASSWORD_ATTRIBUTES), model.value.ilike(pattern, escape="\\"))


def _olt_device_search(model: Any, pattern: str) -> ColumnElement[bool]:
    """The OLT's device (same tenant) by name or serial number."""
    return exists().where(
        Device.tenant_id == model.tenant_id, Device.id == model.device_id,
        or_(Device.name.ilike(pattern, escape="\\"), Device.serial_number.ilike(pattern, escape="\\")),
    )


def _radacct_filters(model: Any, params: Any) -> Sequence[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if params.active is True:
        out.append(model.acctstoptime.is_(None))
    elif params.active is False:
        out.append(model.acctstoptime.is_not(None))
    if params.started_after is not None:
        out.append(model.acctstarttime >= params.started_after)
    if params.started_before is not None:
        out.append(model.acctstarttime < params.started_before)
    return out


def _audit_filters(model: Any, params: Any) -> Sequence[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if params.since is not None:
        out.append(model.occurred_at >= params.since)
    if params.until is not None:
        out.append(model.occurred_at < params.until)
    return out


# Write-only credentials (ispops.api.reveal): the database's limits (ck_nas__secret, ck_nas__coa_secret,
# devices.snmp_community varchar(100)).
_SECRET_RULE = checks.RULES["ck_nas__coa_secret"]  # the same lengths as ck_nas__secret's, without its words
NAS_SECRET = Annotated[Str, Field(min_length=_SECRET_RULE.min_length, max_length=_SECRET_RULE.max_length)]
NAS_EXTRA: dict[str, Any] = {
    "coa_secret": (write_only(NAS_SECRET | None, "CoA/Disconnect secret (default: secret); write-only"), None),
    "community": (write_only(Annotated[Str, Field(max_length=255)] | None, "SNMP community; write-only"), None),
}
SNMP_EXTRA: dict[str, Any] = {
    "snmp_community": (write_only(Annotated[Str, Field(max_length=100)] | None, "SNMP v1/v2c community; write-only"),
                       None),
}
TIME_RANGE = {"started_after": (dt.datetime | None, None), "started_before": (dt.datetime | None, None)}

RESOURCES: list[Resource] = [
    Resource(
        "customers", Customer, tag="customers",
        filters=("status", "customer_number"), search=("name", "email", "customer_number", "phone"),
        sort=("created_at", "name", "customer_number"),
    ),
    Resource(
        "subscribers", Subscriber, tag="subscribers",
        filters=("status", "service_type", "connection_type", "customer_id", "bandwidth_profile_id",
                 "installation_status", "pppoe_username", "subscriber_number"),
        search=("subscriber_number", "pppoe_username", "service_address_line1", "service_address_city"),
        sort=("created_at", "subscriber_number", "status", "pppoe_username"),
        # Write-only: moved into radcheck on flush (ispops.radius.provisioning), never stored or returned.
        hidden=frozenset({"pppoe_password"}),
        create_extra={"pppoe_password": (provisioning.Password, None)},
        update_extra={"pppoe_password": (provisioning.Password, None)},
        read_only=frozenset({"monthly_data_usage_gb", "last_usage_reset_date", "service_activated_at",
                             "service_suspended_at", "service_terminated_at", "status", "suspension_reason"}),
        limited_update={"update_installation": INSTALLATION_FIELDS},
    ),
    Resource(
        "bandwidth_profiles", BandwidthProfile, tag="plans",
        filters=("is_active", "name"), search=("name", "description"),
        sort=("created_at", "name", "download_mbps"),
    ),
    Resource(
        "nas", Nas, tag="radius", key_type=int,
        filters=("type", "nasname", "shortname"), search=("nasname", "shortname", "description"),
        sort=("created_at", "nasname", "shortname"),
        # One canonical host address, the platform's virtual server (ispops.radius.nas, migration 0024).
        create_hook=radius_nas.create_hook, update_check=radius_nas.check_update,
        # Credentials are write-only; POST /api/v1/nas/{id}/reveal-secret shows them (ispops.api.reveal).
        hidden=frozenset({"secret", "coa_secret", "community"}),
        create_extra={"secret": (write_only(NAS_SECRET, "RADIUS shared secret; write-only"), ...), **NAS_EXTRA},
        update_extra={"secret": (write_only(NAS_SECRET, "RADIUS shared secret; write-only"), None), **NAS_EXTRA},
    ),
    Resource(
        "radcheck", RadCheck, tag="radius", key_type=int,
        filters=("username", "subscriber_id", "attribute"), sort=("created_at", "username", "attribute"),
        search=("username", "attribute"), search_with=_radcheck_value_search,
        create_only=frozenset({"attribute", "username", "subscriber_id"}),
        create_hook=_create_radcheck, update_check=_no_password_attribute, serialize=_masked,
    ),
    Resource(
        "radreply", RadReply, tag="radius", key_type=int,
        filters=("username", "subscriber_id", "attribute"), sort=("created_at", "username", "attribute"),
        search=("username", "attribute", "value"),
        create_only=frozenset({"username", "subscriber_id"}),
        create_hook=_create_radreply, update_check=_radreply_editable,
    ),
    Resource(
        "radacct", RadAcct, tag="radius", key_type=int, key_column="radacctid",
        verbs=frozenset({"list", "get"}),
        filters=("username", "subscriber_id", "nasipaddress", "acctsessionid"),
        search=("username", "acctsessionid", "callingstationid", "framedipaddress"),
        sort=("acctstarttime", "acctstoptime", "acctupdatetime"), default_sort="-acctstarttime",
        extra_query={"active": (bool | None, None), **TIME_RANGE}, extra_filters=_radacct_filters,
    ),
    Resource(
        # Every CoA-Request / Disconnect-Request sent to a NAS and its answer (ispops.radius.jobs).
        "radius_coa_attempts", RadiusCoaAttempt, tag="radius", key_type=int, verbs=frozenset({"list", "get"}),
        filters=("subscriber_id", "nas_id", "result", "kind", "reason", "username", "acctsessionid"),
        search=("username", "acctsessionid", "detail"), sort=("created_at",),
    ),
    Resource(
        # Daily usage rolled up from accounting (ispops.radius.usage); input = upload, output = download.
        "subscriber_usage_daily", SubscriberUsageDaily, tag="radius", key_type=int,
        verbs=frozenset({"list", "get"}), filters=("subscriber_id", "day"), sort=("day", "updated_at"),
        default_sort="-day",
    ),
    # IPAM (ispops.ipam.api): creation validated by the hooks; allocate/reserve/release/renew are actions.
    # Allocations are history: released, never deleted.
    Resource(
        "ip_pools", IpPool, tag="ipam",
        filters=("pool_type", "is_active", "name", "vlan_id", "warning"), search=("name", "description"),
        sort=("created_at", "name", "utilisation_percent"),
        # counters and what the database derives from them (migration 0018: maintained, no longer generated)
        read_only=frozenset({"allocated_ips", "total_ips", "next_ip", "available_ips", "utilisation_percent",
                             "warning"}),
        create_only=frozenset({"network_cidr", "start_ip", "end_ip", "delegated_prefix_length"}),
        create_hook=ipam_api.create_pool, update_check=ipam_api.check_pool_update,
        create_extra=ipam_api.POOL_CREATE_EXTRA,
    ),
    Resource(
        "ip_allocations", IpAllocation, tag="ipam", verbs=frozenset({"list", "get", "create", "update"}),
        filters=("ip_pool_id", "subscriber_id", "status", "ip_address"), search=("ip_address", "mac_address"),
        sort=("allocated_at", "ip_address", "created_at", "lease_end"), default_sort="-allocated_at",
        read_only=frozenset({"status", "lease_start", "lease_end", "allocated_at", "released_at"}),
        create_only=frozenset({"ip_pool_id", "ip_address"}),
        create_hook=ipam_api.create_allocation, update_check=ipam_api.check_allocation_update,
        create_extra=ipam_api.ALLOCATION_CREATE_EXTRA,
    ),
    Resource(
        "devices", Device, tag="devices",
        filters=("device_type", "status", "operational_status", "vendor", "site_name", "name"),
        search=("name", "serial_number", "site_name", "model"),
        sort=("created_at", "name", "device_type", "status"),
        # Written by polls and backups (ispops.devices). The community is write-only; POST
        # /api/v1/devices/{id}/reveal-secret shows it (ispops.api.reveal).
        read_only=devices_service.OBSERVED_FIELDS,
        create_hook=devices_service.create_hook, update_check=devices_service.check_update,
        hidden=frozenset({"snmp_community"}), create_extra=SNMP_EXTRA, update_extra=SNMP_EXTRA,
    ),
    Resource(
        "vpn_tunnels", VpnTunnel, tag="devices",
        filters=("device_id", "status", "tunnel_type"), search=("tunnel_name",), sort=("created_at", "tunnel_name"),
        # Created by ispops.vpn (keys, address from the pool); keys and status change through its actions.
        read_only=frozenset({"public_key", "private_key_vault_path", "status", "last_handshake", "data_rx_bytes",
                             "data_tx_bytes", "config_generated_at", "config_downloaded_at", "ip_allocation_id",
                             "key_rotated_at"}),
        create_only=frozenset({"device_id", "tunnel_type", "vpn_ip"}),
        create_extra={"vpn_ip": (Inet | None, None), "ip_pool_id": (uuid.UUID | None, None)},
        create_hook=vpn_api.create_hook, update_check=vpn_service.check_update,
    ),
    Resource(
        # An OLT's name and serial number are its device's: q searches those too.
        "olts", Olt, tag="ftth", filters=("device_id", "olt_type"), sort=STAMPS,
        search=("voltha_device_id",), search_with=_olt_device_search,
        read_only=frozenset({"active_onus"}),
    ),
    Resource(
        "onus", Onu, tag="ftth",
        filters=("olt_id", "subscriber_id", "splitter_id", "status", "serial_number", "pon_port"),
        search=("serial_number", "vendor", "model"), sort=("created_at", "serial_number", "pon_port"),
    ),
    Resource(
        "splitters", Splitter, tag="ftth",
        filters=("olt_id", "parent_splitter_id", "status", "split_ratio"), search=("name", "location_name"),
        sort=("created_at", "name"), read_only=frozenset({"ports_used"}),
    ),
    Resource(
        "fiber_cables", FiberCable, tag="ftth",
        filters=("status", "cable_type", "start_device_id", "end_device_id"), search=("cable_name",),
        sort=("created_at", "cable_name"),
    ),
    Resource(
        "wireless_towers", WirelessTower, tag="wireless",
        filters=("status", "tower_type"), search=("name", "site_address"), sort=("created_at", "name"),
    ),
    Resource(
        "wireless_sectors", WirelessSector, tag="wireless",
        filters=("tower_id", "device_id", "status"), search=("name",), sort=("created_at", "name"),
        read_only=frozenset({"current_subscribers"}),
    ),
    Resource(
        "wireless_subscribers", WirelessSubscriber, tag="wireless",
        filters=("subscriber_id", "sector_id", "status", "cpe_mac"), search=("cpe_mac", "install_address"),
        sort=("created_at",),
    ),
    Resource(
        "service_activations", ServiceActivation, tag="lifecycle", verbs=frozenset({"list", "get", "create"}),
        filters=("subscriber_id", "workflow_status", "activation_type"),
        search=("activation_type", "current_step", "error_step", "error_message"),
        sort=("requested_at", "created_at"), default_sort="-requested_at",
        read_only=frozenset({"workflow_id", "workflow_status", "steps_completed", "current_step", "requested_at",
                             "started_at", "completed_at", "failed_at", "duration_seconds", "error_message",
                             "error_step", "retry_count", "requested_by"}),
    ),
    Resource(
        "ansible_jobs", AnsibleJob, tag="automation", verbs=frozenset({"list", "get", "create"}),
        filters=("status", "job_type", "target_device_id"), search=("job_name", "playbook_name"),
        sort=("created_at", "started_at"),
        read_only=frozenset({"status", "started_at", "completed_at", "duration_seconds", "exit_code", "stdout",
                             "stderr", "ansible_facts", "changed_tasks", "failed_tasks", "awx_job_id",
                             "triggered_by"}),
    ),
    Resource(
        "audit_events", AuditEvent, tag="audit", key_type=int, verbs=frozenset({"list", "get"}),
        filters=("entity", "entity_id", "action", "actor_id"), sort=("occurred_at",), default_sort="-occurred_at",
        search=("entity", "entity_id", "actor_id", "request_id"),
        extra_query={"since": (dt.datetime | None, None), "until": (dt.datetime | None, None)},
        extra_filters=_audit_filters,
    ),
]
