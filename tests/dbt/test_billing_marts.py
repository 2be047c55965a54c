"""The billing marts against the silver they come from, recomputed here with pyarrow.

``dim_billing_accounts`` (TMF666 billingAccount) and ``fct_billing_transactions`` (TMF678
customerBill and its payments) are what the API serves as billing accounts and recent
transactions, so their numbers are checked against silver, not only against dbt tests.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

import deltalake
import pytest

from data_contracts.settings import Settings

from .conftest import GoldSnapshot

WINDOW_MONTHS = 13  # var billing_transaction_months
CARD_NUMBER = re.compile(r"\d{13,19}")  # a PAN is 13 to 19 digits


def _silver(settings: Settings, table: str) -> list[dict[str, Any]]:
    path = f"{settings.lakehouse_root}/silver/{table}"
    return deltalake.DeltaTable(path).to_pyarrow_table().to_pylist()


def _months_before(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` earlier, clamped to the month's end (DuckDB and Spark agree)."""
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    next_month = dt.date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    return dt.date(year, month + 1, min(day.day, (next_month - dt.timedelta(days=1)).day))


def _rows(gold: GoldSnapshot, mart: str) -> list[dict[str, Any]]:
    return gold.tables[mart].to_pylist()


@pytest.fixture(scope="module")
def silver(landed_lakehouse: Settings) -> dict[str, list[dict[str, Any]]]:
    tables = ("billing/invoices", "billing/payments", "crm/accounts")
    return {table.split("/")[1]: _silver(landed_lakehouse, table) for table in tables}


def test_months_before_clamps_to_the_end_of_the_month() -> None:
    assert _months_before(dt.date(2026, 8, 10), 13) == dt.date(2025, 7, 10)
    assert _months_before(dt.date(2026, 3, 31), 13) == dt.date(2025, 2, 28)
    assert _months_before(dt.date(2026, 1, 15), 1) == dt.date(2025, 12, 15)


def test_every_recent_invoice_and_payment_is_exactly_one_transaction(
    duckdb_gold: GoldSnapshot, silver: dict[str, list[dict[str, Any]]]
) -> None:
    transactions = _rows(duckdb_gold, "fct_billing_transactions")
    (as_of,) = {row["as_of_date"] for row in transactions}
    start = _months_before(as_of, WINDOW_MONTHS)
    recent_invoices = [r for r in silver["invoices"] if r["issue_date"] > start]
    recent_payments = [r for r in silver["payments"] if r["paid_at"].date() > start]
    assert recent_invoices and recent_payments
    invoices = {r["invoice_id"]: r for r in recent_invoices}
    payments = {r["payment_id"]: r for r in recent_payments}

    by_type = Counter(row["transaction_type"] for row in transactions)
    assert by_type == {"invoice": len(recent_invoices), "payment": len(recent_payments)}
    seen_invoices = Counter(r["invoice_id"] for r in transactions if r["payment_id"] is None)
    seen_payments = Counter(r["payment_id"] for r in transactions if r["payment_id"] is not None)
    assert seen_invoices == Counter(r["invoice_id"] for r in recent_invoices)  # each, once
    assert seen_payments == Counter(r["payment_id"] for r in recent_payments)

    for row in transactions:
        if row["transaction_type"] == "invoice":
            source = invoices[row["invoice_id"]]
            assert row["transaction_id"] == f"invoice-{source['invoice_id']}"
            assert row["amount"] == row["signed_amount"] == source["total_amount"]
            assert row["occurred_date"] == source["issue_date"]
            assert row["description"].startswith(f"Invoice {source['invoice_id']} for ")
        else:
            source = payments[row["payment_id"]]
            assert row["transaction_id"] == f"payment-{source['payment_id']}"
            assert row["amount"] == source["amount"]
            paid = source["payment_status"] == "succeeded"
            assert row["signed_amount"] == (-source["amount"] if paid else 0)
            assert row["transaction_status"] == source["payment_status"]
            assert row["occurred_at"] == source["paid_at"]
            assert row["invoice_id"] == source["invoice_id"]
            assert row["card_last4"] == source["card_last4"]
        assert row["amount"] >= 0 and row["currency"] == source["currency"]


def test_account_balances_match_a_recomputation_from_silver(
    duckdb_gold: GoldSnapshot, silver: dict[str, list[dict[str, Any]]]
) -> None:
    accounts = {row["account_id"]: row for row in _rows(duckdb_gold, "dim_billing_accounts")}
    (as_of,) = {row["as_of_date"] for row in accounts.values()}
    paid_per_invoice: dict[str, Decimal] = defaultdict(Decimal)
    for payment in silver["payments"]:
        if payment["payment_status"] == "succeeded":
            paid_per_invoice[payment["invoice_id"]] += payment["amount"]

    def nothing_billed() -> dict[str, Any]:
        return {"invoice_count": 0, "balance": Decimal(0), "overdue": Decimal(0), "latest": None}

    expected: dict[str, dict[str, Any]] = defaultdict(nothing_billed)
    for invoice in silver["invoices"]:
        account = expected[invoice["account_id"]]
        open_amount = invoice["total_amount"] - paid_per_invoice[invoice["invoice_id"]]
        account["invoice_count"] += 1
        account["balance"] += open_amount
        if open_amount > 0 and invoice["due_date"] < as_of:
            account["overdue"] += open_amount
        key = (invoice["issue_date"], invoice["invoice_id"])
        account["latest"] = max(account["latest"] or key, key)
    last_paid: dict[str, tuple[dt.datetime, str, Decimal]] = {}
    for payment in silver["payments"]:
        if payment["payment_status"] == "succeeded":
            key = (payment["paid_at"], payment["payment_id"], payment["amount"])
            last_paid[payment["account_id"]] = max(last_paid.get(payment["account_id"], key), key)

    assert any(e["balance"] > 0 for e in expected.values()), "nothing is owed: a weak fixture"
    for account_id, row in accounts.items():
        want = expected.get(account_id) or nothing_billed()
        assert row["invoice_count"] == want["invoice_count"], account_id
        assert row["balance_due_amount"] == want["balance"], account_id
        assert row["overdue_amount"] == want["overdue"], account_id
        assert row["latest_invoice_id"] == (want["latest"][1] if want["latest"] else None)
        paid = last_paid.get(account_id)
        assert row["last_payment_id"] == (paid[1] if paid else None), account_id
        assert row["last_payment_amount"] == (paid[2] if paid else None), account_id
        assert row["balance_due_amount"] == row["invoiced_amount"] - row["paid_amount"]


def test_balances_equal_the_sum_of_signed_transactions(duckdb_gold: GoldSnapshot) -> None:
    """The whole history of the small operator fits the 13-month window, so they must agree."""
    signed: dict[str, Decimal] = defaultdict(Decimal)
    for row in _rows(duckdb_gold, "fct_billing_transactions"):
        signed[row["account_id"]] += row["signed_amount"]
    for row in _rows(duckdb_gold, "dim_billing_accounts"):
        assert row["balance_due_amount"] == signed[row["account_id"]], row["account_id"]


def test_every_account_appears_once_with_its_current_attributes(
    duckdb_gold: GoldSnapshot, silver: dict[str, list[dict[str, Any]]]
) -> None:
    accounts = _rows(duckdb_gold, "dim_billing_accounts")
    assert Counter(row["account_id"] for row in accounts) == Counter(
        row["account_id"] for row in silver["accounts"]
    )
    current = {row["account_id"]: row for row in silver["accounts"]}
    attributes = ("customer_id", "account_status", "payment_method", "is_autopay", "credit_class")
    for row in accounts:
        source = current[row["account_id"]]
        assert {a: row[a] for a in attributes} == {a: source[a] for a in attributes}


def test_every_customer_360_account_is_a_billing_account(duckdb_gold: GoldSnapshot) -> None:
    per_customer = Counter(row["customer_id"] for row in _rows(duckdb_gold, "dim_billing_accounts"))
    customers = _rows(duckdb_gold, "dim_customers")
    for row in customers:
        assert per_customer[row["customer_id"]] == row["account_count"], row["customer_id"]
    assert set(per_customer) <= {row["customer_id"] for row in customers}


def test_no_card_data_beyond_the_last_four_digits(duckdb_gold: GoldSnapshot) -> None:
    for mart in ("fct_billing_transactions", "dim_billing_accounts"):
        table = duckdb_gold.tables[mart]
        card_columns = [c for c in table.column_names if re.search(r"card|pan\b|cvv|cvc", c)]
        assert card_columns == (["card_last4"] if mart == "fct_billing_transactions" else [])
        for column in table.column_names:
            values = [v for v in table[column].to_pylist() if isinstance(v, str)]
            assert not any(CARD_NUMBER.search(v) for v in values), f"{mart}.{column}"
    # The small operator's ten days hold no card payment yet (cards pay by autopay on the
    # due date); the value checks hold whenever one appears.
    transactions = _rows(duckdb_gold, "fct_billing_transactions")
    last4 = [row for row in transactions if row["card_last4"] is not None]
    assert all(re.fullmatch(r"\d{4}", row["card_last4"]) for row in last4)
    assert all(row["payment_method"] == "credit_card" for row in last4)
    assert not any(row["card_last4"] in row["description"] for row in last4)
