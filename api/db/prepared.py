"""Prebuilt reads sent straight to the driver: the checks and lookups every request makes.

Every API request checks its session and most read the customer's row: two one-row lookups
by key. Through ``AsyncSession.execute`` each costs about 0.5 ms of CPU on a small VM, more
than half of it in SQLAlchemy's execution path (cache lookup, execution context, cursor and
result wrappers, a greenlet switch) rather than in the driver. A :class:`Prepared` statement
is still an ordinary Core construct, compiled once per dialect: the SQL, the paramstyle, the
literal parameters and the bind and result processors all come from SQLAlchemy, so it runs
unchanged on SQLite (aiosqlite) and PostgreSQL (psycopg), whose async connections both offer
``await connection.execute(sql, params)`` and ``await cursor.fetchone()``/``fetchall()``.

It runs on the connection the session uses, inside its transaction if it has one. The API
binds each request's session to a connection it checked out and names that connection in the
session's ``info`` (``CONNECTION``, :func:`api.deps.get_db`), so the driver connection is one
attribute away; any other session is asked for its connection (``AsyncSession.connection``,
which alone costs about as much CPU as the read).

Errors keep their usual handling: if the driver raises, the statement is sent once more
through ``AsyncSession.execute`` (a read, so sending it again changes nothing), which raises
it the way SQLAlchemy does everywhere else. A dead connection thus still invalidates the pool
and answers ``503 database-unavailable`` (:mod:`api.core.problems`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

CONNECTION = "cems.connection"  # the request's AsyncConnection, in AsyncSession.info
_Processor = Callable[[Any], Any] | None
_Select = sa.Select[*tuple[Any, ...]]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positions: Sequence[str] | None  # parameter names in order (qmark, format); None: named
    literals: Mapping[str, Any]  # parameters the statement carries (``status = 'current'``)
    binds: Mapping[str, Callable[[Any], Any]]
    results: Sequence[_Processor]

    def params(self, values: Mapping[str, Any]) -> Any:
        merged = {**self.literals, **values}
        for name, process in self.binds.items():
            merged[name] = process(merged[name])
        if self.positions is not None:
            return tuple(merged[name] for name in self.positions)
        return merged

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(
            value if process is None or value is None else process(value)
            for process, value in zip(self.results, raw, strict=True)
        )


class Prepared:
    """A Core ``SELECT``, compiled once per dialect and sent by the driver."""

    def __init__(self, statement: _Select) -> None:
        self.statement = statement
        self._compiled: dict[Dialect, _Compiled] = {}  # one per engine, in practice

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect)
        if found is None:
            found = self._compiled[dialect] = _compile(self.statement, dialect)
        return found

    async def first(self, db: AsyncSession, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row (processed as SQLAlchemy would), or None."""
        rows = await self._send(db, params, one=True)
        return rows[0] if rows else None

    async def all(self, db: AsyncSession, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row (processed as SQLAlchemy would)."""
        return await self._send(db, params, one=False)

    async def _send(
        self, db: AsyncSession, params: Mapping[str, Any], *, one: bool
    ) -> list[tuple[Any, ...]]:
        connection = db.info.get(CONNECTION)
        if connection is None or connection.sync_connection.invalidated:
            connection = await db.connection()
            driver = (await connection.get_raw_connection()).driver_connection
        else:
            driver = connection.sync_connection.connection.driver_connection
        compiled = self._for(connection.dialect)
        assert driver is not None  # a checked-out connection
        try:
            cursor = await driver.execute(compiled.sql, compiled.params(params))
            try:
                if one:
                    row = await cursor.fetchone()
                    raw = [] if row is None else [row]
                else:
                    raw = await cursor.fetchall()
            finally:
                await cursor.close()
        except Exception:
            # Let SQLAlchemy raise it as it raises every database error (and invalidate a
            # dead connection's pool): the statement only reads, so sending it again is safe.
            result = await db.execute(self.statement, dict(params))
            found = [result.first()] if one else list(result.all())
            return [tuple(r) for r in found if r is not None]
        return [compiled.row(r) for r in raw]


def _compile(statement: _Select, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    binds: dict[str, Callable[[Any], Any]] = {}
    for name, bind in compiled.binds.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            binds[name] = process
    results: list[_Processor] = [
        column.type.dialect_impl(dialect).result_processor(dialect, None)
        for column in statement.selected_columns
    ]
    positions = list(compiled.positiontup or ()) if compiled.positional else None
    return _Compiled(
        sql=compiled.string,
        positions=positions,
        literals=dict(compiled.params),
        binds=binds,
        results=results,
    )
