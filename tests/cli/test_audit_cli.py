"""``cems audit``: the tamper test of issue 6, archiving and the review reports."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from deltalake import DeltaTable
from sqlalchemy.ext.asyncio import async_sessionmaker
from typer.testing import CliRunner

from api.audit import AuditEntry, AuditEvent, AuditLog, load_or_create_key
from api.audit.retention import archive_table_path
from api.cli import audit as audit_cli
from api.cli.main import app
from api.core.clock import FrozenClock
from api.db.engine import async_engine, sync_engine
from api.db.migrate import ensure_schema
from data_contracts.settings import Settings, get_settings

runner = CliRunner()


@pytest.fixture
def settings(cems_home: Path) -> Settings:
    settings = get_settings()
    ensure_schema(settings)
    return settings


@pytest.fixture
def db(settings: Settings) -> Iterator[sa.Engine]:
    engine = sync_engine(settings)
    yield engine
    engine.dispose()


def write(settings: Settings, events: list[AuditEvent], start: datetime) -> str:
    """Append ``events`` a minute apart on one chain (seq 1 is the chain start, then 2...)."""
    key = load_or_create_key(settings)

    async def go() -> str:
        engine = async_engine(settings)
        clock = FrozenClock(start)
        try:
            log = AuditLog(async_sessionmaker(engine), key, clock)
            for event in events:
                await log.append(event)
                clock.advance(timedelta(minutes=1))
            return log.chain_id
        finally:
            await engine.dispose()

    return asyncio.run(go())


def reads(count: int) -> list[AuditEvent]:
    return [
        AuditEvent(
            action="customer.read",
            resource="/customers/{customer_id}",
            actor_id="staff-7",
            actor_role="agent",
            actor_label="ana@operator.example",
            customer_id=f"C{n:08d}",
            status_code=200,
            source_address="10.1.2.3",
            request_id=f"req-{n}",
        )
        for n in range(count)
    ]


@pytest.fixture
def chain(settings: Settings) -> str:
    """Ten reads: seqs 1 (chain start) to 11."""
    return write(settings, reads(10), datetime(2026, 1, 5, tzinfo=UTC))


def edit(db: sa.Engine, seq: int) -> None:
    with db.begin() as conn:
        conn.execute(
            sa.text("update audit_entries set customer_id = 'C99999999' where seq = :s"),
            {"s": seq},
        )


def delete(db: sa.Engine, *seqs: int) -> None:
    with db.begin() as conn:
        for seq in seqs:
            conn.execute(sa.text("delete from audit_entries where seq = :s"), {"s": seq})


def overwrite_hash(db: sa.Engine, seq: int) -> None:
    with db.begin() as conn:
        conn.execute(
            sa.text("update audit_entries set entry_hash = :h where seq = :s"),
            {"h": "e" * 64, "s": seq},
        )


def insert_forged(db: sa.Engine, seq: int) -> None:
    """A plausible entry after the last one, linked to it, with a made-up hash."""
    with db.connect() as conn:
        last = conn.execute(
            sa.select(AuditEntry.__table__).order_by(AuditEntry.seq.desc()).limit(1)
        ).one()
    forged: dict[str, Any] = dict(last._mapping)
    forged.pop("id")
    forged.update(
        seq=seq,
        customer_id="C00000042",
        prev_hash=last.entry_hash,
        entry_hash="0" * 64,
        occurred_at=last.occurred_at + timedelta(minutes=1),
    )
    with db.begin() as conn:
        conn.execute(sa.insert(AuditEntry).values(**forged))


def verify_json() -> tuple[int, set[tuple[str, int | None, int | None]], str]:
    result = runner.invoke(app, ["audit", "verify", "--json"])
    report = json.loads(result.stdout)
    kinds = {(f["kind"], f["first_seq"], f["last_seq"]) for f in report["findings"]}
    return result.exit_code, kinds, result.stdout


def test_a_clean_log_verifies(chain: str) -> None:
    result = runner.invoke(app, ["audit", "verify"])

    assert result.exit_code == 0, result.output
    assert "Audit log intact: 11 entries in 1 chain verified." in result.output


def test_edit_delete_and_insert_are_all_reported(chain: str, db: sa.Engine) -> None:
    edit(db, 4)
    delete(db, 7)
    insert_forged(db, 12)

    result = runner.invoke(app, ["audit", "verify"])

    assert result.exit_code == 1
    out = result.output
    assert "3 findings (1 deleted, 1 edited, 1 inserted)" in out
    assert f"edited: Entry 4 (id 4) of chain {chain} fails its hash" in out
    assert f"deleted: Entry 7 of chain {chain} is missing" in out
    assert f"inserted: Entry 12 (id 12) of chain {chain} fails its hash" in out
    code, kinds, _ = verify_json()
    assert code == 1
    assert kinds == {("edited", 4, 4), ("deleted", 7, 7), ("inserted", 12, 12)}


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        pytest.param(lambda db: edit(db, 5), {("edited", 5, 5)}, id="edit"),
        pytest.param(lambda db: delete(db, 3, 4), {("deleted", 3, 4)}, id="delete"),
        pytest.param(lambda db: insert_forged(db, 12), {("inserted", 12, 12)}, id="insert"),
        pytest.param(lambda db: delete(db, 10, 11), {("truncated", 10, 11)}, id="truncate"),
        pytest.param(
            lambda db: (delete(db, 7), insert_forged(db, 7)),
            {("deleted", 7, 7), ("inserted", 7, 7)},
            id="replace",
        ),
        pytest.param(lambda db: overwrite_hash(db, 5), {("edited", 5, 5)}, id="overwrite-hash"),
        pytest.param(
            lambda db: (edit(db, 4), delete(db, 5)),
            {("edited", 4, 4), ("deleted", 5, 5)},
            id="edit-and-delete-its-successor",
        ),
    ],
)
def test_each_single_tampering_is_reported(
    chain: str, db: sa.Engine, tamper: Any, expected: set[tuple[str, int, int]]
) -> None:
    tamper(db)

    code, kinds, _ = verify_json()

    assert code == 1
    assert kinds == expected


def test_archiving_young_entries_is_refused_in_one_sentence(chain: str, db: sa.Engine) -> None:
    result = runner.invoke(app, ["audit", "archive", "--before", "2026-01-01"])

    assert result.exit_code == 2
    assert "refusing to archive entries up to 2026-01-01" in result.output
    assert "Traceback" not in result.output
    with db.connect() as conn:
        assert conn.execute(sa.text("select count(*) from audit_entries")).scalar_one() == 13


def test_archive_moves_old_entries_and_verify_include_archive_passes(settings: Settings) -> None:
    write(settings, reads(3), datetime(2019, 3, 1, tzinfo=UTC))

    result = runner.invoke(app, ["audit", "archive", "--before", "2020-01-01", "--json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["entries_archived"] == 4
    assert DeltaTable(archive_table_path(settings)).to_pyarrow_table().num_rows == 4
    verified = runner.invoke(app, ["audit", "verify", "--include-archive"])
    assert verified.exit_code == 0, verified.output
    assert "4 archived entries" in verified.output


def test_reports(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_cli.console, "width", 200)  # a wide terminal: one line a row
    events = [
        AuditEvent(action="auth.login_failed", actor_label="bo@x", source_address="9.9.9.9"),
        AuditEvent(action="auth.login_failed", actor_label="bo@x", source_address="9.9.9.9"),
        AuditEvent(action="auth.mfa_failed", actor_label="bo@x", actor_role="admin"),
        *reads(2),
    ]
    write(settings, events, datetime(2026, 2, 1, 12, tzinfo=UTC))
    period = ["--since", "2026-02-01", "--until", "2026-02-01", "--json"]

    logins = runner.invoke(app, ["audit", "report", "failed-logins", *period])
    mfa = runner.invoke(app, ["audit", "report", "mfa-failures", *period])
    access = runner.invoke(app, ["audit", "report", "access", "--customer", "C00000001", *period])
    table = runner.invoke(app, ["audit", "report", "access", "--since", "2026-02-01"])
    empty = runner.invoke(
        app, ["audit", "report", "failed-logins", "--since", "2026-03-01", "--until", "2026-03-02"]
    )

    assert [
        (g["account"], g["source_address"], g["failures"]) for g in json.loads(logins.stdout)
    ] == [("bo@x", "9.9.9.9", 2)]
    assert [(g["account"], g["role"], g["failures"]) for g in json.loads(mfa.stdout)] == [
        ("bo@x", "admin", 1)
    ]
    assert [
        (a["actor_label"], a["customer_id"], a["actions"]) for a in json.loads(access.stdout)
    ] == [("ana@operator.example", "C00000001", ["customer.read"])]
    assert table.exit_code == 0 and "C00000000" in table.output and "C00000001" in table.output
    assert empty.exit_code == 0 and "none" in empty.output
    bad = runner.invoke(app, ["audit", "report", "access", "--since", "yesterday"])
    assert bad.exit_code == 2 and "--since must be a date" in bad.output
