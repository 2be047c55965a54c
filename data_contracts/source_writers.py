"""Write contract-shaped Arrow tables the way each real source system delivers them.

Used by ``cems generate`` and ``cems import`` alike, so imported and generated data are
indistinguishable downstream: the CRM as an operational database (SQLAlchemy: SQLite by
default, PostgreSQL by URL) plus a CSV export, billing as daily CSV and fixed-width
files, telemetry and interactions as micro-batch files (JSON lines or Parquet).
"""

from __future__ import annotations

import hashlib
import io
import shutil
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import sqlalchemy as sa

from data_contracts.loader import Contract, load_layout
from data_contracts.schemas import arrow_schema

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def conform(table: pa.Table, contract: Contract) -> pa.Table:
    """Cast a table to the contract's Arrow schema (column order and types)."""
    schema = arrow_schema(contract)
    return table.select(schema.names).cast(schema)


def textual(table: pa.Table) -> pa.Table:
    """Timestamps as ISO-8601 UTC strings, so every text format writes them one way."""
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_timestamp(field.type):
            seconds = pc.cast(column, pa.timestamp("s", tz="UTC"), safe=False)
            column = pc.strftime(seconds, format=TIMESTAMP_FORMAT)
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def text_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows exactly as :func:`write_csv` renders them (every value a string or None)."""
    text = textual(table)
    as_strings = pa.table(
        [pc.cast(column, pa.string()) for column in text.columns], names=text.column_names
    )
    rows: list[dict[str, Any]] = as_strings.to_pylist()
    return rows


def json_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows exactly as :func:`write_jsonl` renders them (timestamps as ISO strings)."""
    rows: list[dict[str, Any]] = textual(table).to_pylist()
    return rows


# ---------------------------------------------------------------- files


def write_csv(table: pa.Table, path: Path, extra_lines: Sequence[str] = ()) -> None:
    """CSV with a header row; ``extra_lines`` are appended verbatim (planted bad rows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    pacsv.write_csv(
        textual(table), buffer, pacsv.WriteOptions(quoting_style="needed", delimiter=",")
    )
    with path.open("wb") as handle:
        handle.write(buffer.getvalue())
        for line in extra_lines:
            handle.write(line.encode("utf-8") + b"\n")


def csv_line(values: Sequence[Any], quoted: Sequence[bool]) -> str:
    """One CSV line in the same dialect as :func:`write_csv` (string columns quoted)."""
    out = []
    for value, quote in zip(values, quoted, strict=True):
        if value is None:
            out.append("")
            continue
        text = str(value)
        if quote or any(ch in text for ch in ',"\n'):
            text = '"' + text.replace('"', '""') + '"'
        out.append(text)
    return ",".join(out)


def quoted_columns(table: pa.Table) -> list[bool]:
    """Which columns :func:`write_csv` quotes (the string-typed ones)."""
    return [pa.types.is_string(f.type) or pa.types.is_timestamp(f.type) for f in table.schema]


def write_jsonl(table: pa.Table, path: Path, extra_rows: Sequence[dict[str, Any]] = ()) -> None:
    """JSON lines, one object per row; ``extra_rows`` are appended as given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        for row in json_rows(table):
            handle.write(orjson.dumps(row, default=str) + b"\n")
        for extra in extra_rows:
            handle.write(orjson.dumps(extra, default=str) + b"\n")


def write_parquet(table: pa.Table, path: Path) -> None:
    """A Parquet micro-batch file (snappy, one row group per file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="snappy", row_group_size=max(1, table.num_rows))


class FixedWidthLayout:
    """A legacy fixed-width layout from ``data_contracts/layouts/``."""

    def __init__(self, name: str) -> None:
        spec = load_layout(name)
        self.contract: str = spec["contract"]
        self.record_length: int = int(spec["record_length"])
        self.records: dict[str, dict[str, Any]] = spec["records"]

    def fields(self, record: str) -> list[dict[str, Any]]:
        return list(self.records[record]["fields"])

    def _render(self, record: str, values: dict[str, Any]) -> str:
        line = [" "] * self.record_length
        for field in self.fields(record):
            text = self._format(field, values.get(field["name"]))
            start = int(field["start"]) - 1
            line[start : start + int(field["length"])] = list(text)
        return "".join(line)

    @staticmethod
    def _format(field: dict[str, Any], value: Any) -> str:
        length = int(field["length"])
        if value is None:
            return " " * length
        if isinstance(value, str) and field.get("raw"):
            return value[:length].ljust(length)
        codes: dict[Any, Any] | None = field.get("codes")
        if codes is not None:
            reverse = {v: k for k, v in codes.items()}
            value = reverse.get(value, value)
        if "format" in field and hasattr(value, "strftime"):
            value = value.strftime(field["format"])
        if field.get("numeric"):
            if isinstance(value, str):  # already-encoded (possibly invalid) text
                return value[:length].rjust(length, "0")
            scaled = round(float(value) * 10 ** int(field.get("implied_decimals", 0)))
            return str(int(scaled)).rjust(length, "0")[-length:]
        return str(value)[:length].ljust(length)

    def render_detail(self, row: dict[str, Any]) -> str:
        return self._render("detail", {**row, "record_type": self.records["detail"]["record_type"]})

    def write(
        self,
        table: pa.Table,
        path: Path,
        file_date: date,
        sender_id: str,
        extra_lines: Sequence[str] = (),
    ) -> None:
        """Header, one detail record per row (plus ``extra_lines``), trailer with control totals."""
        path.parent.mkdir(parents=True, exist_ok=True)
        details = [self.render_detail(row) for row in table.to_pylist()] + list(extra_lines)
        amount = next(f for f in self.fields("detail") if f["name"] == "amount")
        lo, hi = int(amount["start"]) - 1, int(amount["start"]) - 1 + int(amount["length"])
        total_cents = sum(int(line[lo:hi]) for line in details if line[lo:hi].isdigit())
        header = self._render(
            "header",
            {
                "record_type": "H",
                "file_date": file_date,
                "sender_id": sender_id,
                "layout_version": "001",
            },
        )
        trailer = self._render(
            "trailer",
            {"record_type": "T", "record_count": len(details), "total_amount_cents": total_cents},
        )
        path.write_text("\n".join([header, *details, trailer]) + "\n", encoding="ascii")


# ---------------------------------------------------------------- CRM database


def _sql_type(physical: str) -> sa.types.TypeEngine[Any]:
    if physical.startswith("decimal"):
        precision, scale = (int(p) for p in physical[8:-1].split(","))
        return sa.Numeric(precision, scale)
    types: dict[str, sa.types.TypeEngine[Any]] = {
        "string": sa.Text(),
        "bigint": sa.BigInteger(),
        "int": sa.Integer(),
        "double": sa.Float(),
        "boolean": sa.Boolean(),
        "date": sa.Date(),
        "timestamp": sa.DateTime(timezone=True),
    }
    return types[physical]


def crm_table(contract: Contract, metadata: sa.MetaData) -> sa.Table:
    """The operational CRM table for a contract, with its primary key and watermark index."""
    columns = [
        sa.Column(
            c.name,
            _sql_type(c.physical_type),
            primary_key=c.is_primary_key,
            nullable=not c.required and not c.is_primary_key,
        )
        for c in contract.columns
    ]
    table = sa.Table(contract.entity, metadata, *columns)
    if "updated_at" in contract.column_names:
        sa.Index(f"ix_{contract.entity}_updated_at", table.c.updated_at)
    return table


def _driver_values(column: pa.ChunkedArray, dialect: str) -> list[Any]:
    """Python values a DB-API driver accepts for this column.

    SQLite has no date/time types: values are stored in SQLAlchemy's own text formats so
    that reading back through SQLAlchemy gives dates and datetimes again.
    """
    kind = column.type
    if dialect == "sqlite":
        if pa.types.is_timestamp(kind):
            column = pc.strftime(column, format="%Y-%m-%d %H:%M:%S")  # keeps .ffffff (us)
        elif pa.types.is_date(kind):
            column = pc.cast(column, pa.string())
        elif pa.types.is_decimal(kind):
            column = pc.cast(column, pa.float64())
    values: list[Any] = column.to_pylist()
    return values


class CrmDatabase:
    """The operator's CRM as a real relational database, one table per CRM contract."""

    def __init__(self, url: str, contracts: Iterable[Contract]) -> None:
        self.url = url
        self.engine = sa.create_engine(url)
        self.metadata = sa.MetaData()
        self.tables = {c.entity: crm_table(c, self.metadata) for c in contracts}

    def close(self) -> None:
        self.engine.dispose()

    def create_missing(self) -> None:
        self.metadata.create_all(self.engine)

    @staticmethod
    def _rows(table: pa.Table) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = table.to_pylist()
        return rows

    def insert(self, connection: sa.Connection, entity: str, table: pa.Table) -> None:
        """Bulk insert through the driver's executemany (no per-row ORM or type processing)."""
        if not table.num_rows:
            return
        target = self.tables[entity]
        dialect = connection.dialect
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        quote = dialect.identifier_preparer.quote
        names = table.column_names
        sql = (
            f"INSERT INTO {quote(target.name)} ({', '.join(quote(n) for n in names)}) "
            f"VALUES ({', '.join([marker] * len(names))})"
        )
        columns = [_driver_values(column, dialect.name) for column in table.columns]
        connection.exec_driver_sql(sql, list(zip(*columns, strict=True)))

    def upsert(self, connection: sa.Connection, entity: str, table: pa.Table) -> None:
        """Insert rows, replacing existing rows with the same primary key."""
        if not table.num_rows:
            return
        target = self.tables[entity]
        keys = [c.name for c in target.primary_key.columns]
        rows = self._rows(table)
        condition = sa.tuple_(*[target.c[k] for k in keys]).in_(
            [tuple(r[k] for k in keys) for r in rows]
        )
        connection.execute(target.delete().where(condition))
        connection.execute(target.insert(), rows)

    def read(self, entity: str) -> list[dict[str, Any]]:
        target = self.tables[entity]
        order = list(target.primary_key.columns)
        with self.engine.connect() as connection:
            return [
                dict(r._mapping) for r in connection.execute(sa.select(target).order_by(*order))
            ]

    def checksum(self) -> str:
        """A content checksum of every CRM table, streamed in primary-key order."""
        digest = hashlib.sha256()
        quote = self.engine.dialect.identifier_preparer.quote
        with self.engine.connect() as connection:
            for entity in sorted(self.tables):
                target = self.tables[entity]
                order = ", ".join(quote(c.name) for c in target.primary_key.columns)
                result = connection.exec_driver_sql(
                    f"SELECT * FROM {quote(target.name)} ORDER BY {order}"
                )
                while batch := result.fetchmany(50_000):
                    digest.update(repr([tuple(row) for row in batch]).encode())
        return digest.hexdigest()


# ---------------------------------------------------------------- atomic output


@contextmanager
def staged_directory(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``final``; on success swap it in, on failure remove it.

    Readers either see the previous complete folder or the new complete one.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".{final.name}.staging-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    retired = final.parent / f".{final.name}.retired-{uuid.uuid4().hex[:8]}"
    if final.exists():
        final.rename(retired)
    staging.rename(final)
    shutil.rmtree(retired, ignore_errors=True)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
