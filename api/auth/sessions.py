"""Server-side sessions: opaque tokens, absolute and idle expiry, step-up windows, revocation."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.models import Session, User
from api.core.permissions import STAFF_ROLES, Role
from data_contracts.settings import Settings

TOUCH_EVERY = timedelta(seconds=30)  # last_seen_at is written at most this often


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_id() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True)
class IssuedSession:
    token: str
    session: Session


def lifetimes(settings: Settings, role: Role) -> tuple[timedelta, timedelta]:
    """(absolute lifetime, idle timeout) for a role."""
    if role in STAFF_ROLES:
        return (
            timedelta(hours=settings.staff_session_hours),
            timedelta(minutes=settings.staff_idle_minutes),
        )
    return (
        timedelta(hours=settings.customer_session_hours),
        timedelta(hours=settings.customer_idle_hours),
    )


async def issue(
    db: AsyncSession,
    settings: Settings,
    user: User,
    *,
    method: str,
    now: datetime,
    mfa: bool,
    source_address: str | None,
    user_agent: str | None,
) -> IssuedSession:
    """Start a session; the token is returned once and only its hash is stored."""
    token = secrets.token_urlsafe(32)
    absolute, _idle = lifetimes(settings, Role(user.role))
    session = Session(
        id=new_id(),
        token_hash=token_hash(token),
        user_id=user.id,
        role=user.role,
        auth_method=method,
        authenticated_at=now,
        expires_at=now + absolute,
        last_seen_at=now,
        mfa_at=now if mfa else None,
        source_address=source_address,
        user_agent=(user_agent or "")[:300] or None,
    )
    db.add(session)
    await db.flush()
    return IssuedSession(token, session)


class SessionInvalidError(Exception):
    """The token names no live session; ``reason`` says why, for the problem detail."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def resolve(
    db: AsyncSession, settings: Settings, token: str, now: datetime
) -> tuple[Session, User]:
    """The live session behind a token, touched; raises :class:`SessionInvalidError`."""
    row = (
        await db.execute(
            sa.select(Session, User)
            .join(User, User.id == Session.user_id)
            .where(Session.token_hash == token_hash(token))
        )
    ).first()
    if row is None:
        raise SessionInvalidError("Your session is not valid; sign in again.")
    session, user = row[0], row[1]
    if session.revoked_at is not None:
        raise SessionInvalidError("Your session was ended; sign in again.")
    if user.disabled:
        raise SessionInvalidError("This account is disabled.")
    if now >= session.expires_at:
        raise SessionInvalidError("Your session has reached its time limit; sign in again.")
    _absolute, idle = lifetimes(settings, Role(session.role))
    if now - session.last_seen_at >= idle:
        raise SessionInvalidError("Your session ended after a period of inactivity; sign in again.")
    if now - session.last_seen_at >= TOUCH_EVERY:
        session.last_seen_at = now
    return session, user


async def revoke_all(db: AsyncSession, user_id: str, now: datetime, reason: str) -> int:
    """End every live session of a user; returns how many were ended."""
    result = await db.execute(
        sa.update(Session)
        .where(Session.user_id == user_id, Session.revoked_at.is_(None))
        .values(revoked_at=now, revoke_reason=reason)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def step_up_fresh(settings: Settings, session: Session, now: datetime) -> bool:
    """Whether the session passed MFA recently enough for sensitive data."""
    return session.mfa_at is not None and now - session.mfa_at <= timedelta(
        minutes=settings.step_up_minutes
    )
