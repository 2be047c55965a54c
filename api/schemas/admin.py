"""Admin bodies: staff accounts, session revocation, customer export."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from api.core.permissions import Role


class UserCreate(BaseModel):
    email: str = Field(min_length=3, max_length=320, examples=["agent@operator.test"])
    role: Role
    password: str = Field(min_length=1, max_length=1024)
    display_name: str = Field("", max_length=200)
    customer_id: str | None = Field(None, max_length=64)


class UserPublic(BaseModel):
    id: str
    email: str
    role: Role
    display_name: str
    customer_id: str | None
    mfa_enrolled: bool
    locked_until: datetime | None
    disabled: bool
    created_at: datetime


class SessionsRevoked(BaseModel):
    user_id: str
    sessions_ended: int


class CustomerExport(BaseModel):
    """Everything the serving store holds on one customer (machine-readable)."""

    customer_id: str
    exported_at: datetime
    as_of: date | None
    serving_version: int
    profile: dict[str, Any]
    billing_accounts: list[dict[str, Any]]
    transactions: list[dict[str, Any]]
    usage: list[dict[str, Any]]
    usage_patterns: list[dict[str, Any]]
    sign_in_accounts: list[dict[str, Any]]


class FailedLoginsRow(BaseModel):
    account: str | None
    source_address: str | None
    failures: int
    first_attempt: datetime
    last_attempt: datetime


class MfaFailuresRow(BaseModel):
    account: str | None
    role: str | None
    source_address: str | None
    failures: int
    first_attempt: datetime
    last_attempt: datetime


class CustomerAccessRow(BaseModel):
    actor_id: str | None
    actor_label: str | None
    actor_role: str | None
    customer_id: str
    accesses: int
    refused: int
    first_access: datetime
    last_access: datetime
    actions: list[str]


class AuditVerification(BaseModel):
    ok: bool
    chains_checked: int
    entries_checked: int
    findings: list[dict[str, Any]]
