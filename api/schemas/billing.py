"""TMF666 billing accounts, TMF678 customer bills, and recent account transactions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ACCOUNT_PATH = "/tmf-api/accountManagement/v5/billingAccount"
BILL_PATH = "/tmf-api/customerBillManagement/v5/customerBill"


class BillingAccount(BaseModel):
    """TMF666 BillingAccount with the account's balance as of the last data day."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "A00000077", "href": ACCOUNT_PATH + "/A00000077",
                    "@type": "BillingAccount", "customer_id": "C00000042", "state": "active",
                    "payment_method": "credit_card", "is_autopay": True, "currency": "EUR",
                    "balance_due_amount": 54.0, "overdue_amount": 0.0,
                    "latest_invoice_id": "INV0000000012", "as_of": "2026-11-25",
                }
            ]
        },
    )  # fmt: skip

    id: str
    href: str
    type_: Literal["BillingAccount"] = Field("BillingAccount", alias="@type")
    customer_id: str
    state: str | None = None
    billing_cycle_day: int | None = None
    payment_method: str | None = None
    is_autopay: bool | None = None
    is_paperless_billing: bool | None = None
    credit_class: str | None = None
    currency: str | None = None
    opened_date: date | None = None
    closed_date: date | None = None
    invoice_count: int | None = None
    open_invoice_count: int | None = None
    overdue_invoice_count: int | None = None
    invoiced_amount: float | None = None
    paid_amount: float | None = None
    balance_due_amount: float | None = None
    overdue_amount: float | None = None
    oldest_overdue_due_date: date | None = None
    days_past_due: int | None = None
    latest_invoice_id: str | None = None
    latest_invoice_issue_date: date | None = None
    latest_invoice_due_date: date | None = None
    latest_invoice_total_amount: float | None = None
    latest_invoice_status: str | None = None
    last_payment_id: str | None = None
    last_payment_at: datetime | None = None
    last_payment_amount: float | None = None
    last_payment_method: str | None = None
    failed_payment_count: int | None = None
    as_of: date | None = None


def account_from(row: dict[str, Any]) -> BillingAccount:
    fields = {k: row.get(k) for k in BillingAccount.model_fields if k not in {"href", "type_"}}
    fields.update(
        id=row["account_id"], state=row.get("account_status"), as_of=row.get("as_of_date")
    )
    return BillingAccount(href=f"{ACCOUNT_PATH}/{row['account_id']}", **fields)


class Transaction(BaseModel):
    """A money event on an account: an invoice (charge) or a payment attempt."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "transaction_id": "payment-PAY0000000031", "transaction_type": "payment",
                    "account_id": "A00000077", "customer_id": "C00000042",
                    "occurred_at": "2026-11-02T08:14:00Z", "amount": 54.0,
                    "signed_amount": -54.0, "currency": "EUR",
                    "transaction_status": "succeeded", "invoice_id": "INV0000000012",
                    "payment_method": "credit_card", "card_last4": "4242",
                    "description": "Payment by credit card for invoice INV0000000012",
                }
            ]
        }
    )  # fmt: skip

    transaction_id: str
    transaction_type: Literal["invoice", "payment"]
    account_id: str
    customer_id: str
    occurred_at: datetime
    amount: float
    signed_amount: float = Field(description="Effect on the balance: + charge, - payment.")
    currency: str | None = None
    transaction_status: str | None = None
    description: str | None = None
    invoice_id: str | None = None
    payment_id: str | None = None
    payment_method: str | None = None
    failure_reason: str | None = None
    card_last4: str | None = Field(None, description="Last four card digits; never more.")
    billing_period_start_date: date | None = None
    billing_period_end_date: date | None = None
    due_date: date | None = None


def transaction_from(row: dict[str, Any]) -> Transaction:
    return Transaction.model_validate({k: row.get(k) for k in Transaction.model_fields})


class Money(BaseModel):
    unit: str | None
    value: float


class TimePeriod(BaseModel):
    startDateTime: date | None  # noqa: N815 (TMF field names)
    endDateTime: date | None  # noqa: N815


class CustomerBill(BaseModel):
    """TMF678 CustomerBill (an invoice)."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "INV0000000012", "href": BILL_PATH + "/INV0000000012",
                    "@type": "CustomerBill", "billNo": "INV0000000012",
                    "billDate": "2026-10-15T00:00:00Z",
                    "billingPeriod": {"startDateTime": "2026-09-15", "endDateTime": "2026-10-14"},
                    "paymentDueDate": "2026-10-29",
                    "amountDue": {"unit": "EUR", "value": 54.0}, "state": "paid",
                    "billing_account_id": "A00000077", "customer_id": "C00000042",
                    "description": "Invoice INV0000000012 for 2026-09-15 to 2026-10-14",
                }
            ]
        },
    )  # fmt: skip

    id: str
    href: str
    type_: Literal["CustomerBill"] = Field("CustomerBill", alias="@type")
    billNo: str  # noqa: N815 (TMF field names)
    billDate: datetime  # noqa: N815
    billingPeriod: TimePeriod  # noqa: N815
    paymentDueDate: date | None  # noqa: N815
    amountDue: Money  # noqa: N815
    state: str | None
    billing_account_id: str
    customer_id: str
    description: str | None


def bill_from(row: dict[str, Any]) -> CustomerBill:
    invoice_id = row["invoice_id"]
    return CustomerBill(
        id=invoice_id,
        href=f"{BILL_PATH}/{invoice_id}",
        billNo=invoice_id,
        billDate=row["occurred_at"],
        billingPeriod=TimePeriod(
            startDateTime=row.get("billing_period_start_date"),
            endDateTime=row.get("billing_period_end_date"),
        ),
        paymentDueDate=row.get("due_date"),
        amountDue=Money(unit=row.get("currency"), value=row["amount"]),
        state=row.get("transaction_status"),
        billing_account_id=row["account_id"],
        customer_id=row["customer_id"],
        description=row.get("description"),
    )
