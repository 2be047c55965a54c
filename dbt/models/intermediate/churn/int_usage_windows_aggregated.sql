-- Usage per customer over the feature window ending on each as_of date (inclusive), and
-- the last usage_trend_days against the usage_trend_days before them. Nothing after as_of.
{%- set window = var('churn_feature_window_days') | int %}
{%- set trend = var('usage_trend_days') | int %}

with

as_of_dates as (

    select * from {{ ref('int_churn_as_of_dates_generated') }}

),

usage_days as (

    select * from {{ ref('stg_billing__usage_daily') }}

),

subscriptions as (

    select subscription_id, customer_id from {{ ref('int_subscriptions_enriched') }}

),

windowed as (

    select
        as_of_dates.as_of_date,
        subscriptions.customer_id,
        usage_days.usage_date,
        usage_days.data_mb,
        usage_days.voice_minutes,
        usage_days.roaming_data_mb,
        {{ dbt.datediff('usage_days.usage_date', 'as_of_dates.as_of_date', 'day') }} as days_before_as_of
    from as_of_dates
    inner join usage_days
        on usage_days.usage_date <= as_of_dates.as_of_date
        and usage_days.usage_date > cast({{ dbt.dateadd('day', -window, 'as_of_dates.as_of_date') }} as date)
    inner join subscriptions on usage_days.subscription_id = subscriptions.subscription_id

)

select
    as_of_date,
    customer_id,
    sum(data_mb) / 1024.0 as data_gb_in_window,
    sum(voice_minutes) as voice_minutes_in_window,
    count(distinct usage_date) as usage_days_in_window,
    count(case when roaming_data_mb > 0 then 1 end) as roaming_subscription_days_in_window,
    sum(case when days_before_as_of < {{ trend }} then data_mb else 0 end) / 1024.0 as data_gb_last_trend_days,
    sum(case when days_before_as_of >= {{ trend }} and days_before_as_of < {{ 2 * trend }} then data_mb else 0 end) / 1024.0 as data_gb_prior_trend_days
from windowed
group by as_of_date, customer_id
