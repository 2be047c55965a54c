"""Engines for the operational database: SQLite under CEMS_HOME by default, PostgreSQL by URL.

One URL in settings (``serving_database_url``) serves both the async engine the API uses and
the sync engine the CLI, the publish job and Alembic use; only the driver differs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from data_contracts.settings import Settings

_DRIVERS = {
    "sqlite": ("sqlite", "sqlite+aiosqlite"),
    "postgresql": ("postgresql+psycopg", "postgresql+psycopg"),
}


POOL_TIMEOUT_SECONDS = 30.0  # SQLAlchemy's own default wait for a pooled connection


class UnsupportedDatabaseError(ValueError):
    """The serving database URL names a backend CEMS does not run on."""


def _url(url: str, *, asynchronous: bool) -> sa.URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _DRIVERS:
        raise UnsupportedDatabaseError(
            f"The serving database must be SQLite or PostgreSQL, not {backend!r}; "
            "set CEMS_SERVING_DATABASE_URL to sqlite:///... or postgresql+psycopg://..."
        )
    return parsed.set(drivername=_DRIVERS[backend][1 if asynchronous else 0])


def _connect_args(settings: Settings, url: sa.URL) -> dict[str, Any]:
    if url.get_backend_name() == "postgresql":
        args: dict[str, Any] = {}
        if settings.database_sslmode:
            args["sslmode"] = settings.database_sslmode
        if settings.database_sslrootcert:
            args["sslrootcert"] = settings.database_sslrootcert
        return args
    if url.get_backend_name() == "sqlite":
        return {"timeout": 30}
    return {}


def _prepare_sqlite(url: sa.URL) -> None:
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(engine: sa.Engine) -> None:
    # WAL lets readers go on while a publish or an audit append writes.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def sync_engine(settings: Settings) -> sa.Engine:
    """A sync engine (CLI, publish job, Alembic)."""
    url = _url(settings.serving_database_url, asynchronous=False)
    _prepare_sqlite(url)
    engine = sa.create_engine(url, connect_args=_connect_args(settings, url), pool_pre_ping=True)
    if url.get_backend_name() == "sqlite":
        _sqlite_pragmas(engine)
    return engine


def _bounded_pool(settings: Settings) -> dict[str, Any]:
    """The API pool's bounds on PostgreSQL (the engine's and its gate's one source)."""
    return {
        "pool_size": settings.database_pool_size,
        "max_overflow": settings.database_max_overflow,
        "pool_timeout": POOL_TIMEOUT_SECONDS,
    }


def async_engine(settings: Settings, **kwargs: Any) -> AsyncEngine:
    """The async engine the API serves from.

    No pre-ping: a ping per checkout was a tenth of a request's CPU. Connections are
    recycled after ``database_pool_recycle_seconds``, and a connection found dead (the
    database restarted or failed over) invalidates every connection of the pool opened
    before it, so only the requests then in flight fail, answered ``503`` with
    ``Retry-After`` (``api.core.problems``), and the next ones reconnect.
    """
    url = _url(settings.serving_database_url, asynchronous=True)
    _prepare_sqlite(url)
    if url.get_backend_name() == "postgresql":
        for key, value in _bounded_pool(settings).items():
            kwargs.setdefault(key, value)
    engine = create_async_engine(
        url,
        connect_args=_connect_args(settings, url),
        pool_recycle=settings.database_pool_recycle_seconds,
        **kwargs,
    )
    if url.get_backend_name() == "sqlite":
        _sqlite_pragmas(engine.sync_engine)
    return engine


class GateTimeoutError(PoolTimeoutError):
    """No pooled connection came free for a request within the pool's timeout (answered
    ``503 busy`` with ``Retry-After``, like the pool's own timeout)."""


class ConnectionGate:
    """Requests take the pool's connections first come, first served.

    SQLAlchemy's async pool gives a returned connection to whichever request asks for one
    next, so past a node's capacity a newcomer can overtake a request that has waited long:
    the median stays low while a few requests wait for the whole pool timeout. The gate has
    one permit per pooled connection and queues requests in arrival order (``asyncio``'s
    semaphore wakes its waiters in order and lets no newcomer barge past them), so a request
    holding a permit always finds a connection free and the wait is shared evenly.
    ``permits=None`` (SQLite, whose pool is not a bounded queue) lets every request through.
    """

    def __init__(self, permits: int | None, timeout: float = POOL_TIMEOUT_SECONDS) -> None:
        self.permits = permits or None
        self.timeout = timeout
        self._queue = asyncio.Semaphore(permits) if permits else None

    @asynccontextmanager
    async def enter(self) -> AsyncIterator[None]:
        if self._queue is None:
            yield
            return
        queue = self._queue
        if queue.locked():  # no permit free, or others already wait: queue behind them
            try:
                async with asyncio.timeout(self.timeout):
                    await queue.acquire()
            except TimeoutError:
                raise GateTimeoutError(
                    f"no database connection came free within {self.timeout:g} s"
                ) from None
        else:  # a permit is free and nobody waits: taken at once, without arming a timer
            await queue.acquire()
        try:
            yield
        finally:
            queue.release()


def connection_gate(settings: Settings) -> ConnectionGate:
    """The gate in front of the API engine's pool: one permit per connection it may open."""
    url = _url(settings.serving_database_url, asynchronous=True)
    if url.get_backend_name() != "postgresql":
        return ConnectionGate(None)
    pool = _bounded_pool(settings)
    return ConnectionGate(pool["pool_size"] + pool["max_overflow"])


def audit_engine_for(settings: Settings) -> AsyncEngine | None:
    """PostgreSQL: a small engine of its own for the audit writer (one transaction at a time).

    None on SQLite, where a second engine would gain nothing (one writer at a time anyway) and
    an in-memory database would not even be the same database.
    """
    url = _url(settings.serving_database_url, asynchronous=True)
    if url.get_backend_name() != "postgresql":
        return None
    return async_engine(settings, pool_size=1, max_overflow=1)
