-- Payments and invoices per customer over the feature window ending on each as_of date.
{%- set window = var('churn_feature_window_days') | int %}

with

as_of_dates as (

    select * from {{ ref('int_churn_as_of_dates_generated') }}

),

payments as (

    select * from {{ ref('stg_billing__payments') }}

),

invoices as (

    select * from {{ ref('stg_billing__invoices') }}

),

accounts as (

    select account_id, customer_id from {{ ref('stg_crm__accounts') }}

),

payment_features as (

    select
        as_of_dates.as_of_date,
        accounts.customer_id,
        count(case when payments.payment_status = 'failed' then 1 end) as failed_payments_in_window,
        count(case when payments.is_late then 1 end) as late_payments_in_window
    from as_of_dates
    inner join payments
        on cast(payments.paid_at as date) <= as_of_dates.as_of_date
        and cast(payments.paid_at as date) > cast({{ dbt.dateadd('day', -window, 'as_of_dates.as_of_date') }} as date)
    inner join accounts on payments.account_id = accounts.account_id
    group by as_of_dates.as_of_date, accounts.customer_id

),

invoice_features as (

    select
        as_of_dates.as_of_date,
        accounts.customer_id,
        cast(sum(invoices.total_amount) as decimal(14, 2)) as invoiced_amount_in_window,
        cast(sum(invoices.usage_amount) as decimal(14, 2)) as usage_charges_in_window
    from as_of_dates
    inner join invoices
        on invoices.issue_date <= as_of_dates.as_of_date
        and invoices.issue_date > cast({{ dbt.dateadd('day', -window, 'as_of_dates.as_of_date') }} as date)
    inner join accounts on invoices.account_id = accounts.account_id
    group by as_of_dates.as_of_date, accounts.customer_id

),

keys as (

    select as_of_date, customer_id from payment_features
    union
    select as_of_date, customer_id from invoice_features

)

select
    keys.as_of_date,
    keys.customer_id,
    coalesce(payment_features.failed_payments_in_window, 0) as failed_payments_in_window,
    coalesce(payment_features.late_payments_in_window, 0) as late_payments_in_window,
    coalesce(invoice_features.invoiced_amount_in_window, 0) as invoiced_amount_in_window,
    coalesce(invoice_features.usage_charges_in_window, 0) as usage_charges_in_window
from keys
left join payment_features
    on keys.as_of_date = payment_features.as_of_date and keys.customer_id = payment_features.customer_id
left join invoice_features
    on keys.as_of_date = invoice_features.as_of_date and keys.customer_id = invoice_features.customer_id
