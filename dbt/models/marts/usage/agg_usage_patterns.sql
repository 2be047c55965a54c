-- One row per subscription with usage: how much, trending which way, weekday or weekend,
-- projected against the plan's monthly allowance, and how often abroad.
{%- set trend = var('usage_trend_days') | int %}

with

usage_days as (

    select * from {{ ref('fct_usage_daily') }}

),

subscriptions as (

    select * from {{ ref('int_subscriptions_enriched') }}

),

spans as (

    select * from {{ ref('int_data_spans_measured') }}

),

per_subscription as (

    select
        usage_days.subscription_id,
        min(usage_days.usage_date) as first_usage_date,
        max(usage_days.usage_date) as last_usage_date,
        count(*) as usage_days,
        sum(usage_days.data_gb) as data_gb,
        sum(usage_days.voice_minutes) as voice_minutes,
        cast(sum(usage_days.sms_count) as {{ dbt.type_bigint() }}) as sms_count,
        avg(case when not usage_days.is_weekend then usage_days.data_gb end) as weekday_avg_daily_data_gb,
        avg(case when usage_days.is_weekend then usage_days.data_gb end) as weekend_avg_daily_data_gb,
        sum(case when usage_days.is_weekend then usage_days.data_gb else 0 end) as weekend_data_gb,
        sum(case when {{ dbt.datediff('usage_days.usage_date', 'spans.data_end_date', 'day') }} < {{ trend }} then usage_days.data_gb else 0 end) as data_gb_last_trend_days,
        sum(case when {{ dbt.datediff('usage_days.usage_date', 'spans.data_end_date', 'day') }} >= {{ trend }}
                 and {{ dbt.datediff('usage_days.usage_date', 'spans.data_end_date', 'day') }} < {{ 2 * trend }}
            then usage_days.data_gb else 0 end) as data_gb_prior_trend_days,
        count(case when usage_days.is_roaming then 1 end) as roaming_days,
        sum(usage_days.roaming_data_mb) / 1024.0 as roaming_data_gb,
        sum(usage_days.roaming_voice_minutes) as roaming_voice_minutes
    from usage_days
    cross join spans
    group by usage_days.subscription_id

)

select
    per_subscription.subscription_id,
    subscriptions.customer_id,
    subscriptions.plan_id,
    subscriptions.product_type,
    per_subscription.first_usage_date,
    per_subscription.last_usage_date,
    per_subscription.usage_days,
    per_subscription.data_gb,
    per_subscription.voice_minutes,
    per_subscription.sms_count,
    per_subscription.data_gb / per_subscription.usage_days as avg_daily_data_gb,
    per_subscription.weekday_avg_daily_data_gb,
    per_subscription.weekend_avg_daily_data_gb,
    case when per_subscription.data_gb > 0 then per_subscription.weekend_data_gb / per_subscription.data_gb end as weekend_data_share,
    per_subscription.data_gb_last_trend_days,
    per_subscription.data_gb_prior_trend_days,
    case
        when per_subscription.data_gb_prior_trend_days > 0
        then per_subscription.data_gb_last_trend_days / per_subscription.data_gb_prior_trend_days - 1
    end as data_trend_ratio,
    case
        when per_subscription.data_gb_prior_trend_days = 0 then 'new'
        when per_subscription.data_gb_last_trend_days > per_subscription.data_gb_prior_trend_days * 1.2 then 'rising'
        when per_subscription.data_gb_last_trend_days < per_subscription.data_gb_prior_trend_days * 0.8 then 'falling'
        else 'stable'
    end as data_trend,
    subscriptions.data_allowance_gb,
    per_subscription.data_gb / per_subscription.usage_days * 30 as projected_monthly_data_gb,
    case
        when subscriptions.data_allowance_gb is not null
        then greatest(per_subscription.data_gb / per_subscription.usage_days * 30 - subscriptions.data_allowance_gb, 0)
    end as projected_overage_gb,
    coalesce(per_subscription.data_gb / per_subscription.usage_days * 30 > subscriptions.data_allowance_gb, false) as is_projected_over_allowance,
    cast(
        case
            when subscriptions.data_allowance_gb is not null
            then greatest(per_subscription.data_gb / per_subscription.usage_days * 30 - subscriptions.data_allowance_gb, 0)
                * coalesce(subscriptions.overage_price_per_gb, 0)
        end as decimal(14, 2)
    ) as projected_overage_charge,
    subscriptions.currency,
    per_subscription.roaming_days,
    per_subscription.roaming_data_gb,
    per_subscription.roaming_voice_minutes,
    per_subscription.roaming_days > 0 as has_roamed
from per_subscription
inner join subscriptions on per_subscription.subscription_id = subscriptions.subscription_id
