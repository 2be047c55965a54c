-- Every customer in the retention audience agreed to marketing contact.
select segments.customer_id
from {{ ref('agg_retention_segments') }} as segments
inner join {{ ref('dim_customers') }} as customers on segments.customer_id = customers.customer_id
where not customers.has_marketing_consent
