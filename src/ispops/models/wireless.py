"""Fixed wireless: towers, sectors and subscriber CPEs (migration 0006)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, Integer, Numeric, String, Text, text
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

    sector: Mapped[WirelessSector] = relationship(
        back_populates="cpes",
        primaryjoin="and_(WirelessSector.tenant_id == WirelessSubscriber.tenant_id, "
        "WirelessSector.id == foreign(WirelessSubscriber.sector_id))",
        lazy="raise",
    )
