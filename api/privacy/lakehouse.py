"""One customer's rows in every Delta table of the lakehouse: find them, read them, erase them.

**Tables.** Every Delta table under the lakehouse root (bronze, silver, quarantine, gold,
gold/ml, and any added later) is found by walking the folders; only ``audit/`` (the audit
log's archive, which keeps the fact of each access and erasure) is left out on purpose.
delta-rs reads and deletes; the API never starts Spark.

**Which rows are the customer's.** A table is linked to customers through the string key
columns it has, in this order: ``customer_id``, ``account_id``, ``subscription_id``,
``invoice_id``, ``ticket_id``, ``payment_id``. A row is the customer's when its first
non-null key holds one of the customer's keys: silver invoices have no ``customer_id``, so
their ``account_id`` decides; usage rows have only a ``subscription_id``; ticket status
changes only a ``ticket_id``. The keys start with the customer id; every row found adds its
other keys (the customer's accounts, then their subscriptions, invoices, tickets...) until
nothing new turns up (:func:`discover`). Raw text as received (quarantine ``raw_payload``,
bronze ``_corrupt_record``) is the customer's when it mentions any of the keys, and a
quarantined JSON row adds its keys the same way, so usage held back behind a quarantined
subscription is found too.

Export and erasure use the same SQL predicate (:func:`predicate`, DataFusion through
delta-rs), so an erasure removes exactly the rows an export shows.

**Time travel.** ``DeltaTable.delete`` only writes new files without the rows; the old
files stay for time travel, and the Delta log keeps column statistics (minimum and maximum
values: names, e-mail addresses) and the delete predicate. :func:`erase_table` therefore
vacuums with zero retention (only files the log has removed: a concurrent writer's new
files are not touched), writes a checkpoint at the latest version, and deletes every log
file and checkpoint before it, in every table linked to customers. Older versions can then
no longer be loaded at all, and no file of the table holds the customer's values.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.fs as pafs
from deltalake import DeltaTable, QueryBuilder

from data_contracts.settings import Settings

# The columns that tie a row to a customer, parent first.
KEY_COLUMNS = (
    "customer_id",
    "account_id",
    "subscription_id",
    "invoice_id",
    "ticket_id",
    "payment_id",
)
# Raw text as received: searched for any mention of the customer's keys.
TEXT_COLUMNS = ("raw_payload", "_corrupt_record")
# Top-level folders left alone, and why.
KEPT = {
    "audit": "lakehouse/audit (the audit log's archive) keeps the fact of each access and "
    "erasure; it is kept for the audit retention period by law"
}
MAX_DEPTH = 4  # bronze/<source>/<entity> is three deep
_VERSIONED_LOG_FILE = re.compile(r"^\.?(\d{20})\.")
_VACUUM_TRIES = 3


class Keys:
    """The customer's keys by column: the customer id, then what its rows lead to."""

    def __init__(self, customer_id: str) -> None:
        self.customer_id = customer_id
        self.matched = False  # whether any row of any table was the customer's
        self.by_column: dict[str, set[str]] = {c: set() for c in KEY_COLUMNS}
        self.by_column["customer_id"].add(customer_id)

    def add(self, column: str, value: str) -> bool:
        """Add one key; True when it is new."""
        known = self.by_column[column]
        if value in known:
            return False
        known.add(value)
        return True

    def values(self) -> list[str]:
        return sorted({v for values in self.by_column.values() for v in values})

    def pairs(self) -> list[tuple[str, str]]:
        return sorted((c, v) for c, values in self.by_column.items() for v in values)

    def to_dict(self) -> dict[str, list[str]]:
        return {c: sorted(values) for c, values in self.by_column.items() if values}

    def absorb(self, record: Mapping[str, Any]) -> bool:
        """If ``record``'s first key is one of ours, add its other keys; True if any is new."""
        present = [(c, record[c]) for c in KEY_COLUMNS if isinstance(record.get(c), str)]
        present = [(c, v) for c, v in present if v]
        if not present or present[0][1] not in self.by_column[present[0][0]]:
            return False
        new = [self.add(c, v) for c, v in present]
        return any(new)


@dataclass(frozen=True)
class LakeTable:
    """A Delta table of the lakehouse and the columns that link it to customers."""

    name: str  # relative to the lakehouse root, e.g. "silver/crm/customers"
    uri: str
    key_columns: tuple[str, ...]
    text_columns: tuple[str, ...]

    @property
    def linked(self) -> bool:
        return bool(self.key_columns or self.text_columns)

    @property
    def matched_by(self) -> str:
        """How rows are matched, in words (for the export's manifest)."""
        parts = []
        if self.key_columns:
            parts.append(", else ".join(self.key_columns))
        if self.text_columns:
            parts.append("mentions in " + ", ".join(self.text_columns))
        return "; ".join(parts) or "no customer key (holds no customer's data)"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def predicate(key_columns: Iterable[str], text_columns: Iterable[str], keys: Keys) -> str | None:
    """The SQL condition (DataFusion and DuckDB alike) selecting the customer's rows.

    ``None`` when the table cannot hold any of them (no key column has a known key).
    """
    terms: list[str] = []
    earlier: list[str] = []
    for column in key_columns:
        values = sorted(keys.by_column[column])
        if values:
            test = f'"{column}" IN ({", ".join(_literal(v) for v in values)})'
            terms.append(" AND ".join([*earlier, test]))
        earlier.append(f'"{column}" IS NULL')
    for column in text_columns:
        terms += [f'"{column}" LIKE {_literal("%" + v + "%")}' for v in keys.values()]
    return " OR ".join(f"({t})" for t in terms) if terms else None


# ------------------------------------------------------------------ finding the tables


def _location(root: str) -> str:
    """A location delta-rs and pyarrow understand (Hadoop's s3a:// is s3:// to them)."""
    if root.startswith("s3a://"):
        return "s3://" + root.removeprefix("s3a://")
    if "://" not in root:
        return str(Path(root).resolve())
    return root


def _filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    if "://" not in location:
        return pafs.LocalFileSystem(), location
    fs, path = pafs.FileSystem.from_uri(location)
    return fs, str(path)


def _is_text(field: pa.Field) -> bool:
    kind = field.type
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind)) or bool(
        pa.types.is_string_view(kind)
    )


def describe(name: str, uri: str) -> LakeTable:
    """The table at ``uri`` with its customer-linking columns."""
    schema = pa.schema(DeltaTable(uri).schema().to_arrow())
    text = {f.name for f in schema if _is_text(f)}
    return LakeTable(
        name=name,
        uri=uri,
        key_columns=tuple(c for c in KEY_COLUMNS if c in text),
        text_columns=tuple(c for c in TEXT_COLUMNS if c in text),
    )


def find_tables(settings: Settings) -> list[LakeTable]:
    """Every Delta table under the lakehouse root but the kept ones, sorted by name."""
    root = _location(settings.lakehouse_root.rstrip("/"))
    fs, base = _filesystem(root)
    names: list[str] = []

    def walk(relative: str, depth: int) -> None:
        folder = f"{base}/{relative}" if relative else base
        infos = fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
        for info in sorted(infos, key=lambda i: i.base_name):
            name = info.base_name
            if info.type != pafs.FileType.Directory or name.startswith(("_", ".")):
                continue
            if "=" in name or (not relative and name in KEPT):
                continue  # a partition folder, or the audit archive
            child = f"{relative}/{name}" if relative else name
            if fs.get_file_info(f"{info.path}/_delta_log").type == pafs.FileType.Directory:
                names.append(child)
            elif depth < MAX_DEPTH:
                walk(child, depth + 1)

    walk("", 1)
    return [describe(name, f"{root}/{name}") for name in sorted(names)]


# ------------------------------------------------------------------ reading


def select(table: LakeTable, condition: str, columns: Iterable[str] = ()) -> pa.Table:
    """The rows of ``table`` that meet ``condition`` (all columns unless ``columns``)."""
    wanted = ", ".join(f'"{c}"' for c in columns) or "*"
    query = QueryBuilder().register("t", DeltaTable(table.uri))
    result = query.execute(f"SELECT {wanted} FROM t WHERE {condition}").read_all()
    return pa.table(result)


def _parsed(text: Any) -> dict[str, Any] | None:
    """A raw payload as a JSON object (unwrapping a malformed line's ``{"line": ...}``)."""
    for _ in range(2):
        if not isinstance(text, str):
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return None
        if not isinstance(value, dict):
            return None
        if set(value) != {"line"}:
            return value
        text = value["line"]
    return None


def discover(tables: Iterable[LakeTable], customer_id: str) -> Keys:
    """The customer's keys: their id and every key their rows lead to, until none is new."""
    keys = Keys(customer_id)
    linked = [t for t in tables if t.linked]
    changed = True
    while changed:
        changed = False
        for table in linked:
            condition = predicate(table.key_columns, table.text_columns, keys)
            if condition is None:
                continue
            columns = (*table.key_columns, *table.text_columns)
            for record in select(table, condition, columns).to_pylist():
                keys.matched = True
                changed = keys.absorb(record) or changed
                for column in table.text_columns:
                    payload = _parsed(record.get(column))
                    if payload is not None:
                        changed = keys.absorb(payload) or changed
    return keys


def rows(table: LakeTable, keys: Keys) -> pa.Table | None:
    """The customer's rows in ``table`` (None when it is not linked to customers)."""
    condition = predicate(table.key_columns, table.text_columns, keys)
    return None if condition is None else select(table, condition)


# ------------------------------------------------------------------ erasing


@dataclass(frozen=True)
class TableErasure:
    """What erasing one customer did to one table."""

    table: str
    rows: int
    files_removed: int
    history_purged: bool  # this run dropped the versions before ``version``
    version: int


def _vacuum(uri: str, just_deleted: bool) -> int:
    """Delete every data file the log has removed and that is still there; returns how many.

    The checkpoint keeps removed files' names for a week, so delta-rs lists files long gone
    again: only files that still exist count, and only they make a vacuum worth a commit.
    """
    table = DeltaTable(uri)
    fs, base = _filesystem(uri)

    def pending() -> list[str]:
        listed = table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=True)
        paths = [f"{base}/{unquote(p)}" for p in listed]
        return [p for p, info in zip(paths, fs.get_file_info(paths), strict=True) if info.is_file]

    if just_deleted:
        time.sleep(0.01)  # a file removed this millisecond is not yet older than zero hours
    removed = 0
    for _ in range(_VACUUM_TRIES):
        files = pending()
        if not files:
            break
        table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
        removed += sum(1 for info in fs.get_file_info(files) if not info.is_file)
        time.sleep(0.01)
    return removed


def purge_history(uri: str) -> bool:
    """Checkpoint at the latest version, then delete every log file before it.

    Commits, checksums (``.crc``, Hadoop's ``.*.crc``) and older checkpoints go: they hold
    column statistics and predicates. Returns False (and writes nothing) when the log holds
    no older version.
    """
    table = DeltaTable(uri)
    version = table.version()
    fs, log = _filesystem(f"{uri}/_delta_log")
    older = []
    for info in fs.get_file_info(pafs.FileSelector(log)):
        match = _VERSIONED_LOG_FILE.match(info.base_name)
        if info.type == pafs.FileType.File and match and int(match.group(1)) < version:
            older.append(info.path)
    if not older:
        return False
    table.create_checkpoint()
    for path in older:
        fs.delete_file(path)
    return True


def erase_table(table: LakeTable, keys: Keys) -> TableErasure:
    """Delete the customer's rows, vacuum with zero retention, and drop the older versions.

    Older versions go even where no row was deleted now: an older version (or its log
    statistics) may hold the customer although today's version does not, e.g. last week's
    retention actions.
    """
    delta = DeltaTable(table.uri)
    deleted = 0
    condition = predicate(table.key_columns, table.text_columns, keys)
    if condition is not None:
        metrics = delta.delete(condition)  # commits nothing when no row matches
        deleted = int(metrics.get("num_deleted_rows") or 0)
    removed = _vacuum(table.uri, just_deleted=deleted > 0)
    purged = purge_history(table.uri)
    return TableErasure(table.name, deleted, removed, purged, DeltaTable(table.uri).version())


def erase_order(tables: Iterable[LakeTable]) -> list[LakeTable]:
    """Tables in the order that keeps a retried erasure able to find every key.

    Children go first (tables keyed only by a ticket, invoice, subscription or account), the
    tables that tie a customer to their accounts and subscriptions last: if an erasure stops
    half-way, the next run still discovers every key from what is left.
    """

    def rank(table: LakeTable) -> tuple[int, int, str]:
        first = KEY_COLUMNS.index(table.key_columns[0]) if table.key_columns else len(KEY_COLUMNS)
        return (-first, len(table.key_columns), table.name)

    return sorted((t for t in tables if t.linked), key=rank)
