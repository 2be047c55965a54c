"""``cems audit verify``: recompute every chain and name each edited, inserted or deleted entry.

An entry whose HMAC checks out is authentic: only the key holder could have written it, and
its ``seq`` and ``prev_hash`` are part of what the HMAC covers. So an authentic entry vouches
for its predecessor's hash, the MACed head row for the last entry's, and each chain's first
entry for the heads of the chains started before it. The chain's *authentic end* is the
highest seq anything authentic vouches for. Rows that fail their HMAC are classified by
where they sit and what vouches for them:

* **edited**: a row failing its HMAC at a seq within the authentic end, when the hash
  vouched for that seq is its stored ``entry_hash`` (content changed in place) or the HMAC of
  its content (only the stored hash changed), or when nothing vouches for that seq (its
  successor is gone too). A head or checkpoint row failing its MAC, and two authentic
  entries that do not link (a fork), are reported as edited as well.
* **deleted** + **inserted**: a row failing its HMAC at a seq within the authentic end that
  nothing authentic links to: the original was deleted and a forgery put in its place.
* **inserted**: a row failing its HMAC beyond the authentic end, in a chain nothing
  authentic knows of, as a second row for a seq, or inside the archived prefix.
* **deleted**: seqs missing between the chain's first entry (or its archive checkpoint) and
  a later present entry; a chain another chain's first entry records of which nothing is
  left; a chain with entries but no head row.
* **truncated**: seqs missing at the end, up to the authentic end (the head row, or another
  chain's record of it, says the chain reached them).

Reads happen in one snapshot (REPEATABLE READ on PostgreSQL, one read transaction on SQLite),
so appends and archiving going on meanwhile never look like tampering.

Limits: someone who can write the database and kept an old copy of a head row can rewind it
and delete the tail after it; and the newest chains, not yet recorded by a later chain's
first entry, can be deleted together with their head rows. Copying ``--json`` reports (or
the head rows) somewhere the database's writers cannot reach closes both. The archive check
(``--include-archive``) reads the Delta table into memory.
"""

from __future__ import annotations

import hmac
import itertools
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import sqlalchemy as sa

from api.audit.keys import AuditKeyError
from api.audit.log import (
    CHAIN_STARTED,
    HASHED_COLUMNS,
    checkpoint_mac,
    entry_hash,
    genesis_hash,
    head_is_authentic,
)
from api.audit.models import AuditArchiveCheckpoint, AuditChain, AuditEntry
from api.core.masking import PAN_MASK
from data_contracts.settings import Settings

FindingKind = Literal["edited", "inserted", "deleted", "truncated"]
Location = Literal["database", "archive"]


@dataclass(frozen=True)
class Finding:
    """One sign of tampering, in one sentence."""

    kind: FindingKind
    chain_id: str
    first_seq: int | None
    last_seq: int | None
    entry_id: int | None
    message: str
    location: Location = "database"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VerifyReport:
    """What verification checked and found."""

    chains_checked: int
    entries_checked: int
    findings: tuple[Finding, ...]
    archived_entries_checked: int | None = None  # None: the archive was not checked

    @property
    def ok(self) -> bool:
        return not self.findings

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for finding in self.findings:
            counts[finding.kind] += 1
        return dict(counts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "chains_checked": self.chains_checked,
            "entries_checked": self.entries_checked,
            "archived_entries_checked": self.archived_entries_checked,
            "findings": [f.to_dict() for f in self.findings],
        }


# --- one chain ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    id: int | None
    seq: int
    prev_hash: str
    entry_hash: str
    recomputed: str | None  # the HMAC of its stored content (None: the row is mangled)

    @property
    def valid(self) -> bool:
        return self.recomputed is not None and hmac.compare_digest(self.recomputed, self.entry_hash)


@dataclass(frozen=True)
class _Expect:
    """An authentic record that the chain reached ``seq`` with ``hash`` there."""

    seq: int
    hash: str
    source: str


@dataclass
class _Pending:
    row: _Row
    vouched: set[str]  # the hash authentic records (successor, head) give for this seq


def _span(first: int, last: int) -> str:
    return f"entry {first}" if first == last else f"entries {first}–{last}"


@dataclass
class _ChainWalk:
    """Walks one chain's rows in seq order and classifies what does not add up."""

    chain_id: str
    start_seq: int
    start_prev: str
    start_source: str
    expects: list[_Expect]
    location: Location
    findings: list[Finding] = field(default_factory=list)
    rows: int = 0
    _next: int = 0
    _prev: _Row | None = None
    _max_valid: int = 0
    _pending: list[_Pending] = field(default_factory=list)
    _gaps: list[tuple[int, int]] = field(default_factory=list)
    _by_seq: dict[int, list[_Expect]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._next = self.start_seq
        self._max_valid = self.start_seq - 1
        for expect in self.expects:
            if expect.seq >= self.start_seq:
                self._by_seq.setdefault(expect.seq, []).append(expect)

    def _add(
        self,
        kind: FindingKind,
        message: str,
        first: int | None,
        last: int | None,
        row_id: int | None,
    ) -> None:
        self.findings.append(
            Finding(kind, self.chain_id, first, last, row_id, message, self.location)
        )

    def feed(self, group: list[_Row]) -> None:
        """The rows of one seq (normally exactly one), in seq order."""
        self.rows += len(group)
        seq = group[0].seq
        where = f"chain {self.chain_id}"
        if seq < self.start_seq:
            for row in group:
                if not row.valid:
                    self._add(
                        "inserted",
                        f"Entry {seq} (id {row.id}) of {where} fails its hash and sits before "
                        f"the chain's first checked entry {self.start_seq}: it was inserted.",
                        seq,
                        seq,
                        row.id,
                    )
            return
        previous = self._prev if seq == self._next else None
        if seq > self._next:
            self._gaps.append((self._next, seq - 1))
        valid = [r for r in group if r.valid]
        rep = valid[0] if valid else group[0]
        for extra in group:
            if extra is not rep:
                self._add(
                    "inserted",
                    f"Entry {seq} of {where} appears twice; the row with id {extra.id} was "
                    "inserted.",
                    seq,
                    seq,
                    extra.id,
                )
        expects = self._by_seq.get(seq, [])
        if rep.valid:
            for expect in expects:
                if rep.entry_hash != expect.hash:
                    self._add(
                        "edited",
                        f"Entry {seq} (id {rep.id}) of {where} is not the one {expect.source} "
                        "recorded: the chain was forked or rewritten.",
                        seq,
                        seq,
                        rep.id,
                    )
            if seq == self.start_seq:
                if rep.prev_hash != self.start_prev:
                    self._add(
                        "edited",
                        f"Entry {seq} (id {rep.id}) of {where} does not follow "
                        f"{self.start_source}.",
                        seq,
                        seq,
                        rep.id,
                    )
            elif previous is not None:
                if previous.valid and rep.prev_hash != previous.entry_hash:
                    self._add(
                        "edited",
                        f"Entries {seq - 1} and {seq} of {where} do not link although both "
                        "pass their hash: the chain was forked.",
                        seq - 1,
                        seq,
                        rep.id,
                    )
                elif not previous.valid:
                    self._pending[-1].vouched.add(rep.prev_hash)
            self._max_valid = seq
        else:
            self._pending.append(_Pending(rep, {e.hash for e in expects}))
        self._prev = rep
        self._next = seq + 1

    @property
    def has_authentic_rows(self) -> bool:
        return self._max_valid >= self.start_seq

    def finish(self, *, head_known: bool) -> list[Finding]:
        """Classify what was held back now that the chain's authentic end is known."""
        where = f"chain {self.chain_id}"
        end = max([self._max_valid, *(e.seq for e in self.expects)])
        present = [p.row.seq for p in self._pending if p.row.seq <= end]
        last_present = max([self._max_valid, *present])
        if not self.rows and not head_known and end >= self.start_seq:
            sources = sorted({e.source for e in self.expects})
            self._add(
                "deleted",
                f"Chain {self.chain_id}, which {' and '.join(sources)} recorded at entry {end}, "
                f"is gone: its entries {self.start_seq}–{end} and head row were deleted.",
                self.start_seq,
                end,
                None,
            )
            return self.findings
        for pending in self._pending:
            row, vouched = pending.row, pending.vouched
            if row.seq <= end:
                if not vouched or row.entry_hash in vouched or row.recomputed in vouched:
                    how = (
                        "its stored hash was overwritten"
                        if row.recomputed in vouched
                        else "its content was changed after it was written"
                        if row.entry_hash in vouched
                        else "it was edited"
                    )
                    self._add(
                        "edited",
                        f"Entry {row.seq} (id {row.id}) of {where} fails its hash: {how}.",
                        row.seq,
                        row.seq,
                        row.id,
                    )
                else:  # nothing authentic links to it: the original was swapped for a forgery
                    self._add(
                        "deleted",
                        f"Entry {row.seq} of {where} was deleted and a forged row (id {row.id}) "
                        "put in its place.",
                        row.seq,
                        row.seq,
                        None,
                    )
                    self._add(
                        "inserted",
                        f"Entry {row.seq} (id {row.id}) of {where} fails its hash and nothing "
                        "in the chain links to it: it was inserted in place of the original.",
                        row.seq,
                        row.seq,
                        row.id,
                    )
            else:
                self._add(
                    "inserted",
                    f"Entry {row.seq} (id {row.id}) of {where} fails its hash and lies beyond "
                    f"the chain's authentic end (entry {end}): it was inserted.",
                    row.seq,
                    row.seq,
                    row.id,
                )
        vouchers = sorted({e.source for e in self.expects if e.seq == end})
        reached = (
            f"{' and '.join(vouchers)} {'records' if len(vouchers) == 1 else 'record'} entry {end}"
            if vouchers
            else f"entry {end} is known"
        )
        missing = [*self._gaps]
        if self._next <= end:
            missing.append((self._next, end))
        for first, last in missing:
            last = min(last, end)
            if first > last:
                continue
            if first > last_present:
                self._add(
                    "truncated",
                    f"The end of {where} is missing: {_span(first, last)} "
                    f"{'was' if first == last else 'were'} deleted ({reached}).",
                    first,
                    last,
                    None,
                )
            else:
                self._add(
                    "deleted",
                    f"{_span(first, last).capitalize()} of {where} "
                    f"{'is' if first == last else 'are'} missing: deleted.",
                    first,
                    last,
                    None,
                )
        return self.findings


def _recompute(key: bytes, mapping: Mapping[Any, Any]) -> str | None:
    try:
        values = {name: mapping[name] for name in HASHED_COLUMNS}
        return entry_hash(key, str(mapping["prev_hash"]), values)
    except (KeyError, TypeError, ValueError, AttributeError):  # a mangled row never verifies
        return None


def _hash_ok(key: bytes, mapping: Mapping[Any, Any]) -> bool:
    recomputed = _recompute(key, mapping)
    return recomputed is not None and hmac.compare_digest(recomputed, str(mapping["entry_hash"]))


def _row(key: bytes, mapping: Mapping[Any, Any]) -> _Row:
    return _Row(
        id=mapping.get("id"),
        seq=int(mapping["seq"]),
        prev_hash=str(mapping["prev_hash"]),
        entry_hash=str(mapping["entry_hash"]),
        recomputed=_recompute(key, mapping),
    )


# --- the database ------------------------------------------------------------------------------


@contextmanager
def _snapshot(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection whose reads all see one moment (appends and archiving go on meanwhile)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        ) as conn:
            yield conn
        return
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")  # pysqlite would otherwise not open a transaction
        yield conn


def _anchors(conn: sa.Connection, key: bytes) -> dict[str, list[_Expect]]:
    """What each authentic chain-start entry recorded about the chains before it."""
    expects: dict[str, list[_Expect]] = defaultdict(list)
    rows = conn.execute(
        sa.select(AuditEntry.__table__).where(
            AuditEntry.action == CHAIN_STARTED, AuditEntry.seq == 1
        )
    )
    for row in rows:
        mapping = row._mapping
        if not _hash_ok(key, mapping):
            continue
        if mapping["prev_hash"] != genesis_hash(key, mapping["chain_id"]):
            continue
        try:
            anchors = json.loads(mapping["detail"] or "{}").get("anchors", [])
        except (ValueError, AttributeError):
            continue
        for anchor in anchors:
            if PAN_MASK in str(anchor["chain_id"]) or PAN_MASK in str(anchor["hash"]):
                # Written before chain-start entries were exempt from card-number masking:
                # this anchor's id or hash was mangled, so it cannot vouch for anything.
                continue
            expects[str(anchor["chain_id"])].append(
                _Expect(
                    int(anchor["seq"]),
                    str(anchor["hash"]),
                    f"the first entry of chain {mapping['chain_id']}",
                )
            )
    return expects


def _group(
    rows: Iterable[Mapping[Any, Any]], key: bytes
) -> Iterator[tuple[str, Iterator[list[_Row]]]]:
    """Rows ordered by (chain_id, seq), lazily, as (chain_id, rows of each seq in turn).

    Each chain's groups must be consumed before asking for the next chain (streaming).
    """
    for chain_id, chain_rows in itertools.groupby(rows, key=lambda r: str(r["chain_id"])):
        yield (
            chain_id,
            (
                [_row(key, r) for r in same]
                for _, same in itertools.groupby(chain_rows, key=lambda r: int(r["seq"]))
            ),
        )


def _verify_database(
    conn: sa.Connection, key: bytes
) -> tuple[list[Finding], int, int, dict[str, Any]]:
    checkpoints = {r.chain_id: r for r in conn.execute(sa.select(AuditArchiveCheckpoint.__table__))}
    heads = {r.chain_id: r for r in conn.execute(sa.select(AuditChain.__table__))}
    anchors = _anchors(conn, key)
    findings: list[Finding] = []
    trusted_heads: dict[str, bool] = {}
    for chain_id, head in heads.items():
        trusted_heads[chain_id] = head_is_authentic(key, head)
        if not trusted_heads[chain_id]:
            findings.append(
                Finding(
                    "edited",
                    chain_id,
                    None,
                    None,
                    None,
                    f"The head row of chain {chain_id} fails its MAC: it was edited.",
                )
            )
    for chain_id, cp in checkpoints.items():
        expected = checkpoint_mac(
            key, chain_id, cp.archived_through_seq, cp.archived_through_hash, cp.archived_at
        )
        if not hmac.compare_digest(expected, cp.checkpoint_mac):
            findings.append(
                Finding(
                    "edited",
                    chain_id,
                    cp.archived_through_seq,
                    cp.archived_through_seq,
                    None,
                    f"The archive checkpoint of chain {chain_id} fails its MAC: it was edited "
                    "(perhaps to hide deleted entries).",
                )
            )

    def walk(chain_id: str) -> _ChainWalk:
        expects = list(anchors.get(chain_id, []))
        head = heads.get(chain_id)
        if head is not None and trusted_heads[chain_id]:
            expects.append(_Expect(head.last_seq, head.last_hash, "its head row"))
        cp = checkpoints.get(chain_id)
        if cp is not None:
            return _ChainWalk(
                chain_id,
                cp.archived_through_seq + 1,
                cp.archived_through_hash,
                f"the archived entry {cp.archived_through_seq}",
                expects,
                "database",
            )
        return _ChainWalk(
            chain_id, 1, genesis_hash(key, chain_id), "the chain's genesis", expects, "database"
        )

    def close(w: _ChainWalk) -> None:
        chain_id = w.chain_id
        findings.extend(w.finish(head_known=chain_id in heads or chain_id in checkpoints))
        gone = not w.rows and chain_id not in checkpoints  # reported by finish() already
        evidence = w.has_authentic_rows or chain_id in checkpoints or chain_id in anchors
        if chain_id not in heads and not gone and evidence:
            findings.append(
                Finding(
                    "deleted",
                    w.chain_id,
                    None,
                    None,
                    None,
                    f"The head row of chain {w.chain_id} is missing: it was deleted, so the "
                    "end of this chain cannot be checked.",
                )
            )

    seen: set[str] = set()
    entries = 0
    stream = conn.execution_options(yield_per=5000).execute(
        sa.select(AuditEntry.__table__).order_by(AuditEntry.chain_id, AuditEntry.seq, AuditEntry.id)
    )
    for chain_id, groups in _group((r._mapping for r in stream), key):
        w = walk(chain_id)
        for group in groups:
            w.feed(group)
        entries += w.rows
        seen.add(chain_id)
        close(w)
    for chain_id in sorted((set(heads) | set(checkpoints) | set(anchors)) - seen):
        close(walk(chain_id))
    chains = len(seen | set(heads) | set(checkpoints) | set(anchors))
    return findings, chains, entries, checkpoints


# --- the archive -------------------------------------------------------------------------------


def _verify_archive(
    path: str, key: bytes, checkpoints: Mapping[str, Any]
) -> tuple[list[Finding], int]:
    """Recompute the archived prefix of every chain up to its checkpoint."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        table = DeltaTable(path).to_pyarrow_table()
    except TableNotFoundError:
        table = None
    rows: list[dict[str, Any]] = []
    if table is not None and table.num_rows:
        rows = table.sort_by([("chain_id", "ascending"), ("seq", "ascending")]).to_pylist()
    findings: list[Finding] = []
    seen: set[str] = set()

    def walk(chain_id: str) -> _ChainWalk:
        cp = checkpoints.get(chain_id)
        expects = (
            [_Expect(cp.archived_through_seq, cp.archived_through_hash, "its archive checkpoint")]
            if cp is not None
            else []
        )
        return _ChainWalk(
            chain_id, 1, genesis_hash(key, chain_id), "the chain's genesis", expects, "archive"
        )

    for chain_id, groups in _group(rows, key):
        w = walk(chain_id)
        for group in groups:
            w.feed(group)
        findings.extend(w.finish(head_known=True))
        seen.add(chain_id)
    for chain_id in sorted(set(checkpoints) - seen):
        findings.extend(walk(chain_id).finish(head_known=True))
    return findings, len(rows)


def verify(
    source: Settings | sa.Engine,
    key: bytes | None,
    *,
    include_archive: bool = False,
    archive_path: str | None = None,
) -> VerifyReport:
    """Recompute every chain of the audit log (and, if asked, its Delta archive).

    ``key`` may be None only while the log is empty (a fresh install has no key yet).
    """
    from api.audit.retention import archive_table_path
    from api.db.engine import sync_engine

    if isinstance(source, Settings):
        engine = sync_engine(source)
        archive_path = archive_path or archive_table_path(source)
        owned = True
    else:
        engine, owned = source, False
    if include_archive and archive_path is None:
        raise ValueError("verifying the archive needs its path (or settings)")
    try:
        with _snapshot(engine) as conn:
            if key is None:
                has_chain = conn.execute(sa.select(AuditChain.chain_id).limit(1)).first()
                has_entry = conn.execute(sa.select(AuditEntry.id).limit(1)).first()
                if has_chain is not None or has_entry is not None:
                    raise AuditKeyError("the audit log has entries but its key is missing")
                return VerifyReport(0, 0, (), 0 if include_archive else None)
            findings, chains, entries, checkpoints = _verify_database(conn, key)
    finally:
        if owned:
            engine.dispose()
    archived: int | None = None
    if include_archive and archive_path is not None:
        archive_findings, archived = _verify_archive(archive_path, key, checkpoints)
        findings.extend(archive_findings)
    return VerifyReport(chains, entries, tuple(findings), archived)
