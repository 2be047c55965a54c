"""RFC 9457 problem details: every error the API returns is ``application/problem+json``.

Routes raise :class:`Problem`; the handlers below also turn validation errors, unknown
routes and unexpected exceptions into problems, so a client never parses two error shapes.
``title`` and ``detail`` come from the message catalog, in the language the request's
``Accept-Language`` negotiates (``api.core.i18n``); ``Content-Language`` says which.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.core.i18n import SUPPORTED, Message, msg, request_language, title

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://cems.dev/problems/"

log = logging.getLogger("cems.api")

# slug -> (status, English title). The slug is the stable part clients branch on; the
# titles in every language are the catalog's ``problem.<slug>`` messages.
PROBLEM_TYPES: dict[str, tuple[int, str]] = {
    slug: (status, title(slug, "en"))
    for slug, status in {
        "validation-error": 422,
        "bad-request": 400,
        "unauthenticated": 401,
        "invalid-credentials": 401,
        "session-expired": 401,
        "mfa-required": 401,
        "invalid-mfa-code": 401,
        "passkey-failed": 401,
        "forbidden": 403,
        "step-up-required": 403,
        "not-found": 404,
        "method-not-allowed": 405,
        "conflict": 409,
        "weak-password": 422,
        "account-locked": 423,
        "too-many-requests": 429,
        "not-ready": 503,
        "busy": 503,
        "database-unavailable": 503,
        "internal-error": 500,
    }.items()
}


class ProblemDetails(BaseModel):
    """An RFC 9457 problem document (extension members allowed)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=[PROBLEM_BASE + "step-up-required"])
    title: str = Field(examples=["Recent verification required"])
    status: int = Field(examples=[403])
    detail: str = Field(examples=["Confirm your verification code to see unmasked data."])
    instance: str | None = Field(None, examples=["/api/v1/customers/C00000042/360"])
    request_id: str | None = None


class Problem(Exception):  # noqa: N818 (RFC 9457 vocabulary)
    """Raise to answer with a problem document.

    ``detail`` is a catalog message, ``Problem("not-found", msg("not_found.bill", bill_id=i))``;
    it is rendered in the request's language. ``str(problem)`` and ``.detail`` are English.
    """

    def __init__(
        self,
        slug: str,
        detail: Message,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        if not isinstance(detail, Message):
            raise TypeError(f"Problem detail must be msg(...), not {type(detail).__name__}")
        default_status, english_title = PROBLEM_TYPES[slug]
        super().__init__(str(detail))
        self.slug = slug
        self.status = status or default_status
        self.title = english_title
        self.message = detail
        self.detail = str(detail)
        self.headers = headers or {}
        self.extensions = extensions


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    lang = request_language(request)
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + problem.slug,
        "title": title(problem.slug, lang),
        "status": problem.status,
        "detail": problem.message.render(lang),
        "instance": request.url.path,
    }
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    body.update(problem.extensions)
    headers = {**problem.headers, "Content-Language": lang}
    vary = headers.get("Vary")
    headers["Vary"] = f"{vary}, Accept-Language" if vary else "Accept-Language"
    return JSONResponse(
        body, status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


_STATUS_SLUGS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    429: "too-many-requests",
}
# What the framework's own HTTP errors (unknown route, wrong method...) tell the client.
_STATUS_MESSAGES = {
    400: "request.bad_request",
    401: "auth.sign_in_first",
    403: "request.forbidden",
    404: "request.no_route",
    405: "request.method_not_allowed",
    409: "request.conflict",
    429: "request.too_many",
}


BUSY_RETRY = 5  # seconds a shed request is told to wait
RECONNECT_RETRY = 1  # seconds a request that met a dead connection is told to wait


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(request, exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "location": ".".join(str(p) for p in err.get("loc", ())),
                "message": str(err.get("msg", "")),
            }
            for err in exc.errors()
        ]
        # The per-field messages stay pydantic's (English); the sentence is translated.
        location = errors[0]["location"] if errors else "request"
        detail = msg("request.invalid_field", location=location)
        return problem_response(request, Problem("validation-error", detail, errors=errors))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        slug = _STATUS_SLUGS.get(exc.status_code, "bad-request")
        key = _STATUS_MESSAGES.get(exc.status_code, "request.bad_request")
        detail = msg(key, method=request.method)
        problem = Problem(slug, detail, status=exc.status_code, headers=dict(exc.headers or {}))
        return problem_response(request, problem)

    async def on_busy(request: Request, exc: Exception) -> JSONResponse:
        # Every database connection of this worker stayed busy for the pool's whole timeout:
        # shed the request with a retryable answer rather than an internal error.
        log.warning("database pool exhausted", extra={"path": request.url.path})
        problem = Problem("busy", msg("server.busy"), headers={"Retry-After": str(BUSY_RETRY)})
        return problem_response(request, problem)

    async def on_database_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DBAPIError)
        if not exc.connection_invalidated:
            return await on_unexpected(request, exc)
        # The connection was found dead (database restarted or failed over): the pool has
        # dropped it and every connection opened before it, so a retry reconnects.
        log.warning("database connection lost", extra={"path": request.url.path})
        problem = Problem(
            "database-unavailable",
            msg("server.database_unavailable"),
            headers={"Retry-After": str(RECONNECT_RETRY)},
        )
        return problem_response(request, problem)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(request, Problem("internal-error", msg("server.internal_error")))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(PoolTimeoutError, on_busy)
    app.add_exception_handler(DBAPIError, on_database_error)
    app.add_exception_handler(Exception, on_unexpected)


_CONTENT_LANGUAGE: dict[str, Any] = {
    "description": "The language of `title` and `detail`, negotiated from `Accept-Language`.",
    "schema": {"type": "string", "enum": list(SUPPORTED)},
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting problem answers of a route.

    A route that validates input (422) also answers 400 when the body cannot be parsed.
    """
    if 422 in statuses and 400 not in statuses:
        statuses = (400, *statuses)
    return {
        status: {
            "model": ProblemDetails,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": ProblemDetails.model_json_schema()}},
            "description": ", ".join(name for s, name in PROBLEM_TYPES.values() if s == status),
            "headers": {"Content-Language": _CONTENT_LANGUAGE},
        }
        for status in statuses
    }
