-- One row per region per hour: the network KPIs over every minute sample of the region's
-- cells (the p95 is over samples, not an average of cell p95s).
with

kpis as (

    select * from {{ ref('stg_network__cell_kpis') }}

),

cells as (

    select * from {{ ref('stg_network__cells') }}

),

cell_hours as (

    select * from {{ ref('fct_network_kpis_hourly') }}

),

samples as (

    select
        cells.region,
        {{ dbt.date_trunc('hour', 'kpis.measured_at') }} as measured_hour_at,
        kpis.latency_ms
    from kpis
    inner join cells on kpis.cell_id = cells.cell_id

),

latency as (

    select
        region,
        measured_hour_at,
        {{ percentile_cont('latency_ms', 0.95) }} as latency_p95_ms
    from samples
    group by region, measured_hour_at

),

totals as (

    select
        region,
        measured_hour_at,
        count(*) as cell_count,
        cast(sum(sample_count) as {{ dbt.type_bigint() }}) as sample_count,
        sum(availability_pct * sample_count) / sum(sample_count) as availability_pct,
        sum(dropped_call_rate * sample_count) / sum(sample_count) as dropped_call_rate,
        cast(sum(outage_minutes) as {{ dbt.type_bigint() }}) as outage_minutes,
        count(case when outage_minutes > 0 then 1 end) as cells_with_outage_count,
        cast(sum(alarms_raised_count) as {{ dbt.type_bigint() }}) as alarms_raised_count
    from cell_hours
    group by region, measured_hour_at

)

select
    {{ dbt.concat(["totals.region", "'|'", "cast(cast(totals.measured_hour_at as date) as " ~ dbt.type_string() ~ ")", "'T'", "cast(extract(hour from totals.measured_hour_at) as " ~ dbt.type_string() ~ ")"]) }} as region_hour_id,
    totals.region,
    totals.measured_hour_at,
    cast(totals.measured_hour_at as date) as measured_date,
    totals.cell_count,
    totals.sample_count,
    totals.availability_pct,
    latency.latency_p95_ms,
    totals.dropped_call_rate,
    totals.outage_minutes,
    totals.cells_with_outage_count,
    totals.alarms_raised_count
from totals
inner join latency
    on totals.region = latency.region and totals.measured_hour_at = latency.measured_hour_at
