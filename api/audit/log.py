"""Appending to the tamper-evident audit log.

Each :class:`AuditLog` (one per API worker process) owns a chain: entries numbered 1, 2, 3...
where ``entry_hash = HMAC-SHA256(key, prev_hash || canonical JSON of the other columns)`` and
the first entry's ``prev_hash`` is ``HMAC(key, "genesis:" + chain_id)``. An append inserts the
entry and moves the chain's head row in one transaction; the in-memory head only moves once
that transaction has committed.

The first entry of every chain (``audit.chain_started``) records the heads of the chains
started before it, so deleting a whole chain, head row and all, still shows in verification.

``detail`` is scrubbed (:func:`scrub`) before it is hashed or stored: secrets, tokens, one-time
codes and card data never reach the table.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast, get_args
from urllib.parse import parse_qsl, urlencode

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from api.audit import models as m
from api.audit.models import AuditChain, AuditEntry
from api.core.clock import Clock
from api.core.masking import PAN_MASK, luhn_valid, mask_card_numbers, opaque_id

Outcome = Literal["success", "failure", "denied"]
OUTCOMES: frozenset[str] = frozenset(get_args(Outcome))

CHAIN_STARTED = "audit.chain_started"
ANCHOR_LIMIT = 16  # the most recently started chains a new chain's first entry records

# Every column of an entry that its hash covers (all but ``id``, ``prev_hash``, ``entry_hash``).
HASHED_COLUMNS: tuple[str, ...] = (
    "chain_id",
    "seq",
    "occurred_at",
    "actor_id",
    "actor_role",
    "actor_label",
    "action",
    "resource",
    "customer_id",
    "outcome",
    "status_code",
    "source_address",
    "request_id",
    "detail",
)


class _DeadBeforeCommitError(Exception):
    """An append's connection was found dead before its transaction committed."""


class AuditIntegrityError(RuntimeError):
    """The log cannot be appended to safely (a head row fails its MAC, or a chain forked)."""


# --- scrubbing -------------------------------------------------------------------------------

# Key names that are dropped from ``detail`` wherever they appear (case-insensitive).
# Long words match anywhere in the name ("refreshToken", "set-cookie", "cardNumber"); short,
# ambiguous ones only as a whole word of it ("otp", "mfa_code", "PAN", but not "company").
_SENSITIVE_SUBSTRINGS = (
    "password",
    "passwd",
    "passcode",
    "passphrase",
    "secret",
    "token",
    "cookie",
    "authorization",
    "apikey",
    "credential",
    "sessionid",
    "card",
    "cvv",
    "cvc",
    "iban",
)
_SENSITIVE_WORDS = frozenset({"otp", "totp", "hotp", "code", "pan", "pin", "jwt", "bearer", "sid"})
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
REMOVED = "[removed]"


def is_sensitive_key(name: str) -> bool:
    """Whether a ``detail`` key names a secret, token, one-time code or card data."""
    squashed = re.sub(r"[^a-z0-9]", "", name.lower())
    if any(word in squashed for word in _SENSITIVE_SUBSTRINGS):
        return True
    return any(word.lower() in _SENSITIVE_WORDS for word in _WORDS.findall(name))


def scrub(value: Any) -> Any:
    """``value`` without secrets: sensitive keys dropped (recursively), card numbers masked.

    The result is JSON-ready: mappings become dicts with string keys, tuples and sets lists.
    """
    if isinstance(value, Mapping):
        return {
            mask_card_numbers(str(k)): scrub(v)
            for k, v in value.items()
            if not is_sensitive_key(str(k))
        }
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [scrub(v) for v in items]
    if isinstance(value, str):
        return mask_card_numbers(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        text = str(abs(value))
        return PAN_MASK if 13 <= len(text) <= 19 and luhn_valid(text) else value
    return mask_card_numbers(str(value))  # datetimes, UUIDs, decimals...


def scrub_resource(resource: str) -> str:
    """A route or object name without secrets in its query string or card numbers."""
    path, sep, query = resource.partition("?")
    if sep:
        pairs = [
            (k, REMOVED if is_sensitive_key(k) else v)
            for k, v in parse_qsl(query, keep_blank_values=True)
        ]
        path = f"{path}?{urlencode(pairs)}" if pairs else path
    return mask_card_numbers(path)


# --- events and hashing ------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditEvent:
    """What happened, who did it and to which customer; the log adds when and the chain."""

    action: str
    outcome: Outcome = "success"
    resource: str = ""
    actor_id: str | None = None
    actor_role: str | None = None
    actor_label: str | None = None
    customer_id: str | None = None
    status_code: int | None = None
    source_address: str | None = None
    request_id: str | None = None
    detail: Mapping[str, Any] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, not {self.outcome!r}")
        if not self.action:
            raise ValueError("an audit event needs an action")


def _clip(value: str | None, length: int) -> str | None:
    if value is None:
        return None
    return mask_card_numbers(value)[:length]


def canonical_detail(detail: Mapping[str, Any] | None, *, scrubbed: bool = True) -> str | None:
    """``detail`` scrubbed and serialised the one way the hash sees it.

    ``scrubbed=False`` is only for what the log writes about itself (a chain's first entry:
    other chains' ids and hashes, which are hex and may hold a Luhn-valid run of digits).
    """
    if detail is None:
        return None
    return json.dumps(
        scrub(detail) if scrubbed else detail,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )


def _timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _mac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def _canonical(values: Mapping[str, Any]) -> str:
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(key: bytes, prev_hash: str, values: Mapping[str, Any]) -> str:
    """The HMAC of an entry: ``prev_hash`` followed by the canonical JSON of its columns."""
    fields = {name: values[name] for name in HASHED_COLUMNS}
    fields["occurred_at"] = _timestamp(fields["occurred_at"])
    return _mac(key, prev_hash + _canonical(fields))


def genesis_hash(key: bytes, chain_id: str) -> str:
    """The ``prev_hash`` of a chain's first entry."""
    return _mac(key, f"genesis:{chain_id}")


def head_mac(
    key: bytes,
    chain_id: str,
    started_at: datetime,
    last_seq: int,
    last_hash: str,
    updated_at: datetime,
) -> str:
    """The MAC of a chain's head row (so it cannot be rewound to hide a deleted tail)."""
    return _mac(
        key,
        "head:"
        + _canonical(
            {
                "chain_id": chain_id,
                "started_at": _timestamp(started_at),
                "last_seq": last_seq,
                "last_hash": last_hash,
                "updated_at": _timestamp(updated_at),
            }
        ),
    )


def checkpoint_mac(
    key: bytes, chain_id: str, through_seq: int, through_hash: str, archived_at: datetime
) -> str:
    """The MAC of an archive checkpoint (so it cannot be faked to hide deleted entries)."""
    return _mac(
        key,
        "checkpoint:"
        + _canonical(
            {
                "chain_id": chain_id,
                "archived_through_seq": through_seq,
                "archived_through_hash": through_hash,
                "archived_at": _timestamp(archived_at),
            }
        ),
    )


def entry_values(entry: Any) -> dict[str, Any]:
    """The hashed columns of an ORM entry or a result row."""
    mapping = getattr(entry, "_mapping", None)
    if mapping is not None:
        return {name: mapping[name] for name in HASHED_COLUMNS}
    return {name: getattr(entry, name) for name in HASHED_COLUMNS}


def head_is_authentic(key: bytes, head: Any) -> bool:
    """Whether a head row (ORM object or result row) carries a valid MAC."""
    expected = head_mac(
        key, head.chain_id, head.started_at, head.last_seq, head.last_hash, head.updated_at
    )
    return hmac.compare_digest(expected, head.head_mac)


# --- appending ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainHead:
    """Where a chain stands: its last sequence number and hash."""

    chain_id: str
    started_at: datetime
    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as written: the row of ``audit_entries`` but its ``id`` (numbered by the
    database, never read back: a chain is ordered by ``seq``)."""

    chain_id: str
    seq: int
    occurred_at: datetime
    actor_id: str | None
    actor_role: str | None
    actor_label: str | None
    action: str
    resource: str
    customer_id: str | None
    outcome: str
    status_code: int | None
    source_address: str | None
    request_id: str | None
    detail: str | None
    prev_hash: str
    entry_hash: str

    def row(self) -> dict[str, Any]:
        """The values to insert."""
        return {name: getattr(self, name) for name in _STORED_COLUMNS}


_STORED_COLUMNS = (*HASHED_COLUMNS, "prev_hash", "entry_hash")


def _new_entry(
    key: bytes,
    chain_id: str,
    seq: int,
    prev: str,
    now: datetime,
    event: AuditEvent,
    *,
    own: bool = False,
) -> StoredEntry:
    """The entry for ``event``; ``own``: the log's own chain-start entry (detail kept as is).

    A plain value rather than an ORM ``AuditEntry``: building an instrumented entity costs
    more than hashing it, and nothing loads it into a session.
    """
    values: dict[str, Any] = {
        "chain_id": chain_id,
        "seq": seq,
        "occurred_at": now.astimezone(UTC),
        "actor_id": _clip(event.actor_id, m.ACTOR_LENGTH),
        "actor_role": _clip(event.actor_role, m.ROLE_LENGTH),
        "actor_label": _clip(event.actor_label, m.ACTOR_LENGTH),
        "action": event.action[: m.ACTION_LENGTH],
        "resource": scrub_resource(event.resource)[: m.RESOURCE_LENGTH],
        "customer_id": _clip(event.customer_id, m.CUSTOMER_ID_LENGTH),
        "outcome": event.outcome,
        "status_code": event.status_code,
        "source_address": _clip(event.source_address, m.ADDRESS_LENGTH),
        "request_id": _clip(event.request_id, m.REQUEST_ID_LENGTH),
        "detail": canonical_detail(event.detail, scrubbed=not own),
    }
    return StoredEntry(**values, prev_hash=prev, entry_hash=entry_hash(key, prev, values))


def load_head(session: Session, key: bytes, chain_id: str) -> ChainHead | None:
    """The stored head of ``chain_id`` (None for a new chain); refuses a tampered head."""
    row = session.get(AuditChain, chain_id)
    if row is None:
        return None
    if not head_is_authentic(key, row):
        raise AuditIntegrityError(
            f"the head of audit chain {chain_id} fails its MAC; run `cems audit verify`"
        )
    return ChainHead(chain_id, row.started_at, row.last_seq, row.last_hash)


def _anchors(session: Session, key: bytes, chain_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        sa.select(AuditChain)
        .where(AuditChain.chain_id != chain_id)
        .order_by(AuditChain.started_at.desc(), AuditChain.chain_id)
        .limit(ANCHOR_LIMIT)
    ).all()
    return [
        {"chain_id": r.chain_id, "seq": r.last_seq, "hash": r.last_hash}
        for r in rows
        if head_is_authentic(key, r)
    ]


_ENTRIES = cast(sa.Table, AuditEntry.__table__)
_INSERT = sa.insert(_ENTRIES)
_CHAINS = cast(sa.Table, AuditChain.__table__)
# Moves a chain's head only from where this writer left it (built once: it runs per batch).
_MOVE_HEAD = (
    sa.update(_CHAINS)
    .where(
        _CHAINS.c.chain_id == sa.bindparam("head_chain_id"),
        _CHAINS.c.last_seq == sa.bindparam("head_seq"),
        _CHAINS.c.last_hash == sa.bindparam("head_hash"),
    )
    .values(
        last_seq=sa.bindparam("seq"),
        last_hash=sa.bindparam("hash"),
        updated_at=sa.bindparam("now", type_=_CHAINS.c.updated_at.type),
        head_mac=sa.bindparam("mac"),
    )
)


def write_entries(
    session: Session,
    *,
    key: bytes,
    chain_id: str,
    head: ChainHead | None,
    events: Sequence[AuditEvent],
    now: datetime,
) -> tuple[list[StoredEntry], ChainHead]:
    """Insert ``events`` after ``head`` (None: start the chain) and move the head row.

    Runs inside the caller's transaction; the entries come back as values (their ``id`` is
    not read back).
    """
    now = now.astimezone(UTC)
    pending = list(events)
    if head is None:
        start = AuditEvent(
            action=CHAIN_STARTED,
            resource="audit_chain",
            detail={
                "anchors": _anchors(session, key, chain_id),
                "host": socket.gethostname(),
                "pid": os.getpid(),
            },
        )
        pending.insert(0, start)
        seq, prev, started_at = 0, genesis_hash(key, chain_id), now
    else:
        seq, prev, started_at = head.seq, head.hash, head.started_at
    entries: list[StoredEntry] = []
    for event in pending:
        seq += 1
        # The chain-start entry is written by the log, never by a caller: masking "card
        # numbers" in it would mangle the anchors' chain ids and hashes.
        own = head is None and seq == 1
        entry = _new_entry(key, chain_id, seq, prev, now, event, own=own)
        entries.append(entry)
        prev = entry.entry_hash
    # The INSERT comes first: it takes SQLite's write lock, then the head moves. One short
    # statement for all the rows (executemany: psycopg parses it once), not the ORM's
    # multi-row VALUES, whose text grows with the batch and is parsed again on every call.
    # Nothing reads an entry's ``id`` back: a chain is ordered by ``seq``.
    session.connection().execute(_INSERT, [entry.row() for entry in entries])
    mac = head_mac(key, chain_id, started_at, seq, prev, now)
    if head is None:
        session.add(
            AuditChain(
                chain_id=chain_id,
                started_at=started_at,
                last_seq=seq,
                last_hash=prev,
                updated_at=now,
                head_mac=mac,
            )
        )
        session.flush()
    else:
        result = cast(
            CursorResult[Any],
            session.connection().execute(
                _MOVE_HEAD,
                {
                    "head_chain_id": chain_id,
                    "head_seq": head.seq,
                    "head_hash": head.hash,
                    "seq": seq,
                    "hash": prev,
                    "now": now,
                    "mac": mac,
                },
            ),
        )
        if result.rowcount != 1:
            raise AuditIntegrityError(
                f"the head of audit chain {chain_id} moved under this writer (a second writer "
                "on the same chain?)"
            )
    return entries, ChainHead(chain_id, started_at, seq, prev)


def new_chain_id() -> str:
    """A fresh chain id (one per writer process), never masked as a card number."""
    return opaque_id()


class AuditLog:
    """The audit log of one process: appends go to its own chain, in order, group-committed.

    Appends that arrive while a transaction is being written wait and are then written
    together, in arrival order, in the next transaction (at most ``MAX_BATCH`` entries):
    one commit, so one WAL flush, for many requests. Each :meth:`append` still returns only
    once the transaction holding its entry has committed, so a response is never sent
    before its audit entry is durable. A failed batch is retried one entry per transaction,
    so one bad event cannot fail the appends that happened to share its transaction.
    """

    MAX_BATCH = 256

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        key: bytes,
        clock: Clock,
        chain_id: str | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._key = key
        self._clock = clock
        self.chain_id = chain_id or new_chain_id()
        self._head: ChainHead | None = None
        self._head_known = False
        self._pending: list[tuple[AuditEvent, asyncio.Future[StoredEntry]]] = []
        self._writer: asyncio.Task[None] | None = None

    @property
    def head(self) -> ChainHead | None:
        """The last committed head of this chain as this process knows it."""
        return self._head

    async def append(self, event: AuditEvent) -> StoredEntry:
        """Append ``event``; returns the stored entry once its transaction has committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[StoredEntry] = loop.create_future()
        self._pending.append((event, future))
        writer = self._writer
        if writer is None or writer.done() or writer.get_loop() is not loop:
            self._writer = loop.create_task(self._drain())
        # Shielded: a caller that goes away does not cancel the transaction of the others.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        """Write the pending appends, a batch per transaction, until none are left."""
        while self._pending:
            batch = self._pending[: self.MAX_BATCH]
            del self._pending[: self.MAX_BATCH]
            try:
                await self._commit(batch)
            except asyncio.CancelledError:
                for _, future in batch:
                    future.cancel()
                for _, future in self._pending:
                    future.cancel()
                self._pending.clear()
                raise
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][1], exc)
                    continue
                for item in batch:  # find the culprit: each on its own
                    try:
                        await self._commit([item])
                    except asyncio.CancelledError:
                        raise
                    except Exception as single:
                        _settle(item[1], single)

    async def _commit(self, batch: list[tuple[AuditEvent, asyncio.Future[StoredEntry]]]) -> None:
        events = [event for event, _ in batch]
        try:
            try:
                entries, head = await self._transaction(events, first_attempt=True)
            except _DeadBeforeCommitError:
                # The connection was found dead before the commit (the database restarted or
                # failed over), so nothing was written; the pool reconnects for the retry.
                self._head, self._head_known = None, False
                entries, head = await self._transaction(events, first_attempt=False)
        except BaseException:
            # The outcome of a failed commit is unknown: re-read the head next time.
            self._head, self._head_known = None, False
            raise
        self._head, self._head_known = head, True
        for (_, future), entry in zip(batch, entries[-len(batch) :], strict=True):
            _settle(future, entry)

    async def _transaction(
        self, events: list[AuditEvent], *, first_attempt: bool
    ) -> tuple[list[StoredEntry], ChainHead]:
        async with self._sessionmaker() as session, session.begin():
            try:
                return await session.run_sync(self._write, events)
            except DBAPIError as exc:
                if first_attempt and exc.connection_invalidated:
                    raise _DeadBeforeCommitError from exc
                raise

    def _write(
        self, session: Session, events: list[AuditEvent]
    ) -> tuple[list[StoredEntry], ChainHead]:
        head = self._head if self._head_known else load_head(session, self._key, self.chain_id)
        return write_entries(
            session,
            key=self._key,
            chain_id=self.chain_id,
            head=head,
            events=events,
            now=self._clock.now(),
        )


def _settle(future: asyncio.Future[StoredEntry], outcome: StoredEntry | Exception) -> None:
    if future.done():  # its caller went away (cancelled): nothing to tell
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def append_sync(
    engine: sa.Engine,
    event: AuditEvent,
    *,
    key: bytes,
    clock: Clock,
    chain_id: str | None = None,
) -> StoredEntry:
    """Append one event from synchronous code (the CLI, jobs): a new chain unless given one."""
    chain_id = chain_id or new_chain_id()
    with Session(engine) as session, session.begin():
        head = load_head(session, key, chain_id)
        entries, _ = write_entries(
            session, key=key, chain_id=chain_id, head=head, events=[event], now=clock.now()
        )
    return entries[-1]
