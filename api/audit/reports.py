"""Review reports over the audit log: failed sign-ins, MFA failures, who saw which customer.

Each takes a period ``[since, until)`` and returns frozen dataclasses whose values are JSON
friendly (timestamps as ISO 8601 strings); ``to_dict()`` gives the JSON object. The CLI
(``cems audit report``) and the admin endpoint share them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit.models import AuditEntry
from api.auth.models import User

FAILED_LOGIN_ACTIONS = ("auth.login_failed",)
MFA_FAILURE_ACTIONS = ("auth.mfa_failed", "auth.step_up_failed")
MFA_ACTIONS = ("auth.mfa", "auth.step_up")
DEFAULT_LIMIT = 1000


@dataclass(frozen=True)
class FailedLogins:
    """Failed sign-ins of one account from one source address."""

    account: str | None
    source_address: str | None
    failures: int
    first_attempt: str
    last_attempt: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MfaFailures:
    """Failed MFA checks (sign-in or step-up) of one account from one source address."""

    account: str | None
    role: str | None
    source_address: str | None
    failures: int
    first_attempt: str
    last_attempt: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CustomerAccess:
    """What one actor did with one customer's data in the period."""

    actor_id: str | None
    actor_label: str | None
    actor_role: str | None
    customer_id: str
    accesses: int
    refused: int  # attempts that failed or were denied
    first_access: str
    last_access: str
    actions: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["actions"] = list(self.actions)
        return data


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _period(since: datetime, until: datetime) -> sa.ColumnElement[bool]:
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("report periods need timezone-aware bounds")
    if since >= until:
        raise ValueError(f"the period is empty: {since.isoformat()} is not before {until}")
    return sa.and_(AuditEntry.occurred_at >= since, AuditEntry.occurred_at < until)


def _account() -> sa.ColumnElement[str | None]:
    return sa.func.coalesce(AuditEntry.actor_label, AuditEntry.actor_id)


async def failed_logins(
    session: AsyncSession, since: datetime, until: datetime, *, limit: int = DEFAULT_LIMIT
) -> list[FailedLogins]:
    """Failed sign-ins grouped by account and source address, most first."""
    account = _account().label("account")
    failures = sa.func.count().label("failures")
    last = sa.func.max(AuditEntry.occurred_at).label("last")
    stmt = (
        sa.select(
            account, AuditEntry.source_address, failures, sa.func.min(AuditEntry.occurred_at), last
        )
        .where(
            _period(since, until),
            sa.or_(
                AuditEntry.action.in_(FAILED_LOGIN_ACTIONS),
                sa.and_(AuditEntry.action == "auth.login", AuditEntry.outcome != "success"),
            ),
        )
        .group_by(account, AuditEntry.source_address)
        .order_by(failures.desc(), last.desc())
        .limit(limit)
    )
    rows = list(await session.execute(stmt))
    # Customers are logged by account id (their e-mail is encrypted): name them for the review.
    ids = {row[0] for row in rows if row[0]}
    emails: dict[str, str] = {}
    if ids:
        found = await session.execute(sa.select(User.id, User.email).where(User.id.in_(ids)))
        emails = {user_id: email for user_id, email in found}
    return [
        FailedLogins(
            emails.get(row[0], row[0]) if row[0] else row[0],
            row[1],
            int(row[2]),
            _iso(row[3]),
            _iso(row[4]),
        )
        for row in rows
    ]


async def mfa_failures(
    session: AsyncSession, since: datetime, until: datetime, *, limit: int = DEFAULT_LIMIT
) -> list[MfaFailures]:
    """Failed MFA checks (sign-in and step-up) grouped by account and address, most first."""
    account = _account().label("account")
    failures = sa.func.count().label("failures")
    last = sa.func.max(AuditEntry.occurred_at).label("last")
    stmt = (
        sa.select(
            account,
            sa.func.max(AuditEntry.actor_role),
            AuditEntry.source_address,
            failures,
            sa.func.min(AuditEntry.occurred_at),
            last,
        )
        .where(
            _period(since, until),
            sa.or_(
                AuditEntry.action.in_(MFA_FAILURE_ACTIONS),
                sa.and_(AuditEntry.action.in_(MFA_ACTIONS), AuditEntry.outcome != "success"),
            ),
        )
        .group_by(account, AuditEntry.source_address)
        .order_by(failures.desc(), last.desc())
        .limit(limit)
    )
    return [
        MfaFailures(row[0], row[1], row[2], int(row[3]), _iso(row[4]), _iso(row[5]))
        for row in await session.execute(stmt)
    ]


async def customer_access(
    session: AsyncSession,
    since: datetime,
    until: datetime,
    customer_id: str | None = None,
    *,
    limit: int = DEFAULT_LIMIT,
) -> list[CustomerAccess]:
    """Who (actor and role) read or changed which customer's data, with counts and actions.

    Sign-in events are left out (a customer signing in is not access to their data).
    """
    refused = sa.func.sum(sa.case((AuditEntry.outcome == "success", 0), else_=1))
    keys = (
        AuditEntry.actor_id,
        AuditEntry.actor_label,
        AuditEntry.actor_role,
        AuditEntry.customer_id,
        AuditEntry.action,
    )
    conditions = [
        _period(since, until),
        AuditEntry.customer_id.is_not(None),
        sa.not_(AuditEntry.action.startswith("auth.")),
    ]
    if customer_id is not None:
        conditions.append(AuditEntry.customer_id == customer_id)
    stmt = (
        sa.select(
            *keys,
            sa.func.count(),
            refused,
            sa.func.min(AuditEntry.occurred_at),
            sa.func.max(AuditEntry.occurred_at),
        )
        .where(*conditions)
        .group_by(*keys)
    )
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for (
        actor_id,
        label,
        role,
        customer,
        action,
        count,
        failed,
        first,
        last,
    ) in await session.execute(stmt):
        group = groups.setdefault(
            (actor_id, label, role, customer),
            {"accesses": 0, "refused": 0, "first": first, "last": last, "actions": set()},
        )
        group["accesses"] += int(count)
        group["refused"] += int(failed or 0)
        group["first"] = min(group["first"], first)
        group["last"] = max(group["last"], last)
        group["actions"].add(action)
    result = [
        CustomerAccess(
            actor_id=k[0],
            actor_label=k[1],
            actor_role=k[2],
            customer_id=k[3],
            accesses=g["accesses"],
            refused=g["refused"],
            first_access=_iso(g["first"]),
            last_access=_iso(g["last"]),
            actions=tuple(sorted(g["actions"])),
        )
        for k, g in groups.items()
    ]
    result.sort(key=lambda a: a.last_access, reverse=True)
    result.sort(key=lambda a: a.customer_id)  # stable: by customer, latest access first
    return result[:limit]
