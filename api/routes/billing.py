"""TMF666 billing accounts, TMF678 customer bills, recent transactions (low tier)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from api.core.http import json_response
from api.core.i18n import msg
from api.core.permissions import Permission
from api.core.problems import Problem, problem_responses
from api.deps import (
    CurrentPrincipal,
    DbDep,
    SettingsDep,
    audit,
    authorize,
    scoped_customer_id,
)
from api.routes.customers import CustomerId
from api.schemas.billing import (
    ACCOUNT_PATH,
    BILL_PATH,
    BillingAccount,
    CustomerBill,
    Transaction,
    account_from,
    bill_from,
    transaction_from,
)
from api.serving import read

router = APIRouter(tags=["billing"])
ERRORS = problem_responses(401, 403, 404, 422, 503)
ObjectId = Annotated[str, Path(min_length=1, max_length=96, pattern=r"^[A-Za-z0-9_.:|-]+$")]
BILL_TYPE = "invoice"


@router.get(
    ACCOUNT_PATH,
    response_model=list[BillingAccount],
    operation_id="billingAccount-list",
    summary="A customer's billing accounts with balances",
    responses=ERRORS,
)
async def list_accounts(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    customer_id: Annotated[
        str | None, Query(max_length=64, description="Required for staff.")
    ] = None,
) -> Response:
    customer_id = scoped_customer_id(principal, customer_id)
    await authorize(request, settings, principal, Permission.BILLING_READ, customer_id)
    snap = await read.current(db)
    rows = await read.accounts(db, snap, customer_id)
    await audit(request, "billing_account.read", principal=principal, customer_id=customer_id)
    return json_response(
        request, [account_from(r) for r in rows], total=len(rows), as_of=snap.as_of
    )


@router.get(
    ACCOUNT_PATH + "/{account_id}",
    response_model=BillingAccount,
    operation_id="billingAccount-get",
    summary="One billing account",
    responses=ERRORS,
)
async def get_account(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    account_id: ObjectId,
) -> Response:
    snap = await read.current(db)
    row = await read.account(db, snap, account_id)
    # The owner is known only after the read; unknown and foreign ids answer alike.
    await authorize(
        request, settings, principal, Permission.BILLING_READ, row["customer_id"] if row else "?"
    )
    if row is None:
        raise Problem("not-found", msg("not_found.billing_account", account_id=account_id))
    await audit(
        request, "billing_account.read", principal=principal, customer_id=row["customer_id"]
    )
    return json_response(request, account_from(row), as_of=snap.as_of)


@router.get(
    BILL_PATH,
    response_model=list[CustomerBill],
    operation_id="customerBill-list",
    summary="A customer's recent bills, newest first",
    responses=ERRORS,
)
async def list_bills(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    billing_account_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 12,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    customer_id = scoped_customer_id(principal, customer_id)
    await authorize(request, settings, principal, Permission.BILLING_READ, customer_id)
    snap, page = await read.current_transactions(
        db, customer_id=customer_id, account_id=billing_account_id,
        transaction_type=BILL_TYPE, limit=limit, offset=offset,
    )  # fmt: skip
    await audit(request, "bill.read", principal=principal, customer_id=customer_id)
    return json_response(
        request, [bill_from(r) for r in page.items], total=page.total, as_of=snap.as_of
    )


@router.get(
    BILL_PATH + "/{bill_id}",
    response_model=CustomerBill,
    operation_id="customerBill-get",
    summary="One bill",
    responses=ERRORS,
)
async def get_bill(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    bill_id: ObjectId,
) -> Response:
    snap = await read.current(db)
    row = await read.transaction(db, snap, f"{BILL_TYPE}-{bill_id}")
    await authorize(
        request, settings, principal, Permission.BILLING_READ, row["customer_id"] if row else "?"
    )
    if row is None:
        raise Problem("not-found", msg("not_found.bill", bill_id=bill_id))
    await audit(request, "bill.read", principal=principal, customer_id=row["customer_id"])
    return json_response(request, bill_from(row), as_of=snap.as_of)


@router.get(
    "/api/v1/customers/{customer_id}/transactions",
    response_model=list[Transaction],
    operation_id="customer-transactions",
    summary="Recent transactions (bills and payments), newest first",
    responses=ERRORS,
)
async def list_transactions(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    customer_id: CustomerId,
    transaction_type: Annotated[str | None, Query(pattern="^(invoice|payment)$")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    await authorize(request, settings, principal, Permission.BILLING_READ, customer_id)
    snap, page = await read.current_transactions(
        db, customer_id=customer_id, transaction_type=transaction_type, limit=limit,
        offset=offset,
    )  # fmt: skip
    await audit(request, "transaction.read", principal=principal, customer_id=customer_id)
    return json_response(
        request, [transaction_from(r) for r in page.items], total=page.total, as_of=snap.as_of
    )
