-- Tickets and contact events per customer up to each as_of date. A ticket is seen in the
-- latest version updated by as_of; one resolved after as_of is still open at as_of.
{%- set window = var('churn_feature_window_days') | int %}

with

as_of_dates as (

    select * from {{ ref('int_churn_as_of_dates_generated') }}

),

ticket_versions as (

    select * from {{ ref('stg_interactions__tickets') }}

),

events as (

    select * from {{ ref('stg_interactions__events') }}

),

tickets_known as (

    select
        as_of_dates.as_of_date,
        ticket_versions.*,
        row_number() over (
            partition by as_of_dates.as_of_date, ticket_versions.ticket_id
            order by ticket_versions.updated_at desc
        ) as version_rank
    from as_of_dates
    inner join ticket_versions
        on cast(ticket_versions.updated_at as date) <= as_of_dates.as_of_date

),

ticket_features as (

    select
        as_of_date,
        customer_id,
        count(case when cast(opened_at as date) > cast({{ dbt.dateadd('day', -window, 'as_of_date') }} as date)
            then 1 end) as tickets_opened_in_window,
        count(case when resolved_at is null or cast(resolved_at as date) > as_of_date then 1 end) as open_tickets_at_as_of,
        count(case
                when (resolved_at is null or cast(resolved_at as date) > as_of_date)
                    and {{ dbt.datediff('cast(opened_at as date)', 'as_of_date', 'day') }} >= 2
                then 1
            end) as tickets_unresolved_over_48h_at_as_of,
        count(case when category = 'network' and cast(opened_at as date) > cast({{ dbt.dateadd('day', -window, 'as_of_date') }} as date) then 1 end) as network_tickets_in_window
    from tickets_known
    where version_rank = 1
    group by as_of_date, customer_id

),

event_features as (

    select
        as_of_dates.as_of_date,
        events.customer_id,
        count(case when events.event_type = 'complaint' then 1 end) as complaints_in_window,
        count(case when events.event_type = 'outage_report' then 1 end) as outage_reports_in_window,
        count(case when events.event_type = 'cancel_request' then 1 end) as cancel_requests_in_window,
        count(case when events.event_type = 'plan_change_view' then 1 end) as plan_change_views_in_window,
        count(*) as events_in_window
    from as_of_dates
    inner join events
        on cast(events.occurred_at as date) <= as_of_dates.as_of_date
        and cast(events.occurred_at as date) > cast({{ dbt.dateadd('day', -window, 'as_of_dates.as_of_date') }} as date)
    group by as_of_dates.as_of_date, events.customer_id

),

keys as (

    select as_of_date, customer_id from ticket_features
    union
    select as_of_date, customer_id from event_features

)

select
    keys.as_of_date,
    keys.customer_id,
    coalesce(ticket_features.tickets_opened_in_window, 0) as tickets_opened_in_window,
    coalesce(ticket_features.open_tickets_at_as_of, 0) as open_tickets_at_as_of,
    coalesce(ticket_features.tickets_unresolved_over_48h_at_as_of, 0) as tickets_unresolved_over_48h_at_as_of,
    coalesce(ticket_features.network_tickets_in_window, 0) as network_tickets_in_window,
    coalesce(event_features.complaints_in_window, 0) as complaints_in_window,
    coalesce(event_features.outage_reports_in_window, 0) as outage_reports_in_window,
    coalesce(event_features.cancel_requests_in_window, 0) as cancel_requests_in_window,
    coalesce(event_features.plan_change_views_in_window, 0) as plan_change_views_in_window,
    coalesce(event_features.events_in_window, 0) as events_in_window
from keys
left join ticket_features
    on keys.as_of_date = ticket_features.as_of_date and keys.customer_id = ticket_features.customer_id
left join event_features
    on keys.as_of_date = event_features.as_of_date and keys.customer_id = event_features.customer_id
