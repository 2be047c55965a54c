"""Landing-zone files that may mention a customer (raw deliveries, kept as received).

Text deliveries (CSV, JSON lines, fixed width) are searched for any of the customer's keys;
Parquet files by their key columns. Neither an export nor an erasure copies or rewrites
them: the export names them, the erasure report lists those still there, for the landing
zone's retention to remove.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from api.privacy.lakehouse import KEY_COLUMNS, Keys

TEXT_SUFFIXES = frozenset({".csv", ".json", ".jsonl", ".dat", ".txt"})


@dataclass(frozen=True)
class LandingFile:
    """A delivered file and how many of its lines (or rows) mention the customer."""

    path: str  # relative to the landing root
    matches: int

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "matches": self.matches}


def _text_matches(path: Path, needles: list[bytes]) -> int:
    found = 0
    with path.open("rb") as handle:
        for line in handle:
            if any(needle in line for needle in needles):
                found += 1
    return found


def _parquet_matches(path: Path, keys: Keys) -> int:
    schema = pq.read_schema(path)
    columns = [c for c in KEY_COLUMNS if c in schema.names]
    if not columns:
        return 0
    table = pq.read_table(path, columns=columns)
    hit = None
    for column in columns:
        test = pc.is_in(table.column(column).cast("string"), value_set=_set(keys, column))
        hit = test if hit is None else pc.or_(hit, test)
    return int(pc.sum(pc.cast(hit, "int64")).as_py() or 0) if hit is not None else 0


def _set(keys: Keys, column: str) -> pa.Array:
    return pa.array(sorted(keys.by_column[column]), type=pa.string())


def mentions(landing_root: Path, keys: Keys) -> list[LandingFile]:
    """Every landing file that mentions one of ``keys``, sorted by path."""
    if not landing_root.is_dir():
        return []
    needles = [v.encode() for v in keys.values()]
    found = []
    for path in sorted(p for p in landing_root.rglob("*") if p.is_file()):
        suffix = path.suffix.lower()
        if suffix in TEXT_SUFFIXES:
            n = _text_matches(path, needles)
        elif suffix == ".parquet":
            n = _parquet_matches(path, keys)
        else:
            continue
        if n:
            found.append(LandingFile(path.relative_to(landing_root).as_posix(), n))
    return found
