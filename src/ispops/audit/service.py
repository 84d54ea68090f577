"""The audit trail: who changed what, from where, in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession

from ispops.auth.principal import Principal, RequestMeta
from ispops.models import AuditEvent

# Never written to the audit trail in clear: these fields, and any field (at any depth of a JSON value)
# whose name contains one of SECRET_PARTS — snmp_community, NAS secret and coa_secret, private keys, …
# — except public keys (WireGuard), which are meant to be shown.
SECRET_FIELDS = frozenset({"mfa_recovery_codes"})
SECRET_PARTS = ("password", "secret", "community", "key", "token")
MASK = "***"


def is_secret(name: str) -> bool:
    lowered = name.lower()
    if "public_key" in lowered or lowered == "radius_password_type":  # a public key; how passwords are stored
        return False
    return lowered in SECRET_FIELDS or any(part in lowered for part in SECRET_PARTS)


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (MASK if is_secret(str(k)) else _redacted(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def redact(changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` with every secret value masked, whether the change is ``value`` or ``[old, new]``."""
    return {k: (MASK if is_secret(k) else _redacted(v)) for k, v in changes.items()}


def event(
    *,
    principal: Principal,
    meta: RequestMeta,
    entity: str,
    entity_id: str,
    action: str,
    changes: dict[str, Any] | None = None,
) -> AuditEvent:
    """One audit event of a tenant user (operators have their own log), for ``session.add`` in the unit
    of work of the change: a route adds it through ``TenantScope.audit``, a service on a synchronous
    ``Session`` itself."""
    assert principal.tenant_id is not None
    return AuditEvent(
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
    """Add one audit event to the current unit of work (tenant users only; operators have their own log).
    A route's is simpler through ``TenantScope.audit``."""
    session.add(
        event(principal=principal, meta=meta, entity=entity, entity_id=entity_id, action=action, changes=changes)
    )


def system_event(
    tenant_id: str, actor: str | None, entity: str, entity_id: object, action: str, changes: dict[str, Any]
) -> AuditEvent:
    """One audit event of work the platform does for a tenant (a job, the CLI), ``actor`` naming it."""
    return AuditEvent(
        tenant_id=tenant_id,
        actor_kind="system",
        actor_id=actor,
        entity=entity,
        entity_id=str(entity_id),
        action=action,
        changes=changes,
    )
