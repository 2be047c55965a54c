-- Every customer in the retention audience agreed to marketing contact (GDPR) and did not
-- opt out of the sale or sharing of their data (CCPA); an unknown flag counts as opted out.
select segments.customer_id
from {{ ref('agg_retention_segments') }} as segments
inner join {{ ref('dim_customers') }} as customers on segments.customer_id = customers.customer_id
where not coalesce(customers.has_marketing_consent, false)
    or coalesce(customers.is_do_not_sell, true)
