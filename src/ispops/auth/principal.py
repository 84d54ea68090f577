"""Who is calling: the principal every request carries after authentication."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PrincipalKind = Literal["user", "operator"]


@dataclass(frozen=True)
class Principal:
    """A tenant staff user (``tenant_id`` set, ``roles`` from the seed) or a platform operator."""

    kind: PrincipalKind
    id: str
    tenant_id: str | None
    roles: frozenset[str] = field(default_factory=frozenset)
    # False while a user whose tenant requires MFA has not enrolled yet: only /auth/mfa/* is allowed.
    mfa_satisfied: bool = True

    @property
    def is_operator(self) -> bool:
        return self.kind == "operator"


@dataclass(frozen=True)
class RequestMeta:
    """Where a request came from, for audit events and throttling."""

    ip: str | None
    request_id: str
    user_agent: str | None = None
