-- One row per ticket (latest version): time to first response and to resolution against
-- the priority's targets (var ticket_sla_minutes). A ticket still waiting at the end of
-- the data is breached once its waiting time passes the target.
{%- set targets = var('ticket_sla_minutes') %}

with

tickets as (

    select * from {{ ref('int_tickets_deduplicated') }}

),

status_changes as (

    select * from {{ ref('stg_interactions__ticket_status_changes') }}

),

spans as (

    select * from {{ ref('int_data_spans_measured') }}

),

change_counts as (

    select
        ticket_id,
        count(*) as status_change_count,
        count(case when from_status in ('resolved', 'closed') and to_status in ('open', 'in_progress') then 1 end) as reopened_count
    from status_changes
    group by ticket_id

),

timed as (

    select
        tickets.*,
        case tickets.priority
            {%- for priority, target in targets.items() %}
            when '{{ priority }}' then {{ target['first_response'] }}
            {%- endfor %}
        end as first_response_target_minutes,
        case tickets.priority
            {%- for priority, target in targets.items() %}
            when '{{ priority }}' then {{ target['resolution'] }}
            {%- endfor %}
        end as resolution_target_minutes,
        {{ seconds_between('tickets.opened_at', 'tickets.first_response_at') }} / 60.0 as first_response_minutes,
        {{ seconds_between('tickets.opened_at', 'tickets.resolved_at') }} / 60.0 as resolution_minutes,
        -- minutes from opening to the end of the last day of data: how long an open ticket has waited
        {{ seconds_between('tickets.opened_at', dbt.dateadd('day', 1, 'spans.data_end_date')) }} / 60.0 as minutes_open_at_data_end
    from tickets
    cross join spans

)

select
    timed.ticket_id,
    timed.customer_id,
    timed.subscription_id,
    timed.category,
    timed.channel,
    timed.priority,
    timed.ticket_status,
    timed.ticket_status in ('open', 'in_progress', 'pending_customer') as is_open,
    timed.opened_at,
    cast(timed.opened_at as date) as opened_date,
    timed.first_response_at,
    timed.resolved_at,
    timed.csat_score,
    timed.first_response_minutes,
    timed.resolution_minutes,
    timed.first_response_target_minutes,
    timed.resolution_target_minutes,
    coalesce(timed.first_response_minutes, timed.minutes_open_at_data_end) > timed.first_response_target_minutes
        as is_first_response_breached,
    coalesce(timed.resolution_minutes, timed.minutes_open_at_data_end) > timed.resolution_target_minutes
        as is_resolution_breached,
    coalesce(change_counts.status_change_count, 0) as status_change_count,
    coalesce(change_counts.reopened_count, 0) as reopened_count
from timed
left join change_counts on timed.ticket_id = change_counts.ticket_id
