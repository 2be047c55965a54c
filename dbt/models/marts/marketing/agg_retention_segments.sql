-- One row per active customer who agreed to marketing contact and did not opt out of the
-- sale or sharing of their data: a retention segment and the campaign for it, with the churn
-- model's risk and next best action when scored. Customers without marketing consent (GDPR)
-- or with do-not-sell (CCPA) are never in this mart; an unknown flag counts as opted out.
{{ config(tags=['uses_churn_scores']) }}
with

customers as (

    select * from {{ ref('dim_customers') }}

),

eligible as (

    select * from customers
    where has_marketing_consent
        and not is_do_not_sell
        and not is_churned
        and active_subscription_count > 0

),

signals as (

    select
        *,
        open_ticket_count > 0 as has_open_ticket,
        latest_invoice_status in ('payment_failed', 'overdue') as has_billing_issue,
        coalesce(home_cell_availability_pct < 99.0 or home_cell_outage_minutes > 60, false) as has_poor_network,
        has_month_to_month_contract
            or coalesce({{ dbt.datediff('as_of_date', 'nearest_contract_end_date', 'day') }} <= 60, false)
            as is_out_of_contract_soon,
        monthly_value >= 60 as is_high_value
    from eligible

)

select
    customer_id,
    as_of_date,
    customer_type,
    region,
    preferred_language,
    tenure_days,
    monthly_value,
    currency,
    active_subscription_count,
    case
        when (has_open_ticket or has_poor_network or has_billing_issue) and is_high_value then 'at_risk_high_value'
        when has_open_ticket or has_poor_network or has_billing_issue then 'at_risk'
        when is_out_of_contract_soon and is_high_value then 'renewal_high_value'
        when is_out_of_contract_soon then 'renewal'
        when tenure_days < 90 then 'onboarding'
        when active_subscription_count = 1 then 'cross_sell'
        else 'loyal'
    end as retention_segment,
    case
        when has_open_ticket or has_poor_network or has_billing_issue then 'service_recovery'
        when is_out_of_contract_soon then 'contract_renewal_offer'
        when tenure_days < 90 then 'welcome_journey'
        when active_subscription_count = 1 then 'bundle_offer'
        else 'loyalty_reward'
    end as recommended_campaign,
    has_open_ticket,
    has_poor_network,
    has_billing_issue,
    is_out_of_contract_soon,
    is_high_value,
    is_do_not_sell,
    churn_probability,
    churn_risk_band,
    churn_reason_1,
    next_best_action_code,
    next_best_action,
    next_best_action_reasoning,
    next_best_action_expected_value
from signals
