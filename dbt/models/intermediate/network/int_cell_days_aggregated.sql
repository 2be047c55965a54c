-- One row per cell per day: the daily network quality the churn features look back over.
with

kpis as (

    select * from {{ ref('stg_network__cell_kpis') }}

)

select
    cell_id,
    cast(measured_at as date) as measured_date,
    avg(availability_pct) as availability_pct,
    avg(latency_ms) as latency_ms,
    avg(dropped_call_rate) as dropped_call_rate,
    count(case when availability_pct < {{ var('outage_availability_pct') }} then 1 end) as outage_minutes,
    count(*) as sample_count
from kpis
group by cell_id, cast(measured_at as date)
