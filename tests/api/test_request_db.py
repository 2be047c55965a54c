"""The request's database session (``api.deps.get_db``): reads in autocommit, changes in one
transaction, on SQLite and PostgreSQL.

The pool's connections stay in autocommit; a change switches its connection for the request
and hands it back in autocommit, so the reads that follow take it as it is.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from starlette.requests import Request

from api.deps import get_db
from api.main import create_app
from data_contracts.settings import Settings

_COUNT = sa.text("select count(*) from request_db_probe")
_INSERT = sa.text("insert into request_db_probe (n) values (:n)")


class _RequestFailedError(Exception):
    pass


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def settings(request: pytest.FixtureRequest, tmp_path) -> Settings:
    if request.param == "sqlite":
        return Settings(home=tmp_path / "home")
    url, _admin, _schema = request.getfixturevalue("postgres_schema")
    # A pool of one: every request below gets the same connection, whatever the one
    # before it did to it.
    return Settings(
        home=tmp_path / "home",
        serving_database_url=url,
        database_pool_size=1,
        database_max_overflow=0,
    )


def _request(app: Any, method: str) -> Request:
    return Request({"type": "http", "method": method, "app": app, "headers": []})


async def _in_request(app: Any, method: str, work: Any) -> None:
    """Run ``work(db)`` inside ``get_db`` as FastAPI does: an error is thrown into it."""
    dependency = get_db(_request(app, method))
    db = await anext(dependency)
    try:
        await work(db)
    except _RequestFailedError as exc:
        with pytest.raises(_RequestFailedError):
            await dependency.athrow(exc)
        return
    with pytest.raises(StopAsyncIteration):
        await anext(dependency)


async def _count(app: Any) -> int:
    async with app.state.read_engine.connect() as connection:
        return int((await connection.execute(_COUNT)).scalar_one())


def test_changes_are_one_transaction_and_reads_commit_each_statement(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        app = client.app

        async def scenario() -> list[int]:
            async with app.state.engine.begin() as connection:
                await connection.execute(sa.text("create table request_db_probe (n integer)"))
            counts = []

            async def change_then_fail(db: Any) -> None:
                await db.execute(_INSERT, {"n": 1})
                await db.execute(_INSERT, {"n": 2})
                raise _RequestFailedError

            async def change(db: Any) -> None:
                await db.execute(_INSERT, {"n": 3})

            async def read_that_writes(db: Any) -> None:  # e.g. the session touch
                await db.execute(_INSERT, {"n": 4})
                raise _RequestFailedError  # a statement of a read is committed by itself

            for _ in range(2):  # a read after a change gets the connection back in autocommit
                await _in_request(app, "POST", change_then_fail)
                counts.append(await _count(app))
                await _in_request(app, "POST", change)
                counts.append(await _count(app))
                await _in_request(app, "GET", read_that_writes)
                counts.append(await _count(app))
            return counts

        counts = client.portal.call(scenario)
    # The failed change left nothing; the change committed at the end of its request; the
    # read's statement stayed although its request failed after it.
    assert counts == [0, 1, 2, 2, 3, 4]


def test_a_session_that_began_a_transaction_ends_it_with_its_request(settings: Settings) -> None:
    """Closing is skipped only for a session that holds nothing: one that began a
    transaction ends it, and a change an error left uncommitted is rolled back."""
    with TestClient(create_app(settings)) as client:
        app = client.app

        async def scenario() -> tuple[int, int, bool]:
            async with app.state.engine.begin() as connection:
                await connection.execute(sa.text("create table request_db_probe (n integer)"))
            seen: list[Any] = []

            async def read(db: Any) -> None:
                await db.execute(sa.text("select 1"))  # begins the session's transaction
                seen.append(db)

            await _in_request(app, "GET", read)

            async def change_then_fail(db: Any) -> None:
                await db.execute(_INSERT, {"n": 1})
                seen.append(db)
                raise _RequestFailedError

            await _in_request(app, "POST", change_then_fail)
            return (
                len(seen),
                await _count(app),
                any(db.in_transaction() for db in seen),
            )

        sessions, count, open_transaction = client.portal.call(scenario)
    assert sessions == 2
    assert count == 0
    assert not open_transaction
