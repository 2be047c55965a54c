-- Quality of each customer's home cell (as known on as_of) over the feature window.
{%- set window = var('churn_feature_window_days') | int %}

with

customers as (

    select * from {{ ref('int_customers_pinned_as_of') }}
    where home_cell_id is not null

),

cell_days as (

    select * from {{ ref('int_cell_days_aggregated') }}

)

select
    customers.as_of_date,
    customers.customer_id,
    avg(cell_days.availability_pct) as home_cell_availability_pct,
    avg(cell_days.dropped_call_rate) as home_cell_dropped_call_rate,
    cast(sum(cell_days.outage_minutes) as {{ dbt.type_bigint() }}) as home_cell_outage_minutes
from customers
inner join cell_days
    on customers.home_cell_id = cell_days.cell_id
    and cell_days.measured_date <= customers.as_of_date
    and cell_days.measured_date > cast({{ dbt.dateadd('day', -window, 'customers.as_of_date') }} as date)
group by customers.as_of_date, customers.customer_id
