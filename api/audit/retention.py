"""Retention of the audit log: entries older than the retention period move to a Delta table.

Nothing younger than ``audit_retention_years`` (5 at least) can be deleted: :func:`archive`
refuses such a date. Older entries are copied to ``<lakehouse_root>/audit/audit_entries``
(partitioned by year), then, per chain, a MACed checkpoint records the last archived entry
and the archived rows are deleted, in one database transaction; verification starts after
the checkpoint. The copy is an insert-if-absent merge on (chain_id, seq), so a re-run after
a crash between the copy and the delete does not duplicate rows.

Only an intact prefix of each chain is archived: it stops at the first entry that fails its
hash or link, so tampering is never laundered into the archive (the chain is reported as held
back; run ``cems audit verify``).
"""

from __future__ import annotations

import contextlib
import hmac
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult

from api.audit.keys import load_key, load_or_create_key
from api.audit.log import (
    HASHED_COLUMNS,
    AuditEvent,
    Outcome,
    append_sync,
    checkpoint_mac,
    entry_hash,
    entry_values,
    genesis_hash,
)
from api.audit.models import AuditArchiveCheckpoint, AuditChain, AuditEntry
from api.core.clock import Clock
from data_contracts.settings import Settings

ARCHIVE_BATCH = 50_000
ARCHIVE_COLUMNS = ("id", *HASHED_COLUMNS, "prev_hash", "entry_hash")


class RetentionError(ValueError):
    """Archiving would delete entries younger than the retention period."""


class ArchiveConflictError(RuntimeError):
    """Another archive run moved a checkpoint meanwhile, or the rows changed under this one."""


@dataclass(frozen=True)
class HeldBack:
    """A chain whose archiving stopped early because an entry does not verify."""

    chain_id: str
    seq: int
    reason: str


@dataclass(frozen=True)
class ArchiveResult:
    """What one archive run moved."""

    before: datetime
    cutoff: datetime
    table_path: str
    entries_archived: int  # rows moved out of the database
    rows_written: int  # rows added to the Delta table (fewer on a re-run after a crash)
    chains: int
    held_back: tuple[HeldBack, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["before"] = self.before.isoformat()
        data["cutoff"] = self.cutoff.isoformat()
        return data


def archive_table_path(settings: Settings) -> str:
    """The Delta table holding archived audit entries."""
    return f"{settings.lakehouse_root.rstrip('/')}/audit/audit_entries"


def retention_cutoff(now: datetime, years: int) -> datetime:
    """``years`` calendar years before ``now`` (29 February falls back to the 28th)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


def _schema() -> Any:
    import pyarrow as pa

    text = pa.string()
    timestamp = pa.timestamp("us", tz="UTC")
    return pa.schema(
        [
            ("id", pa.int64()),
            ("chain_id", text),
            ("seq", pa.int64()),
            ("occurred_at", timestamp),
            ("actor_id", text),
            ("actor_role", text),
            ("actor_label", text),
            ("action", text),
            ("resource", text),
            ("customer_id", text),
            ("outcome", text),
            ("status_code", pa.int32()),
            ("source_address", text),
            ("request_id", text),
            ("detail", text),
            ("prev_hash", text),
            ("entry_hash", text),
            ("year", pa.int32()),
            ("archived_at", timestamp),
        ]
    )


def _write_delta(path: str, rows: list[dict[str, Any]], archived_at: datetime) -> int:
    """Insert the rows not yet in the archive; returns how many were new."""
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake
    from deltalake.exceptions import TableNotFoundError

    schema = _schema()
    columns: dict[str, list[Any]] = {name: [r[name] for r in rows] for name in ARCHIVE_COLUMNS}
    columns["year"] = [r["occurred_at"].year for r in rows]
    columns["archived_at"] = [archived_at] * len(rows)
    data = pa.Table.from_pydict(columns, schema=schema)
    try:
        table = DeltaTable(path)
    except TableNotFoundError:
        write_deltalake(path, data, mode="append", partition_by=["year"])
        return len(rows)
    metrics = (
        table.merge(
            data,
            predicate="t.year = s.year AND t.chain_id = s.chain_id AND t.seq = s.seq",
            source_alias="s",
            target_alias="t",
        )
        .when_not_matched_insert_all()
        .execute()
    )
    return int(metrics.get("num_target_rows_inserted", 0))


@dataclass
class _Progress:
    chain_id: str
    old_seq: int  # checkpoint before this run (0: none)
    old_exists: bool
    seq: int
    hash: str


def _checkpoint_and_delete(
    engine: sa.Engine, key: bytes, progress: list[_Progress], before: datetime, now: datetime
) -> tuple[int, set[str]]:
    """Move each chain's checkpoint and delete the archived rows, in one transaction."""
    deleted = 0
    moved_chains: set[str] = set()
    with engine.begin() as conn:
        for p in progress:
            if p.seq == p.old_seq:
                continue
            values = {
                "archived_through_seq": p.seq,
                "archived_through_hash": p.hash,
                "archived_at": now,
                "checkpoint_mac": checkpoint_mac(key, p.chain_id, p.seq, p.hash, now),
            }
            if p.old_exists:
                moved = cast(
                    CursorResult[Any],
                    conn.execute(
                        sa.update(AuditArchiveCheckpoint)
                        .where(
                            AuditArchiveCheckpoint.chain_id == p.chain_id,
                            AuditArchiveCheckpoint.archived_through_seq == p.old_seq,
                        )
                        .values(**values)
                    ),
                ).rowcount
                if moved != 1:
                    raise ArchiveConflictError(
                        f"the archive checkpoint of chain {p.chain_id} moved during this run"
                    )
            else:
                conn.execute(
                    sa.insert(AuditArchiveCheckpoint).values(chain_id=p.chain_id, **values)
                )
            result = cast(
                CursorResult[Any],
                conn.execute(
                    sa.delete(AuditEntry).where(
                        AuditEntry.chain_id == p.chain_id,
                        AuditEntry.seq > p.old_seq,
                        AuditEntry.seq <= p.seq,
                        AuditEntry.occurred_at < before,  # never anything younger
                    )
                ),
            )
            if result.rowcount != p.seq - p.old_seq:
                raise ArchiveConflictError(
                    f"chain {p.chain_id} changed while it was archived; nothing was deleted"
                )
            deleted += result.rowcount
            moved_chains.add(p.chain_id)
    for p in progress:  # only once the transaction has committed
        if p.chain_id in moved_chains:
            p.old_seq, p.old_exists = p.seq, True
    return deleted, moved_chains


def _key(settings: Settings, engine: sa.Engine) -> bytes:
    with engine.connect() as conn:
        empty = conn.execute(sa.select(AuditChain.chain_id).limit(1)).first() is None
    return load_or_create_key(settings) if empty else load_key(settings)


def archive(
    settings: Settings,
    *,
    before: datetime,
    clock: Clock,
    key: bytes | None = None,
    actor: str = "system:retention",
    batch_size: int = ARCHIVE_BATCH,
) -> ArchiveResult:
    """Move entries older than ``before`` to the Delta archive; refuse anything too young.

    The run itself is audited (``audit.archive``; ``denied`` when refused).
    """
    from api.db.engine import sync_engine

    if before.tzinfo is None:
        raise ValueError("before must be timezone-aware")
    now = clock.now().astimezone(UTC)
    years = settings.audit_retention_years
    cutoff = retention_cutoff(now, years)
    engine = sync_engine(settings)
    try:
        key = key if key is not None else _key(settings, engine)

        def audit(outcome: Outcome, detail: dict[str, Any]) -> None:
            event = AuditEvent(
                action="audit.archive",
                outcome=outcome,
                resource=archive_table_path(settings),
                actor_label=actor,
                detail={"before": before.isoformat(), **detail},
            )
            append_sync(engine, event, key=key, clock=clock)

        if before > cutoff:
            audit("denied", {"cutoff": cutoff.isoformat()})
            raise RetentionError(
                f"refusing to archive entries up to {before.date()}: audit entries younger "
                f"than {years} years (after {cutoff.date()}) must be kept; choose a date on or "
                f"before {cutoff.date()}"
            )
        try:
            result = _archive(engine, settings, key, before, cutoff, now, batch_size)
        except Exception as exc:
            with contextlib.suppress(Exception):  # the database may be what failed
                audit("failure", {"error": type(exc).__name__})
            raise
        audit(
            "success",
            {
                "entries_archived": result.entries_archived,
                "rows_written": result.rows_written,
                "chains": result.chains,
                "held_back": [h.chain_id for h in result.held_back],
            },
        )
        return result
    finally:
        engine.dispose()


def _archive(
    engine: sa.Engine,
    settings: Settings,
    key: bytes,
    before: datetime,
    cutoff: datetime,
    now: datetime,
    batch_size: int,
) -> ArchiveResult:
    path = archive_table_path(settings)
    with engine.connect() as conn:
        chain_ids = sorted(
            conn.scalars(
                sa.select(AuditEntry.chain_id).where(AuditEntry.occurred_at < before).distinct()
            )
        )
        checkpoints = {
            cp.chain_id: cp
            for cp in conn.execute(sa.select(AuditArchiveCheckpoint.__table__)).all()
        }
    held_back: list[HeldBack] = []
    batch: list[dict[str, Any]] = []
    progress: list[_Progress] = []
    totals = {"archived": 0, "written": 0}
    touched: set[str] = set()

    def flush() -> None:
        if batch:
            totals["written"] += _write_delta(path, batch, now)
            deleted, moved = _checkpoint_and_delete(engine, key, progress, before, now)
            totals["archived"] += deleted
            touched.update(moved)
            batch.clear()

    for chain_id in chain_ids:
        cp = checkpoints.get(chain_id)
        if cp is None:
            p = _Progress(chain_id, 0, False, 0, genesis_hash(key, chain_id))
        else:
            mac = checkpoint_mac(
                key, chain_id, cp.archived_through_seq, cp.archived_through_hash, cp.archived_at
            )
            if not hmac.compare_digest(mac, cp.checkpoint_mac):
                held_back.append(HeldBack(chain_id, cp.archived_through_seq, "checkpoint MAC"))
                continue
            p = _Progress(
                chain_id,
                cp.archived_through_seq,
                True,
                cp.archived_through_seq,
                cp.archived_through_hash,
            )
        progress.append(p)
        problem = _collect(engine, key, p, before, batch, batch_size, flush)
        if problem is not None:
            held_back.append(problem)
    flush()
    return ArchiveResult(
        before=before,
        cutoff=cutoff,
        table_path=path,
        entries_archived=totals["archived"],
        rows_written=totals["written"],
        chains=len(touched),
        held_back=tuple(held_back),
    )


def _collect(
    engine: sa.Engine,
    key: bytes,
    p: _Progress,
    before: datetime,
    batch: list[dict[str, Any]],
    batch_size: int,
    flush: Any,
) -> HeldBack | None:
    """Add the chain's intact prefix older than ``before`` to the batch, page by page."""
    page = max(1, min(batch_size, 5000))
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(AuditEntry.__table__)
                .where(AuditEntry.chain_id == p.chain_id, AuditEntry.seq > p.seq)
                .order_by(AuditEntry.seq)
                .limit(page)
            ).all()
        for row in rows:
            r = row._mapping
            if r["occurred_at"] >= before:
                return None
            if r["seq"] != p.seq + 1:
                return HeldBack(p.chain_id, p.seq + 1, "missing entry")
            recomputed = entry_hash(key, r["prev_hash"], entry_values(row))
            if r["prev_hash"] != p.hash or not hmac.compare_digest(recomputed, r["entry_hash"]):
                return HeldBack(p.chain_id, r["seq"], "entry fails its hash")
            batch.append({name: r[name] for name in ARCHIVE_COLUMNS})
            p.seq, p.hash = r["seq"], r["entry_hash"]
            if len(batch) >= batch_size:
                flush()
        if len(rows) < page:
            return None
