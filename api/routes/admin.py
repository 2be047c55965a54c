"""Admin: staff and customer accounts, session revocation, customer export, audit reviews."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.audit import reports
from api.audit.keys import load_key
from api.audit.verify import verify
from api.auth import service, sessions
from api.auth.models import User
from api.core.http import json_response
from api.core.i18n import msg, password_message
from api.core.passwords import PasswordPolicyError
from api.core.permissions import Permission, Role
from api.core.problems import Problem, problem_responses
from api.deps import CurrentPrincipal, DbDep, Principal, SettingsDep, audit, authorize
from api.routes.customers import CustomerId
from api.schemas.admin import (
    AuditVerification,
    CustomerAccessRow,
    CustomerExport,
    FailedLoginsRow,
    MfaFailuresRow,
    SessionsRevoked,
    UserCreate,
    UserPublic,
)
from api.serving import read

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])
ERRORS = problem_responses(401, 403, 404, 422)
UserId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]
EXPORT_PAGE = 100
# service.create_user refuses an account with an English ValueError; the message for each.
ACCOUNT_ERRORS = (
    ("already exists", "account.exists"),
    ("is not an email address", "account.invalid_email"),
    ("needs the CRM customer id", "account.customer_id_required"),
    ("not linked to a customer", "account.staff_without_customer"),
)


def public(user: User) -> UserPublic:
    return UserPublic(
        id=user.id,
        email=user.email,
        role=Role(user.role),
        display_name=user.display_name,
        customer_id=user.customer_id,
        mfa_enrolled=user.totp_enrolled_at is not None,
        locked_until=user.locked_until,
        disabled=user.disabled,
        created_at=user.created_at,
    )


async def _admin(
    request: Request, settings: SettingsDep, principal: Principal, permission: Permission
) -> None:
    await authorize(request, settings, principal, permission, None)


@router.get(
    "/users",
    response_model=list[UserPublic],
    operation_id="admin-users-list",
    summary="List accounts",
    responses=ERRORS,
)
async def list_users(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    role: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    await _admin(request, settings, principal, Permission.USERS_MANAGE)
    query = sa.select(User).order_by(User.created_at, User.id)
    count = sa.select(sa.func.count()).select_from(User)
    if role:
        query, count = query.where(User.role == role), count.where(User.role == role)
    users = (await db.scalars(query.limit(limit).offset(offset))).all()
    total = int(await db.scalar(count) or 0)
    return json_response(request, [public(u) for u in users], total=total)


@router.post(
    "/users",
    response_model=UserPublic,
    status_code=201,
    operation_id="admin-users-create",
    summary="Create an account (staff, or a customer's sign-in)",
    responses=problem_responses(401, 403, 409, 422),
)
async def create_user(
    request: Request,
    body: UserCreate,
    db: DbDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
) -> UserPublic:
    await _admin(request, settings, principal, Permission.USERS_MANAGE)
    try:
        user = await service.create_user(
            db,
            email=body.email,
            role=body.role,
            password=body.password,
            now=principal.now,
            customer_id=body.customer_id,
            display_name=body.display_name,
        )
    except PasswordPolicyError as exc:
        raise Problem("weak-password", password_message(exc)) from exc
    except ValueError as exc:
        key = next((k for part, k in ACCOUNT_ERRORS if part in str(exc)), "account.rejected")
        slug = "conflict" if key == "account.exists" else "validation-error"
        email = service.normalise_email(body.email)
        raise Problem(slug, msg(key, email=email)) from exc
    await db.commit()
    await audit(
        request, "user.created", principal=principal, customer_id=user.customer_id,
        detail={"user_id": user.id, "role": user.role},
    )  # fmt: skip
    return public(user)


@router.post(
    "/users/{user_id}/revoke-sessions",
    response_model=SessionsRevoked,
    operation_id="admin-users-revoke-sessions",
    summary="End every session of an account",
    responses=ERRORS,
)
async def revoke_sessions(
    request: Request, db: DbDep, settings: SettingsDep, principal: CurrentPrincipal, user_id: UserId
) -> SessionsRevoked:
    await _admin(request, settings, principal, Permission.USERS_MANAGE)
    user = await db.get(User, user_id)
    if user is None:
        raise Problem("not-found", msg("not_found.user", user_id=user_id))
    ended = await sessions.revoke_all(db, user.id, principal.now, "admin_revoke")
    await db.commit()
    await audit(
        request, "auth.revoke", principal=principal, customer_id=user.customer_id,
        detail={"user_id": user.id, "sessions_ended": ended},
    )  # fmt: skip
    return SessionsRevoked(user_id=user.id, sessions_ended=ended)


@router.post(
    "/users/{user_id}/unlock",
    response_model=UserPublic,
    operation_id="admin-users-unlock",
    summary="Lift a sign-in lockout",
    responses=ERRORS,
)
async def unlock(
    request: Request, db: DbDep, settings: SettingsDep, principal: CurrentPrincipal, user_id: UserId
) -> UserPublic:
    await _admin(request, settings, principal, Permission.USERS_MANAGE)
    user = await db.get(User, user_id)
    if user is None:
        raise Problem("not-found", msg("not_found.user", user_id=user_id))
    user.locked_until, user.failed_logins = None, 0
    await db.commit()
    await audit(request, "auth.unlock", principal=principal, detail={"user_id": user.id})
    return public(user)


async def _every_page(fetch: Callable[[int], Awaitable[read.Page]]) -> list[dict[str, Any]]:
    """Every item of a paged serving read, page after page."""
    items: list[dict[str, Any]] = []
    while True:
        page = await fetch(len(items))
        items += page.items
        if not page.items or len(items) >= page.total:
            return items


@router.get(
    "/customers/{customer_id}/export",
    response_model=CustomerExport,
    operation_id="admin-customer-export",
    summary="Export everything held on one customer (admin, recent MFA)",
    responses=ERRORS,
)
async def export_customer(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    customer_id: CustomerId,
) -> Response:
    await authorize(request, settings, principal, Permission.CUSTOMER_EXPORT, customer_id)
    snap = await read.current(db)
    profile = await read.existing_customer(db, snap, customer_id)
    transactions = await _every_page(
        lambda offset: read.transactions(
            db, snap, customer_id=customer_id, limit=EXPORT_PAGE, offset=offset
        )
    )
    usage = await _every_page(
        lambda offset: read.usage(
            db,
            snap,
            customer_id=customer_id,
            subscription_id=None,
            since=None,
            until=None,
            limit=EXPORT_PAGE,
            offset=offset,
        )
    )
    logins = (await db.scalars(sa.select(User).where(User.customer_id == customer_id))).all()
    export = CustomerExport(
        customer_id=customer_id,
        exported_at=principal.now,
        as_of=snap.as_of,
        serving_version=snap.version,
        profile=profile,
        billing_accounts=await read.accounts(db, snap, customer_id),
        transactions=transactions,
        usage=usage,
        usage_patterns=await read.usage_patterns(db, snap, customer_id),
        sign_in_accounts=[
            {"user_id": u.id, "email": u.email, "created_at": u.created_at.isoformat()}
            for u in logins
        ],
    )
    await audit(
        request, "customer.export", principal=principal, customer_id=customer_id,
        detail={"transactions": len(transactions), "usage_records": len(usage)},
    )  # fmt: skip
    return json_response(request, export, as_of=snap.as_of)


Since = Annotated[datetime | None, Query(description="Start (default: 30 days ago).")]
Until = Annotated[datetime | None, Query(description="End (default: now).")]


def _period(
    principal: Principal, since: datetime | None, until: datetime | None
) -> tuple[datetime, datetime]:
    end = until or principal.now
    start = since or end - timedelta(days=30)
    if start.tzinfo is None or end.tzinfo is None:
        raise Problem("validation-error", msg("query.time_zone_required"))
    if start >= end:
        raise Problem("validation-error", msg("query.period_reversed"))
    return start, end


@router.get(
    "/audit/failed-logins",
    response_model=list[FailedLoginsRow],
    operation_id="admin-audit-failed-logins",
    summary="Failed sign-ins by account and source address",
    responses=ERRORS,
)
async def audit_failed_logins(
    request: Request, db: DbDep, settings: SettingsDep, principal: CurrentPrincipal,
    since: Since = None, until: Until = None,
) -> Response:  # fmt: skip
    await _admin(request, settings, principal, Permission.AUDIT_READ)
    start, end = _period(principal, since, until)
    rows = await reports.failed_logins(db, start, end)
    await audit(request, "audit.report", principal=principal, detail={"report": "failed_logins"})
    return json_response(request, [FailedLoginsRow(**r.to_dict()) for r in rows])


@router.get(
    "/audit/mfa-failures",
    response_model=list[MfaFailuresRow],
    operation_id="admin-audit-mfa-failures",
    summary="Failed MFA checks by account and source address",
    responses=ERRORS,
)
async def audit_mfa_failures(
    request: Request, db: DbDep, settings: SettingsDep, principal: CurrentPrincipal,
    since: Since = None, until: Until = None,
) -> Response:  # fmt: skip
    await _admin(request, settings, principal, Permission.AUDIT_READ)
    start, end = _period(principal, since, until)
    rows = await reports.mfa_failures(db, start, end)
    await audit(request, "audit.report", principal=principal, detail={"report": "mfa_failures"})
    return json_response(request, [MfaFailuresRow(**r.to_dict()) for r in rows])


@router.get(
    "/audit/customer-access",
    response_model=list[CustomerAccessRow],
    operation_id="admin-audit-customer-access",
    summary="Who accessed which customer's data in a period",
    responses=ERRORS,
)
async def audit_customer_access(
    request: Request, db: DbDep, settings: SettingsDep, principal: CurrentPrincipal,
    since: Since = None, until: Until = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:  # fmt: skip
    await _admin(request, settings, principal, Permission.AUDIT_READ)
    start, end = _period(principal, since, until)
    rows = await reports.customer_access(db, start, end, customer_id)
    await audit(
        request, "audit.report", principal=principal, customer_id=customer_id,
        detail={"report": "customer_access"},
    )  # fmt: skip
    return json_response(request, [CustomerAccessRow(**r.to_dict()) for r in rows])


@router.get(
    "/audit/verify",
    response_model=AuditVerification,
    operation_id="admin-audit-verify",
    summary="Recompute the audit log's hash chains",
    responses=ERRORS,
)
async def audit_verify(
    request: Request, settings: SettingsDep, principal: CurrentPrincipal
) -> AuditVerification:
    await _admin(request, settings, principal, Permission.AUDIT_READ)
    report = await run_in_threadpool(verify, settings, load_key(settings))
    await audit(request, "audit.verify", principal=principal, detail={"ok": report.ok})
    data = report.to_dict()
    return AuditVerification(
        ok=report.ok,
        chains_checked=report.chains_checked,
        entries_checked=report.entries_checked,
        findings=data["findings"],
    )
