"""Prepared reads sent by the driver answer exactly what SQLAlchemy's execute answers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from api.db.prepared import CONNECTION, Prepared


class Reversed(sa.types.TypeDecorator[str]):
    """Stored reversed: shows that bind and result processors run as in SQLAlchemy."""

    impl = sa.String(40)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else value[::-1]

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else value[::-1]


metadata = sa.MetaData()
things = sa.Table(
    "prepared_things",
    metadata,
    sa.Column("id", sa.String(20), primary_key=True),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("day", sa.Date, nullable=True),
    sa.Column("secret", Reversed, nullable=True),
)
BY_ID = Prepared(
    sa.select(things.c.id, things.c.seen_at, things.c.day, things.c.secret).where(
        things.c.status == "live", things.c.id == sa.bindparam("id")
    )
)
BY_SECRET = Prepared(
    sa.select(things.c.id).where(things.c.secret == sa.bindparam("secret", type_=Reversed))
)
PAGE = Prepared(
    sa.select(things.c.id, things.c.secret, sa.func.count().over().label("total"))
    .where(things.c.status == sa.bindparam("status"))
    .order_by(things.c.id.desc())
    .limit(sa.bindparam("limit"))
    .offset(sa.bindparam("offset"))
)
AT = datetime(2026, 11, 29, 8, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'prepared.db'}"
    else:
        schema_url, _admin, _schema = request.getfixturevalue("postgres_schema")
        yield schema_url


def _run(url: str, scenario: Any) -> Any:
    async def main() -> Any:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
                await conn.execute(
                    things.insert(),
                    [
                        {"id": "a", "status": "live", "seen_at": AT, "day": date(2026, 11, 1),
                         "secret": "open sesame"},
                        {"id": "b", "status": "live", "seen_at": AT, "day": None, "secret": None},
                        {"id": "c", "status": "gone", "seen_at": AT, "day": None, "secret": "x"},
                    ],
                )  # fmt: skip
            return await scenario(async_sessionmaker(engine, expire_on_commit=False))
        finally:
            await engine.dispose()

    return asyncio.run(main())


def test_rows_match_sqlalchemys_execute_with_processed_values_and_literal_parameters(
    url: str,
) -> None:
    async def scenario(maker: async_sessionmaker[AsyncSession]) -> None:
        async with maker() as db:
            for key in ("a", "b", "c", "missing"):
                expected = (await db.execute(BY_ID.statement, {"id": key})).first()
                got = await BY_ID.first(db, {"id": key})
                assert got == (None if expected is None else tuple(expected)), key
            row = await BY_ID.first(db, {"id": "a"})
            assert row is not None
            # The DateTime comes back as an aware datetime on both (a string on SQLite's wire).
            assert row[1].astimezone(UTC) == AT
            assert row[2] == date(2026, 11, 1) and row[3] == "open sesame"
            assert await BY_ID.first(db, {"id": "c"}) is None  # status = 'live' is applied
            # A bound value goes through the type's bind processor (stored reversed).
            assert await BY_SECRET.first(db, {"secret": "open sesame"}) == ("a",)

    _run(url, scenario)


def test_it_reads_on_the_sessions_connection_inside_its_transaction(url: str) -> None:
    async def scenario(maker: async_sessionmaker[AsyncSession]) -> None:
        async with maker() as db:
            await db.execute(
                things.insert().values(id="new", status="live", seen_at=AT, secret="fresh")
            )
            assert await BY_ID.first(db, {"id": "new"}) is not None  # not committed yet
            await db.rollback()
            assert await BY_ID.first(db, {"id": "new"}) is None

    _run(url, scenario)


def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(url: str) -> None:
    async def scenario(maker: async_sessionmaker[AsyncSession]) -> None:
        async with maker() as db:
            await db.execute(sa.text("drop table prepared_things"))
            with pytest.raises(sa.exc.DBAPIError) as raised:
                await BY_ID.first(db, {"id": "a"})
            assert "prepared_things" in str(raised.value)

    _run(url, scenario)


def test_all_rows_match_sqlalchemys_execute_page_by_page(url: str) -> None:
    async def scenario(maker: async_sessionmaker[AsyncSession]) -> None:
        async with maker() as db:
            for status, limit, offset in [
                ("live", 1, 0), ("live", 5, 0), ("live", 1, 1), ("live", 5, 9), ("gone", 5, 0),
            ]:  # fmt: skip
                params = {"status": status, "limit": limit, "offset": offset}
                expected = [tuple(r) for r in (await db.execute(PAGE.statement, params)).all()]
                assert await PAGE.all(db, params) == expected, params
            page = await PAGE.all(db, {"status": "live", "limit": 5, "offset": 0})
            assert page == [("b", None, 2), ("a", "open sesame", 2)]  # ordered, processed

    _run(url, scenario)


def test_it_reads_on_the_connection_the_api_binds_its_session_to(url: str) -> None:
    """The API's ``get_db``: a checked-out connection, named in the session's ``info``."""

    async def scenario(maker: async_sessionmaker[AsyncSession]) -> None:
        engine = maker.kw["bind"]
        async with engine.connect() as connection, AsyncSession(bind=connection) as db:
            db.info[CONNECTION] = connection
            await db.execute(
                things.insert().values(id="new", status="live", seen_at=AT, secret="fresh")
            )
            assert await BY_ID.first(db, {"id": "new"}) is not None  # not committed yet
            assert [
                r[0] for r in await PAGE.all(db, {"status": "live", "limit": 1, "offset": 0})
            ] == ["new"]
            await db.rollback()
            assert await BY_ID.first(db, {"id": "new"}) is None

    _run(url, scenario)
