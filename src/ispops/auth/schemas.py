"""Request and response bodies of ``/api/v1/auth``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from ispops.auth.results import TokenPair

Email = Annotated[str, Field(min_length=3, max_length=255, examples=["noc@example-isp.net"])]
Password = Annotated[str, Field(min_length=1, max_length=1024)]
Otp = Annotated[
    str, Field(min_length=6, max_length=32, description="A 6-digit TOTP code or a recovery code (xxxx-xxxx-xxxx)")
]
OptionalOtp = Annotated[str | None, Field(max_length=32, description="Required when MFA is enabled")]
RefreshTokenStr = Annotated[str, Field(min_length=3, max_length=512)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")  # no whitespace stripping: passwords are taken as typed


class LoginRequest(_Body):
    tenant: str = Field(min_length=1, max_length=255, description="The ISP's tenant id (its slug)")
    email: Email
    password: Password
    otp: OptionalOtp = None


class OperatorLoginRequest(_Body):
    email: Email
    password: Password
    otp: OptionalOtp = None


class RefreshRequest(_Body):
    refresh_token: RefreshTokenStr


class MfaConfirmRequest(_Body):
    otp: Otp


class MfaDisableRequest(_Body):
    password: Password
    otp: Otp


class LockoutNotice(BaseModel):
    occurred_at: datetime = Field(description="when the limit was reached")
    failures: int = Field(description="failed sign-ins in the hour before")
    source_ips: list[str] = Field(description="addresses the failures came from (most frequent first, at most 20)")


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth 2 token type
    expires_in: int = Field(description="Seconds until the access token expires")
    mfa_enrolment_required: bool = Field(
        description="True: this ISP requires MFA and the user has not enrolled; only /auth/mfa/* and "
        "/auth/logout accept this access token"
    )

    device_token: str | None = Field(
        None,
        description="Sign-in only: this client's device token (also set as the ispops_device cookie). Send it "
        "back in the X-Ispops-Device header when signing in again: the account's failed-login lockout does "
        'not apply to it (docs/api.md, "Signing in")',
    )
    lockouts: list[LockoutNotice] = Field(
        default_factory=list,
        description="Sign-in only: times since your previous sign-in when too many failed sign-ins locked "
        "your account against clients you had not signed in from (the audit trail has them too)",
    )

    @classmethod
    def of(cls, pair: TokenPair) -> TokenResponse:
        return cls(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            token_type=pair.token_type,
            expires_in=pair.expires_in,
            mfa_enrolment_required=pair.mfa_enrolment_required,
            device_token=pair.device_token,
            lockouts=[LockoutNotice.model_validate(n) for n in pair.lockouts],
        )


class MfaEnrolResponse(BaseModel):
    secret: str = Field(description="Base32 TOTP secret, for manual entry")
    provisioning_uri: str = Field(description="otpauth:// URI, for a QR code")


class RecoveryCodesResponse(BaseModel):
    recovery_codes: list[str] = Field(description="Single-use codes; shown only now")
