"""Network management: IP pools and allocations, devices, VPN tunnels (migration 0004)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, Computed, DateTime, Integer, Numeric, String, Text, text
from sqlalchemy.dialects.postgresql import CIDR, INET, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ispops.models.base import AuditMixin, Base, SoftDeleteMixin, TenantMixin, tenant_fk, tenant_key, uuid_pk


class IpPoolType(StrEnum):
    DYNAMIC = "dynamic"
    STATIC = "static"
    RESERVED = "reserved"


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


class IpPool(TenantMixin, AuditMixin, SoftDeleteMixin, Base):
    """A range of addresses inside one network; ``allocated_ips`` is kept by a trigger."""

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
    # GENERATED ALWAYS ... STORED; the column itself carries no NOT NULL.
    available_ips: Mapped[int | None] = mapped_column(
        BigInteger, Computed("total_ips - allocated_ips", persisted=True)
    )
    pool_type: Mapped[str] = mapped_column(String(50), server_default=text("'dynamic'"))
    vlan_id: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))

    allocations: Mapped[list[IpAllocation]] = relationship(
        back_populates="pool",
        primaryjoin="and_(IpPool.tenant_id == IpAllocation.tenant_id, "
        "IpPool.id == foreign(IpAllocation.ip_pool_id))",
        lazy="raise",
        # ON DELETE CASCADE: loaded children are deleted with the parent, the database does the rest.
        cascade="save-update, merge, delete",
        passive_deletes=True,
    )


class IpAllocation(TenantMixin, AuditMixin, Base):
    """One address handed out from a pool (history table: released, not deleted)."""

    __tablename__ = "ip_allocations"
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
        primaryjoin="and_(IpPool.tenant_id == IpAllocation.tenant_id, "
        "IpPool.id == foreign(IpAllocation.ip_pool_id))",
        lazy="raise",
    )


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


class VpnTunnel(TenantMixin, AuditMixin, SoftDeleteMixin, Base):
    """A management tunnel (WireGuard by default) to a device."""

    __tablename__ = "vpn_tunnels"
    __table_args__ = (
        tenant_key("vpn_tunnels"),
        tenant_fk("vpn_tunnels", "device_id", "devices", ondelete="CASCADE"),
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

    device: Mapped[Device | None] = relationship(
        primaryjoin="and_(Device.tenant_id == VpnTunnel.tenant_id, "
        "Device.id == foreign(VpnTunnel.device_id))",
        lazy="raise",
    )
