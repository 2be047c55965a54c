with

source as (

    select * from {{ source('network', 'cells') }}

),

renamed as (

    select
        cell_id,
        site_id,
        region,
        urbanicity,
        latitude,
        longitude,
        technology,
        is_edge_site,
        commissioned_date
    from source

)

select * from renamed
