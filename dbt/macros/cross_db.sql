{#- The two things dbt's built-in cross-database macros do not cover. -#}

{#- Continuous percentile (linear interpolation, as PERCENTILE_CONT), exact on both targets. -#}
{% macro percentile_cont(expression, fraction) %}
  {{ return(adapter.dispatch('percentile_cont', 'cems')(expression, fraction)) }}
{% endmacro %}

{% macro default__percentile_cont(expression, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ expression }})
{%- endmacro %}

{% macro duckdb__percentile_cont(expression, fraction) -%}
    quantile_cont({{ expression }}, {{ fraction }})
{%- endmacro %}

{% macro spark__percentile_cont(expression, fraction) -%}
    percentile({{ expression }}, {{ fraction }})
{%- endmacro %}

{#- ISO day of week, Monday = 1 ... Sunday = 7. -#}
{% macro iso_day_of_week(date_expression) %}
  {{ return(adapter.dispatch('iso_day_of_week', 'cems')(date_expression)) }}
{% endmacro %}

{% macro default__iso_day_of_week(date_expression) -%}
    extract(isodow from {{ date_expression }})
{%- endmacro %}

{% macro spark__iso_day_of_week(date_expression) -%}
    weekday({{ date_expression }}) + 1
{%- endmacro %}

{#- Seconds from one timestamp to another, as a whole number. -#}
{% macro seconds_between(start_timestamp, end_timestamp) -%}
    cast({{ dbt.datediff(start_timestamp, end_timestamp, 'second') }} as {{ dbt.type_bigint() }})
{%- endmacro %}
