-- Silver keeps every version of a ticket (key ticket_id, updated_at): the latest one wins.
with

tickets as (

    select * from {{ ref('stg_interactions__tickets') }}

),

ranked as (

    select
        *,
        row_number() over (partition by ticket_id order by updated_at desc) as version_rank
    from tickets

)

select
    ticket_id,
    customer_id,
    subscription_id,
    category,
    channel,
    priority,
    ticket_status,
    opened_at,
    first_response_at,
    resolved_at,
    csat_score,
    updated_at
from ranked
where version_rank = 1
