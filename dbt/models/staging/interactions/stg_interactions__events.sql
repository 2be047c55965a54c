with

source as (

    select * from {{ source('interactions', 'events') }}

),

renamed as (

    select
        event_id,
        customer_id,
        subscription_id,
        channel,
        event_type,
        occurred_at,
        duration_seconds
    from source

)

select * from renamed
