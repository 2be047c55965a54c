"""Operational schema: users, sessions, passkeys, audit log, serving tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 04:38:53.759722
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.db.base

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_archive_checkpoints",
        sa.Column("chain_id", sa.String(length=64), nullable=False),
        sa.Column("archived_through_seq", sa.BigInteger(), nullable=False),
        sa.Column("archived_through_hash", sa.String(length=64), nullable=False),
        sa.Column("archived_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checkpoint_mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", name=op.f("pk_audit_archive_checkpoints")),
    )
    op.create_table(
        "audit_chains",
        sa.Column("chain_id", sa.String(length=64), nullable=False),
        sa.Column("started_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("head_mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", name=op.f("pk_audit_chains")),
    )
    op.create_table(
        "audit_entries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("chain_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(length=255), nullable=True),
        sa.Column("actor_role", sa.String(length=64), nullable=True),
        sa.Column("actor_label", sa.String(length=255), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=512), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("source_address", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
        sa.UniqueConstraint("chain_id", "seq", name=op.f("uq_audit_entries_chain_id_seq")),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_entries_action_occurred_at", ["action", "occurred_at"], unique=False
        )
        batch_op.create_index(
            "ix_audit_entries_customer_id_occurred_at", ["customer_id", "occurred_at"], unique=False
        )
        batch_op.create_index("ix_audit_entries_occurred_at", ["occurred_at"], unique=False)

    op.create_table(
        "serving_billing_accounts",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("version", "account_id", name=op.f("pk_serving_billing_accounts")),
    )
    with op.batch_alter_table("serving_billing_accounts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_serving_billing_accounts_customer", ["version", "customer_id"], unique=False
        )

    op.create_table(
        "serving_billing_transactions",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.String(length=96), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("transaction_type", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint(
            "version", "transaction_id", name=op.f("pk_serving_billing_transactions")
        ),
    )
    with op.batch_alter_table("serving_billing_transactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_serving_billing_transactions_account",
            ["version", "account_id", "occurred_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_serving_billing_transactions_customer",
            ["version", "customer_id", "occurred_at"],
            unique=False,
        )

    op.create_table(
        "serving_customers",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("customer_type", sa.String(length=32), nullable=True),
        sa.Column("region", sa.String(length=64), nullable=True),
        sa.Column("email_lc", sa.String(length=320), nullable=True),
        sa.Column("phone_digits", sa.String(length=32), nullable=True),
        sa.Column("name_lc", sa.String(length=300), nullable=True),
        sa.Column("churn_risk_band", sa.String(length=16), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("version", "customer_id", name=op.f("pk_serving_customers")),
    )
    with op.batch_alter_table("serving_customers", schema=None) as batch_op:
        batch_op.create_index("ix_serving_customers_email", ["version", "email_lc"], unique=False)
        batch_op.create_index("ix_serving_customers_name", ["version", "name_lc"], unique=False)
        batch_op.create_index(
            "ix_serving_customers_phone", ["version", "phone_digits"], unique=False
        )

    op.create_table(
        "serving_publications",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", api.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("as_of_date", sa.Date(), nullable=True),
        sa.Column("row_counts", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_serving_publications")),
    )
    op.create_table(
        "serving_usage_daily",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("usage_day_id", sa.String(length=128), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("usage_date", sa.String(length=10), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("version", "usage_day_id", name=op.f("pk_serving_usage_daily")),
    )
    with op.batch_alter_table("serving_usage_daily", schema=None) as batch_op:
        batch_op.create_index(
            "ix_serving_usage_daily_customer",
            ["version", "customer_id", "usage_date"],
            unique=False,
        )

    op.create_table(
        "serving_usage_patterns",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint(
            "version", "subscription_id", name=op.f("pk_serving_usage_patterns")
        ),
    )
    with op.batch_alter_table("serving_usage_patterns", schema=None) as batch_op:
        batch_op.create_index(
            "ix_serving_usage_patterns_customer", ["version", "customer_id"], unique=False
        )

    op.create_table(
        "sign_in_throttle",
        sa.Column("source_address", sa.String(length=64), nullable=False),
        sa.Column("window_start", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("source_address", "window_start", name=op.f("pk_sign_in_throttle")),
    )
    with op.batch_alter_table("sign_in_throttle", schema=None) as batch_op:
        batch_op.create_index("ix_sign_in_throttle_window", ["window_start"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("password_changed_at", api.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("totp_enrolled_at", api.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", api.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "auth_ceremonies",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("challenge", sa.LargeBinary(length=256), nullable=True),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("expires_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_auth_ceremonies_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_ceremonies")),
    )
    op.create_table(
        "passkeys",
        sa.Column("credential_id", sa.LargeBinary(length=1024), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=2048), nullable=False),
        sa.Column("sign_count", sa.Integer(), nullable=False),
        sa.Column("transports", sa.String(length=200), nullable=False),
        sa.Column("aaguid", sa.String(length=64), nullable=False),
        sa.Column("created_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", api.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_passkeys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("credential_id", name=op.f("pk_passkeys")),
    )
    with op.batch_alter_table("passkeys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_passkeys_user_id"), ["user_id"], unique=False)

    op.create_table(
        "sessions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("auth_method", sa.String(length=32), nullable=False),
        sa.Column("authenticated_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("mfa_at", api.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", api.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.String(length=64), nullable=True),
        sa.Column("source_address", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sessions_token_hash")),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sessions_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sessions_user_id"))

    op.drop_table("sessions")
    with op.batch_alter_table("passkeys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_passkeys_user_id"))

    op.drop_table("passkeys")
    op.drop_table("auth_ceremonies")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_customer_id"))

    op.drop_table("users")
    with op.batch_alter_table("sign_in_throttle", schema=None) as batch_op:
        batch_op.drop_index("ix_sign_in_throttle_window")

    op.drop_table("sign_in_throttle")
    with op.batch_alter_table("serving_usage_patterns", schema=None) as batch_op:
        batch_op.drop_index("ix_serving_usage_patterns_customer")

    op.drop_table("serving_usage_patterns")
    with op.batch_alter_table("serving_usage_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_serving_usage_daily_customer")

    op.drop_table("serving_usage_daily")
    op.drop_table("serving_publications")
    with op.batch_alter_table("serving_customers", schema=None) as batch_op:
        batch_op.drop_index("ix_serving_customers_phone")
        batch_op.drop_index("ix_serving_customers_name")
        batch_op.drop_index("ix_serving_customers_email")

    op.drop_table("serving_customers")
    with op.batch_alter_table("serving_billing_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_serving_billing_transactions_customer")
        batch_op.drop_index("ix_serving_billing_transactions_account")

    op.drop_table("serving_billing_transactions")
    with op.batch_alter_table("serving_billing_accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_serving_billing_accounts_customer")

    op.drop_table("serving_billing_accounts")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entries_occurred_at")
        batch_op.drop_index("ix_audit_entries_customer_id_occurred_at")
        batch_op.drop_index("ix_audit_entries_action_occurred_at")

    op.drop_table("audit_entries")
    op.drop_table("audit_chains")
    op.drop_table("audit_archive_checkpoints")
