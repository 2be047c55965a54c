"""Account creation outside a request (CLI, demo): own engine, own audit chain."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.audit.keys import load_or_create_key
from api.audit.log import AuditEvent, AuditLog
from api.auth import service
from api.auth.models import User, email_index
from api.core import totp
from api.core.clock import Clock, SystemClock
from api.core.permissions import Role
from api.crypto.keyring import open_keyring, use_keyring
from api.db.engine import async_engine
from api.db.migrate import ensure_schema
from api.serving.models import Publication, ServingCustomer
from data_contracts.settings import Settings


async def create_account(
    settings: Settings,
    *,
    email: str,
    role: Role,
    password: str,
    customer_id: str | None = None,
    display_name: str = "",
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Create one account and audit it; returns its public fields."""
    clock = clock or SystemClock()
    ensure_schema(settings)
    engine = async_engine(settings)
    try:
        sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        with use_keyring(open_keyring(settings)):
            async with sessionmaker() as db:
                user = await service.create_user(
                    db,
                    email=email,
                    role=role,
                    password=password,
                    now=clock.now(),
                    customer_id=customer_id,
                    display_name=display_name,
                )
                await db.commit()
        log = AuditLog(sessionmaker, load_or_create_key(settings), clock)
        await log.append(
            AuditEvent(
                action="user.created",
                resource="cli users create",
                actor_label="cli",
                customer_id=customer_id,
                detail={"user_id": user.id, "role": role.value},
            )
        )
        return {"id": user.id, "email": user.email, "role": user.role, "customer_id": customer_id}
    finally:
        await engine.dispose()


DEMO_STAFF_PASSWORD = "orange kite over the river 42"
DEMO_CUSTOMER_PASSWORD = "silver lantern by the harbour 2026"
DEMO_ROLES = {
    Role.ADMIN: "admin@demo.test",
    Role.SUPPORT_AGENT: "agent@demo.test",
    Role.MARKETING_ANALYST: "marketing@demo.test",
    Role.NETWORK_OPS: "network@demo.test",
    Role.CUSTOMER: "customer@demo.test",
}


async def ensure_demo_accounts(
    settings: Settings, clock: Clock | None = None
) -> list[dict[str, Any]]:
    """One account per role for a local demo (development only); staff come TOTP-enrolled."""
    if settings.environment == "production":
        raise ValueError("demo accounts are refused in production")
    clock = clock or SystemClock()
    ensure_schema(settings)
    engine = async_engine(settings)
    try:
        sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        with use_keyring(open_keyring(settings)):
            return await _demo_accounts(sessionmaker, clock)
    finally:
        await engine.dispose()


async def _demo_accounts(
    sessionmaker: async_sessionmaker[AsyncSession], clock: Clock
) -> list[dict[str, Any]]:
    accounts: list[dict[str, Any]] = []
    async with sessionmaker() as db:
        version = await db.scalar(
            sa.select(Publication.version).where(Publication.status == "current")
        )
        if version is None:
            raise ValueError("no customer data is published yet; run `cems pipeline run`")
        # The demo customer is one an agent would want to call: high churn risk if any.
        customer_id = await db.scalar(
            sa.select(ServingCustomer.customer_id)
            .where(ServingCustomer.version == version)
            .order_by((ServingCustomer.churn_risk_band == "high").desc(), "customer_id")
            .limit(1)
        )
        for role, email in DEMO_ROLES.items():
            user = await db.scalar(sa.select(User).where(User.email_bidx == email_index(email)))
            if user is None:
                password = DEMO_CUSTOMER_PASSWORD if role is Role.CUSTOMER else DEMO_STAFF_PASSWORD
                user = await service.create_user(
                    db,
                    email=email,
                    role=role,
                    password=password,
                    now=clock.now(),
                    customer_id=customer_id if role is Role.CUSTOMER else None,
                    display_name=f"Demo {role.value.replace('_', ' ')}",
                )
                if role is not Role.CUSTOMER:
                    user.totp_secret = totp.new_totp_secret()
                    user.totp_enrolled_at = clock.now()
            accounts.append(
                {
                    "role": role.value,
                    "email": email,
                    "password": (
                        DEMO_CUSTOMER_PASSWORD if role is Role.CUSTOMER else DEMO_STAFF_PASSWORD
                    ),
                    "customer_id": user.customer_id,
                    "totp_secret": user.totp_secret,
                }
            )
        await db.commit()
    return accounts
