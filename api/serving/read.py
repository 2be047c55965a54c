"""Async reads of the current serving publication (what the routes answer from)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.models import User
from api.auth.sessions import SESSION_LOOKUP
from api.core.i18n import msg
from api.core.problems import Problem
from api.crypto.keyring import blind
from api.db.prepared import Prepared
from api.serving.keys import name_words, phone_key
from api.serving.models import (
    Publication,
    ServingAccount,
    ServingCustomer,
    ServingCustomerName,
    ServingTransaction,
    ServingUsage,
    ServingUsagePattern,
)

_Query = TypeVar("_Query", bound=sa.Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class Snapshot:
    """The publication a request reads from: every query of the request uses one version."""

    version: int
    as_of: date | None


# The hot path's statements are built once: building a statement and its cache key on every
# request costs more CPU than sending it (a third of a millisecond each on a small VM).
# They are sent by the driver (api.db.prepared): SQLAlchemy's execution path costs more still.
_CURRENT = Prepared(
    sa.select(Publication.version, Publication.as_of_date).where(Publication.status == "current")
)

# The session check with the customer's row added: the routes that show one customer read
# it in the session check's round trip (api.deps.principal_and_customer). The customer is the
# one the path names, or the signed-in user's own when the path names none (/api/v1/me).
SESSION_AND_CUSTOMER = Prepared(
    SESSION_LOOKUP.add_columns(Publication.version, Publication.as_of_date, ServingCustomer.payload)
    .outerjoin(Publication, Publication.status == "current")
    .outerjoin(
        ServingCustomer,
        sa.and_(
            ServingCustomer.version == Publication.version,
            ServingCustomer.customer_id
            == sa.func.coalesce(sa.bindparam("customer_id", type_=sa.String), User.customer_id),
        ),
    )
)


@dataclass(frozen=True)
class CustomerRead:
    """A customer's row read along with the session check (:data:`SESSION_AND_CUSTOMER`)."""

    customer_id: str | None  # whom it is about (None: a staff account's own, which is no one)
    snap: Snapshot | None  # None: nothing published yet
    row: dict[str, Any] | None = field(repr=False)  # None: not in the current publication

    @classmethod
    def of(cls, customer_id: str | None, extra: tuple[Any, ...]) -> CustomerRead:
        version, as_of, payload = extra
        snap = None if version is None else Snapshot(int(version), as_of)
        return cls(customer_id, snap, _load(payload) if payload else None)

    def current(self) -> tuple[Snapshot, dict[str, Any] | None]:
        """The serving publication and the customer's row in it (None: no such customer);
        the not-ready problem when nothing is published yet."""
        if self.snap is None:
            raise Problem("not-ready", msg("serving.nothing_published"))
        return self.snap, self.row

    def existing(self) -> tuple[Snapshot, dict[str, Any]]:
        """:meth:`current`, answering the not-found problem for an unknown customer."""
        snap, row = self.current()
        if row is None:
            raise Problem("not-found", msg("not_found.customer", customer_id=self.customer_id))
        return snap, row


async def current(db: AsyncSession) -> Snapshot:
    row = await _CURRENT.first(db, {})
    if row is None:
        raise Problem("not-ready", msg("serving.nothing_published"))
    return Snapshot(int(row[0]), row[1])


def _load(payload: str) -> dict[str, Any]:
    value: dict[str, Any] = orjson.loads(payload)
    return value


async def customer(db: AsyncSession, snap: Snapshot, customer_id: str) -> dict[str, Any] | None:
    payload = await db.scalar(
        sa.select(ServingCustomer.payload).where(
            ServingCustomer.version == snap.version, ServingCustomer.customer_id == customer_id
        )
    )
    return _load(payload) if payload else None


async def existing_customer(db: AsyncSession, snap: Snapshot, customer_id: str) -> dict[str, Any]:
    """The customer's 360 row, or the not-found problem every customer route answers."""
    row = await customer(db, snap, customer_id)
    if row is None:
        raise Problem("not-found", msg("not_found.customer", customer_id=customer_id))
    return row


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int


async def _page(db: AsyncSession, query: sa.Select[Any], limit: int, offset: int) -> Page:
    total = await db.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    rows = (await db.execute(query.limit(limit).offset(offset))).scalars().all()
    return Page([_load(p) for p in rows], int(total or 0))


async def search_customers(
    db: AsyncSession,
    snap: Snapshot,
    *,
    email: str | None,
    phone: str | None,
    name: str | None,
    region: str | None,
    customer_type: str | None,
    risk_band: str | None,
    limit: int,
    offset: int,
) -> Page:
    c = ServingCustomer
    query = sa.select(c.payload).where(c.version == snap.version)
    # Personal columns are encrypted: e-mail, phone and name words match by blind index
    # (equality of normalised values; the database never sees them).
    if email:
        query = query.where(c.email_bidx == blind("email", email.strip()))
    if phone:
        key = phone_key(phone)
        query = query.where(c.phone_bidx == blind("phone", key) if key else sa.false())
    if name:
        n = ServingCustomerName
        terms = {blind("name", word) for word in name_words(name)}
        matching = (
            sa.select(n.customer_id)
            .where(n.version == snap.version, n.term_bidx.in_(terms))
            .group_by(n.customer_id)
            .having(sa.func.count() == len(terms))
        )
        query = query.where(c.customer_id.in_(matching) if terms else sa.false())
    if region:
        query = query.where(c.region == region)
    if customer_type:
        query = query.where(c.customer_type == customer_type)
    if risk_band:
        query = query.where(c.churn_risk_band == risk_band)
    return await _page(db, query.order_by(c.customer_id), limit, offset)


async def accounts(db: AsyncSession, snap: Snapshot, customer_id: str) -> list[dict[str, Any]]:
    rows = await db.scalars(
        sa.select(ServingAccount.payload)
        .where(ServingAccount.version == snap.version, ServingAccount.customer_id == customer_id)
        .order_by(ServingAccount.account_id)
    )
    return [_load(p) for p in rows]


async def account(db: AsyncSession, snap: Snapshot, account_id: str) -> dict[str, Any] | None:
    payload = await db.scalar(
        sa.select(ServingAccount.payload).where(
            ServingAccount.version == snap.version, ServingAccount.account_id == account_id
        )
    )
    return _load(payload) if payload else None


def _customer_transactions(
    query: _Query,
    customer_id: Any,
    account_id: Any | None,
    transaction_type: Any | None,
) -> _Query:
    """``query`` narrowed to one customer's transactions (values or bind parameters),
    newest first."""
    t = ServingTransaction
    query = query.where(t.customer_id == customer_id)
    if account_id is not None:
        query = query.where(t.account_id == account_id)
    if transaction_type is not None:
        query = query.where(t.transaction_type == transaction_type)
    return query.order_by(t.occurred_at.desc(), t.transaction_id)


def _transactions_statement(by_account: bool, by_type: bool) -> Prepared:
    """One page of a customer's transactions in the current publication, with the
    publication and the total (a window count) on every row: one round trip."""
    t = ServingTransaction
    query = _customer_transactions(
        sa.select(
            Publication.version,
            Publication.as_of_date,
            t.payload,
            sa.func.count().over().label("total"),
        )
        .join(t, t.version == Publication.version)
        .where(Publication.status == "current"),
        sa.bindparam("customer_id"),
        sa.bindparam("account_id") if by_account else None,
        sa.bindparam("transaction_type") if by_type else None,
    )
    return Prepared(query.limit(sa.bindparam("limit")).offset(sa.bindparam("offset")))


_TRANSACTIONS = {
    (by_account, by_type): _transactions_statement(by_account, by_type)
    for by_account in (False, True)
    for by_type in (False, True)
}


async def current_transactions(
    db: AsyncSession,
    *,
    customer_id: str,
    account_id: str | None = None,
    transaction_type: str | None = None,
    limit: int,
    offset: int,
) -> tuple[Snapshot, Page]:
    """The current publication and a page of a customer's transactions, newest first.

    One statement on the hot path. A page past the end returns no row: the first row of the
    same statement then gives the publication and the total; with no row at all,
    :func:`current` tells "nothing published" (503) from an empty list.
    """
    params: dict[str, Any] = {"customer_id": customer_id, "limit": limit, "offset": offset}
    if account_id:
        params["account_id"] = account_id
    if transaction_type:
        params["transaction_type"] = transaction_type
    statement = _TRANSACTIONS[(bool(account_id), bool(transaction_type))]
    rows = await statement.all(db, params)
    if not rows and offset > 0:
        first = await statement.all(db, {**params, "limit": 1, "offset": 0})
        if first:
            version, as_of, _payload, total = first[0]
            return Snapshot(int(version), as_of), Page([], int(total))
    if not rows:
        return await current(db), Page([], 0)
    version, as_of, _payload, total = rows[0]
    return Snapshot(int(version), as_of), Page([_load(r[2]) for r in rows], int(total))


async def transactions(
    db: AsyncSession,
    snap: Snapshot,
    *,
    customer_id: str,
    account_id: str | None = None,
    transaction_type: str | None = None,
    limit: int,
    offset: int,
) -> Page:
    t = ServingTransaction
    query = _customer_transactions(
        sa.select(t.payload).where(t.version == snap.version),
        customer_id,
        account_id or None,
        transaction_type or None,
    )
    return await _page(db, query, limit, offset)


async def transaction(
    db: AsyncSession, snap: Snapshot, transaction_id: str
) -> dict[str, Any] | None:
    payload = await db.scalar(
        sa.select(ServingTransaction.payload).where(
            ServingTransaction.version == snap.version,
            ServingTransaction.transaction_id == transaction_id,
        )
    )
    return _load(payload) if payload else None


async def usage(
    db: AsyncSession,
    snap: Snapshot,
    *,
    customer_id: str,
    subscription_id: str | None,
    since: date | None,
    until: date | None,
    limit: int,
    offset: int,
) -> Page:
    u = ServingUsage
    query = sa.select(u.payload).where(u.version == snap.version, u.customer_id == customer_id)
    if subscription_id:
        query = query.where(u.subscription_id == subscription_id)
    if since:
        query = query.where(u.usage_date >= since.isoformat())
    if until:
        query = query.where(u.usage_date <= until.isoformat())
    return await _page(db, query.order_by(u.usage_date.desc(), u.subscription_id), limit, offset)


async def usage_patterns(
    db: AsyncSession, snap: Snapshot, customer_id: str
) -> list[dict[str, Any]]:
    rows = await db.scalars(
        sa.select(ServingUsagePattern.payload)
        .where(
            ServingUsagePattern.version == snap.version,
            ServingUsagePattern.customer_id == customer_id,
        )
        .order_by(ServingUsagePattern.subscription_id)
    )
    return [_load(p) for p in rows]
