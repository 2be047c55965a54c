"""Sign-in, MFA, passkey and session bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class PasswordLogin(BaseModel):
    email: str = Field(min_length=3, max_length=320, examples=["ana@example.test"])
    password: str = Field(min_length=1, max_length=1024)


class SessionToken(BaseModel):
    """A new session; send ``token`` as ``Authorization: Bearer <token>``."""

    token: str
    token_type: Literal["bearer"] = "bearer"
    session_id: str
    role: str
    expires_at: datetime
    idle_timeout_minutes: float


class LoginResult(BaseModel):
    """Customers are signed in at once; staff continue at /auth/mfa with the ticket."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "mfa_required", "mfa_ticket": "q1u5Vw0mH2x7dE4tZ8kYbN3cR6pL"},
                {
                    "status": "authenticated",
                    "session": {
                        "token": "mF3q...", "token_type": "bearer", "session_id": "9d84...",
                        "role": "customer", "expires_at": "2026-12-26T09:00:00Z",
                        "idle_timeout_minutes": 10080,
                    },
                },
            ]
        }
    )  # fmt: skip

    status: Literal["authenticated", "mfa_required", "mfa_enrolment_required"]
    session: SessionToken | None = None
    mfa_ticket: str | None = None
    totp_secret: str | None = Field(
        None, description="Only on first sign-in: the secret to add to an authenticator app."
    )
    totp_uri: str | None = Field(None, description="otpauth:// URI of the same secret (QR code).")


class MfaVerify(BaseModel):
    ticket: str = Field(min_length=8, max_length=128)
    code: str = Field(min_length=6, max_length=10, examples=["123456"])


class StepUp(BaseModel):
    code: str = Field(min_length=6, max_length=10, examples=["123456"])


class StepUpResult(BaseModel):
    mfa_at: datetime
    valid_until: datetime


class SessionInfo(BaseModel):
    session_id: str
    user_id: str
    email: str
    role: str
    customer_id: str | None
    auth_method: str
    authenticated_at: datetime
    expires_at: datetime
    mfa_at: datetime | None
    step_up_valid_until: datetime | None


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class PasswordChanged(BaseModel):
    sessions_ended: int


class CeremonyOptions(BaseModel):
    """WebAuthn options for navigator.credentials.create()/get(), and the ceremony to answer."""

    ceremony_id: str
    publicKey: dict[str, Any]  # noqa: N815 (WebAuthn member name)


class PasskeyResponse(BaseModel):
    ceremony_id: str = Field(min_length=8, max_length=128)
    credential: dict[str, Any] = Field(
        description="PublicKeyCredential.toJSON() from the authenticator."
    )


class PasskeyRegistered(BaseModel):
    credential_id: str
    created_at: datetime
