"""What the authentication services return: tokens, and outcomes whose failure must still commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ispops.errors import IspopsError

T = TypeVar("T")


@dataclass(frozen=True)
class TokenPair:
    """An access token (JWT) and the opaque refresh token that renews it."""

    access_token: str
    refresh_token: str
    expires_in: int
    mfa_enrolment_required: bool = False
    token_type: str = "bearer"  # noqa: S105 - the OAuth 2 token type, not a secret
    # Tenant-user sign-in only: this client's new device token (ispops.auth.device), and the lockouts of
    # the account by untrusted clients since the user's previous sign-in (ispops.auth.throttle.note_lockout).
    device_token: str | None = None
    lockouts: tuple[dict[str, Any], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """A service result that may be a failure the caller must still commit.

    Failed logins record throttling rows and reused refresh tokens revoke their family: those writes
    must survive the error. Services therefore return the error instead of raising it; the caller lets
    the unit of work commit and then calls :meth:`unwrap`, which raises it.
    """

    value: T | None = None
    error: IspopsError | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def unwrap(self) -> T:
        """The value, or raise the error. Call after the unit of work has committed."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]  # T may be None (e.g. Outcome[None])

    @classmethod
    def ok(cls, value: T) -> Outcome[T]:
        return cls(value=value)

    @classmethod
    def fail(cls, error: IspopsError) -> Outcome[T]:
        return cls(error=error)
