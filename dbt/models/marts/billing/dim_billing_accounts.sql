-- Billing accounts for the API (TMF666 billingAccount): one row per account in its
-- current state (crm.accounts is merged by key in silver, one row per account, not SCD2),
-- with its balance from every invoice and payment in silver, the overdue part, and its
-- latest invoice and payment, as of the last day of data.
with

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

invoices as (

    select * from {{ ref('int_invoices_reconciled') }}

),

payments as (

    select * from {{ ref('stg_billing__payments') }}

),

spans as (

    select * from {{ ref('int_data_spans_measured') }}

),

invoice_summary as (

    select
        account_id,
        count(*) as invoice_count,
        count(case when is_open then 1 end) as open_invoice_count,
        count(case when is_overdue then 1 end) as overdue_invoice_count,
        cast(sum(total_amount) as decimal(14, 2)) as invoiced_amount,
        cast(sum(paid_amount) as decimal(14, 2)) as paid_amount,
        cast(sum(open_amount) as decimal(14, 2)) as balance_due_amount,
        cast(sum(case when is_overdue then open_amount else 0 end) as decimal(14, 2)) as overdue_amount,
        min(case when is_overdue then due_date end) as oldest_overdue_due_date
    from invoices
    group by account_id

),

latest_invoices as (

    select
        account_id,
        invoice_id,
        issue_date,
        due_date,
        total_amount,
        invoice_status,
        row_number() over (partition by account_id order by issue_date desc, invoice_id desc) as invoice_rank
    from invoices

),

payment_summary as (

    select
        account_id,
        count(case when payment_status = 'failed' then 1 end) as failed_payment_count,
        max(paid_at) as last_payment_attempt_at
    from payments
    group by account_id

),

latest_payments as (

    select
        account_id,
        payment_id,
        paid_at,
        amount,
        payment_method,
        row_number() over (partition by account_id order by paid_at desc, payment_id desc) as payment_rank
    from payments
    where payment_status = 'succeeded'

),

latest_attempts as (

    select
        account_id,
        payment_status,
        row_number() over (partition by account_id order by paid_at desc, payment_id desc) as attempt_rank
    from payments

)

select
    accounts.account_id,
    accounts.customer_id,
    accounts.account_status,
    accounts.billing_cycle_day,
    accounts.payment_method,
    accounts.is_autopay,
    accounts.is_paperless_billing,
    accounts.credit_class,
    accounts.currency,
    accounts.opened_date,
    accounts.closed_date,
    spans.data_end_date as as_of_date,
    coalesce(invoice_summary.invoice_count, 0) as invoice_count,
    coalesce(invoice_summary.open_invoice_count, 0) as open_invoice_count,
    coalesce(invoice_summary.overdue_invoice_count, 0) as overdue_invoice_count,
    cast(coalesce(invoice_summary.invoiced_amount, 0) as decimal(14, 2)) as invoiced_amount,
    cast(coalesce(invoice_summary.paid_amount, 0) as decimal(14, 2)) as paid_amount,
    cast(coalesce(invoice_summary.balance_due_amount, 0) as decimal(14, 2)) as balance_due_amount,
    cast(coalesce(invoice_summary.overdue_amount, 0) as decimal(14, 2)) as overdue_amount,
    invoice_summary.oldest_overdue_due_date,
    coalesce({{ dbt.datediff('invoice_summary.oldest_overdue_due_date', 'spans.data_end_date', 'day') }}, 0) as days_past_due,
    latest_invoices.invoice_id as latest_invoice_id,
    latest_invoices.issue_date as latest_invoice_issue_date,
    latest_invoices.due_date as latest_invoice_due_date,
    latest_invoices.total_amount as latest_invoice_total_amount,
    latest_invoices.invoice_status as latest_invoice_status,
    latest_payments.payment_id as last_payment_id,
    latest_payments.paid_at as last_payment_at,
    cast(latest_payments.paid_at as date) as last_payment_date,
    latest_payments.amount as last_payment_amount,
    latest_payments.payment_method as last_payment_method,
    payment_summary.last_payment_attempt_at,
    latest_attempts.payment_status as last_payment_attempt_status,
    coalesce(payment_summary.failed_payment_count, 0) as failed_payment_count
from accounts
cross join spans
left join invoice_summary on accounts.account_id = invoice_summary.account_id
left join latest_invoices
    on accounts.account_id = latest_invoices.account_id and latest_invoices.invoice_rank = 1
left join latest_payments
    on accounts.account_id = latest_payments.account_id and latest_payments.payment_rank = 1
left join payment_summary on accounts.account_id = payment_summary.account_id
left join latest_attempts
    on accounts.account_id = latest_attempts.account_id and latest_attempts.attempt_rank = 1
