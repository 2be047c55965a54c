"""Dependency aliases the routes share: settings, clock, database, the caller, audit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit.log import AuditEvent, AuditLog, Outcome
from api.auth import sessions
from api.auth.models import Session, User
from api.core.clock import Clock
from api.core.i18n import msg, session_message
from api.core.permissions import CUSTOMER_SELF, STEP_UP, Permission, Role, allows
from api.core.problems import Problem
from api.db.prepared import CONNECTION
from api.serving import read
from data_contracts.settings import Settings

_Entity = TypeVar("_Entity", Session, User)


# ``async`` although they do not await: FastAPI runs a plain ``def`` dependency in a worker
# thread, a thread hop per request for a field read.
async def get_settings(request: Request) -> Settings:
    return app_settings(request)


def app_settings(request: Request) -> Settings:
    """The app's settings, read without a dependency: on the routes every page view takes,
    each dependency FastAPI solves costs CPU."""
    settings: Settings = request.app.state.settings
    return settings


async def get_clock(request: Request) -> Clock:
    return app_clock(request)


def app_clock(request: Request) -> Clock:
    """The app's clock, read without a dependency (as `app_settings`)."""
    clock: Clock = request.app.state.clock
    return clock


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's database session: autocommit for reads, one transaction for changes.

    A read's only write is the session touch (one statement, atomic on its own). Requests
    wait for a connection in arrival order (:class:`api.db.engine.ConnectionGate`). The
    session is bound to a connection checked out here, which the prebuilt reads of every
    request (:mod:`api.db.prepared`) use directly: asking the session for its connection
    costs more CPU than a one-row read itself.
    """
    state = request.app.state
    engine = state.read_engine if request.method in SAFE_METHODS else state.engine
    async with state.db_gate.enter(), engine.connect() as connection:
        db = AsyncSession(bind=connection, expire_on_commit=False)
        db.info[CONNECTION] = connection
        try:
            yield db
            if db.in_transaction():
                await db.commit()
        finally:
            # Closing a session that holds no transaction and no objects changes nothing
            # but costs a trip through SQLAlchemy's greenlet bridge: most reads skip it.
            if db.in_transaction() or db.identity_map:
                await db.close()


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClockDep = Annotated[Clock, Depends(get_clock)]
DbDep = Annotated[AsyncSession, Depends(get_db)]

_bearer = HTTPBearer(auto_error=False, description="The session token from /auth endpoints.")


@dataclass(frozen=True)
class Principal:
    """The signed-in caller of this request.

    ``user`` and ``session`` are read-only views; a route that changes the account or the
    session loads the ORM entity it changes (:meth:`user_entity`, :meth:`session_entity`).
    """

    user: sessions.UserView
    session: sessions.SessionView
    now: datetime

    async def session_entity(self, db: AsyncSession) -> Session:
        """The session as an ORM entity of ``db``, to change it."""
        return _live(await db.get(Session, self.session.id))

    async def user_entity(self, db: AsyncSession) -> User:
        """The signed-in account as an ORM entity of ``db``, to change it."""
        return _live(await db.get(User, self.user.id))

    @property
    def role(self) -> Role:
        return Role(self.user.role)

    @property
    def label(self) -> str:
        return self.user.email


@dataclass(frozen=True)
class CustomerPrincipal(Principal):
    """The caller of a page about one customer, with that customer's row
    (:func:`principal_and_customer`); kept out of ``repr``: personal data."""

    customer: read.CustomerRead = field(repr=False)


def _live(entity: _Entity | None) -> _Entity:
    if entity is None:  # ended or deleted between the session check and now
        ended = session_message("Your session was ended; sign in again.")
        raise Problem("session-expired", ended)
    return entity


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _label(user: User | sessions.UserView) -> str | None:
    """Staff are named in the audit log; customers by account id only (their e-mail is
    personal data kept encrypted, and the log outlives an erasure)."""
    return None if user.role == Role.CUSTOMER.value else user.email


async def audit(
    request: Request,
    action: str,
    *,
    outcome: Outcome = "success",
    principal: Principal | None = None,
    user: User | None = None,
    customer_id: str | None = None,
    status_code: int | None = None,
    detail: dict[str, Any] | None = None,
    label: str | None = None,
) -> None:
    """Append one entry to the audit log for this request.

    ``label`` names the account when there is no user (a sign-in for an unknown email).
    """
    log: AuditLog = request.app.state.audit
    actor = principal.user if principal else user
    route = request.scope.get("route")
    await log.append(
        AuditEvent(
            action=action,
            outcome=outcome,
            resource=f"{request.method} {getattr(route, 'path', request.url.path)}",
            actor_id=actor.id if actor else None,
            actor_role=actor.role if actor else None,
            actor_label=_label(actor) if actor else label,
            customer_id=customer_id,
            status_code=status_code,
            source_address=client_address(request),
            request_id=getattr(request.state, "request_id", None),
            detail=detail,
        )
    )


async def _resolve(
    request: Request,
    db: AsyncSession,
    credentials: HTTPAuthorizationCredentials | None,
    **lookup: Any,
) -> tuple[sessions.Resolved, datetime]:
    # Settings and clock straight from the app (what get_settings and get_clock answer):
    # every request resolves its caller, and two more dependencies to solve cost CPU.
    settings = app_settings(request)
    challenge = {"WWW-Authenticate": 'Bearer realm="cems"'}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Problem("unauthenticated", msg("auth.sign_in_first"), headers=challenge)
    now = app_clock(request).now()
    try:
        found = await sessions.resolve(db, settings, credentials.credentials, now, **lookup)
    except sessions.SessionInvalidError as exc:
        raise Problem("session-expired", session_message(exc.reason), headers=challenge) from exc
    if found.touched:
        # Persist the touch now: a write lock held for the whole request would make the
        # audit append (its own transaction) wait on SQLite.
        await db.commit()
    request.state.user_id = found.user.id
    request.state.role = found.user.role
    return found, now


async def current_principal(
    request: Request,
    db: DbDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    found, now = await _resolve(request, db, credentials)
    return Principal(user=found.user, session=found.session, now=now)


async def principal_and_customer(
    request: Request,
    db: DbDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> CustomerPrincipal:
    """:func:`current_principal` for a route that shows one customer: the path's
    ``customer_id``, or the signed-in customer's own. That customer's row is read in the
    session check's round trip and kept in ``customer``; the route still authorizes before
    it answers from it (:meth:`api.serving.read.CustomerRead.current`)."""
    named = request.path_params.get("customer_id")
    found, now = await _resolve(
        request, db, credentials,
        lookup=read.SESSION_AND_CUSTOMER, params={"customer_id": named},
    )  # fmt: skip
    about = named if named is not None else found.user.customer_id
    customer = read.CustomerRead.of(about, found.extra)
    return CustomerPrincipal(user=found.user, session=found.session, now=now, customer=customer)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
PrincipalAndCustomer = Annotated[CustomerPrincipal, Depends(principal_and_customer)]


def require_step_up(settings: Settings, principal: Principal) -> None:
    if not sessions.step_up_fresh(settings, principal.session, principal.now):
        raise Problem(
            "step-up-required",
            msg("auth.step_up_required", minutes=settings.step_up_minutes),
            step_up_url="/auth/step-up",
        )


async def authorize(
    request: Request,
    settings: Settings,
    principal: Principal,
    permission: Permission,
    customer_id: str | None,
) -> None:
    """Object-level check: may this caller use ``permission`` on this customer's data?

    Customers reach only their own data (anything else answers 404, so ids cannot be
    probed); staff need the permission, and a recent MFA check for sensitive data.
    """
    if principal.role is Role.CUSTOMER:
        own = customer_id is not None and customer_id == principal.user.customer_id
        if own and permission in CUSTOMER_SELF:
            return
        if customer_id is None:  # a staff function, not someone else's object
            await audit(
                request, "access.denied", outcome="denied", principal=principal,
                status_code=403, detail={"permission": permission.value},
            )  # fmt: skip
            raise Problem("forbidden", msg("access.staff_only"))
        await audit(
            request, "access.denied", outcome="denied", principal=principal,
            customer_id=customer_id, status_code=404, detail={"permission": permission.value},
        )  # fmt: skip
        raise Problem("not-found", msg("access.not_in_account"))
    if not allows(principal.role, permission):
        await audit(
            request, "access.denied", outcome="denied", principal=principal,
            customer_id=customer_id, status_code=403, detail={"permission": permission.value},
        )  # fmt: skip
        raise Problem(
            "forbidden",
            msg("access.role_forbidden", role=principal.role.value, permission=permission.value),
        )
    if permission in STEP_UP and not sessions.step_up_fresh(
        settings, principal.session, principal.now
    ):
        await audit(
            request, "access.step_up_required", outcome="denied", principal=principal,
            customer_id=customer_id, status_code=403, detail={"permission": permission.value},
        )  # fmt: skip
        require_step_up(settings, principal)


def scoped_customer_id(principal: Principal, customer_id: str | None) -> str:
    """The customer a list is about: named by staff, implied for a signed-in customer."""
    if customer_id is not None:
        return customer_id
    if principal.role is Role.CUSTOMER and principal.user.customer_id:
        return principal.user.customer_id
    raise Problem("validation-error", msg("query.customer_id_required"))


def require_staff(principal: Principal) -> None:
    if principal.role is Role.CUSTOMER:
        raise Problem("forbidden", msg("access.staff_only"))
