"""The erasure ledger: that a customer was erased, when and by whom, never what was held.

The customer id and every key found with it (accounts, subscriptions, invoices, tickets,
payments) are stored only as keyed hashes (:func:`api.privacy.ledger.key_hash`), so the
ledger can answer "was this id erased?" (a later landing must not bring it back) without
being a list of the people who left.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, UTCDateTime

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Erasure(Base):
    """One erasure run: the subject's hash, the hashes of its keys, and rows per table."""

    __tablename__ = "privacy_erasures"
    __table_args__ = (sa.Index("ix_privacy_erasures_subject_hash", "subject_hash"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    subject_hash: Mapped[str] = mapped_column(sa.String(64))
    key_hashes: Mapped[str] = mapped_column(sa.Text, doc="JSON list of the keys' hashes.")
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime)
    requested_by: Mapped[str] = mapped_column(sa.String(255))
    request_id: Mapped[str | None] = mapped_column(sa.String(128))
    rows_erased: Mapped[int] = mapped_column(sa.BigInteger)
    counts: Mapped[str] = mapped_column(sa.Text, doc="JSON: store -> table -> rows erased.")
