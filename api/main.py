"""The FastAPI application: ``create_app()`` wires settings, database, audit and routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker

from api.audit.keys import load_or_create_key
from api.audit.log import AuditLog
from api.core import problems
from api.core.clock import Clock, SystemClock
from api.core.observability import ObservabilityMiddleware, configure_logging
from api.crypto.keyring import KeyringMiddleware, open_keyring
from api.db.engine import async_engine, audit_engine_for, connection_gate
from api.db.migrate import ensure_schema
from api.routes import admin, auth, billing, customers, health, privacy, usage
from data_contracts.settings import Settings, get_settings

DESCRIPTION = """
Customer 360, billing, usage and sign-in for support tools, self-service apps and portals.

* Customers sign in with a password or a passkey and see their own data only.
* Staff sign in with a password and a TOTP code; sessions end 12 hours after sign-in.
  Sensitive data (PII in clear, detailed usage patterns, exports) needs a code confirmed at
  `/auth/step-up` within the last minutes.
* Every error is an RFC 9457 problem document (`application/problem+json`). Its `title` and
  `detail` are in English, Spanish or French, chosen by `Accept-Language` (`es`, `fr-CA;q=0.9`;
  English by default); `Content-Language` says which. `type` and `status` never change.
* Resources follow TM Forum Open API names: TMF629 customer, TMF666 billingAccount,
  TMF678 customerBill, TMF635 usage.
"""


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    """Build the API; tests pass their own settings and a clock they can move."""
    settings = settings or get_settings()
    clock = clock or SystemClock()
    configure_logging()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Read from app.state: a test may swap settings or clock before start-up.
        settings: Settings = app.state.settings
        ensure_schema(settings)
        app.state.keyring = open_keyring(settings)  # personal columns decrypt with it
        # Reads (GET, HEAD) run in autocommit: no BEGIN and COMMIT round trips. Each of
        # their statements is one snapshot, and every read is pinned to a publication version.
        # The pool's connections stay in autocommit, so a read takes one as it is; a change
        # switches its connection to the database's own isolation level (one transaction per
        # request) and back, a cost reads used to pay on every checkout.
        engine = async_engine(settings, isolation_level="AUTOCOMMIT")
        async with engine.connect():  # the first connection learns the database's default
            pass
        app.state.read_engine = engine
        app.state.engine = engine.execution_options(
            isolation_level=engine.dialect.default_isolation_level
        )
        app.state.db_gate = connection_gate(settings)  # first come, first served (api.deps)
        # The audit writer has connections of its own: requests wait for their entry while
        # holding a pooled connection, so sharing the pool could starve the writer under load.
        audit_engine = audit_engine_for(settings) or app.state.engine
        app.state.audit = AuditLog(
            async_sessionmaker(audit_engine, expire_on_commit=False),
            load_or_create_key(settings),
            app.state.clock,
        )
        try:
            yield
        finally:
            await engine.dispose()
            if audit_engine is not engine:
                await audit_engine.dispose()

    app = FastAPI(
        title="CEMS API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "auth", "description": "Sign-in, MFA, passkeys, sessions."},
            {"name": "customer", "description": "TMF629 customers and the customer 360."},
            {"name": "billing", "description": "TMF666 billing accounts, TMF678 bills."},
            {"name": "usage", "description": "TMF635 usage and detailed usage patterns."},
            {"name": "admin", "description": "Users, sessions, audit reports, exports."},
            {"name": "health", "description": "Liveness, readiness, metrics."},
        ],
    )
    app.state.settings = settings
    app.state.clock = clock
    problems.install(app)
    app.add_middleware(KeyringMiddleware)
    app.add_middleware(ObservabilityMiddleware)
    for module in (health, auth, customers, billing, usage, admin, privacy):
        app.include_router(module.router)
    return app
