"""Fixed wireless: towers, sectors and subscriber CPEs (migration 0006); coverage, settings, leads, CPE
readings and alarms (migration 0030)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Identity,
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


class TowerType(StrEnum):
    MONOPOLE = "monopole"
    GUYED = "guyed"
    LATTICE = "lattice"
    ROOFTOP = "rooftop"
    WATER_TOWER = "water_tower"


class TowerPowerType(StrEnum):
    GRID = "grid"
    SOLAR = "solar"
    GENERATOR = "generator"
    BATTERY_BACKUP = "battery_backup"


class TowerStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    PLANNED = "planned"
    UNDER_CONSTRUCTION = "under_construction"


class SectorStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    MAINTENANCE = "maintenance"


class SectorOperationalStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    DEGRADED = "degraded"


class WirelessSubscriberStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    OFFLINE = "offline"


class CpeReadingSource(StrEnum):
    PUSH = "push"
    SNMP = "snmp"


class CpeAlarmKind(StrEnum):
    SNR_BELOW_PLAN = "snr_below_plan"
    SIGNAL_DRIFT = "signal_drift"
    WRONG_SECTOR = "wrong_sector"


class LeadSource(StrEnum):
    PORTAL = "portal"
    STAFF = "staff"


class LeadStatus(StrEnum):
    NEW = "new"
    CONTACTED = "contacted"
    CONVERTED = "converted"
    DECLINED = "declined"


class WirelessTower(TenantMixin, AuditMixin, SoftDeleteMixin, Base):
    """A site carrying sector antennas."""

    __tablename__ = "wireless_towers"
    __table_args__ = (tenant_key("wireless_towers"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(100))
    tower_type: Mapped[str | None] = mapped_column(String(50))
    height_meters: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    site_address: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[Decimal] = mapped_column(Numeric(10, 8))
    longitude: Mapped[Decimal] = mapped_column(Numeric(11, 8))
    elevation_meters: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    access_notes: Mapped[str | None] = mapped_column(Text)
    site_contact_name: Mapped[str | None] = mapped_column(String(100))
    site_contact_phone: Mapped[str | None] = mapped_column(String(50))
    power_type: Mapped[str | None] = mapped_column(String(50))
    has_backup_power: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    status: Mapped[str] = mapped_column(String(50), server_default=text("'active'"))
    construction_date: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)

    sectors: Mapped[list[WirelessSector]] = relationship(
        back_populates="tower",
        primaryjoin="and_(WirelessTower.tenant_id == WirelessSector.tenant_id, "
        "WirelessTower.id == foreign(WirelessSector.tower_id))",
        lazy="raise",
        # ON DELETE CASCADE: loaded children are deleted with the parent, the database does the rest.
        cascade="save-update, merge, delete",
        passive_deletes=True,
    )


class WirelessSector(TenantMixin, AuditMixin, SoftDeleteMixin, Base):
    """One antenna/radio on a tower; ``current_subscribers`` is kept by a trigger."""

    __tablename__ = "wireless_sectors"
    __table_args__ = (
        tenant_key("wireless_sectors"),
        tenant_fk("wireless_sectors", "tower_id", "wireless_towers", ondelete="CASCADE"),
        tenant_fk("wireless_sectors", "device_id", "devices"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tower_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    device_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    name: Mapped[str] = mapped_column(String(100))
    sector_number: Mapped[int | None] = mapped_column(Integer)
    frequency_mhz: Mapped[int] = mapped_column(Integer)
    channel_width_mhz: Mapped[int | None] = mapped_column(Integer)
    channel_number: Mapped[int | None] = mapped_column(Integer)
    antenna_model: Mapped[str | None] = mapped_column(String(100))
    antenna_gain_dbi: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    azimuth: Mapped[int] = mapped_column(Integer)
    beamwidth_degrees: Mapped[int] = mapped_column(Integer)
    downtilt_degrees: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    max_range_km: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    coverage_area_geojson: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    max_capacity_mbps: Mapped[int | None] = mapped_column(Integer)
    max_subscribers: Mapped[int | None] = mapped_column(Integer)
    current_subscribers: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    tx_power_dbm: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(50), server_default=text("'active'"))
    operational_status: Mapped[str | None] = mapped_column(String(50))
    installation_date: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    # The radio (migration 0030): a family of ispops.wireless.radio or of the tenant's own tables.
    radio_family: Mapped[str] = mapped_column(String(50), server_default=text("'802.11ac'"))
    spatial_streams: Mapped[int] = mapped_column(Integer, server_default=text("2"))
    cable_loss_db: Mapped[Decimal] = mapped_column(Numeric(5, 2), server_default=text("0"))
    radio_mac: Mapped[str | None] = mapped_column(String(17))
    oversubscription_ratio: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    # Computed by ispops.wireless.service whenever the sector or its tower changes.
    coverage_range_km: Mapped[Decimal | None] = mapped_column(Numeric(7, 3))
    coverage_min_lat: Mapped[Decimal | None] = mapped_column(Numeric(10, 7))
    coverage_min_lng: Mapped[Decimal | None] = mapped_column(Numeric(10, 7))
    coverage_max_lat: Mapped[Decimal | None] = mapped_column(Numeric(10, 7))
    coverage_max_lng: Mapped[Decimal | None] = mapped_column(Numeric(10, 7))
    coverage_computed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    tower: Mapped[WirelessTower] = relationship(
        back_populates="sectors",
        primaryjoin="and_(WirelessTower.tenant_id == WirelessSector.tenant_id, "
        "WirelessTower.id == foreign(WirelessSector.tower_id))",
        lazy="raise",
    )
    cpes: Mapped[list[WirelessSubscriber]] = relationship(
        back_populates="sector",
        primaryjoin="and_(WirelessSector.tenant_id == WirelessSubscriber.tenant_id, "
        "WirelessSector.id == foreign(WirelessSubscriber.sector_id))",
        lazy="raise",
        # ON DELETE CASCADE: loaded children are deleted with the parent, the database does the rest.
        cascade="save-update, merge, delete",
        passive_deletes=True,
    )


class WirelessSubscriber(TenantMixin, AuditMixin, SoftDeleteMixin, Base):
    """A subscriber's CPE and its link to a sector."""

    __tablename__ = "wireless_subscribers"
    __table_args__ = (
        tenant_key("wireless_subscribers"),
        tenant_fk("wireless_subscribers", "subscriber_id", "subscribers", ondelete="CASCADE"),
        tenant_fk("wireless_subscribers", "sector_id", "wireless_sectors", ondelete="CASCADE"),
        tenant_fk("wireless_subscribers", "registered_sector_id", "wireless_sectors"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    subscriber_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    sector_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    cpe_mac: Mapped[str] = mapped_column(String(17))
    cpe_model: Mapped[str | None] = mapped_column(String(100))
    cpe_ip: Mapped[str | None] = mapped_column(INET)
    install_latitude: Mapped[Decimal] = mapped_column(Numeric(10, 8))
    install_longitude: Mapped[Decimal] = mapped_column(Numeric(11, 8))
    install_elevation_meters: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    install_address: Mapped[str | None] = mapped_column(Text)
    signal_strength_dbm: Mapped[int | None] = mapped_column(Integer)
    signal_quality_percent: Mapped[int | None] = mapped_column(Integer)
    noise_floor_dbm: Mapped[int | None] = mapped_column(Integer)
    snr_db: Mapped[int | None] = mapped_column(Integer)
    distance_km: Mapped[Decimal | None] = mapped_column(Numeric(6, 3))
    link_speed_mbps: Mapped[int | None] = mapped_column(Integer)
    frequency_mhz: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(50), server_default=text("'active'"))
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    installation_date: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    # Migration 0030: the CPE's antenna, what the link budget predicts, where it last registered.
    cpe_gain_dbi: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    cpe_height_m: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    predicted_signal_dbm: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    predicted_snr_db: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    registered_sector_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))

    sector: Mapped[WirelessSector] = relationship(
        back_populates="cpes",
        primaryjoin="and_(WirelessSector.tenant_id == WirelessSubscriber.tenant_id, "
        "WirelessSector.id == foreign(WirelessSubscriber.sector_id))",
        lazy="raise",
    )


class WirelessSettings(TenantMixin, AuditMixin, Base):
    """The tenant's wireless rules: one row per tenant (ispops.wireless.settings holds the defaults)."""

    __tablename__ = "wireless_settings"
    __table_args__ = (
        tenant_key("wireless_settings"),
        UniqueConstraint("tenant_id", name="uq_wireless_settings__tenant_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    required_fade_margin_db: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    noise_figure_db: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    default_tx_power_dbm: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    default_antenna_gain_dbi: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    default_channel_width_mhz: Mapped[int] = mapped_column(Integer)
    default_cpe_gain_dbi: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    default_cpe_height_m: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    default_tower_height_m: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    mac_efficiency: Mapped[Decimal] = mapped_column(Numeric(4, 3))
    oversubscription_ratio: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    utilisation_warning_percent: Mapped[int] = mapped_column(Integer)
    k_factor: Mapped[Decimal] = mapped_column(Numeric(4, 3))
    bands: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    radio_tables: Mapped[dict[str, Any]] = mapped_column(JSONB)
    portal_enabled: Mapped[bool] = mapped_column(Boolean)
    portal_name: Mapped[str | None] = mapped_column(String(100))
    portal_checks_per_hour: Mapped[int] = mapped_column(Integer)


class WirelessLead(TenantMixin, AuditMixin, SoftDeleteMixin, Base):
    """An address someone asked about (staff, or the public page), with the answer it got."""

    __tablename__ = "wireless_leads"
    __table_args__ = (
        tenant_key("wireless_leads"),
        tenant_fk("wireless_leads", "best_sector_id", "wireless_sectors"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    source: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), server_default=text("'new'"))
    latitude: Mapped[Decimal] = mapped_column(Numeric(10, 8))
    longitude: Mapped[Decimal] = mapped_column(Numeric(11, 8))
    cpe_height_m: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    address: Mapped[str | None] = mapped_column(Text)
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(255))
    contact_phone: Mapped[str | None] = mapped_column(String(50))
    serviceable: Mapped[bool] = mapped_column(Boolean)
    best_sector_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    best_fade_margin_db: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    # What was answered: {"candidates": [...]} (ispops.wireless.serviceability.Answer)
    answer: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    client_address: Mapped[str | None] = mapped_column(INET)


class WirelessCpeReading(TenantMixin, Base):
    """One radio reading of a CPE (partitioned by day on ``read_at``; written with COPY)."""

    __tablename__ = "wireless_cpe_readings"
    __table_args__ = (
        tenant_fk("wireless_cpe_readings", "wireless_subscriber_id", "wireless_subscribers", ondelete="CASCADE"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True, sort_order=-2)
    wireless_subscriber_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    read_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    source: Mapped[str] = mapped_column(String(10))
    signal_dbm: Mapped[Decimal | None] = mapped_column(Numeric(5, 1))
    noise_dbm: Mapped[Decimal | None] = mapped_column(Numeric(5, 1))
    snr_db: Mapped[Decimal | None] = mapped_column(Numeric(5, 1))
    link_speed_mbps: Mapped[int | None] = mapped_column(Integer)
    distance_km: Mapped[Decimal | None] = mapped_column(Numeric(7, 3))
    registered_sector_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class WirelessCpeAlarm(TenantMixin, AuditMixin, Base):
    """A CPE health alarm; at most one open (``cleared_at IS NULL``) per CPE and kind."""

    __tablename__ = "wireless_cpe_alarms"
    __table_args__ = (
        tenant_key("wireless_cpe_alarms"),
        tenant_fk("wireless_cpe_alarms", "wireless_subscriber_id", "wireless_subscribers", ondelete="CASCADE"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    wireless_subscriber_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    kind: Mapped[str] = mapped_column(String(30))
    detail: Mapped[str] = mapped_column(Text)
    measured: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    expected: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
