with

source as (

    select * from {{ source('ml', 'retention_actions') }}

),

renamed as (

    select
        customer_id,
        as_of_date,
        action_code as next_best_action_code,
        action as next_best_action,
        reasoning as next_best_action_reasoning,
        expected_value as next_best_action_expected_value,
        annual_value as next_best_action_annual_value,
        model_version as churn_model_version
    from source

)

select * from renamed
