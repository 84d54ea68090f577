"""Subscriber imports from CSV: one row per uploaded file, its validation and its progress (migration 0037)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ispops.models.base import AuditMixin, Base, TenantMixin, tenant_key, uuid_pk


class ImportStatus(StrEnum):
    """``subscriber_imports.status``: ``validated`` (no error: may be imported), ``refused`` (errors: never
    imported), then ``queued`` → ``running`` → ``succeeded`` or ``failed`` (rolled back: nothing imported)."""

    VALIDATED = "validated"
    REFUSED = "refused"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class SubscriberImport(TenantMixin, AuditMixin, Base):
    """One CSV file of subscribers: its errors (row, column, message), progress and summary. ``content``
    holds the file until the import has run (it carries passwords): the job reads it from here, never from
    the queue's arguments, and clears it when it ends."""

    __tablename__ = "subscriber_imports"
    __table_args__ = (tenant_key("subscriber_imports"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    filename: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), server_default=text("'validated'"))
    total_rows: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    processed_rows: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    imported_rows: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    error_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    failure: Mapped[str | None] = mapped_column(Text)
    queue_job_id: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
