"""Which steps each order runs, and the order's parameters checked at submission (contract; the steps'
owner implements it)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from ispops.lifecycle.steps import Step


def plan_for(activation_type: str) -> Sequence[Step]:
    """The ordered steps of an order of ``activation_type`` (a ``service_activations.activation_type``)."""
    raise NotImplementedError("lifecycle.plans.plan_for: being written (issue 18)")


def validate(
    session: Session, *, tenant_id: str, activation_type: str, subscriber_id: uuid.UUID, params: dict[str, Any]
) -> dict[str, Any]:
    """Check an order's parameters for its type at submission; returns them normalised (JSON values).
    Raises ``ispops.errors.ValidationFailed`` naming the field (e.g. ``bandwidth_profile_id``)."""
    raise NotImplementedError("lifecycle.plans.validate: being written (issue 18)")
