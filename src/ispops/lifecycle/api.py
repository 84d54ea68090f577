"""Service lifecycle over HTTP: the activation workflows' history as a generic resource (requested here;
their steps are the workflow's to write)."""

from __future__ import annotations

from fastapi import APIRouter

from ispops.api.crud import Resource
from ispops.models import ServiceActivation

RESOURCES: list[Resource] = [
    Resource(
        "service_activations",
        ServiceActivation,
        tag="lifecycle",
        verbs=frozenset({"list", "get", "create"}),
        filters=("subscriber_id", "workflow_status", "activation_type"),
        search=("activation_type", "current_step", "error_step", "error_message"),
        sort=("requested_at", "created_at"),
        default_sort="-requested_at",
        read_only=frozenset(
            {
                "workflow_id",
                "workflow_status",
                "steps_completed",
                "current_step",
                "requested_at",
                "started_at",
                "completed_at",
                "failed_at",
                "duration_seconds",
                "error_message",
                "error_step",
                "retry_count",
                "requested_by",
            }
        ),
    ),
]


def register(router: APIRouter) -> None:
    """No lifecycle routes beyond the generic ones yet."""
