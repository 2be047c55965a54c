-- The label: did a customer churn within churn_label_days after as_of? The only place
-- that looks past as_of. A label is complete when the whole window lies within the data.
{%- set label_days = var('churn_label_days') | int %}

with

as_of_dates as (

    select * from {{ ref('int_churn_as_of_dates_generated') }}

),

churned as (

    select * from {{ ref('int_customers_churned') }}

),

spans as (

    select * from {{ ref('int_data_spans_measured') }}

)

select
    as_of_dates.as_of_date,
    churned.customer_id,
    coalesce(
        churned.churn_date > as_of_dates.as_of_date
        and churned.churn_date <= cast({{ dbt.dateadd('day', label_days, 'as_of_dates.as_of_date') }} as date),
        false
    ) as is_churned_in_label_window,
    cast({{ dbt.dateadd('day', label_days, 'as_of_dates.as_of_date') }} as date) <= spans.data_end_date
        as is_label_window_complete
from as_of_dates
cross join churned
cross join spans
where churned.churn_date is null or churned.churn_date > as_of_dates.as_of_date
