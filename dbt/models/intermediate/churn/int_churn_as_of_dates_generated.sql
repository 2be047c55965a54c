-- The as_of grid of the churn features: every churn_grid_step_days days back from the last
-- day of data, over churn_grid_lookback_days, never before the first day of data.
{%- set step = var('churn_grid_step_days') | int %}
{%- set steps = (var('churn_grid_lookback_days') | int) // step + 1 %}

with

spans as (

    select * from {{ ref('int_data_spans_measured') }}

),

steps as (

    {{ dbt.generate_series(steps) }}

),

grid as (

    select
        cast({{ dbt.dateadd('day', '(1 - steps.generated_number) * ' ~ step, 'spans.data_end_date') }} as date) as as_of_date,
        spans.data_start_date
    from steps
    cross join spans

)

select as_of_date
from grid
where as_of_date >= data_start_date
