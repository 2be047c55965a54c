with

source as (

    select * from {{ source('crm', 'subscriptions') }}

),

renamed as (

    select
        subscription_id,
        account_id,
        customer_id,
        plan_id,
        product_type,
        msisdn,
        subscription_status,
        contract_type,
        contract_start_date,
        contract_end_date,
        monthly_price,
        previous_monthly_price,
        price_changed_date,
        start_date,
        end_date,
        termination_reason,
        created_at,
        updated_at,
        valid_from as valid_from_at,
        valid_to as valid_to_at,
        is_current
    from source

)

select * from renamed
