-- Each subscription as it stood on each as_of date: started by then, active unless it had
-- ended by then, and priced at what the customer paid then (a later price change shows as
-- the previous price). The version is the SCD2 one current at as_of, else the earliest.
with

as_of_dates as (

    select * from {{ ref('int_churn_as_of_dates_generated') }}

),

versions as (

    select * from {{ ref('stg_crm__subscriptions') }}

),

{{ scd2_versions_ranked_at_as_of('subscription_id', 'start_date') }}

select
    as_of_date,
    subscription_id,
    customer_id,
    product_type,
    contract_type,
    case
        when contract_end_date >= as_of_date then contract_end_date
    end as contract_end_date,
    case
        when price_changed_date > as_of_date then coalesce(previous_monthly_price, monthly_price)
        else monthly_price
    end as monthly_price,
    coalesce(
        price_changed_date <= as_of_date
        and price_changed_date > cast({{ dbt.dateadd('day', -var('churn_feature_window_days'), 'as_of_date') }} as date)
        and monthly_price > previous_monthly_price,
        false
    ) as had_price_rise_in_window,
    end_date is null or end_date > as_of_date as is_active
from ranked
where version_rank = 1
