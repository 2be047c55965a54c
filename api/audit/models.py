"""The audit tables: hash-chained entries, the head of each chain, and archive checkpoints.

Every API worker process appends to its own chain (``chain_id``), so processes never contend
on a shared head row. ``entry_hash`` is an HMAC over ``prev_hash`` and every other column but
``id`` (see :func:`api.audit.log.entry_hash`); the head and checkpoint rows carry a MAC of
their own, so rewinding a head or faking a checkpoint to hide deleted entries is detected.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, UTCDateTime

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid).
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Column widths; longer values are clipped before hashing (PostgreSQL enforces them).
CHAIN_ID_LENGTH = 64
HASH_LENGTH = 64
ACTOR_LENGTH = 255
ROLE_LENGTH = 64
ACTION_LENGTH = 64
RESOURCE_LENGTH = 512
CUSTOMER_ID_LENGTH = 64
OUTCOME_LENGTH = 16
ADDRESS_LENGTH = 64
REQUEST_ID_LENGTH = 128


class AuditEntry(Base):
    """One audited event, linked to the previous entry of its chain."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        sa.UniqueConstraint("chain_id", "seq"),
        sa.Index("ix_audit_entries_occurred_at", "occurred_at"),
        sa.Index("ix_audit_entries_customer_id_occurred_at", "customer_id", "occurred_at"),
        sa.Index("ix_audit_entries_action_occurred_at", "action", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    chain_id: Mapped[str] = mapped_column(sa.String(CHAIN_ID_LENGTH))
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[str | None] = mapped_column(sa.String(ACTOR_LENGTH))
    actor_role: Mapped[str | None] = mapped_column(sa.String(ROLE_LENGTH))
    actor_label: Mapped[str | None] = mapped_column(sa.String(ACTOR_LENGTH))
    action: Mapped[str] = mapped_column(sa.String(ACTION_LENGTH))
    resource: Mapped[str] = mapped_column(sa.String(RESOURCE_LENGTH))
    customer_id: Mapped[str | None] = mapped_column(sa.String(CUSTOMER_ID_LENGTH))
    outcome: Mapped[str] = mapped_column(sa.String(OUTCOME_LENGTH))
    status_code: Mapped[int | None] = mapped_column(sa.Integer)
    source_address: Mapped[str | None] = mapped_column(sa.String(ADDRESS_LENGTH))
    request_id: Mapped[str | None] = mapped_column(sa.String(REQUEST_ID_LENGTH))
    detail: Mapped[str | None] = mapped_column(sa.Text, doc="Canonical JSON, scrubbed.")
    prev_hash: Mapped[str] = mapped_column(sa.String(HASH_LENGTH))
    entry_hash: Mapped[str] = mapped_column(sa.String(HASH_LENGTH))

    def __repr__(self) -> str:
        return f"<AuditEntry {self.chain_id}#{self.seq} {self.action} {self.outcome}>"


class AuditChain(Base):
    """The head of one chain: its last sequence number and hash (MACed)."""

    __tablename__ = "audit_chains"

    chain_id: Mapped[str] = mapped_column(sa.String(CHAIN_ID_LENGTH), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seq: Mapped[int] = mapped_column(sa.BigInteger)
    last_hash: Mapped[str] = mapped_column(sa.String(HASH_LENGTH))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    head_mac: Mapped[str] = mapped_column(sa.String(HASH_LENGTH))


class AuditArchiveCheckpoint(Base):
    """How far a chain has been moved to the Delta archive; verification starts after it."""

    __tablename__ = "audit_archive_checkpoints"

    chain_id: Mapped[str] = mapped_column(sa.String(CHAIN_ID_LENGTH), primary_key=True)
    archived_through_seq: Mapped[int] = mapped_column(sa.BigInteger)
    archived_through_hash: Mapped[str] = mapped_column(sa.String(HASH_LENGTH))
    archived_at: Mapped[datetime] = mapped_column(UTCDateTime)
    checkpoint_mac: Mapped[str] = mapped_column(sa.String(HASH_LENGTH))
