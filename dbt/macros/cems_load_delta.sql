{#- DuckDB reads silver through the delta extension. It is installed offline by the
    duckdb-extension-delta package: spark_jobs.marts points CEMS_DUCKDB_DELTA_EXTENSION at
    its file; without it DuckDB loads (or downloads) the extension by name. -#}
{% macro cems_load_delta() %}
  {%- if target.type == 'duckdb' -%}
    load '{{ env_var("CEMS_DUCKDB_DELTA_EXTENSION", "delta") }}'
  {%- else -%}
    select 1
  {%- endif -%}
{% endmacro %}
