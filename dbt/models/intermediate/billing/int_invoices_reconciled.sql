-- One row per invoice, reconciled against the payment attempts made on it, as of the last
-- day of data: what was paid (succeeded attempts only; failed and reversed ones move no
-- money), what is still open, whether it is overdue, and its status. The status uses the
-- customer 360's words (dim_customers.latest_invoice_status), decided by amounts here.
with

invoices as (

    select * from {{ ref('stg_billing__invoices') }}

),

payments as (

    select * from {{ ref('stg_billing__payments') }}

),

spans as (

    select * from {{ ref('int_data_spans_measured') }}

),

payments_per_invoice as (

    select
        invoice_id,
        cast(sum(case when payment_status = 'succeeded' then amount else 0 end) as decimal(14, 2)) as paid_amount,
        count(*) as payment_attempt_count,
        count(case when payment_status = 'failed' then 1 end) as failed_payment_count,
        max(case when payment_status = 'succeeded' then paid_at end) as last_paid_at
    from payments
    group by invoice_id

),

reconciled as (

    select
        invoices.invoice_id,
        invoices.account_id,
        invoices.issue_date,
        invoices.billing_period_start_date,
        invoices.billing_period_end_date,
        invoices.due_date,
        invoices.total_amount,
        invoices.currency,
        cast(coalesce(payments_per_invoice.paid_amount, 0) as decimal(14, 2)) as paid_amount,
        cast(invoices.total_amount - coalesce(payments_per_invoice.paid_amount, 0) as decimal(14, 2)) as open_amount,
        coalesce(payments_per_invoice.payment_attempt_count, 0) as payment_attempt_count,
        coalesce(payments_per_invoice.failed_payment_count, 0) as failed_payment_count,
        payments_per_invoice.last_paid_at,
        spans.data_end_date as as_of_date
    from invoices
    cross join spans
    left join payments_per_invoice on invoices.invoice_id = payments_per_invoice.invoice_id

)

select
    invoice_id,
    account_id,
    issue_date,
    billing_period_start_date,
    billing_period_end_date,
    due_date,
    total_amount,
    currency,
    paid_amount,
    open_amount,
    payment_attempt_count,
    failed_payment_count,
    last_paid_at,
    open_amount > 0 as is_open,
    open_amount > 0 and due_date < as_of_date as is_overdue,
    case
        when open_amount <= 0 then 'paid'
        when failed_payment_count > 0 then 'payment_failed'
        when due_date < as_of_date then 'overdue'
        else 'unpaid'
    end as invoice_status
from reconciled
