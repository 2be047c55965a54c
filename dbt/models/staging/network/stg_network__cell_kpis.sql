with

source as (

    select * from {{ source('network', 'cell_kpis') }}

),

renamed as (

    select
        cell_id,
        measured_at,
        latency_ms,
        packet_loss_pct,
        throughput_mbps,
        dropped_call_rate,
        availability_pct
    from source

)

select * from renamed
