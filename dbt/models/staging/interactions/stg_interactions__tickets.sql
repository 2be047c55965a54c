with

source as (

    select * from {{ source('interactions', 'tickets') }}

),

renamed as (

    select
        ticket_id,
        customer_id,
        subscription_id,
        category,
        channel,
        priority,
        ticket_status,
        opened_at,
        first_response_at,
        resolved_at,
        csat_score,
        updated_at
    from source

)

select * from renamed
