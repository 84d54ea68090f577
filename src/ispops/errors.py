"""One error hierarchy for the whole platform.

Services raise these; the CLI prints them and the API (later) renders them as problem+json. Database
constraint violations are translated here, so callers never see a raw driver error: the message names
the table, the field and why.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg.errors as pg
from sqlalchemy.exc import DBAPIError

from ispops.db import checks


class IspopsError(Exception):
    """Base of every error the platform reports on purpose."""

    status: int = 500
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        field: str | None = None,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.table = table
        self.field = field
        # Every problem with the input, as {"field", "message"}; by default the one this error names.
        self.errors = errors if errors is not None else ([{"field": field, "message": message}] if field else [])

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.table:
            out["table"] = self.table
        if self.field:
            out["field"] = self.field
        return out


class ValidationFailed(IspopsError):
    status = 422
    code = "validation_failed"


class NotFound(IspopsError):
    """Missing, or belongs to another tenant: the two are indistinguishable on purpose."""

    status = 404
    code = "not_found"


class Conflict(IspopsError):
    status = 409
    code = "conflict"


class QuotaExceeded(Conflict):
    code = "quota_exceeded"


class Unauthenticated(IspopsError):
    """No valid credentials. Login failures all look the same (no account-existence oracle)."""

    status = 401
    code = "unauthenticated"


class PermissionDenied(IspopsError):
    """Authenticated, but the role does not allow this (never used for another tenant's objects)."""

    status = 403
    code = "permission_denied"


class UnsupportedMediaType(IspopsError):
    status = 415
    code = "unsupported_media_type"


class TooManyRequests(IspopsError):
    status = 429
    code = "too_many_requests"


class ConfigurationError(IspopsError):
    status = 500
    code = "configuration_error"


QUOTA_SQLSTATE = "IS409"  # raised by ispops_apply_counter when a tenant quota would be exceeded
# Raised by our triggers for a change the data's current state forbids: a 409 with the trigger's message
# (which starts with the table) naming its COLUMN.
CONFLICT_SQLSTATE = "ISCFL"
_KEY = re.compile(r"Key \((?P<cols>.+?)\)=\((?P<vals>.*)\)")
_CHECK_NAME = re.compile(r"^ck_(?P<table>.+?)__(?P<field>.+)$")
_PARTITION = re.compile(r"^(?P<parent>[a-z_]+?)_(?:p\d{6}|default)$")
_NAMED = re.compile(r"^(?:uq|fk)_[a-z0-9_]+?__(?P<cols>[a-z0-9_]+(?:__[a-z0-9_]+)*)$")


def _key_fields(detail: str | None, constraint: str) -> tuple[list[str], str]:
    """Fields of a key, from the DETAIL line or, when RLS hides it, from our constraint names
    (``uq_<table>__<col>__<col>``, ``fk_<table>__<col>``)."""
    m = _KEY.search(detail or "")
    if m:
        cols = [re.sub(r"^lower\((.+)\)$", r"\1", c.strip()) for c in m.group("cols").split(",")]
        return cols, m.group("vals")
    named = _NAMED.match(constraint)
    if named:
        return named.group("cols").split("__"), ""
    if constraint:  # a name PostgreSQL made up (partitions): columns joined by single underscores
        return [constraint.removeprefix("tenant_id_")], ""
    return [], ""


def translate(exc: DBAPIError) -> IspopsError | None:
    """Map a database error to a typed platform error, or None if it is not a data error."""
    orig = exc.orig
    if not isinstance(orig, pg.Error):
        return None
    diag = orig.diag
    table = diag.table_name
    constraint = diag.constraint_name or ""
    part = _PARTITION.match(table or "")
    if part:  # report the partitioned parent, and its key as PostgreSQL named it on the partition
        table = part.group("parent")
        tail = constraint.removeprefix(f"{diag.table_name}_")
        constraint = re.sub(r"_(key|idx|fkey)$", "", tail) if tail != constraint else constraint
    if diag.sqlstate == QUOTA_SQLSTATE:
        return QuotaExceeded(diag.message_primary or "quota exceeded", table="tenants", field=diag.column_name)
    if diag.sqlstate == CONFLICT_SQLSTATE:
        return Conflict(diag.message_primary or f"{table}: conflict", table=table, field=diag.column_name)
    if isinstance(orig, pg.UniqueViolation):
        cols, vals = _key_fields(diag.message_detail, constraint)
        fields = [c for c in cols if c != "tenant_id"] or cols
        shown = ", ".join(fields) or constraint
        values = f" ({vals})" if vals else ""
        return Conflict(
            f"{table}: a record with this {shown}{values} already exists",
            table=table,
            field=fields[-1] if fields else None,
        )
    if isinstance(orig, pg.ForeignKeyViolation):
        cols, _ = _key_fields(diag.message_detail, constraint)
        fields = [c for c in cols if c != "tenant_id"] or cols
        field = fields[-1] if fields else None
        detail = diag.message_detail or ""
        if "is still referenced" in detail:
            primary = diag.message_primary or ""
            if primary.startswith(f"{table}: "):  # a trigger of ours that says what holds the record
                return Conflict(primary, table=table, field=field)
            return Conflict(f"{table}: this record is still in use by other records", table=table, field=field)
        return ValidationFailed(f"{table}.{field}: refers to a record that does not exist", table=table, field=field)
    if isinstance(orig, pg.CheckViolation):
        m = _CHECK_NAME.match(constraint)
        field = m.group("field") if m else None
        if table is None and m:
            table = m.group("table")
        if constraint.startswith("radacct_") or "partition" in (diag.message_primary or ""):
            return Conflict(f"{table}: {diag.message_primary}", table=table)
        reason = diag.message_primary or ""
        if not reason or reason.startswith("new row for relation"):  # PostgreSQL's own words say nothing more
            # the rule itself, in words (ispops.db.checks): "billing_cycle_day must be between 1 and 28"
            reason = checks.words(constraint) or f"{field or 'the value'} is not allowed here"
        detail = f"{table}.{reason}" if field and reason.startswith(f"{field} ") else f"{table}.{field}: {reason}"
        return ValidationFailed(
            detail, table=table, field=field, errors=[{"field": field or "body", "message": reason}]
        )
    if isinstance(orig, pg.NotNullViolation):
        field = diag.column_name
        return ValidationFailed(f"{table}.{field}: a value is required", table=table, field=field)
    if isinstance(orig, pg.InsufficientPrivilege) and "row-level security" in (diag.message_primary or ""):
        return NotFound(f"{table}: no such record in this tenant", table=table)
    if isinstance(orig, pg.DataError):  # class 22: bad text, out-of-range numbers and dates, …
        return ValidationFailed(f"invalid value: {diag.message_primary}", table=table, field=diag.column_name)
    return None
