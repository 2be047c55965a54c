with

source as (

    select * from {{ source('billing', 'payments') }}

),

renamed as (

    select
        payment_id,
        invoice_id,
        account_id,
        payment_method,
        amount,
        currency,
        payment_status,
        failure_reason,
        is_late,
        card_last4,
        paid_at
    from source

)

select * from renamed
