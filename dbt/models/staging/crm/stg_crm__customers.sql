with

source as (

    select * from {{ source('crm', 'customers') }}

),

renamed as (

    select
        customer_id,
        customer_type,
        first_name,
        last_name,
        company_name,
        email,
        phone_number,
        date_of_birth,
        address_line,
        postal_code,
        city,
        region,
        urbanicity,
        home_cell_id,
        preferred_language,
        has_marketing_consent,
        is_do_not_sell,
        signup_date,
        created_at,
        updated_at,
        valid_from as valid_from_at,
        valid_to as valid_to_at,
        is_current
    from source

)

select * from renamed
