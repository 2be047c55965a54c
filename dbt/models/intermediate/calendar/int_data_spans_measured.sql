-- The first and last day the lakehouse has data for. Marts measure "now" as the last day of
-- data (never the wall clock), so a rebuild over the same silver gives the same marts.
with

usage_days as (

    select
        min(usage_date) as data_start_date,
        max(usage_date) as data_end_date
    from {{ ref('stg_billing__usage_daily') }}

)

select
    data_start_date,
    data_end_date
from usage_days
