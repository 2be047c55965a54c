"""TMF635 usage (daily records per subscription) and detailed usage patterns."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

USAGE_PATH = "/tmf-api/usageManagement/v5/usage"


class Usage(BaseModel):
    """One subscription's usage on one day (TMF635 Usage, rated daily aggregate)."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "S00000101|2026-11-24", "href": USAGE_PATH + "/S00000101|2026-11-24",
                    "@type": "Usage", "usage_date": "2026-11-24", "subscription_id": "S00000101",
                    "customer_id": "C00000042", "product_type": "mobile", "data_gb": 0.84,
                    "voice_minutes": 12.0, "sms_count": 3, "is_roaming": False,
                }
            ]
        },
    )  # fmt: skip

    id: str
    href: str
    type_: Literal["Usage"] = Field("Usage", alias="@type")
    usage_date: date
    subscription_id: str
    customer_id: str
    account_id: str | None = None
    plan_id: str | None = None
    product_type: str | None = None
    is_weekend: bool | None = None
    data_gb: float | None = None
    voice_minutes: float | None = None
    sms_count: int | None = None
    roaming_data_mb: float | None = None
    roaming_voice_minutes: float | None = None
    is_roaming: bool | None = None


def usage_from(row: dict[str, Any]) -> Usage:
    fields = {name: row.get(name) for name in Usage.model_fields if name not in {"href", "type_"}}
    fields["id"] = row["usage_day_id"]
    return Usage(href=f"{USAGE_PATH}/{row['usage_day_id']}", **fields)


class UsagePattern(BaseModel):
    """How a subscription is used: trends, weekday/weekend, overage and roaming."""

    subscription_id: str
    customer_id: str
    plan_id: str | None = None
    product_type: str | None = None
    first_usage_date: date | None = None
    last_usage_date: date | None = None
    usage_days: int | None = None
    data_gb: float | None = None
    voice_minutes: float | None = None
    sms_count: int | None = None
    avg_daily_data_gb: float | None = None
    weekday_avg_daily_data_gb: float | None = None
    weekend_avg_daily_data_gb: float | None = None
    weekend_data_share: float | None = None
    data_gb_last_trend_days: float | None = None
    data_gb_prior_trend_days: float | None = None
    data_trend_ratio: float | None = None
    data_trend: str | None = None
    data_allowance_gb: float | None = None
    projected_monthly_data_gb: float | None = None
    projected_overage_gb: float | None = None
    is_projected_over_allowance: bool | None = None
    projected_overage_charge: float | None = None
    currency: str | None = None
    roaming_days: int | None = None
    roaming_data_gb: float | None = None
    roaming_voice_minutes: float | None = None
    has_roamed: bool | None = None


def pattern_from(row: dict[str, Any]) -> UsagePattern:
    return UsagePattern.model_validate({name: row.get(name) for name in UsagePattern.model_fields})
