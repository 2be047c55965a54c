"""Audit retention: nothing younger than 5 years goes; older entries move to Delta, once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from deltalake import DeltaTable
from sqlalchemy.ext.asyncio import async_sessionmaker

from api.audit import (
    AuditEntry,
    AuditEvent,
    AuditLog,
    RetentionError,
    archive,
    load_or_create_key,
    retention,
    verify,
)
from api.audit.retention import archive_table_path, retention_cutoff
from api.core.clock import FrozenClock
from api.db.engine import async_engine, sync_engine
from api.db.migrate import ensure_schema
from data_contracts.settings import Settings

WRITTEN = datetime(2026, 3, 1, tzinfo=UTC)
LATER = datetime(2027, 3, 1, tzinfo=UTC)
BEFORE = datetime(2027, 1, 1, tzinfo=UTC)
ARCHIVE_CLOCK = FrozenClock(datetime(2032, 6, 1, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(home=tmp_path / "home")
    ensure_schema(settings)
    return settings


@pytest.fixture
def key(settings: Settings) -> bytes:
    return load_or_create_key(settings)


@pytest.fixture
def db(settings: Settings) -> Iterator[sa.Engine]:
    engine = sync_engine(settings)
    yield engine
    engine.dispose()


def write(settings: Settings, key: bytes, plan: list[tuple[datetime, int]]) -> list[str]:
    """One chain per (start time, entries): entries a minute apart from that time."""

    async def go() -> list[str]:
        engine = async_engine(settings)
        try:
            chains = []
            for start, count in plan:
                clock = FrozenClock(start)
                log = AuditLog(async_sessionmaker(engine), key, clock)
                for n in range(count):
                    await log.append(
                        AuditEvent(
                            action="customer.read",
                            actor_label="ana@operator.example",
                            customer_id=f"C{n}",
                            resource="/customers/{customer_id}",
                        )
                    )
                    clock.advance(timedelta(minutes=1))
                chains.append(log.chain_id)
            return chains
        finally:
            await engine.dispose()

    return asyncio.run(go())


def stored(db: sa.Engine) -> list[Any]:
    with db.connect() as conn:
        return list(
            conn.execute(
                sa.select(AuditEntry.__table__).order_by(AuditEntry.chain_id, AuditEntry.seq)
            )
        )


def archived(settings: Settings) -> Any:
    return DeltaTable(archive_table_path(settings)).to_pyarrow_table()


def test_retention_cutoff_is_calendar_years() -> None:
    assert retention_cutoff(datetime(2032, 2, 29, tzinfo=UTC), 5) == datetime(
        2027, 2, 28, tzinfo=UTC
    )


def test_archiving_anything_younger_than_five_years_is_refused(
    settings: Settings, key: bytes, db: sa.Engine
) -> None:
    write(settings, key, [(WRITTEN, 3)])
    clock = FrozenClock(datetime(2031, 6, 1, tzinfo=UTC))  # cutoff 2026-06-01
    before = len(stored(db))

    with pytest.raises(RetentionError, match="younger than 5 years"):
        archive(settings, before=datetime(2026, 6, 1, 0, 0, 1, tzinfo=UTC), clock=clock)

    after = stored(db)
    assert len(after) == before + 2  # only the refusal was recorded (its chain start + itself)
    refusal = [(r.action, r.outcome) for r in after if r.action == "audit.archive"]
    assert refusal == [("audit.archive", "denied")]
    assert not Path(archive_table_path(settings)).exists()
    # The cutoff itself is allowed: exactly five years old.
    result = archive(settings, before=datetime(2026, 6, 1, tzinfo=UTC), clock=clock)
    assert result.entries_archived == 4  # chain start + 3 entries, all from March 2026


def test_old_entries_move_to_delta_once_and_the_log_still_verifies(
    settings: Settings, key: bytes, db: sa.Engine
) -> None:
    old, mixed, young = write(
        settings, key, [(WRITTEN, 4), (BEFORE - timedelta(minutes=2), 4), (LATER, 2)]
    )
    assert verify(settings, key).ok

    result = archive(settings, before=BEFORE, clock=ARCHIVE_CLOCK)

    # old: 5 rows (start + 4); mixed: its start and the entries at 23:58 and 23:59, not 00:00.
    assert (result.entries_archived, result.rows_written, result.chains) == (8, 8, 2)
    assert result.held_back == ()
    table = archived(settings)
    keys = zip(table["chain_id"].to_pylist(), table["seq"].to_pylist(), strict=True)
    assert sorted(keys) == sorted([(old, s) for s in range(1, 6)] + [(mixed, s) for s in (1, 2, 3)])
    assert set(table["year"].to_pylist()) == {2026}
    remaining = stored(db)
    assert all(r.occurred_at >= BEFORE for r in remaining)
    assert [r.seq for r in remaining if r.chain_id == mixed] == [4, 5]
    assert [r.seq for r in remaining if r.chain_id == young] == [1, 2, 3]
    report = verify(settings, key, include_archive=True)
    assert report.ok, report.findings
    assert report.archived_entries_checked == 8

    again = archive(settings, before=BEFORE, clock=ARCHIVE_CLOCK)

    assert (again.entries_archived, again.rows_written) == (0, 0)
    assert archived(settings).num_rows == 8
    assert verify(settings, key, include_archive=True).ok


def test_a_crash_between_the_delta_write_and_the_delete_does_not_duplicate(
    settings: Settings, key: bytes, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(settings, key, [(WRITTEN, 5)])
    real = retention._checkpoint_and_delete

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise OSError("the database went away")

    monkeypatch.setattr(retention, "_checkpoint_and_delete", crash)
    with pytest.raises(OSError, match="went away"):
        archive(settings, before=BEFORE, clock=ARCHIVE_CLOCK)
    assert archived(settings).num_rows == 6
    assert len(stored(db)) == 6 + 2  # nothing deleted (plus the failed run's own chain)
    assert verify(settings, key).ok

    monkeypatch.setattr(retention, "_checkpoint_and_delete", real)
    result = archive(settings, before=BEFORE, clock=ARCHIVE_CLOCK)

    assert (result.entries_archived, result.rows_written) == (6, 0)
    table = archived(settings)
    keys = list(zip(table["chain_id"].to_pylist(), table["seq"].to_pylist(), strict=True))
    assert len(keys) == len(set(keys)) == 6
    assert verify(settings, key, include_archive=True).ok


def test_a_tampered_entry_is_held_back_not_laundered_into_the_archive(
    settings: Settings, key: bytes, db: sa.Engine
) -> None:
    (chain,) = write(settings, key, [(WRITTEN, 6)])
    with db.begin() as conn:
        conn.execute(sa.text("update audit_entries set customer_id = 'C9' where seq = 4"))

    result = archive(settings, before=BEFORE, clock=ARCHIVE_CLOCK)

    assert result.entries_archived == 3  # the intact prefix 1-3
    assert [(h.chain_id, h.seq) for h in result.held_back] == [(chain, 4)]
    findings = verify(settings, key, include_archive=True).findings
    assert [(f.kind, f.first_seq, f.location) for f in findings] == [("edited", 4, "database")]


def test_verify_include_archive_detects_an_edit_in_delta(settings: Settings, key: bytes) -> None:
    write(settings, key, [(WRITTEN, 4)])
    archive(settings, before=BEFORE, clock=ARCHIVE_CLOCK)
    assert verify(settings, key, include_archive=True).ok

    DeltaTable(archive_table_path(settings)).update(
        predicate="seq = 3", updates={"customer_id": "'C777'"}
    )

    assert verify(settings, key).ok  # the database part is untouched
    findings = verify(settings, key, include_archive=True).findings
    assert [(f.kind, f.first_seq, f.location) for f in findings] == [("edited", 3, "archive")]


def test_small_batches_give_the_same_archive(settings: Settings, key: bytes, db: sa.Engine) -> None:
    first, second = write(settings, key, [(WRITTEN, 4), (WRITTEN + timedelta(days=1), 2)])

    result = archive(settings, before=BEFORE, clock=ARCHIVE_CLOCK, batch_size=2)

    assert (result.entries_archived, result.rows_written, result.chains) == (8, 8, 2)
    table = archived(settings)
    keys = sorted(zip(table["chain_id"].to_pylist(), table["seq"].to_pylist(), strict=True))
    assert keys == sorted([(first, s) for s in range(1, 6)] + [(second, s) for s in (1, 2, 3)])
    assert [r.action for r in stored(db)] == ["audit.chain_started", "audit.archive"]
    report = verify(settings, key, include_archive=True)
    assert report.ok, report.findings
