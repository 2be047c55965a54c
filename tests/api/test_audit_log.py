"""The audit log: chained appends, scrubbing, atomic heads, tamper classification, reports."""

from __future__ import annotations

import asyncio
import itertools
import json
import stat
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from api.audit import AuditEntry, AuditEvent, AuditLog, load_or_create_key, scrub, verify
from api.audit.log import (
    CHAIN_STARTED,
    entry_hash,
    entry_values,
    genesis_hash,
    is_sensitive_key,
    write_entries,
)
from api.audit.reports import customer_access, failed_logins, mfa_failures
from api.core.clock import FrozenClock
from api.core.masking import luhn_valid, mask_card_numbers
from api.db.engine import async_engine, sync_engine
from api.db.migrate import ensure_schema
from data_contracts.settings import Settings

T = TypeVar("T")
START = datetime(2026, 1, 1, tzinfo=UTC)


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


def run_with_logs(
    settings: Settings,
    key: bytes,
    body: Callable[[Callable[..., AuditLog]], Awaitable[T]],
) -> T:
    """Run ``body(make_log)`` on one async engine; ``make_log(clock, chain_id)`` builds logs."""

    async def go() -> T:
        engine = async_engine(settings)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        try:
            return await body(
                lambda clock=None, chain_id=None: AuditLog(
                    sessions, key, clock or FrozenClock(START), chain_id
                )
            )
        finally:
            await engine.dispose()

    return asyncio.run(go())


def event(n: int, **fields: Any) -> AuditEvent:
    base: dict[str, Any] = {
        "action": "customer.read",
        "resource": "/customers/{customer_id}",
        "actor_id": "staff-1",
        "actor_role": "agent",
        "actor_label": "ana@operator.example",
        "customer_id": f"C{n:08d}",
        "status_code": 200,
        "source_address": "10.0.0.7",
        "request_id": f"req-{n}",
        "detail": {"n": n},
    }
    base.update(fields)
    return AuditEvent(**base)


def write(settings: Settings, key: bytes, count: int, clock: FrozenClock | None = None) -> str:
    async def body(make: Callable[..., AuditLog]) -> str:
        log = make(clock)
        for n in range(count):
            await log.append(event(n))
        return log.chain_id

    return run_with_logs(settings, key, body)


def rows(db: sa.Engine, chain_id: str | None = None) -> list[Any]:
    """The stored entries (typed: timestamps come back as datetimes)."""
    query = sa.select(AuditEntry.__table__).order_by(AuditEntry.chain_id, AuditEntry.seq)
    if chain_id:
        query = query.where(AuditEntry.chain_id == chain_id)
    with db.connect() as conn:
        return list(conn.execute(query))


def findings(settings: Settings, key: bytes) -> set[tuple[str, int | None, int | None]]:
    report = verify(settings, key)
    return {(f.kind, f.first_seq, f.last_seq) for f in report.findings}


# --- appending -------------------------------------------------------------------------------


def test_append_builds_a_keyed_hash_chain(settings: Settings, key: bytes, db: sa.Engine) -> None:
    chain_id = write(settings, key, 4)

    stored = rows(db, chain_id)
    assert [r.seq for r in stored] == [1, 2, 3, 4, 5]
    assert stored[0].action == CHAIN_STARTED
    assert stored[0].prev_hash == genesis_hash(key, chain_id)
    for before, after in itertools.pairwise(stored):
        assert after.prev_hash == before.entry_hash
    for row in stored:
        assert entry_hash(key, row.prev_hash, entry_values(row)) == row.entry_hash
        assert entry_hash(b"x" * 32, row.prev_hash, entry_values(row)) != row.entry_hash
    assert stored[1].customer_id == "C00000000"
    assert json.loads(stored[1].detail) == {"n": 0}
    with db.connect() as conn:
        head = conn.execute(sa.text("select * from audit_chains")).one()
    assert (head.chain_id, head.last_seq, head.last_hash) == (chain_id, 5, stored[-1].entry_hash)
    report = verify(settings, key)
    assert report.ok, report.findings
    assert (report.chains_checked, report.entries_checked) == (1, 5)


def test_a_batch_of_any_size_is_written_by_one_statement_text(
    settings: Settings, key: bytes, db: sa.Engine
) -> None:
    """The entries go in as one short INSERT executed for many rows, whatever the batch
    size: a statement whose text grew with the batch (multi-row VALUES) would be parsed
    again by the driver on every group commit (psycopg caches only short statements)."""
    inserts: list[tuple[str, bool, int]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_ENTRIES"):
            inserts.append((statement, many, len(params) if many else 1))

    chain_id, head = "chain-batches", None
    sa.event.listen(db, "before_cursor_execute", seen)
    try:
        for size in (3, 20):
            with Session(db) as session, session.begin():
                _, head = write_entries(
                    session,
                    key=key,
                    chain_id=chain_id,
                    head=head,
                    events=[event(n) for n in range(size)],
                    now=START,
                )
    finally:
        sa.event.remove(db, "before_cursor_execute", seen)

    assert len({text for text, _, _ in inserts}) == 1
    assert [(many, count) for _, many, count in inserts] == [(True, 4), (True, 20)]  # + start
    stored = rows(db, chain_id)
    assert [r.seq for r in stored] == list(range(1, 25))
    assert [r.request_id for r in stored[1:4]] == ["req-0", "req-1", "req-2"]
    assert verify(settings, key).ok


def test_key_file_is_private_and_reused(settings: Settings, key: bytes) -> None:
    path = Path(settings.audit_key_file)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 32
    assert load_or_create_key(settings) == key


def test_several_chains_verify_and_anchor_each_other(
    settings: Settings, key: bytes, db: sa.Engine
) -> None:
    async def body(make: Callable[..., AuditLog]) -> tuple[str, str]:
        first, second = make(), make()
        await first.append(event(1))
        await second.append(event(2))
        await first.append(event(3))
        await second.append(event(4))
        return first.chain_id, second.chain_id

    first, second = run_with_logs(settings, key, body)

    report = verify(settings, key)
    assert report.ok, report.findings
    assert (report.chains_checked, report.entries_checked) == (2, 6)
    start = rows(db, second)[0]
    anchors = json.loads(start.detail)["anchors"]
    assert [a["chain_id"] for a in anchors] == [first]
    assert anchors[0]["seq"] == 2


# A chain id (uuid4 hex) or hash holding a 13-19 digit run that passes Luhn: 1 in ~250 ids.
CARD_LIKE_CHAIN = "a4111111111111111fedcbafedcbafed"


def two_chains_the_second_anchoring(settings: Settings, key: bytes) -> tuple[str, str]:
    async def body(make: Callable[..., AuditLog]) -> tuple[str, str]:
        first, second = make(chain_id=CARD_LIKE_CHAIN), make()
        await first.append(event(1))
        await second.append(event(2))
        return first.chain_id, second.chain_id

    return run_with_logs(settings, key, body)


def test_a_chain_id_that_looks_like_a_card_number_is_anchored_as_is(
    settings: Settings, key: bytes, db: sa.Engine
) -> None:
    assert mask_card_numbers(CARD_LIKE_CHAIN) != CARD_LIKE_CHAIN  # the masking would bite

    first, second = two_chains_the_second_anchoring(settings, key)

    anchors = json.loads(rows(db, second)[0].detail)["anchors"]
    assert [(a["chain_id"], a["seq"]) for a in anchors] == [(first, 2)]
    assert anchors[0]["hash"] == rows(db, first)[-1].entry_hash
    # Deleting the first chain whole is still caught through the second chain's record of it.
    with db.begin() as conn:
        conn.execute(sa.delete(AuditEntry).where(AuditEntry.chain_id == first))
        conn.execute(sa.text("delete from audit_chains where chain_id = :c"), {"c": first})
    assert findings(settings, key) == {("deleted", 1, 2)}


def test_anchors_masked_by_an_earlier_version_vouch_for_nothing(
    settings: Settings, key: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.audit import log as log_module

    real = log_module._anchors
    monkeypatch.setattr(log_module, "_anchors", lambda *args: scrub(real(*args)))
    two_chains_the_second_anchoring(settings, key)

    report = verify(settings, key)
    assert report.ok, report.findings  # not "chain a[card number removed]... is gone"
    assert (report.chains_checked, report.entries_checked) == (2, 4)


def test_fifty_concurrent_appends_get_contiguous_seqs(
    settings: Settings, key: bytes, db: sa.Engine
) -> None:
    async def body(make: Callable[..., AuditLog]) -> str:
        log = make()
        await asyncio.gather(*(log.append(event(n)) for n in range(50)))
        return log.chain_id

    chain_id = run_with_logs(settings, key, body)

    assert [r.seq for r in rows(db, chain_id)] == list(range(1, 52))
    assert {r.request_id for r in rows(db, chain_id)[1:]} == {f"req-{n}" for n in range(50)}
    assert verify(settings, key).ok


def test_a_failed_transaction_does_not_advance_the_head(
    settings: Settings, key: bytes, db: sa.Engine
) -> None:
    async def body(make: Callable[..., AuditLog]) -> tuple[AuditLog, int | None, int, int]:
        log = make()
        await log.append(event(1))
        with db.begin() as conn:  # the head update fails after the entry was inserted
            conn.execute(
                sa.text(
                    "create trigger refuse before update on audit_chains "
                    "begin select raise(abort, 'disk full'); end"
                )
            )
        with pytest.raises(sa.exc.DatabaseError, match="disk full"):
            await log.append(event(2))
        head_after_failure = log.head.seq if log.head else None
        rows_after_failure = len(rows(db, log.chain_id))
        with db.begin() as conn:
            conn.execute(sa.text("drop trigger refuse"))
        entry = await log.append(event(3))
        return log, head_after_failure, rows_after_failure, entry.seq

    log, head_after_failure, rows_after_failure, next_seq = run_with_logs(settings, key, body)

    assert head_after_failure is None  # forgotten, to be re-read from the database
    assert rows_after_failure == 2  # the entry of the failed append was rolled back with it
    assert next_seq == 3
    assert [r.request_id for r in rows(db, log.chain_id)] == [None, "req-1", "req-3"]
    with db.connect() as conn:
        assert conn.execute(sa.text("select last_seq from audit_chains")).scalar_one() == 3
    assert verify(settings, key).ok


# --- scrubbing -------------------------------------------------------------------------------

SECRETS = ["hunter2-Secret!", "sess_9f8e7d6c5b4a", "492039", "4111111111111111", "4111 1111"]


def test_secrets_tokens_codes_and_card_numbers_never_reach_the_table(
    settings: Settings, key: bytes, db: sa.Engine
) -> None:
    detail = {
        "password": "hunter2-Secret!",
        "session_token": "sess_9f8e7d6c5b4a",
        "totp_code": "492039",
        "card_number": "4111111111111111",
        "note": "paid with 4111 1111 1111 1111 yesterday",
        "nested": {"refreshToken": "sess_9f8e7d6c5b4a", "items": [{"Authorization": "x"}]},
        "amount": 4111111111111111,
        "company": "Acme",
        "reference": "1234567890123456",  # 16 digits that fail Luhn: not a card number
    }

    async def body(make: Callable[..., AuditLog]) -> str:
        log = make()
        await log.append(
            event(
                1,
                action="auth.login_failed",
                resource="/auth/login?otp=492039&next=/home",
                detail=detail,
            )
        )
        return log.chain_id

    chain_id = run_with_logs(settings, key, body)

    stored = rows(db, chain_id)[-1]
    text = json.dumps([str(v) for v in stored])
    for secret in SECRETS:
        assert secret not in text
    assert json.loads(stored.detail) == {
        "note": "paid with [card number removed] yesterday",
        "nested": {"items": [{}]},
        "amount": "[card number removed]",
        "company": "Acme",
        "reference": "1234567890123456",
    }
    assert stored.resource == "/auth/login?otp=%5Bremoved%5D&next=%2Fhome"
    assert verify(settings, key).ok


def test_scrub_rules() -> None:
    assert is_sensitive_key("X-CSRF-Token") and is_sensitive_key("mfaCode")
    assert is_sensitive_key("PAN") and is_sensitive_key("cvc") and is_sensitive_key("IBAN")
    assert not is_sensitive_key("company") and not is_sensitive_key("expand")
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert scrub({"ok": [1, "a"], "secret": 1}) == {"ok": [1, "a"]}


def test_ids_the_log_draws_are_never_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    import uuid

    from api.core import masking

    draws = iter([uuid.UUID(CARD_LIKE_CHAIN), uuid.UUID(int=0xABC)])
    monkeypatch.setattr(masking.uuid, "uuid4", lambda: next(draws))

    assert masking.opaque_id() == f"{0xABC:032x}"  # the card-like draw was thrown away


def test_account_and_session_ids_are_never_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    """An account id the log masked would file that account's trail under a mangled id (its
    failed sign-ins missing from the review): about 1 in 250 random hex ids looks like a card."""
    import uuid

    from api.auth import sessions
    from api.core import masking

    draws = iter([uuid.UUID(CARD_LIKE_CHAIN), uuid.UUID(int=0xABD)])
    monkeypatch.setattr(masking.uuid, "uuid4", lambda: next(draws))

    new = sessions.new_id()
    assert new == f"{0xABD:032x}" and masking.mask_card_numbers(new) == new


# --- tamper classification -------------------------------------------------------------------


def test_each_kind_of_tampering_is_classified(
    settings: Settings, key: bytes, db: sa.Engine
) -> None:
    chain_id = write(settings, key, 9)  # seq 1 (chain start) ... 10
    assert findings(settings, key) == set()
    with db.begin() as conn:
        conn.execute(sa.text("update audit_entries set customer_id = 'C999' where seq = 3"))
    assert findings(settings, key) == {("edited", 3, 3)}
    with db.begin() as conn:
        conn.execute(sa.text("delete from audit_entries where seq in (5, 6)"))
    assert findings(settings, key) == {("edited", 3, 3), ("deleted", 5, 6)}
    forged = dict(rows(db, chain_id)[-1]._mapping)
    forged.update(id=None, seq=11, prev_hash=forged["entry_hash"], entry_hash="f" * 64)
    with db.begin() as conn:
        conn.execute(
            sa.text(
                "insert into audit_entries (" + ", ".join(k for k in forged if k != "id") + ") "
                "values (" + ", ".join(f":{k}" for k in forged if k != "id") + ")"
            ),
            forged,
        )
    assert findings(settings, key) == {("edited", 3, 3), ("deleted", 5, 6), ("inserted", 11, 11)}
    with db.begin() as conn:
        conn.execute(sa.text("delete from audit_entries where seq in (9, 10)"))
    assert ("truncated", 9, 10) in findings(settings, key)


def test_rewinding_the_head_to_hide_a_deleted_tail_is_detected(
    settings: Settings, key: bytes, db: sa.Engine
) -> None:
    chain_id = write(settings, key, 5)
    stored = rows(db, chain_id)
    with db.begin() as conn:
        conn.execute(sa.text("delete from audit_entries where seq = 6"))
        conn.execute(
            sa.text("update audit_chains set last_seq = 5, last_hash = :h"),
            {"h": stored[4].entry_hash},
        )
    report = verify(settings, key)
    assert [(f.kind, f.first_seq) for f in report.findings] == [("edited", None)]
    assert "head row" in report.findings[0].message


def test_deleting_a_whole_chain_with_its_head_is_detected(
    settings: Settings, key: bytes, db: sa.Engine
) -> None:
    old = write(settings, key, 3)
    write(settings, key, 2)  # its first entry records the old chain at seq 4
    with db.begin() as conn:
        conn.execute(sa.text("delete from audit_entries where chain_id = :c"), {"c": old})
        conn.execute(sa.text("delete from audit_chains where chain_id = :c"), {"c": old})
    report = verify(settings, key)
    assert [(f.kind, f.chain_id, f.first_seq, f.last_seq) for f in report.findings] == [
        ("deleted", old, 1, 4)
    ]


def test_a_forged_chain_is_inserted_and_a_lost_head_is_reported(
    settings: Settings, key: bytes, db: sa.Engine
) -> None:
    chain_id = write(settings, key, 2)
    row = dict(rows(db, chain_id)[1]._mapping)
    row.update(chain_id="f" * 32, seq=1)
    columns = [k for k in row if k != "id"]
    with db.begin() as conn:
        conn.execute(
            sa.text(
                f"insert into audit_entries ({', '.join(columns)}) "
                f"values ({', '.join(':' + c for c in columns)})"
            ),
            row,
        )
        conn.execute(sa.text("delete from audit_chains"))
    kinds = {(f.kind, f.chain_id, f.first_seq) for f in verify(settings, key).findings}
    assert kinds == {("inserted", "f" * 32, 1), ("deleted", chain_id, None)}


# --- reports ---------------------------------------------------------------------------------


def test_reports_group_failed_logins_mfa_failures_and_customer_access(
    settings: Settings, key: bytes
) -> None:
    clock = FrozenClock(START)

    async def body(make: Callable[..., AuditLog]) -> tuple[Any, ...]:
        log = make(clock)

        async def add(**fields: Any) -> None:
            clock.advance(timedelta(minutes=1))
            await log.append(AuditEvent(**fields))

        for address in ["1.1.1.1", "1.1.1.1", "2.2.2.2"]:
            await add(action="auth.login_failed", actor_label="ana@x", source_address=address)
        await add(action="auth.login", outcome="failure", actor_label="bo@x", source_address="3")
        await add(action="auth.login", actor_label="ana@x", source_address="1.1.1.1")
        await add(action="auth.mfa_failed", actor_label="ana@x", actor_role="agent")
        await add(action="auth.step_up", outcome="failure", actor_label="ana@x")
        await add(action="auth.mfa", actor_label="bo@x")
        for customer, action, outcome in [
            ("C1", "customer.read", "success"),
            ("C1", "customer.export", "success"),
            ("C1", "customer.read", "denied"),
            ("C2", "customer.read", "success"),
        ]:
            await add(
                action=action,
                outcome=outcome,
                actor_id="s1",
                actor_label="ana@x",
                actor_role="agent",
                customer_id=customer,
            )
        await add(action="auth.login", actor_label="customer:C1", customer_id="C1")
        clock.advance(timedelta(days=2))
        await add(action="auth.login_failed", actor_label="ana@x", source_address="1.1.1.1")

        engine = async_engine(settings)
        try:
            async with AsyncSession(engine) as session:
                until = START + timedelta(days=1)
                return (
                    await failed_logins(session, START, until),
                    await mfa_failures(session, START, until),
                    await customer_access(session, START, until),
                    await customer_access(session, START, until, "C2"),
                )
        finally:
            await engine.dispose()

    logins, mfa, access, only_c2 = run_with_logs(settings, key, body)

    assert [(g.account, g.source_address, g.failures) for g in logins] == [
        ("ana@x", "1.1.1.1", 2),
        ("bo@x", "3", 1),  # ties: the latest attempt first
        ("ana@x", "2.2.2.2", 1),
    ]
    assert logins[0].first_attempt == "2026-01-01T00:01:00+00:00"
    assert logins[0].last_attempt == "2026-01-01T00:02:00+00:00"
    assert [(g.account, g.failures) for g in mfa] == [("ana@x", 2)]
    assert [a.to_dict() for a in access] == [
        {
            "actor_id": "s1",
            "actor_label": "ana@x",
            "actor_role": "agent",
            "customer_id": "C1",
            "accesses": 3,
            "refused": 1,
            "first_access": "2026-01-01T00:09:00+00:00",
            "last_access": "2026-01-01T00:11:00+00:00",
            "actions": ["customer.export", "customer.read"],
        },
        {
            "actor_id": "s1",
            "actor_label": "ana@x",
            "actor_role": "agent",
            "customer_id": "C2",
            "accesses": 1,
            "refused": 0,
            "first_access": "2026-01-01T00:12:00+00:00",
            "last_access": "2026-01-01T00:12:00+00:00",
            "actions": ["customer.read"],
        },
    ]
    assert [a.customer_id for a in only_c2] == ["C2"]


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.mark.postgres
def test_append_and_verify_on_postgresql(
    tmp_path: Path, postgres_schema: tuple[str, sa.Engine, str]
) -> None:
    url, admin, schema = postgres_schema
    settings = Settings(home=tmp_path / "home", serving_database_url=url)
    ensure_schema(settings)
    key = load_or_create_key(settings)

    async def body(make: Callable[..., AuditLog]) -> str:
        first, second = make(), make()
        await asyncio.gather(*(first.append(event(n)) for n in range(20)))
        await asyncio.gather(*(second.append(event(n)) for n in range(5)))
        return first.chain_id

    chain_id = run_with_logs(settings, key, body)

    report = verify(settings, key)
    assert report.ok, report.findings
    assert (report.chains_checked, report.entries_checked) == (2, 27)
    with admin.begin() as conn:
        # The append-only trigger (migration 0002) refuses this; a table owner can switch it
        # off, and then the chain is what catches the tampering.
        conn.execute(
            sa.text(f"alter table {schema}.audit_entries disable trigger audit_entries_append_only")
        )
        conn.execute(
            sa.text(
                f"update {schema}.audit_entries set outcome = 'failure' where seq = 7 "
                "and chain_id = :c"
            ),
            {"c": chain_id},
        )
        conn.execute(
            sa.text(f"delete from {schema}.audit_entries where seq = 9 and chain_id = :c"),
            {"c": chain_id},
        )
    assert findings(settings, key) == {("edited", 7, 7), ("deleted", 9, 9)}
