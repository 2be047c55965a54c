with

source as (

    select * from {{ source('billing', 'invoices') }}

),

renamed as (

    select
        invoice_id,
        account_id,
        issue_date,
        billing_period_start as billing_period_start_date,
        billing_period_end as billing_period_end_date,
        due_date,
        recurring_amount,
        usage_amount,
        tax_amount,
        total_amount,
        currency
    from source

)

select * from renamed
