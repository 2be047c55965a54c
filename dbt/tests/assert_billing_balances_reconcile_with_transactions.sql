-- Each account's balance due, summed over its invoices' open amounts, equals the sum of
-- the signed amounts of every money event on the account (invoices by their account,
-- payments by the account that paid), and invoiced minus paid. A payment booked on another
-- account than its invoice's, or a join that fans out, breaks it.
with

balances as (

    select account_id, balance_due_amount, invoiced_amount, paid_amount
    from {{ ref('dim_billing_accounts') }}

),

events as (

    select account_id, sum(signed_amount) as signed_total
    from {{ ref('int_billing_transactions_unioned') }}
    group by account_id

)

select
    coalesce(balances.account_id, events.account_id) as account_id,
    balances.balance_due_amount,
    balances.invoiced_amount,
    balances.paid_amount,
    events.signed_total
from balances
full outer join events on balances.account_id = events.account_id
where balances.account_id is null
    or balances.balance_due_amount <> coalesce(events.signed_total, 0)
    or balances.balance_due_amount <> balances.invoiced_amount - balances.paid_amount
