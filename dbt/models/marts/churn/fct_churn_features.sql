-- One row per customer per as_of date: point-in-time features (nothing dated after as_of)
-- and the label (churned within churn_label_days after as_of). Customers are included on
-- an as_of date when they had signed up and still held an active subscription.
with

customers as (

    select * from {{ ref('int_customers_pinned_as_of') }}

),

subscriptions as (

    select * from {{ ref('int_subscriptions_pinned_as_of') }}

),

usage_windows as (

    select * from {{ ref('int_usage_windows_aggregated') }}

),

interaction_windows as (

    select * from {{ ref('int_interactions_windows_aggregated') }}

),

billing_windows as (

    select * from {{ ref('int_billing_windows_aggregated') }}

),

network_windows as (

    select * from {{ ref('int_network_windows_aggregated') }}

),

labels as (

    select * from {{ ref('int_churn_labels_computed') }}

),

products as (

    select
        as_of_date,
        customer_id,
        count(*) as active_subscription_count,
        max(case when product_type = 'mobile' then 1 else 0 end) = 1 as has_mobile,
        max(case when product_type = 'broadband' then 1 else 0 end) = 1 as has_broadband,
        max(case when product_type = 'tv' then 1 else 0 end) = 1 as has_tv,
        max(case when contract_type = 'month_to_month' then 1 else 0 end) = 1 as has_month_to_month_contract,
        min({{ dbt.datediff('as_of_date', 'contract_end_date', 'day') }}) as days_to_nearest_contract_end,
        max(case when had_price_rise_in_window then 1 else 0 end) = 1 as had_price_rise_in_window,
        cast(sum(monthly_price) as decimal(14, 2)) as monthly_value
    from subscriptions
    where is_active
    group by as_of_date, customer_id

)

select
    {{ dbt.concat(["customers.customer_id", "'|'", "cast(customers.as_of_date as " ~ dbt.type_string() ~ ")"]) }} as churn_feature_id,
    customers.customer_id,
    customers.as_of_date,
    customers.customer_type,
    customers.region,
    customers.urbanicity,
    customers.is_profile_known_at_as_of,
    {{ dbt.datediff('customers.signup_date', 'customers.as_of_date', 'day') }} as tenure_days,
    products.active_subscription_count,
    products.has_mobile,
    products.has_broadband,
    products.has_tv,
    products.has_month_to_month_contract,
    products.days_to_nearest_contract_end,
    products.had_price_rise_in_window,
    products.monthly_value,
    coalesce(usage_windows.data_gb_in_window, 0) as data_gb_in_window,
    coalesce(usage_windows.voice_minutes_in_window, 0) as voice_minutes_in_window,
    coalesce(usage_windows.usage_days_in_window, 0) as usage_days_in_window,
    coalesce(usage_windows.roaming_subscription_days_in_window, 0) as roaming_subscription_days_in_window,
    coalesce(usage_windows.data_gb_last_trend_days, 0) as data_gb_last_trend_days,
    coalesce(usage_windows.data_gb_prior_trend_days, 0) as data_gb_prior_trend_days,
    coalesce(interaction_windows.tickets_opened_in_window, 0) as tickets_opened_in_window,
    coalesce(interaction_windows.open_tickets_at_as_of, 0) as open_tickets_at_as_of,
    coalesce(interaction_windows.tickets_unresolved_over_48h_at_as_of, 0) as tickets_unresolved_over_48h_at_as_of,
    coalesce(interaction_windows.network_tickets_in_window, 0) as network_tickets_in_window,
    coalesce(interaction_windows.complaints_in_window, 0) as complaints_in_window,
    coalesce(interaction_windows.outage_reports_in_window, 0) as outage_reports_in_window,
    coalesce(interaction_windows.cancel_requests_in_window, 0) as cancel_requests_in_window,
    coalesce(interaction_windows.plan_change_views_in_window, 0) as plan_change_views_in_window,
    coalesce(interaction_windows.events_in_window, 0) as events_in_window,
    coalesce(billing_windows.failed_payments_in_window, 0) as failed_payments_in_window,
    coalesce(billing_windows.late_payments_in_window, 0) as late_payments_in_window,
    cast(coalesce(billing_windows.invoiced_amount_in_window, 0) as decimal(14, 2)) as invoiced_amount_in_window,
    network_windows.home_cell_availability_pct,
    network_windows.home_cell_dropped_call_rate,
    coalesce(network_windows.home_cell_outage_minutes, 0) as home_cell_outage_minutes,
    labels.is_churned_in_label_window,
    labels.is_label_window_complete,
    {{ var('churn_label_days') }} as label_window_days
from customers
inner join products
    on customers.as_of_date = products.as_of_date and customers.customer_id = products.customer_id
inner join labels
    on customers.as_of_date = labels.as_of_date and customers.customer_id = labels.customer_id
left join usage_windows
    on customers.as_of_date = usage_windows.as_of_date and customers.customer_id = usage_windows.customer_id
left join interaction_windows
    on customers.as_of_date = interaction_windows.as_of_date and customers.customer_id = interaction_windows.customer_id
left join billing_windows
    on customers.as_of_date = billing_windows.as_of_date and customers.customer_id = billing_windows.customer_id
left join network_windows
    on customers.as_of_date = network_windows.as_of_date and customers.customer_id = network_windows.customer_id
