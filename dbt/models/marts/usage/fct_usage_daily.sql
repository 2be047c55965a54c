-- One row per subscription per day of usage, with who owns it and what plan it is on.
with

usage_days as (

    select * from {{ ref('stg_billing__usage_daily') }}

),

subscriptions as (

    select * from {{ ref('int_subscriptions_enriched') }}

)

select
    {{ dbt.concat(["usage_days.subscription_id", "'|'", "cast(usage_days.usage_date as " ~ dbt.type_string() ~ ")"]) }} as usage_day_id,
    usage_days.subscription_id,
    usage_days.usage_date,
    subscriptions.customer_id,
    subscriptions.account_id,
    subscriptions.plan_id,
    subscriptions.product_type,
    {{ iso_day_of_week('usage_days.usage_date') }} >= 6 as is_weekend,
    usage_days.data_mb,
    usage_days.data_mb / 1024.0 as data_gb,
    usage_days.voice_minutes,
    usage_days.sms_count,
    usage_days.roaming_data_mb,
    usage_days.roaming_voice_minutes,
    usage_days.roaming_data_mb > 0 or usage_days.roaming_voice_minutes > 0 as is_roaming
from usage_days
inner join subscriptions on usage_days.subscription_id = subscriptions.subscription_id
