-- signed_amount is the event's effect on the balance: an invoice adds its amount, a
-- succeeded payment takes its amount off, a failed or reversed attempt moves nothing; and
-- amount itself is never negative.
select transaction_id, transaction_type, transaction_status, amount, signed_amount
from {{ ref('fct_billing_transactions') }}
where amount < 0
    or not (
        (transaction_type = 'invoice' and signed_amount = amount)
        or (transaction_type = 'payment' and transaction_status = 'succeeded' and signed_amount = -amount)
        or (transaction_type = 'payment' and transaction_status <> 'succeeded' and signed_amount = 0)
    )
