"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from api.core.i18n import msg
from api.core.observability import metrics_payload
from api.core.problems import Problem, problem_responses
from api.deps import DbDep
from api.serving.models import Publication

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    database: str
    serving_version: int
    as_of: date | None


@router.get("/health", response_model=Health, operation_id="health-live", summary="Liveness")
async def health() -> Health:
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Ready,
    operation_id="health-ready",
    summary="Readiness: database reachable and customer data published",
    responses=problem_responses(503),
)
async def ready(request: Request, db: DbDep) -> Ready:
    try:
        row = (
            await db.execute(
                sa.select(Publication.version, Publication.as_of_date).where(
                    Publication.status == "current"
                )
            )
        ).first()
    except Exception as exc:
        raise Problem("not-ready", msg("ready.database_unreachable")) from exc
    if row is None:
        raise Problem("not-ready", msg("ready.nothing_published"))
    return Ready(status="ready", database="ok", serving_version=row[0], as_of=row[1])


@router.get(
    "/metrics",
    operation_id="health-metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition"}},
)
async def metrics() -> Response:
    body, content_type = metrics_payload()
    return Response(body, media_type=content_type)
