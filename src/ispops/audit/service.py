"""The audit trail: who changed what, from where, in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession

from ispops.auth.principal import Principal, RequestMeta
from ispops.models import AuditEvent

# Never written to the audit trail in clear.
SECRET_FIELDS = frozenset(
    {"password", "password_hash", "pppoe_password", "secret", "mfa_secret", "mfa_recovery_codes", "value_secret"}
)


def redact(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k in SECRET_FIELDS else v) for k, v in changes.items()}


async def record(
    session: AsyncSession,
    *,
    principal: Principal,
    meta: RequestMeta,
    entity: str,
    entity_id: str,
    action: str,
    changes: dict[str, Any] | None = None,
) -> None:
    """Add one audit event to the current unit of work (tenant users only; operators have their own log)."""
    assert principal.tenant_id is not None
    session.add(
        AuditEvent(
            tenant_id=principal.tenant_id,
            actor_kind="user",
            actor_id=principal.id,
            ip=meta.ip,
            request_id=meta.request_id,
            entity=entity,
            entity_id=entity_id,
            action=action,
            changes=to_jsonable_python(redact(changes or {})),
        )
    )
