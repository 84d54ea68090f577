"""The audit trail over HTTP: ``audit_events`` as a read-only generic resource (tenant admins)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from sqlalchemy import ColumnElement

from ispops.api.crud import Resource
from ispops.models import AuditEvent


def _audit_filters(model: Any, params: Any) -> Sequence[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if params.since is not None:
        out.append(model.occurred_at >= params.since)
    if params.until is not None:
        out.append(model.occurred_at < params.until)
    return out


RESOURCES: list[Resource] = [
    Resource(
        "audit_events",
        AuditEvent,
        tag="audit",
        key_type=int,
        verbs=frozenset({"list", "get"}),
        filters=("entity", "entity_id", "action", "actor_id"),
        sort=("occurred_at",),
        default_sort="-occurred_at",
        search=("entity", "entity_id", "actor_id", "request_id"),
        extra_query={"since": (dt.datetime | None, None), "until": (dt.datetime | None, None)},
        extra_filters=_audit_filters,
    ),
]


def register(router: APIRouter) -> None:
    """No audit routes beyond the generic ones."""
