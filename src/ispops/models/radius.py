"""FreeRADIUS tables: nas, radcheck, radreply, radacct, radpostauth (migrations 0002, 0003)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    DateTime,
    Identity,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import INET, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ispops.models.base import AuditMixin, Base, SoftDeleteMixin, TenantMixin, identity_pk, tenant_fk


class NasType(StrEnum):
    OTHER = "other"
    CISCO = "cisco"
    MIKROTIK = "mikrotik"
    JUNIPER = "juniper"


class NasRequireMa(StrEnum):
    """``require_ma``: whether Message-Authenticator is required from this client."""

    YES = "yes"
    NO = "no"
    AUTO = "auto"


class RadiusOperator(StrEnum):
    """``op`` of radcheck/radreply rows (FreeRADIUS rlm_sql operators)."""

    SET = ":="
    EQUAL = "=="
    ADD_IF_ABSENT = "="
    APPEND = "+="
    NOT_EQUAL = "!="
    GREATER = ">"
    GREATER_EQUAL = ">="
    LESS = "<"
    LESS_EQUAL = "<="
    REGEX_MATCH = "=~"
    REGEX_NO_MATCH = "!~"
    PRESENT = "=*"
    ABSENT = "!*"


class Nas(TenantMixin, AuditMixin, SoftDeleteMixin, Base):
    """A RADIUS client (BNG, router, access point) of one tenant."""

    __tablename__ = "nas"

    id: Mapped[int] = identity_pk()
    nasname: Mapped[str] = mapped_column(Text)
    shortname: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text, server_default=text("'other'"))
    ports: Mapped[int | None] = mapped_column(Integer)
    secret: Mapped[str] = mapped_column(Text)
    server: Mapped[str | None] = mapped_column(Text)
    community: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    require_ma: Mapped[str] = mapped_column(Text, server_default=text("'yes'"))


class _AttributeColumns(TenantMixin, AuditMixin):
    """Columns shared by radcheck and radreply (no soft delete)."""

    subscriber_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    username: Mapped[str] = mapped_column(Text)
    attribute: Mapped[str] = mapped_column(Text)
    op: Mapped[str] = mapped_column(String(2), server_default=text("':='"))
    value: Mapped[str] = mapped_column(Text)


class RadCheck(_AttributeColumns, Base):
    """Check items: what a request must match for the user to be authenticated."""

    __tablename__ = "radcheck"
    __table_args__ = (tenant_fk("radcheck", "subscriber_id", "subscribers", ondelete="CASCADE"),)

    id: Mapped[int] = identity_pk()


class RadReply(_AttributeColumns, Base):
    """Reply items: attributes sent back in Access-Accept."""

    __tablename__ = "radreply"
    __table_args__ = (tenant_fk("radreply", "subscriber_id", "subscribers", ondelete="CASCADE"),)

    id: Mapped[int] = identity_pk()


class RadAcct(TenantMixin, Base):
    """Accounting sessions; partitioned by month on ``acctstarttime``, which is part of the key."""

    __tablename__ = "radacct"
    __table_args__ = (
        PrimaryKeyConstraint("radacctid", "acctstarttime", name="pk_radacct"),
        UniqueConstraint(
            "tenant_id",
            "acctuniqueid",
            "acctstarttime",
            name="uq_radacct__tenant_id__acctuniqueid__acctstarttime",
        ),
        tenant_fk("radacct", "subscriber_id", "subscribers"),
    )

    radacctid: Mapped[int] = mapped_column(BigInteger, Identity(), autoincrement=True, sort_order=-2)
    subscriber_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    acctsessionid: Mapped[str] = mapped_column(Text)
    acctuniqueid: Mapped[str] = mapped_column(Text)
    username: Mapped[str] = mapped_column(Text)
    groupname: Mapped[str | None] = mapped_column(Text)
    realm: Mapped[str | None] = mapped_column(Text)
    nasipaddress: Mapped[str] = mapped_column(INET)
    nasportid: Mapped[str | None] = mapped_column(Text)
    nasporttype: Mapped[str | None] = mapped_column(Text)
    acctstarttime: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acctupdatetime: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acctstoptime: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acctinterval: Mapped[int | None] = mapped_column(BigInteger)
    acctsessiontime: Mapped[int | None] = mapped_column(BigInteger)
    acctauthentic: Mapped[str | None] = mapped_column(Text)
    connectinfo_start: Mapped[str | None] = mapped_column(Text)
    connectinfo_stop: Mapped[str | None] = mapped_column(Text)
    acctinputoctets: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    acctoutputoctets: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    acctinputgigawords: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    acctoutputgigawords: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    acctterminatecause: Mapped[str | None] = mapped_column(Text)
    servicetype: Mapped[str | None] = mapped_column(Text)
    framedprotocol: Mapped[str | None] = mapped_column(Text)
    framedipaddress: Mapped[str | None] = mapped_column(INET)
    framedipv6address: Mapped[str | None] = mapped_column(INET)
    framedipv6prefix: Mapped[str | None] = mapped_column(INET)
    framedinterfaceid: Mapped[str | None] = mapped_column(Text)
    delegatedipv6prefix: Mapped[str | None] = mapped_column(INET)
    calledstationid: Mapped[str | None] = mapped_column(Text)
    callingstationid: Mapped[str | None] = mapped_column(Text)
    acctstartdelay: Mapped[int | None] = mapped_column(BigInteger)
    acctstopdelay: Mapped[int | None] = mapped_column(BigInteger)
    class_: Mapped[str | None] = mapped_column("class", Text)
    framedmtu: Mapped[int | None] = mapped_column(Integer)
    xascendsessionsvrkey: Mapped[str | None] = mapped_column(Text)


class RadPostAuth(TenantMixin, Base):
    """Authentication log written by FreeRADIUS (no audit columns)."""

    __tablename__ = "radpostauth"

    id: Mapped[int] = identity_pk()
    username: Mapped[str] = mapped_column(Text)
    reply: Mapped[str | None] = mapped_column(Text)
    nasipaddress: Mapped[str | None] = mapped_column(INET)
    calledstationid: Mapped[str | None] = mapped_column(Text)
    callingstationid: Mapped[str | None] = mapped_column(Text)
    class_: Mapped[str | None] = mapped_column("class", Text)
    authdate: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
