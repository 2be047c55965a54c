"""TMF635 usage records and detailed usage patterns (moderate tier: support and above)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.core.http import json_response
from api.core.permissions import Permission
from api.core.problems import problem_responses
from api.deps import (
    CurrentPrincipal,
    DbDep,
    SettingsDep,
    audit,
    authorize,
    scoped_customer_id,
)
from api.routes.customers import CustomerId
from api.schemas.usage import USAGE_PATH, Usage, UsagePattern, pattern_from, usage_from
from api.serving import read

router = APIRouter(tags=["usage"])
ERRORS = problem_responses(401, 403, 404, 422, 503)


@router.get(
    USAGE_PATH,
    response_model=list[Usage],
    operation_id="usage-list",
    summary="Daily usage records of a customer's subscriptions (recent days)",
    responses=ERRORS,
)
async def list_usage(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    customer_id: Annotated[
        str | None,
        Query(max_length=64, description="Required for staff; customers see their own."),
    ] = None,
    subscription_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[date | None, Query(description="First usage date (inclusive).")] = None,
    until: Annotated[date | None, Query(description="Last usage date (inclusive).")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 31,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    customer_id = scoped_customer_id(principal, customer_id)
    await authorize(request, settings, principal, Permission.USAGE_READ, customer_id)
    snap = await read.current(db)
    page = await read.usage(
        db,
        snap,
        customer_id=customer_id,
        subscription_id=subscription_id,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    await audit(request, "usage.read", principal=principal, customer_id=customer_id)
    return json_response(
        request, [usage_from(r) for r in page.items], total=page.total, as_of=snap.as_of
    )


@router.get(
    "/api/v1/customers/{customer_id}/usage-patterns",
    response_model=list[UsagePattern],
    operation_id="usage-patterns",
    summary="Detailed usage patterns per subscription (support and above, recent MFA)",
    responses=ERRORS,
)
async def usage_patterns(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    customer_id: CustomerId,
) -> Response:
    await authorize(request, settings, principal, Permission.USAGE_PATTERNS_READ, customer_id)
    snap = await read.current(db)
    await read.existing_customer(db, snap, customer_id)
    rows = await read.usage_patterns(db, snap, customer_id)
    await audit(request, "usage_patterns.read", principal=principal, customer_id=customer_id)
    return json_response(request, [pattern_from(r) for r in rows], as_of=snap.as_of)
