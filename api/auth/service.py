"""Sign-in flows: password (+ TOTP for staff), passkeys, step-up, password change.

Functions take the request's database session and commit what must survive a refusal
(failure counters, lockouts, throttling) before raising the problem the route returns.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import sessions
from api.auth.models import Ceremony, Passkey, SignInThrottle, User, email_index
from api.core import passkeys, passwords, totp
from api.core.i18n import Message, msg, passkey_message
from api.core.permissions import STAFF_ROLES, Role
from api.core.problems import Problem
from data_contracts.settings import Settings

CUSTOMER_MIN_LENGTH = 15  # NIST 800-63B rev 4: a password that is the only factor
STAFF_MIN_LENGTH = 12  # staff always add TOTP; NIST allows 8, we ask a little more
MFA_TICKET_MINUTES = 5
PASSKEY_CEREMONY_MINUTES = 5
MFA_TICKET_ATTEMPTS = 5


def normalise_email(email: str) -> str:
    return email.strip().lower()


def min_length(role: Role) -> int:
    return STAFF_MIN_LENGTH if role in STAFF_ROLES else CUSTOMER_MIN_LENGTH


def password_context(email: str, display_name: str = "") -> list[str]:
    local = email.split("@", 1)[0]
    return [local, *display_name.split(), "cems"]


async def create_user(
    db: AsyncSession,
    *,
    email: str,
    role: Role,
    password: str,
    now: datetime,
    customer_id: str | None = None,
    display_name: str = "",
) -> User:
    """Create an account after checking the password against the NIST rules."""
    email = normalise_email(email)
    if "@" not in email:
        raise ValueError(f"{email!r} is not an email address")
    if role is Role.CUSTOMER and not customer_id:
        raise ValueError("a customer account needs the CRM customer id it belongs to")
    if role is not Role.CUSTOMER and customer_id:
        raise ValueError("staff accounts are not linked to a customer")
    existing = await db.scalar(sa.select(User.id).where(User.email_bidx == email_index(email)))
    if existing:
        raise ValueError(f"an account for {email} already exists")
    passwords.check_new_password(
        password, min_length=min_length(role), context=password_context(email, display_name)
    )
    user = User(
        id=sessions.new_id(),
        email=email,
        role=role.value,
        customer_id=customer_id,
        display_name=display_name,
        password_hash=passwords.hash_password(password),
        password_changed_at=now,
        failed_logins=0,
        disabled=False,
        created_at=now,
    )
    db.add(user)
    await db.flush()
    return user


async def throttle(db: AsyncSession, settings: Settings, address: str, now: datetime) -> None:
    """Count a sign-in attempt from an address; refuse beyond the per-minute allowance."""
    window = now.replace(second=0, microsecond=0)
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(SignInThrottle).values(source_address=address, window_start=window, attempts=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["source_address", "window_start"],
        set_={"attempts": SignInThrottle.attempts + 1},
    )
    await db.execute(stmt)
    attempts = await db.scalar(
        sa.select(SignInThrottle.attempts).where(
            SignInThrottle.source_address == address, SignInThrottle.window_start == window
        )
    )
    # Old windows are useless after a minute; keep the table small.
    await db.execute(
        sa.delete(SignInThrottle).where(SignInThrottle.window_start < window - timedelta(minutes=5))
    )
    await db.commit()
    if (attempts or 0) > settings.login_rate_per_minute:
        retry = 60 - now.second
        raise Problem(
            "too-many-requests",
            msg("auth.too_many_attempts", seconds=retry),
            headers={"Retry-After": str(retry)},
        )


@dataclass
class SignInOutcome:
    """What a password sign-in led to (the route turns it into a response and audit)."""

    user: User
    issued: sessions.IssuedSession | None = None
    mfa_ticket: str | None = None
    enrolment_secret: str | None = None


class SignInRefused(Problem):
    """A refused sign-in that must be audited with the account it named (if any)."""

    def __init__(self, slug: str, detail: Message, *, user: User | None, action: str, **kw: Any):
        super().__init__(slug, detail, **kw)
        self.user = user
        self.action = action


def _locked(user: User, now: datetime) -> bool:
    return user.locked_until is not None and now < user.locked_until


async def password_sign_in(
    db: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    now: datetime,
    source_address: str | None,
    user_agent: str | None,
) -> SignInOutcome:
    """Check a password; customers get a session, staff an MFA ticket."""
    email = normalise_email(email)
    user = await db.scalar(sa.select(User).where(User.email_bidx == email_index(email)))
    generic = msg("auth.invalid_credentials")
    if user is None or user.password_hash is None or user.disabled:
        passwords.burn_verify_time()  # same time as a wrong password: no account probing
        raise SignInRefused("invalid-credentials", generic, user=user, action="auth.login_failed")
    if _locked(user, now):
        assert user.locked_until is not None
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        raise SignInRefused(
            "account-locked",
            msg("auth.locked", minutes=minutes),
            user=user,
            action="auth.login_locked",
            headers={"Retry-After": str(minutes * 60)},
        )
    if not passwords.verify_password(user.password_hash, password):
        user.failed_logins += 1
        action = "auth.login_failed"
        if user.failed_logins >= settings.login_max_failures:
            user.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
            user.failed_logins = 0
            action = "auth.lockout"
        await db.commit()
        raise SignInRefused("invalid-credentials", generic, user=user, action=action)
    user.failed_logins = 0
    user.locked_until = None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    if Role(user.role) in STAFF_ROLES:
        secret = None
        if user.totp_enrolled_at is None:
            secret = user.totp_secret or totp.new_totp_secret()
            user.totp_secret = secret  # pending until the first code confirms it
        ticket = await _ceremony(db, "mfa", user.id, now, MFA_TICKET_MINUTES)
        await db.commit()
        return SignInOutcome(user=user, mfa_ticket=ticket.id, enrolment_secret=secret)
    issued = await sessions.issue(
        db,
        settings,
        user,
        method="password",
        now=now,
        mfa=False,
        source_address=source_address,
        user_agent=user_agent,
    )
    await db.commit()
    return SignInOutcome(user=user, issued=issued)


async def _ceremony(
    db: AsyncSession,
    kind: str,
    user_id: str | None,
    now: datetime,
    minutes: int,
    challenge: bytes | None = None,
) -> Ceremony:
    await db.execute(sa.delete(Ceremony).where(Ceremony.expires_at < now))
    ceremony = Ceremony(
        id=secrets.token_urlsafe(24),
        kind=kind,
        user_id=user_id,
        challenge=challenge,
        expires_at=now + timedelta(minutes=minutes),
        attempts=0,
    )
    db.add(ceremony)
    await db.flush()
    return ceremony


async def _take_ceremony(
    db: AsyncSession, ceremony_id: str, kind: str, now: datetime
) -> Ceremony | None:
    ceremony = await db.get(Ceremony, ceremony_id)
    if ceremony is None or ceremony.kind != kind or now >= ceremony.expires_at:
        return None
    return ceremony


def _check_totp(user: User, code: str, now: datetime) -> bool:
    if not user.totp_secret:
        return False
    step = totp.verify_totp(user.totp_secret, code, at=now, last_used_step=user.totp_last_step)
    if step is None:
        return False
    user.totp_last_step = step
    return True


async def complete_mfa(
    db: AsyncSession,
    settings: Settings,
    *,
    ticket: str,
    code: str,
    now: datetime,
    source_address: str | None,
    user_agent: str | None,
) -> tuple[User, sessions.IssuedSession, bool]:
    """Finish a staff sign-in with a TOTP code; returns (user, session, newly enrolled)."""
    ceremony = await _take_ceremony(db, ticket, "mfa", now)
    if ceremony is None or ceremony.user_id is None:
        raise SignInRefused(
            "mfa-required",
            msg("auth.mfa_step_expired"),
            user=None,
            action="auth.mfa_failed",
        )
    user = await db.get(User, ceremony.user_id)
    assert user is not None
    if not _check_totp(user, code, now):
        ceremony.attempts += 1
        if ceremony.attempts >= MFA_TICKET_ATTEMPTS:
            await db.delete(ceremony)
        await db.commit()
        raise SignInRefused(
            "invalid-mfa-code",
            msg("auth.invalid_mfa_code"),
            user=user,
            action="auth.mfa_failed",
        )
    enrolled = user.totp_enrolled_at is None
    if enrolled:
        user.totp_enrolled_at = now
    await db.delete(ceremony)
    issued = await sessions.issue(
        db,
        settings,
        user,
        method="password+totp",
        now=now,
        mfa=True,
        source_address=source_address,
        user_agent=user_agent,
    )
    await db.commit()
    return user, issued, enrolled


async def step_up(db: AsyncSession, session: Any, user: User, code: str, now: datetime) -> None:
    """Refresh a staff session's MFA time with a current TOTP code."""
    if not _check_totp(user, code, now):
        await db.commit()
        raise SignInRefused(
            "invalid-mfa-code",
            msg("auth.invalid_mfa_code"),
            user=user,
            action="auth.step_up_failed",
        )
    session.mfa_at = now
    await db.commit()


async def change_password(
    db: AsyncSession, user: User, *, current: str, new: str, now: datetime
) -> int:
    """Change a password after checking the current one; ends every session of the user."""
    if user.password_hash is None or not passwords.verify_password(user.password_hash, current):
        raise SignInRefused(
            "invalid-credentials",
            msg("auth.wrong_current_password"),
            user=user,
            action="auth.password_change_failed",
        )
    passwords.check_new_password(
        new,
        min_length=min_length(Role(user.role)),
        context=password_context(user.email, user.display_name),
    )
    user.password_hash = passwords.hash_password(new)
    user.password_changed_at = now
    ended = await sessions.revoke_all(db, user.id, now, "password_changed")
    await db.commit()
    return ended


def passkey_config(settings: Settings) -> passkeys.PasskeyConfig:
    return passkeys.PasskeyConfig(
        rp_id=settings.webauthn_rp_id,
        rp_name=settings.webauthn_rp_name,
        origins=tuple(settings.origin_list),
    )


async def passkey_registration_options(
    db: AsyncSession, settings: Settings, user: User, now: datetime
) -> tuple[str, dict[str, Any]]:
    existing = (
        await db.scalars(sa.select(Passkey.credential_id).where(Passkey.user_id == user.id))
    ).all()
    options, challenge = passkeys.registration_options(
        passkey_config(settings),
        user_handle=user.id.encode(),
        user_name=user.email,
        display_name=user.display_name or user.email,
        exclude_credential_ids=list(existing),
    )
    ceremony = await _ceremony(
        db, "passkey_register", user.id, now, PASSKEY_CEREMONY_MINUTES, challenge
    )
    await db.commit()
    return ceremony.id, options


async def passkey_register(
    db: AsyncSession,
    settings: Settings,
    user: User,
    *,
    ceremony_id: str,
    credential: dict[str, Any],
    now: datetime,
) -> Passkey:
    ceremony = await _take_ceremony(db, ceremony_id, "passkey_register", now)
    if ceremony is None or ceremony.user_id != user.id or ceremony.challenge is None:
        raise Problem("passkey-failed", msg("passkey.registration_expired"))
    try:
        registered = passkeys.verify_registration(
            passkey_config(settings), credential=credential, expected_challenge=ceremony.challenge
        )
    except passkeys.PasskeyError as exc:
        await db.delete(ceremony)
        await db.commit()
        raise Problem("passkey-failed", passkey_message(exc, settings.webauthn_rp_name)) from exc
    passkey = Passkey(
        credential_id=registered.credential_id,
        user_id=user.id,
        public_key=registered.public_key,
        sign_count=registered.sign_count,
        transports=",".join(registered.transports),
        aaguid=registered.aaguid,
        created_at=now,
    )
    await db.delete(ceremony)
    db.add(passkey)
    try:
        await db.commit()
    except sa.exc.IntegrityError as exc:
        await db.rollback()
        raise Problem("conflict", msg("passkey.already_registered")) from exc
    return passkey


async def passkey_login_options(
    db: AsyncSession, settings: Settings, now: datetime
) -> tuple[str, dict[str, Any]]:
    # Discoverable credentials: no account is named up front, so nothing can be probed.
    options, challenge = passkeys.authentication_options(passkey_config(settings))
    ceremony = await _ceremony(db, "passkey_login", None, now, PASSKEY_CEREMONY_MINUTES, challenge)
    await db.commit()
    return ceremony.id, options


async def passkey_sign_in(
    db: AsyncSession,
    settings: Settings,
    *,
    ceremony_id: str,
    credential: dict[str, Any],
    now: datetime,
    source_address: str | None,
    user_agent: str | None,
) -> tuple[User, sessions.IssuedSession]:
    ceremony = await _take_ceremony(db, ceremony_id, "passkey_login", now)
    if ceremony is None or ceremony.challenge is None:
        raise SignInRefused(
            "passkey-failed",
            msg("passkey.sign_in_expired"),
            user=None,
            action="auth.passkey_failed",
        )
    challenge = ceremony.challenge
    await db.delete(ceremony)  # one attempt per challenge
    try:
        credential_id = passkeys.credential_id_of(credential)
    except passkeys.PasskeyError as exc:
        await db.commit()
        raise SignInRefused(
            "passkey-failed", msg("passkey.unidentified"), user=None, action="auth.passkey_failed"
        ) from exc
    stored = await db.get(Passkey, credential_id)
    user = await db.get(User, stored.user_id) if stored else None
    if stored is None or user is None or user.disabled:
        await db.commit()
        raise SignInRefused(
            "passkey-failed",
            msg("passkey.not_registered"),
            user=None,
            action="auth.passkey_failed",
        )
    if _locked(user, now):
        await db.commit()
        raise SignInRefused(
            "account-locked",
            msg("auth.locked_try_later"),
            user=user,
            action="auth.login_locked",
        )
    try:
        stored.sign_count = passkeys.verify_authentication(
            passkey_config(settings),
            credential=credential,
            expected_challenge=challenge,
            public_key=stored.public_key,
            sign_count=stored.sign_count,
        )
    except passkeys.PasskeyError as exc:
        await db.commit()
        raise SignInRefused(
            "passkey-failed",
            passkey_message(exc, settings.webauthn_rp_name),
            user=user,
            action="auth.passkey_failed",
        ) from exc
    stored.last_used_at = now
    issued = await sessions.issue(
        db,
        settings,
        user,
        method="passkey",
        # A user-verified passkey is two factors (device + biometric or PIN).
        mfa=True,
        now=now,
        source_address=source_address,
        user_agent=user_agent,
    )
    await db.commit()
    return user, issued
