"""TMF629 customers: search and profile; the agent's customer 360."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from api.core.http import json_response
from api.core.i18n import msg
from api.core.permissions import Permission, Role, allows
from api.core.problems import Problem, problem_responses
from api.deps import (
    CurrentPrincipal,
    DbDep,
    PrincipalAndCustomer,
    SettingsDep,
    app_settings,
    audit,
    authorize,
)
from api.schemas.customers import (
    CUSTOMER_PATH,
    Customer,
    Customer360,
    customer_360_from,
    customer_from,
)
from api.serving import read

router = APIRouter(tags=["customer"])

CustomerId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$", examples=["C00000042"])
]
Unmask = Annotated[
    bool,
    Query(description="Show personal data in clear (staff: needs a recent MFA check)."),
]
ERRORS = problem_responses(401, 403, 404, 422, 503)


async def _masked(
    request: Request,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    customer_id: str,
    unmask: bool,
) -> bool:
    if principal.role is Role.CUSTOMER:
        return False  # their own data, in clear
    if unmask:
        await authorize(request, settings, principal, Permission.CUSTOMER_UNMASK, customer_id)
        return False
    return True


@router.get(
    CUSTOMER_PATH,
    response_model=list[Customer],
    operation_id="customer-list",
    summary="Search customers (staff)",
    responses=ERRORS,
)
async def list_customers(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    email: Annotated[str | None, Query(max_length=320)] = None,
    phone: Annotated[str | None, Query(max_length=32)] = None,
    name: Annotated[str | None, Query(min_length=2, max_length=100)] = None,
    region: Annotated[str | None, Query(max_length=64)] = None,
    customer_type: Annotated[str | None, Query(max_length=32)] = None,
    churn_risk_band: Annotated[str | None, Query(pattern="^(high|medium|low)$")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    await authorize(request, settings, principal, Permission.CUSTOMER_SEARCH, None)
    snap = await read.current(db)
    page = await read.search_customers(
        db,
        snap,
        email=email,
        phone=phone,
        name=name,
        region=region,
        customer_type=customer_type,
        risk_band=churn_risk_band,
        limit=limit,
        offset=offset,
    )
    await audit(
        request,
        "customer.search",
        principal=principal,
        detail={"results": len(page.items), "filters": sorted(
            k for k, v in {"email": email, "phone": phone, "name": name, "region": region,
                           "customer_type": customer_type, "churn_risk_band": churn_risk_band
                           }.items() if v)},
    )  # fmt: skip
    items = [customer_from(row, masked=True) for row in page.items]
    return json_response(request, items, total=page.total, as_of=snap.as_of)


@router.get(
    CUSTOMER_PATH + "/{customer_id}",
    response_model=Customer,
    operation_id="customer-get",
    summary="A customer's profile",
    responses=ERRORS,
)
async def get_customer(
    request: Request,
    settings: SettingsDep,
    principal: PrincipalAndCustomer,
    customer_id: CustomerId,
    unmask: Unmask = False,
) -> Response:
    await authorize(request, settings, principal, Permission.CUSTOMER_READ, customer_id)
    masked = await _masked(request, settings, principal, customer_id, unmask)
    snap, row = principal.customer.existing()
    await audit(
        request, "customer.read", principal=principal, customer_id=customer_id,
        detail={"masked": masked},
    )  # fmt: skip
    return json_response(request, customer_from(row, masked=masked), as_of=snap.as_of)


@router.get(
    "/api/v1/customers/{customer_id}/360",
    response_model=Customer360,
    operation_id="customer-360",
    summary="Customer 360 for agents: products, billing, usage, tickets, network, churn risk",
    responses=ERRORS,
)
async def get_customer_360(
    request: Request,
    principal: PrincipalAndCustomer,
    customer_id: CustomerId,
    unmask: Unmask = False,
) -> Response:
    settings = app_settings(request)
    if principal.role is Role.CUSTOMER:
        await authorize(request, settings, principal, Permission.CUSTOMER_360, None)
    await authorize(request, settings, principal, Permission.CUSTOMER_360, customer_id)
    masked = await _masked(request, settings, principal, customer_id, unmask)
    snap, row = principal.customer.existing()
    await audit(
        request, "customer.read_360", principal=principal, customer_id=customer_id,
        detail={"masked": masked},
    )  # fmt: skip
    view = customer_360_from(
        row,
        masked=masked,
        billing=allows(principal.role, Permission.BILLING_READ),
        usage=allows(principal.role, Permission.USAGE_READ),
    )
    return json_response(request, view, as_of=snap.as_of)


@router.get(
    "/api/v1/me",
    response_model=Customer,
    operation_id="customer-me",
    summary="The signed-in customer's own profile",
    responses=ERRORS,
)
async def get_me(request: Request, principal: PrincipalAndCustomer) -> Response:
    customer_id = principal.user.customer_id
    if principal.role is not Role.CUSTOMER or customer_id is None:
        raise Problem("not-found", msg("not_found.staff_profile"))
    snap, row = principal.customer.current()
    if row is None:
        raise Problem("not-found", msg("not_found.customer_record_pending"))
    await audit(request, "customer.read", principal=principal, customer_id=customer_id)
    return json_response(request, customer_from(row, masked=False), as_of=snap.as_of)
