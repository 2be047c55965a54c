"""The erasure ledger (GDPR/CCPA): hashes of erased customers and their keys, rows per table.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.db.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "privacy_erasures",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_hash", sa.String(length=64), nullable=False),
        sa.Column("key_hashes", sa.Text(), nullable=False),
        sa.Column("erased_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("rows_erased", sa.BigInteger(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_erasures")),
    )
    with op.batch_alter_table("privacy_erasures", schema=None) as batch_op:
        batch_op.create_index("ix_privacy_erasures_subject_hash", ["subject_hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("privacy_erasures", schema=None) as batch_op:
        batch_op.drop_index("ix_privacy_erasures_subject_hash")
    op.drop_table("privacy_erasures")
