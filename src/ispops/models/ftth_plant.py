"""FTTH plant beyond the seed (migration 0028): closures, the strands of a cable, which strand carries which
hop, splices and connectors. Splitters and cables themselves are in ``ftth.py``."""

from __future__ import annotations

import uuid
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Integer, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from ispops.models.base import AuditMixin, Base, SoftDeleteMixin, TenantMixin, tenant_fk, tenant_key, uuid_pk


class ClosureType(StrEnum):
    SPLICE_CLOSURE = "splice_closure"
    ODF = "odf"
    CABINET = "cabinet"
    HANDHOLE = "handhole"
    MANHOLE = "manhole"
    PEDESTAL = "pedestal"


class ClosureStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    MAINTENANCE = "maintenance"


class StrandStatus(StrEnum):
    AVAILABLE = "available"
    IN_USE = "in_use"
    RESERVED = "reserved"
    DAMAGED = "damaged"


class SpliceType(StrEnum):
    FUSION = "fusion"
    MECHANICAL = "mechanical"


class ConnectorType(StrEnum):
    SC_APC = "sc_apc"
    SC_UPC = "sc_upc"
    LC_APC = "lc_apc"
    LC_UPC = "lc_upc"
    FC_APC = "fc_apc"
    FC_UPC = "fc_upc"
    MPO = "mpo"


class StrandEnd(StrEnum):
    """Which end of a strand: the end at its cable's start or at its cable's end."""

    START = "start"
    END = "end"


class FiberClosure(TenantMixin, AuditMixin, SoftDeleteMixin, Base):
    """A splice closure, ODF, cabinet or chamber: where strands are spliced or patched."""

    __tablename__ = "fiber_closures"
    __table_args__ = (tenant_key("fiber_closures"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(100))
    closure_type: Mapped[str] = mapped_column(String(50), server_default=text("'splice_closure'"))
    location_name: Mapped[str | None] = mapped_column(String(100))
    location_address: Mapped[str | None] = mapped_column(Text)
    location_lat: Mapped[Decimal | None] = mapped_column(Numeric(10, 8))
    location_lng: Mapped[Decimal | None] = mapped_column(Numeric(11, 8))
    capacity_splices: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(50), server_default=text("'active'"))
    notes: Mapped[str | None] = mapped_column(Text)


class FiberStrand(TenantMixin, AuditMixin, Base):
    """One fibre of a cable (1..fiber_count), made with the cable."""

    __tablename__ = "fiber_strands"
    __table_args__ = (
        tenant_key("fiber_strands"),
        tenant_fk("fiber_strands", "cable_id", "fiber_cables", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "cable_id", "strand_number", name="uq_fiber_strands__cable_id__strand_number"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    cable_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    strand_number: Mapped[int] = mapped_column(Integer)
    tube_number: Mapped[int | None] = mapped_column(Integer)
    color: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), server_default=text("'available'"))
    notes: Mapped[str | None] = mapped_column(Text)


class FiberLink(TenantMixin, AuditMixin, Base):
    """A strand carrying part of one hop. A hop is named by what it feeds: a splitter's input (from its
    parent splitter's port or its PON port: ``splitter_id`` alone) or an ONU's drop (``onu_id``; with
    ``splitter_id``, the splitter it leaves); ``seq`` orders its strands from the OLT side."""

    __tablename__ = "fiber_links"
    __table_args__ = (
        tenant_key("fiber_links"),
        tenant_fk("fiber_links", "strand_id", "fiber_strands", ondelete="CASCADE"),
        tenant_fk("fiber_links", "splitter_id", "splitters", ondelete="CASCADE"),
        tenant_fk("fiber_links", "onu_id", "onus", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "strand_id", name="uq_fiber_links__strand_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    strand_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    splitter_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    onu_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    seq: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    notes: Mapped[str | None] = mapped_column(Text)


class FiberSplice(TenantMixin, AuditMixin, Base):
    """Two strands joined, or one to a pigtail (``strand_b_id`` NULL), usually in a closure; ``loss_db`` when
    measured, else the tenant's default."""

    __tablename__ = "fiber_splices"
    __table_args__ = (
        tenant_key("fiber_splices"),
        tenant_fk("fiber_splices", "closure_id", "fiber_closures"),
        tenant_fk("fiber_splices", "strand_a_id", "fiber_strands", ondelete="CASCADE"),
        tenant_fk("fiber_splices", "strand_b_id", "fiber_strands", ondelete="CASCADE"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    closure_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    strand_a_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    strand_b_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))  # NULL: to a pigtail
    splice_type: Mapped[str] = mapped_column(String(20), server_default=text("'fusion'"))
    loss_db: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    notes: Mapped[str | None] = mapped_column(Text)


class FiberConnector(TenantMixin, AuditMixin, Base):
    """A connector on one end of a strand (at a splitter, a closure/ODF or a device)."""

    __tablename__ = "fiber_connectors"
    __table_args__ = (
        tenant_key("fiber_connectors"),
        tenant_fk("fiber_connectors", "strand_id", "fiber_strands", ondelete="CASCADE"),
        tenant_fk("fiber_connectors", "splitter_id", "splitters"),
        tenant_fk("fiber_connectors", "closure_id", "fiber_closures"),
        tenant_fk("fiber_connectors", "device_id", "devices"),
        UniqueConstraint("tenant_id", "strand_id", "strand_end", name="uq_fiber_connectors__strand_id__strand_end"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    strand_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    strand_end: Mapped[str] = mapped_column(String(10))
    connector_type: Mapped[str] = mapped_column(String(20), server_default=text("'sc_apc'"))
    loss_db: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    splitter_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    closure_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    device_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    notes: Mapped[str | None] = mapped_column(Text)
