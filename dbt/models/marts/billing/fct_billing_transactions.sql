-- Recent transactions for the API (TMF678 customer bills and the payments against them):
-- one row per money event on a billing account (an invoice or a payment attempt) that
-- occurred within the last billing_transaction_months (13) months before the last day of
-- data, so last year's bill for the same month is still there. Older events stay in
-- silver and still count in dim_billing_accounts' balances. Events dated after the last
-- day of usage data (billing landed ahead of usage) are kept: the newest bill must show.
{%- set months = var('billing_transaction_months') | int %}

with

transactions as (

    select * from {{ ref('int_billing_transactions_unioned') }}

),

spans as (

    select * from {{ ref('int_data_spans_measured') }}

),

recent as (

    select
        transactions.*,
        spans.data_end_date as as_of_date
    from transactions
    cross join spans
    where transactions.occurred_date > cast({{ dbt.dateadd('month', -months, 'spans.data_end_date') }} as date)

),

worded as (

    select
        *,
        cast(billing_period_start_date as {{ dbt.type_string() }}) as period_start_text,
        cast(billing_period_end_date as {{ dbt.type_string() }}) as period_end_text,
        case transaction_status
            when 'failed' then 'Failed payment'
            when 'reversed' then 'Reversed payment'
            else 'Payment'
        end as payment_outcome_text,
        replace(payment_method, '_', ' ') as payment_method_text,
        case
            when failure_reason is not null
                then {{ dbt.concat(["' ('", "replace(failure_reason, '_', ' ')", "')'"]) }}
            else ''
        end as failure_text
    from recent

),

described as (

    select
        *,
        case
            when transaction_type = 'invoice'
                then {{ dbt.concat(["'Invoice '", 'invoice_id', "' for '", 'period_start_text', "' to '", 'period_end_text']) }}
            else {{ dbt.concat(['payment_outcome_text', "' by '", 'payment_method_text', "' for invoice '", 'invoice_id', 'failure_text']) }}
        end as description
    from worded

)

select
    transaction_id,
    transaction_type,
    account_id,
    customer_id,
    occurred_at,
    occurred_date,
    amount,
    signed_amount,
    currency,
    transaction_status,
    description,
    invoice_id,
    payment_id,
    payment_method,
    failure_reason,
    card_last4,
    billing_period_start_date,
    billing_period_end_date,
    due_date,
    as_of_date
from described
