with

source as (

    select * from {{ source('interactions', 'ticket_status_changes') }}

),

renamed as (

    select
        ticket_id,
        changed_at,
        from_status,
        to_status,
        agent_id
    from source

)

select * from renamed
