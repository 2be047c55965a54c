-- Current version of every subscription with its plan's allowances.
with

subscriptions as (

    select * from {{ ref('stg_crm__subscriptions') }}
    where is_current

),

plans as (

    select * from {{ ref('stg_crm__plans') }}

)

select
    subscriptions.subscription_id,
    subscriptions.account_id,
    subscriptions.customer_id,
    subscriptions.plan_id,
    plans.plan_name,
    subscriptions.product_type,
    subscriptions.subscription_status,
    subscriptions.contract_type,
    subscriptions.contract_start_date,
    subscriptions.contract_end_date,
    subscriptions.monthly_price,
    subscriptions.previous_monthly_price,
    subscriptions.price_changed_date,
    subscriptions.start_date,
    subscriptions.end_date,
    subscriptions.termination_reason,
    plans.currency,
    plans.data_allowance_gb,
    plans.voice_allowance_minutes,
    plans.overage_price_per_gb,
    subscriptions.end_date is null as is_active
from subscriptions
left join plans on subscriptions.plan_id = plans.plan_id
