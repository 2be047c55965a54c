with

source as (

    select * from {{ source('billing', 'usage_daily') }}

),

renamed as (

    select
        subscription_id,
        usage_date,
        data_mb,
        voice_minutes,
        sms_count,
        roaming_data_mb,
        roaming_voice_minutes
    from source

)

select * from renamed
