"""Network management: IP pools and allocations, devices, VPN tunnels (migration 0004)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    FetchedValue,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import CIDR, INET, UUID
from sqlalchemy.orm import Mapped, MappedColumn, mapped_column, relationship
from sqlalchemy.types import TypeEngine

from ispops.models.base import (
    AuditMixin,
    Base,
    ParentTenantMixin,
    SoftDeleteMixin,
    TenantMixin,
    identity_pk,
    tenant_fk,
    tenant_key,
    uuid_pk,
)


class IpPoolType(StrEnum):
    DYNAMIC = "dynamic"
    STATIC = "static"
    RESERVED = "reserved"
    VPN = "vpn"  # tunnel addresses (ispops.vpn), never a subscriber's (migration 0023)


class IpAllocationStatus(StrEnum):
    ALLOCATED = "allocated"
    ACTIVE = "active"
    RESERVED = "reserved"
    RELEASED = "released"


class DeviceType(StrEnum):
    OLT = "olt"
    ROUTER = "router"
    SWITCH = "switch"
    WIRELESS_AP = "wireless_ap"
    TOWER = "tower"
    CPE = "cpe"
    ONU = "onu"


class DeviceStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    MAINTENANCE = "maintenance"
    FAILED = "failed"


class DeviceOperationalStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    DEGRADED = "degraded"


class SnmpVersion(StrEnum):
    V1 = "v1"
    V2C = "v2c"
    V3 = "v3"


class VpnTunnelType(StrEnum):
    WIREGUARD = "wireguard"
    IPSEC = "ipsec"
    OPENVPN = "openvpn"


class VpnTunnelStatus(StrEnum):
    CONFIGURED = "configured"
    ACTIVE = "active"
    DISCONNECTED = "disconnected"
    ERROR = "error"


def _kept_by_database(type_: TypeEngine[Any]) -> MappedColumn[Any]:
    """A column the database computes on every write (never written by the ORM; read back after flush)."""
    return mapped_column(type_, server_default=FetchedValue(), server_onupdate=FetchedValue())


class IpPool(TenantMixin, AuditMixin, SoftDeleteMixin, Base):
    """A range of addresses inside one network.

    ``allocated_ips`` is kept by a trigger; ``available_ips``, ``utilisation_percent`` and ``warning`` follow
    from it (set by ``ipam_allocate`` and the ``ip_pools_ipam_usage`` trigger, migration 0018).
    """

    __tablename__ = "ip_pools"
    __table_args__ = (tenant_key("ip_pools"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    network_cidr: Mapped[str] = mapped_column(CIDR)
    gateway: Mapped[str | None] = mapped_column(INET)
    dns_primary: Mapped[str | None] = mapped_column(INET)
    dns_secondary: Mapped[str | None] = mapped_column(INET)
    start_ip: Mapped[str] = mapped_column(INET)
    end_ip: Mapped[str] = mapped_column(INET)
    total_ips: Mapped[int] = mapped_column(BigInteger)
    allocated_ips: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    available_ips: Mapped[int] = _kept_by_database(BigInteger())
    pool_type: Mapped[str] = mapped_column(String(50), server_default=text("'dynamic'"))
    vlan_id: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # Migration 0010 (IPAM): prefix delegation, the allocation cursor, leases, utilisation.
    delegated_prefix_length: Mapped[int | None] = mapped_column(Integer)
    next_ip: Mapped[str | None] = mapped_column(INET)
    default_lease_seconds: Mapped[int | None] = mapped_column(Integer)
    warning_threshold_percent: Mapped[int] = mapped_column(Integer, server_default=text("90"))
    utilisation_percent: Mapped[Decimal] = _kept_by_database(Numeric(5, 2))
    warning: Mapped[bool] = _kept_by_database(Boolean())

    allocations: Mapped[list[IpAllocation]] = relationship(
        back_populates="pool",
        primaryjoin="and_(IpPool.tenant_id == IpAllocation.tenant_id, IpPool.id == foreign(IpAllocation.ip_pool_id))",
        lazy="raise",
        # ON DELETE CASCADE: loaded children are deleted with the parent, the database does the rest.
        cascade="save-update, merge, delete",
        passive_deletes=True,
    )


class IpAllocation(ParentTenantMixin, AuditMixin, Base):
    """One address handed out from a pool (history table: released, not deleted).

    No key of its own to ``tenants`` (migration 0018): the NOT NULL pool key pins the tenant.
    """

    __tablename__ = "ip_allocations"
    __tenant_parent__ = "ip_pool_id"
    __table_args__ = (
        tenant_key("ip_allocations"),
        tenant_fk("ip_allocations", "ip_pool_id", "ip_pools", ondelete="CASCADE"),
        tenant_fk("ip_allocations", "subscriber_id", "subscribers"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    ip_pool_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    subscriber_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    ip_address: Mapped[str] = mapped_column(INET)
    mac_address: Mapped[str | None] = mapped_column(String(17))
    status: Mapped[str] = mapped_column(String(50), server_default=text("'allocated'"))
    lease_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    allocated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    pool: Mapped[IpPool] = relationship(
        back_populates="allocations",
        primaryjoin="and_(IpPool.tenant_id == IpAllocation.tenant_id, IpPool.id == foreign(IpAllocation.ip_pool_id))",
        lazy="raise",
    )


class IpPoolFree(TenantMixin, Base):
    """An address given back to its pool: handed out again before the pool's cursor moves on (migration 0010)."""

    __tablename__ = "ip_pool_free"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "ip_pool_id", "ip_address", name="uq_ip_pool_free__tenant_id__ip_pool_id__ip_address"
        ),
        tenant_fk("ip_pool_free", "ip_pool_id", "ip_pools", ondelete="CASCADE"),
    )

    id: Mapped[int] = identity_pk()
    ip_pool_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    ip_address: Mapped[str] = mapped_column(INET)


class Device(TenantMixin, AuditMixin, SoftDeleteMixin, Base):
    """Any managed network element: OLT, router, switch, access point, CPE, ..."""

    __tablename__ = "devices"
    __table_args__ = (tenant_key("devices"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(100))
    device_type: Mapped[str] = mapped_column(String(50))
    vendor: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(100))
    serial_number: Mapped[str | None] = mapped_column(String(100))
    primary_ip: Mapped[str | None] = mapped_column(INET)
    management_ip: Mapped[str | None] = mapped_column(INET)
    mac_address: Mapped[str | None] = mapped_column(String(17))
    site_name: Mapped[str | None] = mapped_column(String(100))
    location_address: Mapped[str | None] = mapped_column(Text)
    location_lat: Mapped[Decimal | None] = mapped_column(Numeric(10, 8))
    location_lng: Mapped[Decimal | None] = mapped_column(Numeric(11, 8))
    rack_location: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(50), server_default=text("'active'"))
    operational_status: Mapped[str | None] = mapped_column(String(50))
    credentials_vault_path: Mapped[str | None] = mapped_column(String(255))
    snmp_community: Mapped[str | None] = mapped_column(String(100))
    snmp_version: Mapped[str] = mapped_column(String(10), server_default=text("'v2c'"))
    netbox_id: Mapped[int | None] = mapped_column(Integer)
    voltha_id: Mapped[str | None] = mapped_column(String(255))
    port_count: Mapped[int | None] = mapped_column(Integer)
    ports_used: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    firmware_version: Mapped[str | None] = mapped_column(String(100))
    hardware_version: Mapped[str | None] = mapped_column(String(100))
    notes: Mapped[str | None] = mapped_column(Text)
    config_backup_path: Mapped[str | None] = mapped_column(String(500))
    last_config_backup: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Migration 0011: SNMP port, system group and the outcome of the last poll and backup.
    snmp_port: Mapped[int] = mapped_column(Integer, server_default=text("161"))
    sys_name: Mapped[str | None] = mapped_column(String(255))
    sys_descr: Mapped[str | None] = mapped_column(Text)
    sys_uptime_seconds: Mapped[int | None] = mapped_column(BigInteger)
    last_polled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_poll_error: Mapped[str | None] = mapped_column(Text)
    last_config_backup_error: Mapped[str | None] = mapped_column(Text)


class InterfaceAdminStatus(StrEnum):
    """IF-MIB ifAdminStatus, by name."""

    UP = "up"
    DOWN = "down"
    TESTING = "testing"


class InterfaceOperStatus(StrEnum):
    """IF-MIB ifOperStatus, by name."""

    UP = "up"
    DOWN = "down"
    TESTING = "testing"
    UNKNOWN = "unknown"
    DORMANT = "dormant"
    NOT_PRESENT = "not_present"
    LOWER_LAYER_DOWN = "lower_layer_down"


class DeviceInterface(TenantMixin, AuditMixin, Base):
    """One interface of a device as its last SNMP walk saw it (migration 0011)."""

    __tablename__ = "device_interfaces"
    __table_args__ = (
        tenant_key("device_interfaces"),
        UniqueConstraint(
            "tenant_id", "device_id", "if_index", name="uq_device_interfaces__tenant_id__device_id__if_index"
        ),
        tenant_fk("device_interfaces", "device_id", "devices", ondelete="CASCADE"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    device_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    if_index: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(255))
    alias: Mapped[str | None] = mapped_column(String(255))
    if_type: Mapped[int | None] = mapped_column(Integer)
    speed_mbps: Mapped[int | None] = mapped_column(BigInteger)
    admin_status: Mapped[str | None] = mapped_column(String(20))
    oper_status: Mapped[str | None] = mapped_column(String(20))
    in_octets: Mapped[Decimal | None] = mapped_column(Numeric(20, 0))
    out_octets: Mapped[Decimal | None] = mapped_column(Numeric(20, 0))
    in_errors: Mapped[int | None] = mapped_column(BigInteger)
    out_errors: Mapped[int | None] = mapped_column(BigInteger)
    hc_counters: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    polled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class VpnTunnel(TenantMixin, AuditMixin, SoftDeleteMixin, Base):
    """A management tunnel (WireGuard by default) to a device."""

    __tablename__ = "vpn_tunnels"
    __table_args__ = (
        tenant_key("vpn_tunnels"),
        tenant_fk("vpn_tunnels", "device_id", "devices", ondelete="CASCADE"),
        tenant_fk("vpn_tunnels", "ip_allocation_id", "ip_allocations"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    device_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    tunnel_name: Mapped[str] = mapped_column(String(100))
    tunnel_type: Mapped[str] = mapped_column(String(50), server_default=text("'wireguard'"))
    public_key: Mapped[str | None] = mapped_column(Text)
    private_key_vault_path: Mapped[str | None] = mapped_column(String(255))
    vpn_ip: Mapped[str] = mapped_column(INET)
    vpn_network: Mapped[str | None] = mapped_column(CIDR)
    server_endpoint: Mapped[str | None] = mapped_column(String(255))
    peer_endpoint: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(50), server_default=text("'configured'"))
    last_handshake: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    data_rx_bytes: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    data_tx_bytes: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    config_generated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    config_downloaded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Migration 0012: the hub's key and keepalive for the peer config, the IPAM allocation of vpn_ip.
    server_public_key: Mapped[str | None] = mapped_column(Text)
    persistent_keepalive: Mapped[int] = mapped_column(Integer, server_default=text("25"))
    ip_allocation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    key_rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    device: Mapped[Device | None] = relationship(
        primaryjoin="and_(Device.tenant_id == VpnTunnel.tenant_id, Device.id == foreign(VpnTunnel.device_id))",
        lazy="raise",
    )
