with

source as (

    select * from {{ source('crm', 'plans') }}

),

renamed as (

    select
        plan_id,
        plan_name,
        product_type,
        customer_segment,
        monthly_price,
        previous_monthly_price,
        price_changed_date,
        currency,
        data_allowance_gb,
        voice_allowance_minutes,
        sms_allowance,
        download_speed_mbps,
        tv_channel_count,
        overage_price_per_gb,
        is_bundle_eligible,
        launched_date,
        updated_at
    from source

)

select * from renamed
