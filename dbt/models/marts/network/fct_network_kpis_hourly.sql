-- One row per cell per hour: availability, latency p95, drop rate and outage minutes from
-- the per-minute KPIs, plus the alarms raised in the hour.
with

kpis as (

    select * from {{ ref('stg_network__cell_kpis') }}

),

cells as (

    select * from {{ ref('stg_network__cells') }}

),

alarms as (

    select * from {{ ref('stg_network__alarms') }}

),

hourly as (

    select
        cell_id,
        {{ dbt.date_trunc('hour', 'measured_at') }} as measured_hour_at,
        count(*) as sample_count,
        avg(availability_pct) as availability_pct,
        avg(latency_ms) as latency_avg_ms,
        {{ percentile_cont('latency_ms', 0.95) }} as latency_p95_ms,
        avg(packet_loss_pct) as packet_loss_pct,
        avg(throughput_mbps) as throughput_mbps,
        avg(dropped_call_rate) as dropped_call_rate,
        count(case when availability_pct < {{ var('outage_availability_pct') }} then 1 end) as outage_minutes
    from kpis
    group by cell_id, {{ dbt.date_trunc('hour', 'measured_at') }}

),

alarms_hourly as (

    select
        cell_id,
        {{ dbt.date_trunc('hour', 'occurred_at') }} as measured_hour_at,
        count(*) as alarms_raised_count,
        count(case when severity = 'critical' then 1 end) as critical_alarms_raised_count
    from alarms
    where event_type = 'raised'
    group by cell_id, {{ dbt.date_trunc('hour', 'occurred_at') }}

)

select
    {{ dbt.concat(["hourly.cell_id", "'|'", "cast(cast(hourly.measured_hour_at as date) as " ~ dbt.type_string() ~ ")", "'T'", "cast(extract(hour from hourly.measured_hour_at) as " ~ dbt.type_string() ~ ")"]) }} as cell_hour_id,
    hourly.cell_id,
    cells.site_id,
    cells.region,
    cells.urbanicity,
    cells.technology,
    cells.is_edge_site,
    hourly.measured_hour_at,
    cast(hourly.measured_hour_at as date) as measured_date,
    hourly.sample_count,
    hourly.availability_pct,
    hourly.latency_avg_ms,
    hourly.latency_p95_ms,
    hourly.packet_loss_pct,
    hourly.throughput_mbps,
    hourly.dropped_call_rate,
    hourly.outage_minutes,
    coalesce(alarms_hourly.alarms_raised_count, 0) as alarms_raised_count,
    coalesce(alarms_hourly.critical_alarms_raised_count, 0) as critical_alarms_raised_count
from hourly
inner join cells on hourly.cell_id = cells.cell_id
left join alarms_hourly
    on hourly.cell_id = alarms_hourly.cell_id and hourly.measured_hour_at = alarms_hourly.measured_hour_at
