{#- The SCD2 version of each row current at the end of each as_of date, for models with
    an `as_of_dates` CTE and a `versions` CTE (every SCD2 version). Rows that existed by
    as_of (start_column <= as_of) but whose history starts later (the CRM landed after
    as_of) fall back to their earliest version, flagged by is_known_at_as_of = false.
    Emits the `candidates` and `ranked` CTEs; select `where version_rank = 1`. -#}
{% macro scd2_versions_ranked_at_as_of(key, start_column) %}
candidates as (

    select
        as_of_dates.as_of_date,
        versions.*,
        cast(versions.valid_from_at as date) <= as_of_dates.as_of_date as is_known_at_as_of
    from as_of_dates
    inner join versions on versions.{{ start_column }} <= as_of_dates.as_of_date

),

ranked as (

    select
        *,
        row_number() over (
            partition by as_of_date, {{ key }}
            order by
                case when is_known_at_as_of then 0 else 1 end,
                case when is_known_at_as_of then valid_from_at end desc nulls last,
                valid_from_at asc
        ) as version_rank
    from candidates

)
{% endmacro %}
