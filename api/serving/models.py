"""Serving tables: each row belongs to a publication version; readers use the current one.

A publish loads a new version beside the serving one and then switches the pointer in one
transaction, so readers never see half a publish and a failed publish changes nothing.
Rows keep the mart's whole record as JSON (``payload``) plus the columns lookups need.
Payloads holding personal or payment data are encrypted at rest (``EncryptedText``); the
customer search looks e-mails, phone numbers and name words up by blind index.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.crypto.types import EncryptedText
from api.db.base import Base, UTCDateTime


class Publication(Base):
    __tablename__ = "serving_publications"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16))  # loading | current | retired | failed
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    as_of_date: Mapped[date | None] = mapped_column(Date)
    row_counts: Mapped[str] = mapped_column(Text, default="{}")
    error: Mapped[str | None] = mapped_column(Text)


class ServingCustomer(Base):
    """dim_customers: the customer 360, one row per customer."""

    __tablename__ = "serving_customers"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_type: Mapped[str | None] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(64))
    email_bidx: Mapped[str | None] = mapped_column(String(40))
    phone_bidx: Mapped[str | None] = mapped_column(String(40))
    churn_risk_band: Mapped[str | None] = mapped_column(String(16))
    payload: Mapped[str] = mapped_column(EncryptedText("serving_customers.payload"))

    __table_args__ = (
        Index("ix_serving_customers_email_bidx", "version", "email_bidx"),
        Index("ix_serving_customers_phone_bidx", "version", "phone_bidx"),
    )


class ServingCustomerName(Base):
    """Blind indexes of each word of a customer's name (given, family, company)."""

    __tablename__ = "serving_customer_names"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    term_bidx: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class ServingAccount(Base):
    """dim_billing_accounts (TMF666 billingAccount)."""

    __tablename__ = "serving_billing_accounts"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(EncryptedText("serving_billing_accounts.payload"))

    __table_args__ = (Index("ix_serving_billing_accounts_customer", "version", "customer_id"),)


class ServingTransaction(Base):
    """fct_billing_transactions: bills (TMF678 customerBill) and payments, recent window."""

    __tablename__ = "serving_billing_transactions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(96), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str] = mapped_column(String(64))
    transaction_type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[str] = mapped_column(String(40))  # ISO 8601, sorts as text
    payload: Mapped[str] = mapped_column(EncryptedText("serving_billing_transactions.payload"))

    __table_args__ = (
        Index("ix_serving_billing_transactions_customer", "version", "customer_id", "occurred_at"),
        Index("ix_serving_billing_transactions_account", "version", "account_id", "occurred_at"),
    )


class ServingUsage(Base):
    """fct_usage_daily (TMF635 usage), the most recent days only."""

    __tablename__ = "serving_usage_daily"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    usage_day_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    subscription_id: Mapped[str] = mapped_column(String(64))
    usage_date: Mapped[str] = mapped_column(String(10))
    payload: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_serving_usage_daily_customer", "version", "customer_id", "usage_date"),
    )


class ServingUsagePattern(Base):
    """agg_usage_patterns: one row per subscription (detailed usage patterns)."""

    __tablename__ = "serving_usage_patterns"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_serving_usage_patterns_customer", "version", "customer_id"),)
