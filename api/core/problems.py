"""RFC 9457 problem details: every error the API returns is ``application/problem+json``.

Routes raise :class:`Problem`; the handlers below also turn validation errors, unknown
routes and unexpected exceptions into problems, so a client never parses two error shapes.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://cems.dev/problems/"

log = logging.getLogger("cems.api")

# slug -> (status, title). The slug is the stable part clients branch on.
PROBLEM_TYPES: dict[str, tuple[int, str]] = {
    "validation-error": (422, "Your request has invalid fields"),
    "bad-request": (400, "Bad request"),
    "unauthenticated": (401, "Sign-in required"),
    "invalid-credentials": (401, "Sign-in failed"),
    "session-expired": (401, "Your session has ended"),
    "mfa-required": (401, "A second factor is required"),
    "invalid-mfa-code": (401, "The verification code is not valid"),
    "passkey-failed": (401, "Passkey sign-in failed"),
    "forbidden": (403, "Not allowed"),
    "step-up-required": (403, "Recent verification required"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "conflict": (409, "Conflict"),
    "weak-password": (422, "Choose a different password"),
    "account-locked": (423, "Account temporarily locked"),
    "too-many-requests": (429, "Too many attempts"),
    "not-ready": (503, "Service not ready"),
    "internal-error": (500, "Internal error"),
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
    """Raise to answer with a problem document."""

    def __init__(
        self,
        slug: str,
        detail: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        default_status, title = PROBLEM_TYPES[slug]
        super().__init__(detail)
        self.slug = slug
        self.status = status or default_status
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + problem.slug,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.url.path,
    }
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    body.update(problem.extensions)
    return JSONResponse(
        body, status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE, headers=problem.headers
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
        first = errors[0] if errors else {"location": "request", "message": "invalid"}
        detail = f"{first['location']}: {first['message']}."
        return problem_response(request, Problem("validation-error", detail, errors=errors))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        slug = _STATUS_SLUGS.get(exc.status_code, "bad-request")
        detail = exc.detail if isinstance(exc.detail, str) else PROBLEM_TYPES[slug][1]
        if exc.status_code == 404 and detail == "Not Found":
            detail = "There is no resource at this address."
        problem = Problem(slug, detail, status=exc.status_code, headers=dict(exc.headers or {}))
        return problem_response(request, problem)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(
            request,
            Problem("internal-error", "Something went wrong on our side; it has been logged."),
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


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
            "description": ", ".join(title for s, title in PROBLEM_TYPES.values() if s == status),
        }
        for status in statuses
    }
