"""Encrypt personal columns at rest: wrapped data keys, encrypted columns, blind indexes.

Users' e-mail, name and TOTP secret, sessions' address and user agent, and the serving
payloads of customers, billing accounts and transactions become AES-GCM tokens; look-ups go
by blind index (``users.email_bidx``, ``serving_customers.email_bidx``/``phone_bidx``,
``serving_customer_names``). Rows already present are encrypted in place.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

import api.db.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENCRYPTED = {
    "users": ("id", ("email", "display_name", "totp_secret")),
    "sessions": ("id", ("source_address", "user_agent")),
}
PAYLOADS = ("serving_customers", "serving_billing_accounts", "serving_billing_transactions")


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("kek_id", sa.String(length=128), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(length=256), nullable=False),
        sa.Column("created_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", api.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_keys")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("uq_users_email", type_="unique")
        batch_op.alter_column("email", type_=sa.Text(), existing_nullable=False)
        batch_op.alter_column("display_name", type_=sa.Text(), existing_nullable=False)
        batch_op.alter_column("totp_secret", type_=sa.Text(), existing_nullable=True)
        batch_op.add_column(sa.Column("email_bidx", sa.String(length=40), nullable=True))
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.alter_column("source_address", type_=sa.Text(), existing_nullable=True)
        batch_op.alter_column("user_agent", type_=sa.Text(), existing_nullable=True)
    with op.batch_alter_table("serving_customers", schema=None) as batch_op:
        batch_op.drop_index("ix_serving_customers_email")
        batch_op.drop_index("ix_serving_customers_name")
        batch_op.drop_index("ix_serving_customers_phone")
        batch_op.add_column(sa.Column("email_bidx", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("phone_bidx", sa.String(length=40), nullable=True))
    op.create_table(
        "serving_customer_names",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("term_bidx", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint(
            "version", "term_bidx", "customer_id", name=op.f("pk_serving_customer_names")
        ),
    )
    _encrypt_existing_rows()
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("email_bidx", existing_type=sa.String(length=40), nullable=False)
        batch_op.create_unique_constraint("uq_users_email_bidx", ["email_bidx"])
    with op.batch_alter_table("serving_customers", schema=None) as batch_op:
        batch_op.drop_column("email_lc")
        batch_op.drop_column("phone_digits")
        batch_op.drop_column("name_lc")
        batch_op.create_index(
            "ix_serving_customers_email_bidx", ["version", "email_bidx"], unique=False
        )
        batch_op.create_index(
            "ix_serving_customers_phone_bidx", ["version", "phone_bidx"], unique=False
        )


def _encrypt_existing_rows() -> None:
    """Encrypt what earlier revisions stored in clear (nothing on a new database)."""
    from api.crypto.keyring import load_keyring
    from api.serving.keys import customer_search_keys
    from data_contracts.settings import get_settings

    conn = op.get_bind()
    has_rows = any(
        conn.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first()
        for table in (*ENCRYPTED, *PAYLOADS)
    )
    if not has_rows:
        return
    ring = load_keyring(context.config.attributes.get("settings") or get_settings(), conn)
    for table, (key, columns) in ENCRYPTED.items():
        rows = conn.execute(sa.text(f"SELECT {key}, {', '.join(columns)} FROM {table}")).all()
        for row in rows:
            values: dict[str, Any] = {
                c: ring.encrypt_optional(getattr(row, c), f"{table}.{c}") for c in columns
            }
            if table == "users":
                values["email_bidx"] = ring.blind("email", row.email)
            assignments = ", ".join(f"{c} = :{c}" for c in values)
            conn.execute(
                sa.text(f"UPDATE {table} SET {assignments} WHERE {key} = :key"),
                {**values, "key": getattr(row, key)},
            )
    for table in PAYLOADS:
        keys = _primary_key(table)
        rows = conn.execute(sa.text(f"SELECT {', '.join(keys)}, payload FROM {table}")).all()
        where = " AND ".join(f"{k} = :{k}" for k in keys)
        for row in rows:
            params: dict[str, Any] = {k: getattr(row, k) for k in keys}
            params["payload"] = ring.encrypt(row.payload, f"{table}.payload")
            extra = ""
            if table == "serving_customers":
                search = customer_search_keys(ring, json.loads(row.payload))
                params["email_bidx"] = search.email_bidx
                params["phone_bidx"] = search.phone_bidx
                extra = ", email_bidx = :email_bidx, phone_bidx = :phone_bidx"
                for term in search.name_terms:
                    conn.execute(
                        sa.text(
                            "INSERT INTO serving_customer_names (version, term_bidx, customer_id)"
                            " VALUES (:version, :term, :customer_id)"
                        ),
                        {"version": row.version, "term": term, "customer_id": row.customer_id},
                    )
            conn.execute(
                sa.text(f"UPDATE {table} SET payload = :payload{extra} WHERE {where}"),
                params,
            )


def _primary_key(table: str) -> list[str]:
    return {
        "serving_customers": ["version", "customer_id"],
        "serving_billing_accounts": ["version", "account_id"],
        "serving_billing_transactions": ["version", "transaction_id"],
    }[table]


def downgrade() -> None:
    raise NotImplementedError(
        "personal columns stay encrypted: restore the backup taken before revision 0004"
    )
