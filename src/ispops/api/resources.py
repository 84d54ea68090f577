"""The tenant resources and how each is exposed. Domain behaviour lives in the hooks named here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement

from ispops.api.crud import Resource
from ispops.errors import ValidationFailed
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
    RadReply,
    ServiceActivation,
    Splitter,
    Subscriber,
    VpnTunnel,
    WirelessSector,
    WirelessSubscriber,
    WirelessTower,
)

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


def _no_password_attribute(obj: Any, data: dict[str, Any]) -> None:
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
    obj = RadCheck(**data, tenant_id=principal.tenant_id)
    session.add(obj)
    return obj


def _masked(row: dict[str, Any]) -> dict[str, Any]:
    if row["attribute"] in PASSWORD_ATTRIBUTES:
        return {**row, "value": "********"}
    return row


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
        hidden=frozenset({"pppoe_password"}),
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
    ),
    Resource(
        "radcheck", RadCheck, tag="radius", key_type=int,
        filters=("username", "subscriber_id", "attribute"), sort=("created_at", "username", "attribute"),
        create_only=frozenset({"attribute", "username", "subscriber_id"}),
        create_hook=_create_radcheck, update_check=_no_password_attribute, serialize=_masked,
    ),
    Resource(
        "radreply", RadReply, tag="radius", key_type=int,
        filters=("username", "subscriber_id", "attribute"), sort=("created_at", "username", "attribute"),
        create_only=frozenset({"username", "subscriber_id"}),
    ),
    Resource(
        "radacct", RadAcct, tag="radius", key_type=int, key_column="radacctid",
        verbs=frozenset({"list", "get"}),
        filters=("username", "subscriber_id", "nasipaddress", "acctsessionid"),
        sort=("acctstarttime", "acctstoptime", "acctupdatetime"), default_sort="-acctstarttime",
        extra_query={"active": (bool | None, None), **TIME_RANGE}, extra_filters=_radacct_filters,
    ),
    Resource(
        "ip_pools", IpPool, tag="ipam",
        filters=("pool_type", "is_active", "name", "vlan_id"), search=("name", "description"),
        sort=("created_at", "name"), read_only=frozenset({"allocated_ips"}),
    ),
    Resource(
        "ip_allocations", IpAllocation, tag="ipam",
        filters=("ip_pool_id", "subscriber_id", "status", "ip_address"),
        sort=("allocated_at", "ip_address", "created_at"), default_sort="-allocated_at",
        create_only=frozenset({"ip_pool_id"}),
    ),
    Resource(
        "devices", Device, tag="devices",
        filters=("device_type", "status", "operational_status", "vendor", "site_name", "name"),
        search=("name", "serial_number", "site_name", "model"),
        sort=("created_at", "name", "device_type", "status"),
    ),
    Resource(
        "vpn_tunnels", VpnTunnel, tag="devices",
        filters=("device_id", "status", "tunnel_type"), search=("tunnel_name",), sort=("created_at", "tunnel_name"),
    ),
    Resource(
        "olts", Olt, tag="ftth", filters=("device_id", "olt_type"), sort=STAMPS,
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
        extra_query={"since": (dt.datetime | None, None), "until": (dt.datetime | None, None)},
        extra_filters=_audit_filters,
    ),
]
