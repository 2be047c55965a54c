-- Every money event on a billing account, over all of silver: each invoice (a charge) and
-- each payment attempt, one row each. signed_amount is the event's effect on the balance:
-- + for a charge, - for a payment that succeeded, 0 for a failed or reversed attempt
-- (no money moved, or it went back). Summed per account it is the balance due.
with

invoices as (

    select * from {{ ref('int_invoices_reconciled') }}

),

payments as (

    select * from {{ ref('stg_billing__payments') }}

),

accounts as (

    select account_id, customer_id from {{ ref('stg_crm__accounts') }}

),

invoice_events as (

    select
        {{ dbt.concat(["'invoice-'", 'invoice_id']) }} as transaction_id,
        'invoice' as transaction_type,
        account_id,
        -- midnight UTC (both targets run in UTC); the union takes paid_at's type, so on
        -- DuckDB the column stays timestamptz like every other *_at column in gold
        cast(issue_date as {{ dbt.type_timestamp() }}) as occurred_at,
        issue_date as occurred_date,
        total_amount as amount,
        total_amount as signed_amount,
        currency,
        invoice_status as transaction_status,
        invoice_id,
        cast(null as {{ dbt.type_string() }}) as payment_id,
        cast(null as {{ dbt.type_string() }}) as payment_method,
        cast(null as {{ dbt.type_string() }}) as failure_reason,
        cast(null as {{ dbt.type_string() }}) as card_last4,
        billing_period_start_date,
        billing_period_end_date,
        due_date
    from invoices

),

payment_events as (

    select
        {{ dbt.concat(["'payment-'", 'payment_id']) }} as transaction_id,
        'payment' as transaction_type,
        account_id,
        paid_at as occurred_at,
        cast(paid_at as date) as occurred_date,
        amount,
        case when payment_status = 'succeeded' then -amount else cast(0 as decimal(12, 2)) end as signed_amount,
        currency,
        payment_status as transaction_status,
        invoice_id,
        payment_id,
        payment_method,
        failure_reason,
        -- PCI DSS allows the last four digits; silver never holds more of the card number
        card_last4,
        cast(null as date) as billing_period_start_date,
        cast(null as date) as billing_period_end_date,
        cast(null as date) as due_date
    from payments

),

events as (

    select * from invoice_events
    union all
    select * from payment_events

)

select
    events.transaction_id,
    events.transaction_type,
    events.account_id,
    accounts.customer_id,
    events.occurred_at,
    events.occurred_date,
    events.amount,
    events.signed_amount,
    events.currency,
    events.transaction_status,
    events.invoice_id,
    events.payment_id,
    events.payment_method,
    events.failure_reason,
    events.card_last4,
    events.billing_period_start_date,
    events.billing_period_end_date,
    events.due_date
from events
left join accounts on events.account_id = accounts.account_id
