"""Tables behind sign-in: users, passkeys, sessions, pending ceremonies, sign-in throttling."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, validates

from api.crypto.keyring import blind
from api.crypto.types import EncryptedText
from api.db.base import Base, UTCDateTime


class User(Base):
    """A person who signs in: a customer (linked to a CRM customer) or a staff member.

    E-mail, name and TOTP secret are encrypted at rest; sign-in finds the account by the
    e-mail's blind index (``email_bidx``), set whenever ``email`` is.
    """

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(EncryptedText("users.email"))  # lower-case
    email_bidx: Mapped[str] = mapped_column(String(40), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    display_name: Mapped[str] = mapped_column(EncryptedText("users.display_name"), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    totp_secret: Mapped[str | None] = mapped_column(EncryptedText("users.totp_secret"))
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    @validates("email")
    def _index_email(self, _key: str, value: str) -> str:
        self.email_bidx = email_index(value)
        return value


def email_index(email: str) -> str:
    """The blind index sign-in looks an e-mail up by."""
    return blind("email", email)


class Passkey(Base):
    """A WebAuthn credential (the mobile app's biometric unlock)."""

    __tablename__ = "passkeys"

    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1024), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(2048))
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    transports: Mapped[str] = mapped_column(String(200), default="")
    aaguid: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Session(Base):
    """A server-side session; the client holds only a random token whose hash is stored."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    auth_method: Mapped[str] = mapped_column(String(32))  # password | password+totp | passkey
    authenticated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    mfa_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoke_reason: Mapped[str | None] = mapped_column(String(64))
    source_address: Mapped[str | None] = mapped_column(EncryptedText("sessions.source_address"))
    user_agent: Mapped[str | None] = mapped_column(EncryptedText("sessions.user_agent"))


class Ceremony(Base):
    """A short-lived pending step: an MFA ticket after the password, or a passkey challenge."""

    __tablename__ = "auth_ceremonies"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # mfa | passkey_register | passkey_login
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    challenge: Mapped[bytes | None] = mapped_column(LargeBinary(256))
    payload: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class SignInThrottle(Base):
    """Sign-in attempts per source address per minute (shared by every worker)."""

    __tablename__ = "sign_in_throttle"

    source_address: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_sign_in_throttle_window", "window_start"),)
