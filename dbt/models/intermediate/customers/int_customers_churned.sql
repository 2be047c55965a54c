-- When each customer churned: the day their last subscription ended, once all have ended.
with

subscriptions as (

    select * from {{ ref('int_subscriptions_enriched') }}

),

per_customer as (

    select
        customer_id,
        count(*) as subscription_count,
        count(end_date) as ended_subscription_count,
        max(end_date) as last_end_date
    from subscriptions
    group by customer_id

)

select
    customer_id,
    case when ended_subscription_count = subscription_count then last_end_date end as churn_date,
    ended_subscription_count = subscription_count as is_churned
from per_customer
