"""Wrapped data keys: the only form in which a data key is ever stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, UTCDateTime


class DataKey(Base):
    """A data key wrapped by a key-encryption key of the key provider.

    ``purpose`` is ``data`` (AES-256-GCM for personal columns; the newest active one
    encrypts, every one not retired decrypts) or ``index`` (HMAC-SHA256 blind indexes; one
    for the life of the database, since rotating it would re-index every row).
    """

    __tablename__ = "data_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    kek_id: Mapped[str] = mapped_column(String(128))
    wrapped: Mapped[bytes] = mapped_column(LargeBinary(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
