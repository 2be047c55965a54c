"""Server-side sessions: opaque tokens, absolute and idle expiry, step-up windows, revocation."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.models import Session, User
from api.core.masking import opaque_id
from api.core.permissions import STAFF_ROLES, Role
from api.db.prepared import Prepared
from data_contracts.settings import Settings

TOUCH_EVERY = timedelta(seconds=30)  # last_seen_at is written at most this often


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_id() -> str:
    """A fresh account or session id: 32 hex digits the audit log never masks.

    About 1 in 250 random hex ids holds a digit run passing Luhn; the audit log masks those
    as card numbers, which would file that account's whole trail under a mangled id.
    """
    return opaque_id()


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


@dataclass(frozen=True)
class SessionView:
    """What a request needs of its session (read with the user, in one statement)."""

    id: str
    role: str
    auth_method: str
    authenticated_at: datetime
    expires_at: datetime
    last_seen_at: datetime
    mfa_at: datetime | None


@dataclass(frozen=True)
class UserView:
    """What a request needs of the signed-in account."""

    id: str
    email: str
    role: str
    customer_id: str | None


_SESSIONS, _USERS = cast(sa.Table, Session.__table__), cast(sa.Table, User.__table__)
_S, _U = _SESSIONS.c, _USERS.c
# Built once, Core columns rather than ORM entities, sent by the driver (api.db.prepared): the
# check runs on every request, and building the statement, loading two entities and
# SQLAlchemy's execution path cost more CPU than the round trip itself.
_RESOLVE_COLUMNS = (
    _S.id, _S.role, _S.auth_method, _S.authenticated_at, _S.expires_at, _S.last_seen_at,
    _S.mfa_at, _S.revoked_at, _U.id, _U.email, _U.role, _U.customer_id, _U.disabled,
)  # fmt: skip
SESSION_LOOKUP = (
    sa.select(*_RESOLVE_COLUMNS)
    .select_from(_SESSIONS.join(_USERS, _U.id == _S.user_id))
    .where(_S.token_hash == sa.bindparam("token_hash"))
)
"""The session check's statement. A caller that needs one more row on every request of a
route adds its columns (and outer joins) to it and passes the result to :func:`resolve`: one
round trip instead of two."""
_RESOLVE = Prepared(SESSION_LOOKUP)
_RESOLVED = len(_RESOLVE_COLUMNS)
_TOUCH = (
    sa.update(_SESSIONS)
    .where(_S.id == sa.bindparam("session_id"))
    .values(last_seen_at=sa.bindparam("now"))
)


@dataclass(frozen=True)
class Resolved:
    """A live session, its user, whether the check touched it, and what else it read."""

    session: SessionView
    user: UserView
    touched: bool
    extra: tuple[Any, ...] = ()  # the columns a lookup added to SESSION_LOOKUP, in order


async def resolve(
    db: AsyncSession,
    settings: Settings,
    token: str,
    now: datetime,
    *,
    lookup: Prepared = _RESOLVE,
    params: Mapping[str, Any] | None = None,
) -> Resolved:
    """The live session behind a token and its user, and whether this call touched it.

    ``lookup`` is :data:`SESSION_LOOKUP` or that statement with columns added (``params``
    binds theirs); the added columns come back in ``extra``. Raises
    :class:`SessionInvalidError`. The touch (``last_seen_at``, at most every
    ``TOUCH_EVERY``) is sent in ``db``'s transaction; the caller commits it.
    """
    found: Any = await lookup.first(db, {**(params or {}), "token_hash": token_hash(token)})
    if found is None:
        raise SessionInvalidError("Your session is not valid; sign in again.")
    (sid, role, method, authenticated_at, expires_at, last_seen_at, mfa_at, revoked_at,
     uid, email, user_role, customer_id, disabled) = found[:_RESOLVED]  # fmt: skip
    if revoked_at is not None:
        raise SessionInvalidError("Your session was ended; sign in again.")
    if disabled:
        raise SessionInvalidError("This account is disabled.")
    if now >= expires_at:
        raise SessionInvalidError("Your session has reached its time limit; sign in again.")
    _absolute, idle = lifetimes(settings, Role(role))
    if now - last_seen_at >= idle:
        raise SessionInvalidError("Your session ended after a period of inactivity; sign in again.")
    touched = now - last_seen_at >= TOUCH_EVERY
    if touched:
        await db.execute(_TOUCH, {"session_id": sid, "now": now})
        last_seen_at = now
    return Resolved(
        SessionView(sid, role, method, authenticated_at, expires_at, last_seen_at, mfa_at),
        UserView(uid, email, user_role, customer_id),
        touched,
        found[_RESOLVED:],
    )


async def revoke_all(db: AsyncSession, user_id: str, now: datetime, reason: str) -> int:
    """End every live session of a user; returns how many were ended."""
    result = await db.execute(
        sa.update(Session)
        .where(Session.user_id == user_id, Session.revoked_at.is_(None))
        .values(revoked_at=now, revoke_reason=reason)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def step_up_fresh(settings: Settings, session: SessionView, now: datetime) -> bool:
    """Whether the session passed MFA recently enough for sensitive data."""
    return session.mfa_at is not None and now - session.mfa_at <= timedelta(
        minutes=settings.step_up_minutes
    )
