with

source as (

    select * from {{ source('crm', 'accounts') }}

),

renamed as (

    select
        account_id,
        customer_id,
        account_status,
        billing_cycle_day,
        payment_method,
        is_autopay,
        is_paperless_billing,
        credit_class,
        currency,
        opened_date,
        closed_date,
        created_at,
        updated_at
    from source

)

select * from renamed
