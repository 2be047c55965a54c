"""Incremental landing of the operational CRM database (JDBC, read-only) into Delta Lake.

Each CRM table is read by ``updated_at`` window, ``after < updated_at <= until``, with the
filter pushed down to the database (``fetchsize`` 10,000; SQLite opened read-only, PostgreSQL
sessions set read-only). A window of up to 100,000 rows is one read; a larger one is read in
up to four ranges of its key, cut where the database's own order puts a quarter of the rows,
so bronze gets a file per range and every later pass over the batch uses every core.
``after`` is the table's watermark; ``until`` is the table's newest ``updated_at`` when the
batch is planned. Both are recorded as the batch's input (``updated_at in (after, until]``)
in the shared batch log before any data moves.

Crash safety, by where a run stops:

* planned, not completed: the next run resumes that batch with the same bounds. A row
  changed in the CRM meanwhile has a newer ``updated_at``; it moves to the next window,
  so nothing is read twice or lost. Bronze and quarantine appends are keyed by batch.
* silver written, batch not completed: the resumed batch's rows are already in silver
  (MERGE by key, or SCD2 MERGE that finds every version unchanged); they count as
  duplicates, so the reconciliation still balances.
* completed, watermark not recorded: the watermark (``lake.watermarks``, appended once
  per batch) is recorded from the batch log at the start of the next run.

``crm.customers`` and ``crm.subscriptions`` keep history in silver as SCD type 2
(``valid_from``/``valid_to``/``is_current``, MERGE on the current version); the other
tables are merged by key.

Known limits: hard deletes in the CRM are not seen (no ``updated_at`` to read); a row
committed after a later one was read, with an ``updated_at`` at or below the watermark (a
long-running CRM transaction), is missed; a row quarantined only because its parent was
(e.g. the account of a customer with a broken e-mail) is not read again when the parent
is fixed, unless it changes too.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import reduce
from itertools import pairwise
from pathlib import Path

import sqlalchemy as sa
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, DataFrameReader, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from data_contracts.loader import Contract, get_contract
from data_contracts.settings import Settings
from spark_jobs.batches import (
    Batch,
    Reconciliation,
    bronze_batch,
    ingest_columns,
    land,
    plan_batch,
    reference_keys,
)
from spark_jobs.lake import (
    Lake,
    append_once,
    observe,
    observed,
    silver_statistics,
    table_exists,
    with_statistics,
)

# Parents before children, so foreign keys are checked against landed parents.
CRM = ("crm.plans", "crm.customers", "crm.accounts", "crm.subscriptions", "crm.customer_attributes")
SCD2 = frozenset({"crm.customers", "crm.subscriptions"})
WATERMARK_COLUMN = "updated_at"
SCD2_COLUMNS = ("valid_from", "valid_to", "is_current")
LINEAGE_COLUMNS = ("_source_file", "_batch_id", "_ingested_at")
FETCH_SIZE = 10_000
MAX_PARTITIONS = 4
# A text-keyed window of more rows than this is read in key ranges (at most MAX_PARTITIONS),
# so bronze gets a file per range and the checks after it run on every core.
ROWS_PER_READ = 100_000
# Watermarks are UTC timestamps in this one text form: it sorts like time, it is what the
# generator and SQLAlchemy store in SQLite, and it is safe to put in SQL.
WATERMARK_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")
SPARK_WATERMARK_FORMAT = "yyyy-MM-dd HH:mm:ss.SSSSSS"
NO_LOWER_BOUND = "-infinity"

WATERMARK_SCHEMA = T.StructType(
    [
        T.StructField("contract", T.StringType(), False),
        T.StructField("batch_id", T.LongType(), False),
        T.StructField("watermark", T.StringType(), False),
        T.StructField("rows", T.LongType(), False),
        T.StructField("recorded_at", T.TimestampType(), False),
    ]
)


class CrmConnectionError(ValueError):
    """The CRM database URL cannot be read over JDBC."""


# ------------------------------------------------------------------ connection


@dataclass(frozen=True)
class CrmConnection:
    """How Spark reaches the CRM: JDBC URL and driver; credentials only in ``properties``."""

    dialect: str  # sqlite | postgresql
    url: str
    driver: str
    properties: dict[str, str] = field(default_factory=dict, repr=False)

    def literal(self, watermark: str) -> str:
        """A watermark as an SQL literal comparable with the ``updated_at`` column."""
        if not WATERMARK_PATTERN.match(watermark):
            raise ValueError(f"watermark {watermark!r} is not 'YYYY-MM-DD HH:MM:SS.ffffff'")
        if self.dialect == "postgresql":
            return f"cast('{watermark}+00' as timestamptz)"
        return f"'{watermark}'"  # SQLite stores timestamps as this very text


def _postgres_options(options: str) -> tuple[str | None, str | None]:
    """Split libpq ``options`` into the search path (pgjdbc's currentSchema) and the rest."""
    settings: list[str] = []
    tokens = shlex.split(options)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in ("-c", "--"):
            if i + 1 < len(tokens):
                settings.append(tokens[i + 1])
            i += 2
            continue
        settings.append(token[2:] if token.startswith("-c") else token.lstrip("-"))
        i += 1
    schema = None
    rest = []
    for setting in settings:
        name, _, value = setting.partition("=")
        if name.replace("-", "_") == "search_path":
            schema = value
        else:
            rest.append(f"-c {setting}")
    return schema, " ".join(rest) or None


def crm_connection(database_url: str) -> CrmConnection:
    """Turn the CRM's SQLAlchemy URL into a read-only JDBC connection."""
    try:
        url = sa.engine.make_url(database_url)
    except sa.exc.ArgumentError as exc:
        raise CrmConnectionError(
            "CEMS_CRM_DATABASE_URL is not a database URL; use sqlite:///path or "
            "postgresql+psycopg://user@host:port/db"
        ) from exc
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise CrmConnectionError(
                "the CRM database URL names no SQLite file; an in-memory CRM cannot be read "
                "over JDBC, use sqlite:///path/to/crm.db"
            )
        path = Path(url.database).expanduser().resolve()
        # open_mode 1 is SQLITE_OPEN_READONLY: the driver refuses any write.
        return CrmConnection("sqlite", f"jdbc:sqlite:{path}", "org.sqlite.JDBC", {"open_mode": "1"})
    if backend == "postgresql":
        host = url.host or "localhost"
        if ":" in host:
            host = f"[{host}]"
        properties = {"readOnly": "true", "readOnlyMode": "always"}
        if url.username:
            properties["user"] = url.username
        if url.password is not None:
            properties["password"] = str(url.password)
        for key, value in url.query.items():
            text = value[-1] if isinstance(value, tuple) else value
            if key == "options":
                schema, rest = _postgres_options(text)
                if schema:
                    properties["currentSchema"] = schema
                if rest:
                    properties["options"] = rest
            else:
                properties[key] = text
        jdbc = f"jdbc:postgresql://{host}:{url.port or 5432}/{url.database or ''}"
        return CrmConnection("postgresql", jdbc, "org.postgresql.Driver", properties)
    raise CrmConnectionError(
        f"the CRM database must be SQLite or PostgreSQL, not {backend}; "
        "set CEMS_CRM_DATABASE_URL to sqlite:///... or postgresql+psycopg://..."
    )


# ------------------------------------------------------------------ read window


@dataclass(frozen=True)
class ReadWindow:
    """Rows with ``after < updated_at <= until`` (no lower bound on the first read)."""

    after: str | None
    until: str

    def __post_init__(self) -> None:
        for bound in (self.after, self.until):
            if bound is not None and not WATERMARK_PATTERN.match(bound):
                raise ValueError(f"watermark {bound!r} is not 'YYYY-MM-DD HH:MM:SS.ffffff'")

    def render(self) -> str:
        """The batch input recorded at plan time, e.g. ``updated_at in (W1, W2]``."""
        return f"{WATERMARK_COLUMN} in ({self.after or NO_LOWER_BOUND}, {self.until}]"

    @classmethod
    def parse(cls, text: str) -> ReadWindow:
        prefix = f"{WATERMARK_COLUMN} in ("
        if not text.startswith(prefix) or not text.endswith("]") or ", " not in text:
            raise ValueError(f"{text!r} is not a CRM read window")
        after, until = text[len(prefix) : -1].split(", ", 1)
        return cls(None if after == NO_LOWER_BOUND else after, until)


def window_filter(crm: CrmConnection, window: ReadWindow) -> str:
    """The window's bounds as an SQL condition on ``updated_at``."""
    bounds = [f'"{WATERMARK_COLUMN}" <= {crm.literal(window.until)}']
    if window.after is not None:
        bounds.insert(0, f'"{WATERMARK_COLUMN}" > {crm.literal(window.after)}')
    return " and ".join(bounds)


def window_query(
    crm: CrmConnection, contract: Contract, window: ReadWindow, key_range: str | None = None
) -> str:
    """The pushed-down read of one window (or one key range of it), as a JDBC ``dbtable``
    subquery."""
    columns = ", ".join(f'"{c}"' for c in contract.column_names)
    where = window_filter(crm, window) + ("" if key_range is None else f" and {key_range}")
    return f'(select {columns} from "{contract.entity}" where {where}) crm_rows'


def split_column(contract: Contract) -> str | None:
    """The text key column a large window is read in ranges of (the first key column)."""
    keys = [c for c in contract.columns if c.is_primary_key]
    if keys and keys[0].logical_type == "string":
        return keys[0].name
    return None


def text_literal(value: str) -> str:
    """A text value as a standard SQL string literal (quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def key_ranges(column: str, bounds: list[str]) -> list[str]:
    """``WHERE`` conditions that cover every row exactly once, split at ``bounds``.

    Rows without a key fall in the first range (the contract check quarantines them). The
    comparisons are the database's own: ``bounds`` come in its ``ORDER BY`` order (its
    collation, which need not be Python's), so they are not sorted here.
    """
    if not bounds:
        return []
    name = f'"{column}"'
    cuts = [text_literal(b) for b in dict.fromkeys(bounds)]
    ranges = [f"({name} < {cuts[0]} or {name} is null)"]
    ranges += [f"({name} >= {low} and {name} < {high})" for low, high in pairwise(cuts)]
    ranges.append(f"{name} >= {cuts[-1]}")
    return ranges


def partition_column(contract: Contract) -> str | None:
    """A single numeric key to split reads on by value (every CRM key today is text, which
    :func:`split_column` splits instead)."""
    keys = [c for c in contract.columns if c.is_primary_key]
    if len(keys) == 1 and keys[0].logical_type == "integer":
        return keys[0].name
    return None


def partitioning(column: str | None, low: int | None, high: int | None) -> dict[str, str]:
    """JDBC read options: at most four key ranges read in parallel, else a single read."""
    if column is None or low is None or high is None or high <= low:
        return {"numPartitions": "1"}
    return {
        "partitionColumn": column,
        "lowerBound": str(low),
        "upperBound": str(high),
        "numPartitions": str(min(MAX_PARTITIONS, high - low + 1)),
    }


# ------------------------------------------------------------------ extract


def _reader(spark: SparkSession, crm: CrmConnection, dbtable: str) -> DataFrameReader:
    reader = (
        spark.read.format("jdbc")
        .option("url", crm.url)
        .option("driver", crm.driver)
        .option("dbtable", dbtable)
        .option("fetchsize", FETCH_SIZE)
    )
    for key, value in crm.properties.items():
        reader = reader.option(key, value)
    return reader


def high_watermark(spark: SparkSession, crm: CrmConnection, contract: Contract) -> str | None:
    """The newest ``updated_at`` in the CRM table now (None while it is empty)."""
    reader = _reader(
        spark,
        crm,
        f'(select max("{WATERMARK_COLUMN}") as high_watermark from "{contract.entity}") crm_max',
    )
    if crm.dialect == "sqlite":
        reader = reader.option("customSchema", "high_watermark STRING")
    value = (
        reader.load()
        .select(F.date_format(F.col("high_watermark").cast("timestamp"), SPARK_WATERMARK_FORMAT))
        .first()
    )
    return None if value is None or value[0] is None else str(value[0])


def split_bounds(
    spark: SparkSession, crm: CrmConnection, contract: Contract, window: ReadWindow, column: str
) -> list[str]:
    """Where to cut a large window into key ranges of about equal size (none if it is small).

    Two pushed-down queries: the window's row count, then every ``step``-th key in the
    database's own order.
    """
    where = window_filter(crm, window)
    table = f'"{contract.entity}"'
    counted = (
        _reader(spark, crm, f"(select count(*) as n from {table} where {where}) crm_count")
        .load()
        .first()
    )
    rows = int(counted[0]) if counted is not None and counted[0] is not None else 0
    parts = min(MAX_PARTITIONS, -(-rows // ROWS_PER_READ))
    if parts < 2:
        return []
    step = rows // parts
    key = f'"{column}"'
    ranked = (
        f"(select {key} as bound, rn from (select {key}, row_number() over (order by {key}) as rn"
        f" from {table} where {where} and {key} is not null) ranked"
        f" where rn > 1 and rn % {step} = 1 and rn <= {step * (parts - 1) + 1}) crm_bounds"
    )
    reader = _reader(spark, crm, ranked).option("customSchema", "bound STRING, rn LONG")
    # In the database's order (its collation), by rank: not re-sorted by Python or Spark.
    return [r.bound for r in sorted(reader.load().collect(), key=lambda r: r.rn)]


def extract(
    spark: SparkSession, crm: CrmConnection, contract: Contract, window: ReadWindow
) -> DataFrame:
    """The window's rows as the CRM holds them (SQLite: every column as text).

    Read with one connection per key range, at most ``MAX_PARTITIONS``: a single numeric
    key in ranges of equal width; a text key, once the window holds more than
    ``ROWS_PER_READ`` rows, at cuts the database picks (:func:`split_bounds`); anything else
    in one read.
    """
    column = partition_column(contract)
    options = partitioning(None, None, None)
    if column is not None:
        bounds = (
            _reader(spark, crm, window_query(crm, contract, window))
            .option("pushDownAggregate", "true")
            .load()
            .agg(F.min(column), F.max(column))
            .first()
        )
        if bounds is not None:
            options = partitioning(column, bounds[0], bounds[1])
    ranges: list[str] = []
    if column is None and (text_key := split_column(contract)) is not None:
        ranges = key_ranges(text_key, split_bounds(spark, crm, contract, window, text_key))

    if crm.dialect == "sqlite":
        # sqlite-jdbc guesses types from declarations; text keeps every value as stored and
        # lets the contract check name what does not parse.
        text = [n for n in contract.column_names if n != options.get("partitionColumn")]
        options["customSchema"] = ", ".join(f"`{n}` STRING" for n in text)

    def read(key_range: str | None) -> DataFrame:
        reader = _reader(spark, crm, window_query(crm, contract, window, key_range))
        return reader.options(**options).load()

    # One read per key range, each a partition of its own. (DataFrameReader.jdbc's
    # ``predicates`` would do the same, but it loses case-sensitive driver properties:
    # PostgreSQL's currentSchema did not reach the driver.)
    rows = reduce(DataFrame.unionAll, [read(r) for r in ranges]) if ranges else read(None)
    for name in rows.columns:
        # JDBC type hints (SQLite TEXT arrives as varchar(0)) would become Delta constraints.
        rows = rows.withMetadata(name, {})
    # Read once, by the bronze write; checks and silver read the batch back from bronze.
    return rows.withColumn("_source_file", F.lit(f"jdbc:{contract.name}"))


# ------------------------------------------------------------------ transform


def to_scd2_versions(unique: DataFrame, contract: Contract) -> DataFrame:
    """Checked rows in the SCD2 silver shape: each a current version from its ``updated_at``."""
    return unique.select(
        *[F.col(f"`{c}`") for c in contract.column_names],
        F.col(WATERMARK_COLUMN).alias("valid_from"),
        F.lit(None).cast("timestamp").alias("valid_to"),
        F.lit(True).alias("is_current"),
        *LINEAGE_COLUMNS,
    )


def version_changed(contract: Contract, new: str = "s", old: str = "t") -> str:
    """SQL condition: ``new`` is a later, different version of ``old``.

    ``updated_at`` alone changing (a touch) is not a new version; an older row read again
    (a re-run, an overlapping window) never replaces a newer one.
    """
    tracked = [
        c for c in contract.column_names if c not in contract.primary_key and c != WATERMARK_COLUMN
    ]
    differs = " OR ".join(f"NOT ({new}.`{c}` <=> {old}.`{c}`)" for c in tracked)
    return f"{new}.valid_from > {old}.valid_from AND ({differs})"


def scd2_merge_source(incoming: DataFrame, current: DataFrame, contract: Contract) -> DataFrame:
    """The staged MERGE source of the standard SCD2 upsert.

    Every incoming version under its key (``_merge_<key>``), matching the current version
    to close it if it changed; plus each changed version again with a null key, which
    matches nothing and is inserted as the new current version.
    """
    keys = contract.primary_key
    join = F.expr(" AND ".join(f"s.`{k}` = t.`{k}`" for k in keys))
    changed = (
        incoming.alias("s")
        .join(current.alias("t"), join, "inner")
        .filter(F.expr(version_changed(contract)))
        .select("s.*")
    )
    types = dict(incoming.dtypes)
    keyed = incoming.select(*[F.col(f"`{k}`").alias(f"_merge_{k}") for k in keys], "*")
    unkeyed = changed.select(*[F.lit(None).cast(types[k]).alias(f"_merge_{k}") for k in keys], "*")
    return keyed.unionByName(unkeyed)


# ------------------------------------------------------------------ load


def write_scd2(spark: SparkSession, lake: Lake, contract: Contract, unique: DataFrame) -> int:
    """SCD2 MERGE into silver; returns the versions inserted.

    Idempotent: replaying a batch whose MERGE already committed finds every row unchanged.
    """
    path = lake.silver(contract)
    versions = to_scd2_versions(unique, contract)
    if not table_exists(spark, path):
        # First load: every row is a new current version, written in one pass that counts
        # them. A crash after this commit makes the re-run MERGE, which finds every row
        # unchanged.
        watched, observation = observe(versions, [F.count(F.lit(1)).alias("rows")])
        with_statistics(
            watched.write.format("delta").mode("append"),
            silver_statistics(contract),
        ).save(path)
        counted = observed(observation)
        assert counted is not None  # a plain append always runs its query
        return int(counted["rows"])
    # Materialised once, as a fresh plan: the MERGE reads it twice (its self-join against
    # the current versions).
    incoming = versions.localCheckpoint(eager=True)
    target = DeltaTable.forPath(spark, path)
    current = target.toDF().filter(F.col("is_current"))
    source = scd2_merge_source(incoming, current, contract)
    on = " AND ".join(f"t.`{k}` = s.`_merge_{k}`" for k in contract.primary_key)
    columns = [*contract.column_names, *SCD2_COLUMNS, *LINEAGE_COLUMNS]
    metrics = (
        target.alias("t")
        .merge(source.alias("s"), f"{on} AND t.is_current")
        .whenMatchedUpdate(
            condition=version_changed(contract),
            set={"valid_to": "s.valid_from", "is_current": "false"},
        )
        .whenNotMatchedInsert(values={c: f"s.`{c}`" for c in columns})
        .execute()
        .first()
    )
    return int(metrics["num_inserted_rows"]) if metrics is not None else 0


def record_watermark(
    spark: SparkSession, lake: Lake, contract: Contract, batch_id: int, watermark: str, rows: int
) -> None:
    """Advance the table's watermark for a completed batch (once per batch, retry-safe)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    row = spark.createDataFrame(
        [(contract.name, batch_id, watermark, rows, now)], WATERMARK_SCHEMA
    ).coalesce(1)
    append_once(row, lake.watermarks, f"watermark/{contract.name}", batch_id)


@dataclass(frozen=True)
class ReadState:
    """Where a table's incremental reads stand."""

    watermark: str | None  # upper bound of the last completed read; None before the first
    unfinished: bool  # a planned batch has not completed (it is re-run first)


def read_states(spark: SparkSession, lake: Lake, contracts: list[Contract]) -> dict[str, ReadState]:
    """Each table's read state, from the batch log and the watermarks (one read of each).

    A batch that completed without its watermark recorded (a crash in between) gets it
    recorded here first, from the window in the batch log.
    """
    names = [c.name for c in contracts]
    if not table_exists(spark, lake.landed_files):
        return {n: ReadState(None, False) for n in names}
    entries = (
        spark.read.format("delta")
        .load(lake.landed_files)
        .filter(F.col("contract").isin(names))
        .select("contract", "batch_id", "status", "input")
        .collect()
    )
    marks = []
    if table_exists(spark, lake.watermarks):
        marks = (
            spark.read.format("delta")
            .load(lake.watermarks)
            .filter(F.col("contract").isin(names))
            .select("contract", "batch_id", "watermark")
            .collect()
        )
    states = {}
    for contract in contracts:
        mine = [e for e in entries if e.contract == contract.name]
        recorded = {m.batch_id: m.watermark for m in marks if m.contract == contract.name}
        completed = {e.batch_id for e in mine if e.status == "completed"}
        planned = {e.batch_id: e.input for e in mine if e.status == "planned"}
        for batch_id in sorted(completed - recorded.keys()):
            until = ReadWindow.parse(planned[batch_id]).until
            rows = bronze_batch(spark, lake, contract, batch_id).count()
            record_watermark(spark, lake, contract, batch_id, until, rows)
            recorded[batch_id] = until
        watermark = str(recorded[max(recorded)]) if recorded else None
        states[contract.name] = ReadState(watermark, bool(planned.keys() - completed))
    return states


def last_watermark(spark: SparkSession, lake: Lake, contract: Contract) -> str | None:
    """The upper bound of the last completed read of this table (None before the first)."""
    return read_states(spark, lake, [contract])[contract.name].watermark


def plan_read(
    spark: SparkSession,
    lake: Lake,
    crm: CrmConnection,
    contract: Contract,
    state: ReadState | None = None,
) -> tuple[Batch, ReadWindow] | None:
    """The batch to run and its window: an unfinished one (same bounds) or a new one."""
    state = state or read_states(spark, lake, [contract])[contract.name]
    until = high_watermark(spark, crm, contract)
    candidates = []
    if until is not None and (state.watermark is None or until > state.watermark):
        candidates.append(ReadWindow(state.watermark, until).render())
    if not candidates and not state.unfinished:
        return None  # nothing new, nothing to resume: leave the batch log alone
    batch = plan_batch(spark, lake, contract, candidates)
    if batch is None:
        return None
    return batch, ReadWindow.parse(batch.inputs[0])


def _silver_writer(
    spark: SparkSession, lake: Lake, contract: Contract
) -> Callable[[DataFrame], int] | None:
    """SCD2 for tables that keep history; None leaves ``land``'s MERGE by key."""
    if contract.name not in SCD2:
        return None

    def write(unique: DataFrame) -> int:
        return write_scd2(spark, lake, contract, unique)

    return write


def land_table(
    spark: SparkSession,
    lake: Lake,
    crm: CrmConnection,
    contract: Contract,
    state: ReadState | None = None,
) -> list[Reconciliation]:
    """Land what changed in one CRM table: an unfinished batch first, then new rows."""
    reports: list[Reconciliation] = []
    while (planned := plan_read(spark, lake, crm, contract, state)) is not None:
        batch, window = planned
        received = ingest_columns(
            extract(spark, crm, contract, window), contract.source, batch.batch_id
        )
        report = land(
            spark,
            lake,
            contract,
            batch,
            received,
            reference_keys(spark, lake, contract),
            order_by=[WATERMARK_COLUMN],
            write_silver=_silver_writer(spark, lake, contract),
        )
        record_watermark(spark, lake, contract, batch.batch_id, window.until, report.received)
        reports.append(report)
        if not batch.resumed:
            break
        state = ReadState(window.until, unfinished=False)
    return reports


def land_crm(spark: SparkSession, lake: Lake, settings: Settings) -> list[Reconciliation]:
    """Land every CRM table's changes since its watermark, parents first."""
    crm = crm_connection(settings.crm_database_url)
    contracts = [get_contract(name) for name in CRM]
    states = read_states(spark, lake, contracts)
    reports: list[Reconciliation] = []
    for contract in contracts:
        reports.extend(land_table(spark, lake, crm, contract, states[contract.name]))
    return reports
