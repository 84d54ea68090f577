"""FTTH plant: OLTs, their PON ports, ONUs, splitters and fiber cables (migrations 0005, 0027), FTTH settings."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    Date,
    DateTime,
    FetchedValue,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import INET, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ispops.models.base import AuditMixin, Base, SoftDeleteMixin, TenantMixin, tenant_fk, tenant_key, uuid_pk

if TYPE_CHECKING:
    from ispops.models.network import Device


class OltTechnology(StrEnum):
    GPON = "gpon"
    XGSPON = "xgspon"
    EPON = "epon"
    XGEPON = "xgepon"


class OpticalClass(StrEnum):
    """ODN class of an OLT's optics: GPON B+/C+ (G.984.2), XGS-PON N1/N2/E1 (G.9807.1), EPON PX20, 10G-EPON PR30."""

    B_PLUS = "b_plus"
    C_PLUS = "c_plus"
    N1 = "n1"
    N2 = "n2"
    E1 = "e1"
    PX20 = "px20"
    PR30 = "pr30"


class PonPortStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class OltManagementProtocol(StrEnum):
    SNMP = "snmp"
    SSH = "ssh"
    TELNET = "telnet"
    NETCONF = "netconf"
    VOLTHA = "voltha"


class SplitRatio(StrEnum):
    """``<inputs>x<outputs>``; the migration builds this list (``RATIOS``) in Python."""

    R1X2 = "1x2"
    R1X4 = "1x4"
    R1X8 = "1x8"
    R1X16 = "1x16"
    R1X32 = "1x32"
    R1X64 = "1x64"
    R1X128 = "1x128"
    R2X2 = "2x2"
    R2X4 = "2x4"
    R2X8 = "2x8"
    R2X16 = "2x16"
    R2X32 = "2x32"
    R2X64 = "2x64"
    R2X128 = "2x128"


class SplitterType(StrEnum):
    PLC = "plc"
    FBT = "fbt"


class SplitterInstallationType(StrEnum):
    POLE_MOUNT = "pole_mount"
    UNDERGROUND = "underground"
    INDOOR = "indoor"
    NAP = "nap"
    FDH = "fdh"


class SplitterStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    MAINTENANCE = "maintenance"


class OnuStatus(StrEnum):
    """The ONU lifecycle (docs/ftth.md): discovered → authorising → authorised → online ⇄ offline → retired.

    ``authorising``/``deauthorising``: a driver job is running; ``auth_failed``: it failed or timed out (the
    ONU keeps its id, so retrying is safe).
    """

    DISCOVERED = "discovered"
    AUTHORISING = "authorising"
    AUTHORISED = "authorised"
    ONLINE = "online"
    OFFLINE = "offline"
    AUTH_FAILED = "auth_failed"
    DEAUTHORISING = "deauthorising"
    RETIRED = "retired"


class OnuDownCause(StrEnum):
    """Why an ONU last went offline. ``dying_gasp`` is a power event at the subscriber, not a fibre fault."""

    LOS = "los"
    LOSI = "losi"
    LOFI = "lofi"
    DYING_GASP = "dying_gasp"
    DEACTIVATED = "deactivated"
    UNKNOWN = "unknown"


class OnuAuthMethod(StrEnum):
    SERIAL = "serial"
    LOID = "loid"


class OnuMode(StrEnum):
    ROUTING = "routing"
    BRIDGING = "bridging"


class OnuAdminStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class OnuOperationalStatus(StrEnum):
    UP = "up"
    DOWN = "down"
    DEGRADED = "degraded"


class FiberCableType(StrEnum):
    SINGLE_MODE = "single_mode"
    MULTI_MODE = "multi_mode"
    ARMORED = "armored"
    AERIAL = "aerial"
    UNDERGROUND = "underground"


class FiberInstallationMethod(StrEnum):
    AERIAL = "aerial"
    UNDERGROUND = "underground"
    DUCT = "duct"
    DIRECT_BURIAL = "direct_burial"


class FiberCableStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    DAMAGED = "damaged"
    MAINTENANCE = "maintenance"


class Olt(TenantMixin, AuditMixin, SoftDeleteMixin, Base):
    """The FTTH view of an OLT device; ``active_onus`` (online ONUs) and ``active_pon_ports`` are counters.

    ``optical_class`` NULL means the technology's default class (``ispops.ftth.settings``)."""

    __tablename__ = "olts"
    __table_args__ = (
        tenant_key("olts"),
        tenant_fk("olts", "device_id", "devices", ondelete="CASCADE"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    device_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), sort_order=-1)
    technology: Mapped[str] = mapped_column(String(50), server_default=text("'gpon'"))
    max_pon_ports: Mapped[int | None] = mapped_column(Integer)
    active_pon_ports: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    voltha_device_id: Mapped[str | None] = mapped_column(String(255))
    voltha_parent_id: Mapped[str | None] = mapped_column(String(255))
    total_onu_capacity: Mapped[int | None] = mapped_column(Integer)
    active_onus: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    management_protocol: Mapped[str | None] = mapped_column(String(50))
    optical_class: Mapped[str | None] = mapped_column(String(20))
    driver: Mapped[str | None] = mapped_column(String(30))  # migration 0032 (ispops.ftth.drivers)
    driver_port: Mapped[int | None] = mapped_column(Integer)

    device: Mapped[Device] = relationship(
        primaryjoin="and_(Device.tenant_id == Olt.tenant_id, Device.id == foreign(Olt.device_id))",
        lazy="raise",
    )
    onus: Mapped[list[Onu]] = relationship(
        back_populates="olt",
        primaryjoin="and_(Olt.tenant_id == Onu.tenant_id, Olt.id == foreign(Onu.olt_id))",
        lazy="raise",
        # ON DELETE CASCADE: loaded children are deleted with the parent, the database does the rest.
        cascade="save-update, merge, delete",
        passive_deletes=True,
    )
    splitters: Mapped[list[Splitter]] = relationship(
        back_populates="olt",
        primaryjoin="and_(Olt.tenant_id == Splitter.tenant_id, Olt.id == foreign(Splitter.olt_id))",
        lazy="raise",
        passive_deletes=True,
    )


class Splitter(TenantMixin, AuditMixin, SoftDeleteMixin, Base):
    """A passive optical splitter: a root fed from an OLT PON port (``pon_port_id``), or a child on a parent
    splitter's output port (``parent_splitter_id`` + ``parent_output_port``; the lowest free one when not
    given). The tree has no cycles and ``ports_used`` counts the ONUs and children on its ports (migration
    0028, ``ftth/sql/splitter_tree.sql``, ``ftth/sql/splitter_ports.sql``)."""

    __tablename__ = "splitters"
    __table_args__ = (
        tenant_key("splitters"),
        tenant_fk("splitters", "olt_id", "olts"),
        tenant_fk("splitters", "parent_splitter_id", "splitters"),
        tenant_fk("splitters", "pon_port_id", "olt_pon_ports"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    olt_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    name: Mapped[str] = mapped_column(String(100))
    split_ratio: Mapped[str] = mapped_column(String(20))
    splitter_type: Mapped[str] = mapped_column(String(50), server_default=text("'plc'"))
    location_name: Mapped[str | None] = mapped_column(String(100))
    location_address: Mapped[str | None] = mapped_column(Text)
    location_lat: Mapped[Decimal | None] = mapped_column(Numeric(10, 8))
    location_lng: Mapped[Decimal | None] = mapped_column(Numeric(11, 8))
    installation_type: Mapped[str | None] = mapped_column(String(50))
    input_ports: Mapped[int | None] = mapped_column(
        Integer, Computed("split_part(split_ratio, 'x', 1)::integer", persisted=True)
    )
    output_ports: Mapped[int | None] = mapped_column(
        Integer, Computed("split_part(split_ratio, 'x', 2)::integer", persisted=True)
    )
    ports_used: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    parent_splitter_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    parent_output_port: Mapped[int | None] = mapped_column(Integer)
    pon_port_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(50), server_default=text("'active'"))
    installation_date: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)

    olt: Mapped[Olt | None] = relationship(
        back_populates="splitters",
        primaryjoin="and_(Olt.tenant_id == Splitter.tenant_id, Olt.id == foreign(Splitter.olt_id))",
        lazy="raise",
    )


class Onu(TenantMixin, AuditMixin, SoftDeleteMixin, Base):
    """A subscriber-side optical terminal on one PON port of an OLT."""

    __tablename__ = "onus"
    __table_args__ = (
        tenant_key("onus"),
        tenant_fk("onus", "olt_id", "olts", ondelete="CASCADE"),
        tenant_fk("onus", "subscriber_id", "subscribers"),
        tenant_fk("onus", "splitter_id", "splitters"),
        tenant_fk("onus", "pon_port_id", "olt_pon_ports", ondelete="NO ACTION"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    olt_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    subscriber_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    splitter_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    splitter_port: Mapped[int | None] = mapped_column(Integer)
    serial_number: Mapped[str] = mapped_column(String(100))
    vendor: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(100))
    # Derived from pon_port_id (the port's number); a row written with only pon_port gets port 0/0/<pon_port>.
    pon_port: Mapped[int | None] = mapped_column(Integer)
    # The ONU's number on its PON port, not a reference to another row; NULL until authorised.
    onu_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(50), server_default=text("'discovered'"))
    admin_status: Mapped[str] = mapped_column(String(50), server_default=text("'disabled'"))
    operational_status: Mapped[str | None] = mapped_column(String(50))
    rx_power_dbm: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    tx_power_dbm: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    distance_meters: Mapped[int | None] = mapped_column(Integer)
    service_profile: Mapped[str | None] = mapped_column(String(100))
    vlan_id: Mapped[int | None] = mapped_column(Integer)
    acs_url: Mapped[str | None] = mapped_column(String(255))
    acs_username: Mapped[str | None] = mapped_column(String(100))
    acs_password_vault_path: Mapped[str | None] = mapped_column(String(255))
    wifi_ssid: Mapped[str | None] = mapped_column(String(64))
    wifi_password_vault_path: Mapped[str | None] = mapped_column(String(255))
    lan_ip: Mapped[str | None] = mapped_column(INET)
    voltha_device_id: Mapped[str | None] = mapped_column(String(255))
    genieacs_device_id: Mapped[str | None] = mapped_column(String(255))
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    uptime_seconds: Mapped[int | None] = mapped_column(BigInteger)
    pon_port_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), server_default=FetchedValue())
    last_down_cause: Mapped[str | None] = mapped_column(String(20))
    last_down_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    auth_method: Mapped[str | None] = mapped_column(String(20))
    loid: Mapped[str | None] = mapped_column(String(64))
    onu_type: Mapped[str | None] = mapped_column(String(100))
    mode: Mapped[str | None] = mapped_column(String(20))
    service_port: Mapped[int | None] = mapped_column(Integer)
    line_profile: Mapped[str | None] = mapped_column(String(100))
    speed_profile: Mapped[str | None] = mapped_column(String(100))
    zone: Mapped[str | None] = mapped_column(String(100))
    authorised_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    olt: Mapped[Olt] = relationship(
        back_populates="onus",
        primaryjoin="and_(Olt.tenant_id == Onu.tenant_id, Olt.id == foreign(Onu.olt_id))",
        lazy="raise",
    )


class OltPonPort(TenantMixin, AuditMixin, Base):
    """One PON port of an OLT, addressed ``frame/slot/port`` as operators write it (``name``, generated).

    ``max_onus``: how many ONU ids it has (0 .. max_onus - 1), from the OLT's technology and the tenant's
    settings when not given. Part of its OLT (no soft delete): a port still holding ONUs cannot be deleted.
    ``olts.active_pon_ports`` counts the active ones."""

    __tablename__ = "olt_pon_ports"
    __table_args__ = (
        tenant_key("olt_pon_ports"),
        tenant_fk("olt_pon_ports", "olt_id", "olts", ondelete="CASCADE"),
        UniqueConstraint(
            "tenant_id",
            "olt_id",
            "frame",
            "slot",
            "port",
            name="uq_olt_pon_ports__tenant_id__olt_id__frame__slot__port",
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    olt_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    frame: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    slot: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    port: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(
        String(20), Computed("(frame || '/' || slot || '/' || port)", persisted=True)
    )
    max_onus: Mapped[int] = mapped_column(Integer, server_default=FetchedValue())
    status: Mapped[str] = mapped_column(String(20), server_default=text("'active'"))
    description: Mapped[str | None] = mapped_column(String(255))


class FtthSettings(AuditMixin, Base):
    """A tenant's FTTH settings, one row per tenant, one JSON section per part of the FTTH domain:
    ``classes`` (technologies and optical classes, ``ispops.ftth.settings``), ``alarms``, ``loss``.
    An absent row or key means the defaults."""

    __tablename__ = "ftth_settings"

    tenant_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("tenants.id", ondelete="RESTRICT"), primary_key=True, sort_order=-1
    )
    classes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))
    alarms: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))
    loss: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))


class FiberCable(TenantMixin, AuditMixin, SoftDeleteMixin, Base):
    """A fibre cable: its route (a GeoJSON LineString), its length (geodesic along the route unless
    ``length_measured``), its ends (each at a device, a splitter or a closure) and its strands
    (``fiber_strands``, made with it; ``ispops.ftth.plant``)."""

    __tablename__ = "fiber_cables"
    __table_args__ = (
        tenant_key("fiber_cables"),
        tenant_fk("fiber_cables", "start_device_id", "devices"),
        tenant_fk("fiber_cables", "end_device_id", "devices"),
        tenant_fk("fiber_cables", "start_splitter_id", "splitters"),
        tenant_fk("fiber_cables", "start_closure_id", "fiber_closures"),
        tenant_fk("fiber_cables", "end_splitter_id", "splitters"),
        tenant_fk("fiber_cables", "end_closure_id", "fiber_closures"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    cable_name: Mapped[str] = mapped_column(String(100))
    cable_type: Mapped[str | None] = mapped_column(String(50))
    fiber_count: Mapped[int] = mapped_column(Integer)
    start_device_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    start_device_port: Mapped[str | None] = mapped_column(String(50))
    start_location_name: Mapped[str | None] = mapped_column(String(100))
    start_location_lat: Mapped[Decimal | None] = mapped_column(Numeric(10, 8))
    start_location_lng: Mapped[Decimal | None] = mapped_column(Numeric(11, 8))
    end_device_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    end_device_port: Mapped[str | None] = mapped_column(String(50))
    end_location_name: Mapped[str | None] = mapped_column(String(100))
    end_location_lat: Mapped[Decimal | None] = mapped_column(Numeric(10, 8))
    end_location_lng: Mapped[Decimal | None] = mapped_column(Numeric(11, 8))
    length_meters: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    color_code: Mapped[str | None] = mapped_column(String(50))
    installation_method: Mapped[str | None] = mapped_column(String(50))
    geojson_path: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(50), server_default=text("'active'"))
    installation_date: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    start_splitter_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    end_splitter_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    start_closure_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    end_closure_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    length_measured: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
