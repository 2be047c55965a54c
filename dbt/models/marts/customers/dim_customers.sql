-- Customer 360: one row per customer (current CRM version) as of the last day of data,
-- with the latest churn score, its reasons and the next best action (ml/ writes them; the
-- nightly run rebuilds this mart after scoring: tag uses_churn_scores).
{{ config(tags=['uses_churn_scores']) }}
{%- set usage_window_days = 30 %}
{%- set network_window_days = 7 %}

with

customers as (

    select * from {{ ref('stg_crm__customers') }}
    where is_current

),

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

subscriptions as (

    select * from {{ ref('int_subscriptions_enriched') }}

),

churned as (

    select * from {{ ref('int_customers_churned') }}

),

churn_scores as (

    select * from {{ ref('int_churn_scores_latest') }}

),

invoices as (

    select * from {{ ref('stg_billing__invoices') }}

),

payments as (

    select * from {{ ref('stg_billing__payments') }}

),

usage_days as (

    select * from {{ ref('fct_usage_daily') }}

),

tickets as (

    select * from {{ ref('int_tickets_deduplicated') }}

),

cell_days as (

    select * from {{ ref('int_cell_days_aggregated') }}

),

spans as (

    select * from {{ ref('int_data_spans_measured') }}

),

account_summary as (

    select
        customer_id,
        count(*) as account_count,
        count(case when account_status = 'active' then 1 end) as active_account_count,
        max(case when is_autopay then 1 else 0 end) = 1 as has_autopay,
        max(case when is_paperless_billing then 1 else 0 end) = 1 as has_paperless_billing,
        max(credit_class) as worst_credit_class
    from accounts
    group by customer_id

),

product_summary as (

    select
        customer_id,
        count(case when is_active then 1 end) as active_subscription_count,
        max(case when is_active and product_type = 'mobile' then 1 else 0 end) = 1 as has_mobile,
        max(case when is_active and product_type = 'broadband' then 1 else 0 end) = 1 as has_broadband,
        max(case when is_active and product_type = 'tv' then 1 else 0 end) = 1 as has_tv,
        max(case when is_active and product_type = 'mobile' then plan_id end) as mobile_plan_id,
        max(case when is_active and product_type = 'broadband' then plan_id end) as broadband_plan_id,
        max(case when is_active and product_type = 'tv' then plan_id end) as tv_plan_id,
        max(case when is_active and contract_type = 'month_to_month' then 1 else 0 end) = 1 as has_month_to_month_contract,
        min(case when is_active then contract_end_date end) as nearest_contract_end_date,
        cast(sum(case when is_active then monthly_price else 0 end) as decimal(14, 2)) as monthly_value,
        max(currency) as currency
    from subscriptions
    group by customer_id

),

latest_invoices as (

    select
        accounts.customer_id,
        invoices.invoice_id,
        invoices.issue_date,
        invoices.due_date,
        invoices.total_amount,
        row_number() over (
            partition by accounts.customer_id order by invoices.issue_date desc, invoices.invoice_id desc
        ) as invoice_rank
    from invoices
    inner join accounts on invoices.account_id = accounts.account_id

),

invoice_payments as (

    select
        invoice_id,
        max(case when payment_status = 'succeeded' then 1 end) = 1 as is_paid,
        max(case when payment_status = 'failed' then 1 else 0 end) = 1 as has_failed_payment,
        max(paid_at) as last_paid_at
    from payments
    group by invoice_id

),

latest_payments as (

    select
        accounts.customer_id,
        payments.payment_status,
        payments.paid_at,
        row_number() over (
            partition by accounts.customer_id order by payments.paid_at desc, payments.payment_id desc
        ) as payment_rank
    from payments
    inner join accounts on payments.account_id = accounts.account_id

),

usage_summary as (

    select
        usage_days.customer_id,
        sum(usage_days.data_gb) as data_gb_last_30_days,
        sum(usage_days.voice_minutes) as voice_minutes_last_30_days,
        cast(sum(usage_days.sms_count) as {{ dbt.type_bigint() }}) as sms_count_last_30_days,
        count(distinct usage_days.usage_date) as usage_days_last_30_days,
        max(usage_days.usage_date) as last_usage_date
    from usage_days
    cross join spans
    where usage_days.usage_date > cast({{ dbt.dateadd('day', -usage_window_days, 'spans.data_end_date') }} as date)
    group by usage_days.customer_id

),

ticket_summary as (

    select
        customer_id,
        count(case when ticket_status in ('open', 'in_progress', 'pending_customer') then 1 end) as open_ticket_count,
        count(*) as ticket_count,
        max(opened_at) as last_ticket_opened_at
    from tickets
    group by customer_id

),

home_cell_quality as (

    select
        cell_days.cell_id,
        avg(cell_days.availability_pct) as home_cell_availability_pct,
        avg(cell_days.latency_ms) as home_cell_latency_ms,
        avg(cell_days.dropped_call_rate) as home_cell_dropped_call_rate,
        cast(sum(cell_days.outage_minutes) as {{ dbt.type_bigint() }}) as home_cell_outage_minutes
    from cell_days
    cross join spans
    where cell_days.measured_date > cast({{ dbt.dateadd('day', -network_window_days, 'spans.data_end_date') }} as date)
        and cell_days.measured_date <= spans.data_end_date
    group by cell_days.cell_id

)

select
    customers.customer_id,
    customers.customer_type,
    customers.first_name,
    customers.last_name,
    customers.company_name,
    customers.email,
    customers.phone_number,
    customers.city,
    customers.region,
    customers.urbanicity,
    customers.preferred_language,
    customers.signup_date,
    spans.data_end_date as as_of_date,
    {{ dbt.datediff('customers.signup_date', 'spans.data_end_date', 'day') }} as tenure_days,
    coalesce(churned.is_churned, false) as is_churned,
    churned.churn_date,
    coalesce(account_summary.account_count, 0) as account_count,
    coalesce(account_summary.active_account_count, 0) as active_account_count,
    coalesce(account_summary.has_autopay, false) as has_autopay,
    coalesce(account_summary.has_paperless_billing, false) as has_paperless_billing,
    account_summary.worst_credit_class,
    coalesce(product_summary.active_subscription_count, 0) as active_subscription_count,
    coalesce(product_summary.has_mobile, false) as has_mobile,
    coalesce(product_summary.has_broadband, false) as has_broadband,
    coalesce(product_summary.has_tv, false) as has_tv,
    product_summary.mobile_plan_id,
    product_summary.broadband_plan_id,
    product_summary.tv_plan_id,
    coalesce(product_summary.has_month_to_month_contract, false) as has_month_to_month_contract,
    product_summary.nearest_contract_end_date,
    cast(coalesce(product_summary.monthly_value, 0) as decimal(14, 2)) as monthly_value,
    product_summary.currency,
    latest_invoices.invoice_id as latest_invoice_id,
    latest_invoices.issue_date as latest_invoice_issue_date,
    latest_invoices.total_amount as latest_invoice_total_amount,
    case
        when latest_invoices.invoice_id is null then null
        when invoice_payments.is_paid then 'paid'
        when invoice_payments.has_failed_payment then 'payment_failed'
        when latest_invoices.due_date < spans.data_end_date then 'overdue'
        else 'unpaid'
    end as latest_invoice_status,
    latest_payments.payment_status as latest_payment_status,
    latest_payments.paid_at as latest_payment_at,
    coalesce(usage_summary.data_gb_last_30_days, 0) as data_gb_last_30_days,
    coalesce(usage_summary.voice_minutes_last_30_days, 0) as voice_minutes_last_30_days,
    coalesce(usage_summary.sms_count_last_30_days, 0) as sms_count_last_30_days,
    coalesce(usage_summary.usage_days_last_30_days, 0) as usage_days_last_30_days,
    usage_summary.last_usage_date,
    coalesce(ticket_summary.open_ticket_count, 0) as open_ticket_count,
    coalesce(ticket_summary.ticket_count, 0) as ticket_count,
    ticket_summary.last_ticket_opened_at,
    customers.home_cell_id,
    home_cell_quality.home_cell_availability_pct,
    home_cell_quality.home_cell_latency_ms,
    home_cell_quality.home_cell_dropped_call_rate,
    coalesce(home_cell_quality.home_cell_outage_minutes, 0) as home_cell_outage_minutes,
    customers.has_marketing_consent,
    customers.is_do_not_sell,
    churn_scores.churn_scored_as_of_date,
    churn_scores.churn_probability,
    churn_scores.churn_risk_band,
    churn_scores.churn_reason_1,
    churn_scores.churn_reason_2,
    churn_scores.churn_reason_3,
    churn_scores.churn_model_version,
    churn_scores.next_best_action_code,
    churn_scores.next_best_action,
    churn_scores.next_best_action_reasoning,
    churn_scores.next_best_action_expected_value
from customers
cross join spans
left join churned on customers.customer_id = churned.customer_id
left join account_summary on customers.customer_id = account_summary.customer_id
left join product_summary on customers.customer_id = product_summary.customer_id
left join latest_invoices
    on customers.customer_id = latest_invoices.customer_id and latest_invoices.invoice_rank = 1
left join invoice_payments on latest_invoices.invoice_id = invoice_payments.invoice_id
left join latest_payments
    on customers.customer_id = latest_payments.customer_id and latest_payments.payment_rank = 1
left join usage_summary on customers.customer_id = usage_summary.customer_id
left join ticket_summary on customers.customer_id = ticket_summary.customer_id
left join home_cell_quality on customers.home_cell_id = home_cell_quality.cell_id
left join churn_scores on customers.customer_id = churn_scores.customer_id
