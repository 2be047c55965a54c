with

source as (

    select * from {{ source('ml', 'churn_scores') }}

),

renamed as (

    select
        customer_id,
        as_of_date,
        churn_probability,
        risk_band as churn_risk_band,
        reason_1 as churn_reason_1,
        reason_1_code as churn_reason_1_code,
        reason_2 as churn_reason_2,
        reason_2_code as churn_reason_2_code,
        reason_3 as churn_reason_3,
        reason_3_code as churn_reason_3_code,
        model_version as churn_model_version,
        scored_at as churn_scored_at
    from source

)

select * from renamed
