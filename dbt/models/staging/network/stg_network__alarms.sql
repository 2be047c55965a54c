with

source as (

    select * from {{ source('network', 'alarms') }}

),

renamed as (

    select
        alarm_id,
        event_type,
        cell_id,
        alarm_type,
        severity,
        occurred_at
    from source

)

select * from renamed
