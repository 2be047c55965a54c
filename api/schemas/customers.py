"""TMF629 customer and the agent's customer 360, built from the dim_customers payload."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.core.masking import mask_email, mask_name, mask_phone

CUSTOMER_PATH = "/tmf-api/customerManagement/v5/customer"


class ContactMedium(BaseModel):
    mediumType: Literal["email", "phone"]  # noqa: N815 (TMF field name)
    preferred: bool
    emailAddress: str | None = None  # noqa: N815
    phoneNumber: str | None = None  # noqa: N815


class Customer(BaseModel):
    """TMF629 Customer (our contract's names for the fields TMF does not define)."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "C00000042",
                    "href": CUSTOMER_PATH + "/C00000042",
                    "@type": "Customer",
                    "name": "A*** L***",
                    "status": "active",
                    "customer_type": "consumer",
                    "region": "north",
                    "city": "Lakeside",
                    "urbanicity": "rural",
                    "preferred_language": "en",
                    "signup_date": "2021-03-14",
                    "tenure_days": 1900,
                    "contactMedium": [
                        {"mediumType": "email", "preferred": True, "emailAddress": "a***@x.test"}
                    ],
                    "has_marketing_consent": True,
                    "is_do_not_sell": False,
                    "pii_masked": True,
                    "as_of": "2026-11-25",
                }
            ]
        },
    )

    id: str
    href: str
    type_: Literal["Customer"] = Field("Customer", alias="@type")
    name: str | None
    status: Literal["active", "churned"]
    customer_type: str | None
    region: str | None
    city: str | None
    urbanicity: str | None
    preferred_language: str | None
    signup_date: date | None
    tenure_days: int | None
    contactMedium: list[ContactMedium]  # noqa: N815
    has_marketing_consent: bool | None
    is_do_not_sell: bool | None
    pii_masked: bool
    as_of: date | None


def customer_from(row: dict[str, Any], *, masked: bool) -> Customer:
    name = " ".join(str(row[k]) for k in ("first_name", "last_name") if row.get(k)) or row.get(
        "company_name"
    )
    email, phone = row.get("email"), row.get("phone_number")
    if masked:
        name, email, phone = mask_name(name), mask_email(email), mask_phone(phone)
    media = []
    if email:
        media.append(ContactMedium(mediumType="email", preferred=True, emailAddress=email))
    if phone:
        media.append(ContactMedium(mediumType="phone", preferred=not email, phoneNumber=phone))
    return Customer(
        id=row["customer_id"],
        href=f"{CUSTOMER_PATH}/{row['customer_id']}",
        name=name,
        status="churned" if row.get("is_churned") else "active",
        customer_type=row.get("customer_type"),
        region=row.get("region"),
        city=row.get("city"),
        urbanicity=row.get("urbanicity"),
        preferred_language=row.get("preferred_language"),
        signup_date=row.get("signup_date"),
        tenure_days=row.get("tenure_days"),
        contactMedium=media,
        has_marketing_consent=row.get("has_marketing_consent"),
        is_do_not_sell=row.get("is_do_not_sell"),
        pii_masked=masked,
        as_of=row.get("as_of_date"),
    )


class Products(BaseModel):
    active_subscription_count: int | None = None
    has_mobile: bool | None = None
    has_broadband: bool | None = None
    has_tv: bool | None = None
    mobile_plan_id: str | None = None
    broadband_plan_id: str | None = None
    tv_plan_id: str | None = None
    has_month_to_month_contract: bool | None = None
    nearest_contract_end_date: date | None = None
    monthly_value: float | None = None
    currency: str | None = None


class BillingSummary(BaseModel):
    account_count: int | None = None
    active_account_count: int | None = None
    has_autopay: bool | None = None
    has_paperless_billing: bool | None = None
    worst_credit_class: str | None = None
    latest_invoice_id: str | None = None
    latest_invoice_issue_date: date | None = None
    latest_invoice_total_amount: float | None = None
    latest_invoice_status: str | None = None
    latest_payment_status: str | None = None
    latest_payment_at: datetime | None = None


class UsageSummary(BaseModel):
    data_gb_last_30_days: float | None = None
    voice_minutes_last_30_days: float | None = None
    sms_count_last_30_days: int | None = None
    usage_days_last_30_days: int | None = None
    last_usage_date: date | None = None


class SupportSummary(BaseModel):
    open_ticket_count: int | None = None
    ticket_count: int | None = None
    last_ticket_opened_at: datetime | None = None


class NetworkSummary(BaseModel):
    home_cell_id: str | None = None
    home_cell_availability_pct: float | None = None
    home_cell_latency_ms: float | None = None
    home_cell_dropped_call_rate: float | None = None
    home_cell_outage_minutes: float | None = None


class ChurnRisk(BaseModel):
    probability: float
    risk_band: Literal["high", "medium", "low"] | None
    reasons: list[str]
    model_version: str | None
    scored_as_of: date | None


class NextBestAction(BaseModel):
    code: str
    action: str | None
    reasoning: str | None
    expected_value: float | None


class Customer360(BaseModel):
    """Everything an agent needs on one screen. Sections the caller's role may not see are null."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer": {"id": "C00000042", "@type": "Customer", "status": "active"},
                    "products": {"active_subscription_count": 2, "has_mobile": True,
                                 "mobile_plan_id": "MOB-20GB", "monthly_value": 54.0},
                    "billing": {"latest_invoice_id": "INV0000000012",
                                "latest_invoice_status": "overdue", "has_autopay": False},
                    "usage": {"data_gb_last_30_days": 18.4, "voice_minutes_last_30_days": 312},
                    "support": {"open_ticket_count": 2, "ticket_count": 5},
                    "network": {"home_cell_id": "CELL-0113", "home_cell_availability_pct": 97.9},
                    "churn": {
                        "probability": 0.41,
                        "risk_band": "high",
                        "reasons": [
                            "2 support ticket(s) left unresolved for more than 48 hours",
                            "month-to-month contract",
                        ],
                        "model_version": "3",
                        "scored_as_of": "2026-11-25",
                    },
                    "next_best_action": {
                        "code": "service_recovery_call",
                        "action": "Call the customer to resolve the open tickets",
                        "reasoning": "41 % churn risk; unresolved tickets are the top reason.",
                        "expected_value": 61.2,
                    },
                    "as_of": "2026-11-25",
                }
            ]
        }
    )  # fmt: skip

    customer: Customer
    products: Products
    billing: BillingSummary | None
    usage: UsageSummary | None
    support: SupportSummary
    network: NetworkSummary
    churn: ChurnRisk | None
    next_best_action: NextBestAction | None
    as_of: date | None


def _pick(model: type[BaseModel], row: dict[str, Any]) -> dict[str, Any]:
    return {name: row.get(name) for name in model.model_fields}


def customer_360_from(
    row: dict[str, Any], *, masked: bool, billing: bool, usage: bool
) -> Customer360:
    churn = None
    if row.get("churn_probability") is not None:
        churn = ChurnRisk(
            probability=row["churn_probability"],
            risk_band=row.get("churn_risk_band"),
            reasons=[r for r in (row.get(f"churn_reason_{i}") for i in (1, 2, 3)) if r],
            model_version=(
                str(row["churn_model_version"]) if row.get("churn_model_version") else None
            ),
            scored_as_of=row.get("churn_scored_as_of_date"),
        )
    action = None
    if row.get("next_best_action_code"):
        action = NextBestAction(
            code=row["next_best_action_code"],
            action=row.get("next_best_action"),
            reasoning=row.get("next_best_action_reasoning"),
            expected_value=row.get("next_best_action_expected_value"),
        )
    return Customer360(
        customer=customer_from(row, masked=masked),
        products=Products.model_validate(_pick(Products, row)),
        billing=BillingSummary.model_validate(_pick(BillingSummary, row)) if billing else None,
        usage=UsageSummary.model_validate(_pick(UsageSummary, row)) if usage else None,
        support=SupportSummary.model_validate(_pick(SupportSummary, row)),
        network=NetworkSummary.model_validate(_pick(NetworkSummary, row)),
        churn=churn,
        next_best_action=action,
        as_of=row.get("as_of_date"),
    )
