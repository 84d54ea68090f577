"""FreeRADIUS tables: nas, radcheck, radreply, radacct, radpostauth (migrations 0002, 0003)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Identity,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import INET, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ispops.models.base import AuditMixin, Base, SoftDeleteMixin, TenantMixin, identity_pk, tenant_fk
from ispops.radius.vendors import VENDORS

# nas.type: one value per vendor of ``radius.vendors.VENDORS`` (the one list of NAS vendors), in its order.
# The members are data, so mypy cannot list them (nothing names one: the type serves COLUMN_ENUMS and schemas).
NasType: type[StrEnum] = StrEnum(  # type: ignore[misc]
    "NasType", [(vendor.nas_type.upper(), vendor.nas_type) for vendor in VENDORS]
)


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
    __table_args__ = (UniqueConstraint("tenant_id", "id", name="uq_nas__tenant_id__id"),)

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
    coa_port: Mapped[int] = mapped_column(Integer, server_default=text("3799"))
    coa_secret: Mapped[str | None] = mapped_column(Text)


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
    # What the usage roll-up has already counted of this session (migration 0009).
    counted_input_octets: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    counted_output_octets: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # Who closed the session when the platform did (migration 0025): RadacctClosedBy; NULL when the NAS did.
    closed_by: Mapped[str | None] = mapped_column(Text)


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


class RadacctClosedBy(StrEnum):
    """Why the platform, not the NAS, closed a session (``radacct.closed_by``, migration 0025)."""

    STALE = "stale"
    DISCONNECT = "disconnect"
    STAFF = "staff"


class CoaKind(StrEnum):
    COA = "coa"
    DISCONNECT = "disconnect"


class CoaReason(StrEnum):
    PLAN_CHANGE = "plan_change"
    THROTTLE = "throttle"
    UNTHROTTLE = "unthrottle"
    SUSPEND = "suspend"
    RESUME = "resume"
    TERMINATE = "terminate"
    MANUAL = "manual"


class CoaResult(StrEnum):
    ACK = "ack"
    NAK = "nak"
    TIMEOUT = "timeout"
    ERROR = "error"


class RadiusCoaAttempt(TenantMixin, Base):
    """One CoA-Request or Disconnect-Request sent to a NAS, and what came back (append-only)."""

    __tablename__ = "radius_coa_attempts"
    __table_args__ = (
        tenant_fk("radius_coa_attempts", "subscriber_id", "subscribers"),
        tenant_fk("radius_coa_attempts", "nas_id", "nas"),
    )

    id: Mapped[int] = identity_pk()
    subscriber_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    nas_id: Mapped[int | None] = mapped_column(BigInteger)
    username: Mapped[str | None] = mapped_column(Text)
    acctsessionid: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    attempt: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    result: Mapped[str] = mapped_column(Text)
    error_cause: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    created_by: Mapped[str | None] = mapped_column(String(255))


class SubscriberUsageDaily(TenantMixin, Base):
    """Octets a subscriber moved per day, rolled up from radacct (input = upload, output = download)."""

    __tablename__ = "subscriber_usage_daily"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "subscriber_id", "day", name="uq_subscriber_usage_daily__tenant_id__subscriber_id__day"
        ),
        tenant_fk("subscriber_usage_daily", "subscriber_id", "subscribers", ondelete="CASCADE"),
    )

    id: Mapped[int] = identity_pk()
    subscriber_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    day: Mapped[date] = mapped_column(Date)
    input_octets: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    output_octets: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class RadiusCoaQueue(TenantMixin, Base):
    """CoA/Disconnect work waiting to be sent (migration 0016): filled by triggers, drained by the sender."""

    __tablename__ = "radius_coa_queue"
    __table_args__ = (tenant_fk("radius_coa_queue", "subscriber_id", "subscribers"),)

    id: Mapped[int] = identity_pk()
    subscriber_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    username: Mapped[str | None] = mapped_column(Text)
    # One session (manual disconnect, or a retry of the sessions that failed); NULL: all open sessions.
    radacctid: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    created_by: Mapped[str | None] = mapped_column(
        String(255), server_default=text("nullif(current_setting('app.current_user_id', true), '')")
    )
