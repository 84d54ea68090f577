"""FTTH provisioning: driver jobs with their rendered commands and transcripts (migration 0032)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ispops.models.base import AuditMixin, Base, TenantMixin, tenant_fk, tenant_key, uuid_pk


class OltDriverName(StrEnum):
    """``olts.driver``: how ispops talks to the OLT (ispops.ftth.drivers)."""

    HUAWEI_MA5800 = "huawei_ma5800"  # SNMP reads (HUAWEI-XPON-MIB) + SSH CLI provisioning
    HUAWEI_CLI = "huawei_cli"  # everything over the SSH CLI
    VOLTHA = "voltha"  # VOLTHA northbound API
    LAB = "lab"  # no OLT: the lab driver for the demo


class ProvisioningAction(StrEnum):
    AUTHORISE = "authorise"
    DEAUTHORISE = "deauthorise"
    REBOOT = "reboot"
    REPLACE = "replace"
    MOVE = "move"
    DISCOVER = "discover"
    POLL = "poll"


class ProvisioningStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ProvisioningErrorKind(StrEnum):
    """Why a job failed: the OLT ``refused`` a command, did not answer (``timeout``), the driver cannot
    (``unsupported``), or anything else (``error``: unreachable, login, configuration)."""

    REFUSED = "refused"
    TIMEOUT = "timeout"
    UNSUPPORTED = "unsupported"
    ERROR = "error"


class OnuProvisioningJob(TenantMixin, AuditMixin, Base):
    """One driver operation on an OLT (for an ONU, or the OLT's discovery and polling): what was planned,
    every command sent with the OLT's answer (``steps``, ``transcript``), progress and outcome."""

    __tablename__ = "onu_provisioning_jobs"
    __table_args__ = (
        tenant_key("onu_provisioning_jobs"),
        tenant_fk("onu_provisioning_jobs", "olt_id", "olts", ondelete="CASCADE"),
        tenant_fk("onu_provisioning_jobs", "onu_id", "onus"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    olt_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    onu_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    action: Mapped[str] = mapped_column(String(20))
    driver: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), server_default=text("'queued'"))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    commands: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    steps_done: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    transcript: Mapped[str] = mapped_column(Text, server_default=text("''"))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    error_kind: Mapped[str | None] = mapped_column(String(20))
    failed_command: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    queue_job_id: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
