"""FTTH optical health (migration 0029): readings partitioned by day, hourly/daily rollups, alarms.

The readings and rollup tables are partitioned (``PARTITION BY RANGE``); the ORM sees the parents. Bulk
writes go through COPY (``ispops.ftth.optics``), not through these classes.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Integer, Numeric, PrimaryKeyConstraint, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ispops.models.base import AuditMixin, Base, ParentTenantMixin, TenantMixin, tenant_fk, tenant_key, uuid_pk


class AlarmKind(StrEnum):
    RX_LOW = "rx_low"  # ONU Rx at or below the warning (or critical) threshold
    RX_HIGH = "rx_high"  # ONU Rx at or above the overload threshold
    LOS = "los"  # offline with loss of signal/frame (LOS, LOSi, LOFi): a fibre fault
    DYING_GASP = "dying_gasp"  # one ONU lost power: not a fibre fault
    POWER_EVENT = "power_event"  # several ONUs under one splitter lost power together: one event


class AlarmSeverity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


def _dbm() -> Mapped[Decimal | None]:
    return mapped_column(Numeric(5, 2))


class OnuOpticalReading(ParentTenantMixin, Base):
    """One reading of one ONU (partitioned by day on ``measured_at``)."""

    __tablename__ = "onu_optical_readings"
    __tenant_parent__ = "onu_id"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "onu_id", "measured_at", name="pk_onu_optical_readings"),
        tenant_fk("onu_optical_readings", "onu_id", "onus", ondelete="CASCADE"),
    )

    onu_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    measured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rx_dbm: Mapped[Decimal | None] = _dbm()
    tx_dbm: Mapped[Decimal | None] = _dbm()
    olt_rx_dbm: Mapped[Decimal | None] = _dbm()
    temperature_c: Mapped[Decimal | None] = _dbm()
    voltage_v: Mapped[Decimal | None] = _dbm()
    distance_m: Mapped[int | None] = mapped_column(Integer)
    uptime_seconds: Mapped[int | None] = mapped_column(BigInteger)
    pushed: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class _Rollup:
    samples: Mapped[int] = mapped_column(Integer)
    rx_min_dbm: Mapped[Decimal | None] = _dbm()
    rx_avg_dbm: Mapped[Decimal | None] = _dbm()
    rx_max_dbm: Mapped[Decimal | None] = _dbm()
    tx_avg_dbm: Mapped[Decimal | None] = _dbm()
    olt_rx_min_dbm: Mapped[Decimal | None] = _dbm()
    olt_rx_avg_dbm: Mapped[Decimal | None] = _dbm()
    temperature_max_c: Mapped[Decimal | None] = _dbm()
    voltage_min_v: Mapped[Decimal | None] = _dbm()


class OnuOpticalHourly(_Rollup, ParentTenantMixin, Base):
    """An ONU's readings over one UTC hour (partitioned by month)."""

    __tablename__ = "onu_optical_hourly"
    __tenant_parent__ = "onu_id"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "onu_id", "hour", name="pk_onu_optical_hourly"),
        tenant_fk("onu_optical_hourly", "onu_id", "onus", ondelete="CASCADE"),
    )

    onu_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OnuOpticalDaily(_Rollup, ParentTenantMixin, Base):
    """An ONU's readings over one UTC day (partitioned by month)."""

    __tablename__ = "onu_optical_daily"
    __tenant_parent__ = "onu_id"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "onu_id", "day", name="pk_onu_optical_daily"),
        tenant_fk("onu_optical_daily", "onu_id", "onus", ondelete="CASCADE"),
    )

    onu_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    day: Mapped[date] = mapped_column(Date)


class OnuOpticalDirtyHour(TenantMixin, Base):
    """An hour that received readings since its rollup was last computed."""

    __tablename__ = "onu_optical_dirty_hours"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "hour", name="pk_onu_optical_dirty_hours"),)

    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FtthAlarm(TenantMixin, AuditMixin, Base):
    """An optical or link alarm on an ONU, or a power event on a splitter (``onu_id`` null)."""

    __tablename__ = "ftth_alarms"
    __table_args__ = (
        tenant_key("ftth_alarms"),
        tenant_fk("ftth_alarms", "olt_id", "olts", ondelete="CASCADE"),
        tenant_fk("ftth_alarms", "onu_id", "onus", ondelete="CASCADE"),
        tenant_fk("ftth_alarms", "splitter_id", "splitters"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(20))
    olt_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    pon_port: Mapped[int | None] = mapped_column(Integer)
    onu_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    splitter_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    onu_count: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    members: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    value_dbm: Mapped[Decimal | None] = _dbm()
    threshold_dbm: Mapped[Decimal | None] = _dbm()
    cause: Mapped[str | None] = mapped_column(String(20))
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    detail: Mapped[str | None] = mapped_column(Text)
