-- Each customer as known on each as_of date: the SCD2 version current at the end of that
-- day. Customers whose history starts later (CRM landed after as_of) fall back to their
-- earliest version; only attributes that do not change in the CRM are taken from it.
with

as_of_dates as (

    select * from {{ ref('int_churn_as_of_dates_generated') }}

),

versions as (

    select * from {{ ref('stg_crm__customers') }}

),

{{ scd2_versions_ranked_at_as_of('customer_id', 'signup_date') }}

select
    as_of_date,
    customer_id,
    customer_type,
    region,
    urbanicity,
    signup_date,
    case when is_known_at_as_of then home_cell_id end as home_cell_id,
    is_known_at_as_of as is_profile_known_at_as_of
from ranked
where version_rank = 1
