"""Privacy (GDPR and CCPA): a customer's full data export and their erasure (admin only).

Both search every store (operational database, lakehouse Delta tables, warehouse, landing
zone) with delta-rs and DuckDB in a worker thread; neither starts Spark. Both need the
admin role and a recent MFA check, and both are audited (``customer.export_full``,
``customer.erase``); the erasure's audit entry keeps the counts, never the data.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.core.http import json_response
from api.core.i18n import msg
from api.core.permissions import Permission
from api.core.problems import Problem, problem_responses
from api.deps import CurrentPrincipal, SettingsDep, audit, authorize
from api.privacy.erase import ErasureError, NothingHeldError, erase_customer
from api.privacy.export import export_customer
from api.routes.customers import CustomerId
from api.schemas.privacy import DataExport, ErasureReport

router = APIRouter(prefix="/api/v1/admin/customers", tags=["admin"])

Landing = Annotated[
    bool,
    Query(description="Also name the landing files that mention the customer (reads them all)."),
]


@router.get(
    "/{customer_id}/data-export",
    response_model=DataExport,
    operation_id="privacy-data-export",
    summary="Everything held on one customer, every store (GDPR access, admin, recent MFA)",
    responses=problem_responses(401, 403, 404, 422),
)
async def data_export(
    request: Request,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    customer_id: CustomerId,
    landing: Landing = True,
) -> Response:
    await authorize(request, settings, principal, Permission.CUSTOMER_EXPORT, customer_id)
    data = await run_in_threadpool(
        export_customer, settings, customer_id, now=principal.now, include_landing=landing
    )
    if not data.holds_data:
        raise Problem("not-found", msg("not_found.customer", customer_id=customer_id))
    body = DataExport.model_validate(data.to_dict())
    await audit(
        request, "customer.export_full", principal=principal, customer_id=customer_id,
        detail={
            "tables_searched": len(data.tables),
            "rows_found": data.rows_found,
            "landing_files": len(data.landing_files),
        },
    )  # fmt: skip
    return json_response(request, body)


@router.post(
    "/{customer_id}/erasure",
    response_model=ErasureReport,
    operation_id="privacy-erasure",
    summary="Erase one customer from every store, time travel included (admin, recent MFA)",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def erasure(
    request: Request,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    customer_id: CustomerId,
) -> ErasureReport:
    await authorize(request, settings, principal, Permission.CUSTOMER_ERASE, customer_id)
    try:
        result = await run_in_threadpool(
            erase_customer,
            settings,
            customer_id,
            now=principal.now,
            requested_by=principal.label,
            request_id=getattr(request.state, "request_id", None),
        )
    except NothingHeldError:
        raise Problem("not-found", msg("not_found.customer", customer_id=customer_id)) from None
    except ErasureError as exc:
        done: dict[str, Any] = {
            f"{store}:{table}": n
            for store, tables in exc.counts.items()
            for table, n in tables.items()
            if n
        }
        await audit(
            request, "customer.erase", outcome="failure", principal=principal,
            customer_id=customer_id, status_code=409,
            detail={"error": type(exc.__cause__).__name__, "tables": done},
        )  # fmt: skip
        raise Problem("conflict", msg("request.conflict")) from exc
    await audit(
        request, "customer.erase", principal=principal, customer_id=customer_id,
        detail=result.audit_detail(),
    )  # fmt: skip
    return ErasureReport.model_validate(result.to_dict())
