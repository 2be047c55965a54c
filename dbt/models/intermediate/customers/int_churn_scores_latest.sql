-- Each customer's latest churn score with the next best action of the same scoring run.
-- Customers never scored (new since the last run, or before the first model) are absent.
with

scores as (

    select * from {{ ref('stg_ml__churn_scores') }}

),

actions as (

    select * from {{ ref('stg_ml__retention_actions') }}

),

ranked as (

    select
        *,
        row_number() over (partition by customer_id order by as_of_date desc, churn_scored_at desc) as score_rank
    from scores

)

select
    ranked.customer_id,
    ranked.as_of_date as churn_scored_as_of_date,
    ranked.churn_probability,
    ranked.churn_risk_band,
    ranked.churn_reason_1,
    ranked.churn_reason_1_code,
    ranked.churn_reason_2,
    ranked.churn_reason_2_code,
    ranked.churn_reason_3,
    ranked.churn_reason_3_code,
    ranked.churn_model_version,
    actions.next_best_action_code,
    actions.next_best_action,
    actions.next_best_action_reasoning,
    actions.next_best_action_expected_value
from ranked
left join actions
    on ranked.customer_id = actions.customer_id and ranked.as_of_date = actions.as_of_date
where ranked.score_rank = 1
