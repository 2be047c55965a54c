"""Structured Streaming landing of telemetry and interactions: micro-batch files -> Delta.

Each contract is one streaming query over ``<landing>/<source>/<entity>/date=*/``
(Parquet read with the contract's Spark schema, JSON lines read as text with a
corrupt-record column) whose ``foreachBatch`` runs the same bronze -> check -> quarantine
-> silver transaction as batch landing, exactly once:

* The checkpoint (``lake.checkpoint``) fixes which files make up micro-batch *n*, so a
  batch replayed after a crash has the same rows. Every write is keyed by
  ``(table, query id, batch id)``: bronze, quarantine and the state row are Delta appends
  with ``txnAppId``/``txnVersion``; the silver MERGE runs with Delta's DML
  ``txnAppId``/``txnVersion`` session settings (and the key as ``userMetadata``), so a
  replay skips it and reads its counts back from the table history. The query id is part
  of the key because a new checkpoint numbers its batches from 0 again.
* Late events are judged here, not by Spark's ``withWatermark`` (which drops them
  silently). A file's high-water mark is the latest valid event time of every file that
  arrived before it (arrival = file modification time, then path); a row older than its
  file's mark minus the contract's ``lateArrivalToleranceMinutes`` goes to quarantine
  with the reason. The per-file event times are stored with each batch's counts in one
  small Delta table (:func:`state_path`), so the verdict does not depend on how files
  were grouped into micro-batches, on restarts, or on the trigger.
* Every micro-batch's counts (received, silver, quarantined by reason, duplicates) are
  committed with its state row; a run's :class:`Reconciliation` sums the rows of the
  batches it ran, so a replayed batch reports what it did the first time.

``land_stream`` runs a query with ``trigger(availableNow=True)`` (what the orchestrator
schedules); ``python -m spark_jobs.streaming --source telemetry|interactions`` runs a
source's queries continuously with a processing-time trigger.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.errors import PySparkException, StreamingQueryException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.streaming.query import StreamingQuery

from data_contracts.loader import Contract, get_contract
from data_contracts.schemas import spark_schema_json
from spark_jobs.batches import (
    Reconciliation,
    bronze_batch,
    ingest_columns,
    quarantine_rows,
    quarantined_batch,
    reference_keys,
)
from spark_jobs.lake import (
    BRONZE_STATISTICS,
    QUARANTINE_STATISTICS,
    Lake,
    append_once,
    is_empty,
    merge_by_key,
    observe,
    observed,
    silver_statistics,
    table_exists,
    with_statistics,
)
from spark_jobs.validate import (
    MALFORMED,
    RAW_PREFIX,
    VALID,
    WHY_FIRST,
    check_contract,
    check_references,
    deduplicate,
    flag,
    invalid_rows,
    valid_rows,
)

log = logging.getLogger(__name__)

# Source system -> its streamed contracts (landed side by side; see _streamed_entities).
STREAMS: dict[str, tuple[str, ...]] = {
    "telemetry": ("network.cell_kpis", "network.alarms"),
    "interactions": (
        "interactions.events",
        "interactions.tickets",
        "interactions.ticket_status_changes",
    ),
}
MAX_FILES_PER_TRIGGER = 100  # continuous runs: files arrive a few at a time
# availableNow catches up on a backlog: fewer, larger micro-batches (a collector drops about
# 125 files a day, each small), because each micro-batch costs a dozen Delta commits.
AVAILABLE_NOW_MAX_FILES = 1000
INTERVAL_SECONDS = 10.0
FILE_MODIFIED = "_file_modified_at"
HISTORY_DEPTH = 25  # commits searched for a replayed batch's MERGE
_TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
_TXN_VERSION = "spark.databricks.delta.write.txnVersion"
_USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

FILE_SCHEMA = T.StructType(
    [
        T.StructField("source_file", T.StringType()),
        T.StructField("file_modified_at", T.TimestampType()),
        T.StructField("rows", T.LongType()),
        T.StructField("max_event_at", T.TimestampType()),
    ]
)
STATE_SCHEMA = T.StructType(
    [
        T.StructField("stream", T.StringType()),
        T.StructField("query_id", T.StringType()),
        T.StructField("batch_id", T.LongType()),
        T.StructField("files", T.ArrayType(FILE_SCHEMA)),
        T.StructField("received", T.LongType()),
        T.StructField("silver", T.LongType()),
        T.StructField("duplicates", T.LongType()),
        T.StructField("quarantined", T.MapType(T.StringType(), T.LongType())),
        T.StructField("landed_at", T.TimestampType()),
    ]
)


def state_path(lake: Lake) -> str:
    """Per micro-batch: its files with their latest event time (the watermark) and counts."""
    return f"{lake.root}/_state/stream_batches"


def streamed_contracts(source: str) -> list[Contract]:
    if source not in STREAMS:
        raise ValueError(f"unknown streaming source {source!r}; choose one of {', '.join(STREAMS)}")
    return [get_contract(name) for name in STREAMS[source]]


def late_reason(contract: Contract) -> str:
    return f"event arrived later than the {contract.late_tolerance_minutes}-minute watermark"


# ------------------------------------------------------------------ extract


def read_schema(contract: Contract) -> T.StructType:
    """Parquet: the contract's types, all nullable (rules are checked, not enforced by the
    reader). JSON lines: every column as text plus the corrupt-record column."""
    if contract.delivery == "parquet_microbatch":
        typed = T.StructType.fromJson(spark_schema_json(contract))
        return T.StructType([T.StructField(f.name, f.dataType, True) for f in typed.fields])
    return T.StructType(
        [T.StructField(n, T.StringType()) for n in contract.column_names]
        + [T.StructField(MALFORMED, T.StringType())]
    )


def extract_stream(
    spark: SparkSession,
    landing: Path,
    contract: Contract,
    max_files_per_trigger: int = MAX_FILES_PER_TRIGGER,
) -> DataFrame:
    """The contract's landing folder as a stream of rows as delivered, with their file."""
    folder = landing / contract.source / contract.entity / "date=*"
    reader = (
        spark.readStream.schema(read_schema(contract))
        .option("maxFilesPerTrigger", max_files_per_trigger)
        .option("pathGlobFilter", f"*.{_suffix(contract)}")
    )
    if contract.delivery == "parquet_microbatch":
        stream = reader.parquet(str(folder))
    else:
        stream = (
            reader.option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", MALFORMED)
            .json(str(folder))
        )
    return stream.withColumn("_source_file", F.col("_metadata.file_path")).withColumn(
        FILE_MODIFIED, F.col("_metadata.file_modification_time")
    )


def _suffix(contract: Contract) -> str:
    if contract.delivery == "parquet_microbatch":
        return "parquet"
    if contract.delivery == "jsonl_microbatch":
        return "jsonl"
    raise ValueError(f"{contract.name} is delivered as {contract.delivery}, not as micro-batches")


# ------------------------------------------------------------------ transform


@dataclass(frozen=True)
class FileMark:
    """One landed file: when it arrived and the latest valid event time it carried."""

    source_file: str
    modified_us: int
    max_event_us: int | None
    rows: int = 0

    @property
    def arrival(self) -> tuple[int, str]:
        return (self.modified_us, self.source_file)


def high_water_marks(
    batch: list[FileMark], seen_before: int | None, seen_after: list[FileMark]
) -> dict[str, int | None]:
    """Per file of a micro-batch, the latest event time of all files that arrived before it.

    ``seen_before`` is the mark over stored files that arrived before the batch's first
    file; ``seen_after`` are stored files that arrived later but were landed earlier.
    """
    in_batch = {f.source_file for f in batch}
    marks: dict[str, int | None] = {}
    running = seen_before
    for mark in sorted([*seen_after, *batch], key=lambda m: m.arrival):
        if mark.source_file in in_batch:
            marks[mark.source_file] = running
        if mark.max_event_us is not None:
            running = mark.max_event_us if running is None else max(running, mark.max_event_us)
    return marks


def flag_late(checked: DataFrame, contract: Contract, marks: dict[str, int | None]) -> DataFrame:
    """Give the late reason, first, to rows older than their file's mark minus
    the contract's tolerance (rows of a file with no earlier file are never late)."""
    tolerance = contract.late_tolerance_minutes
    pairs = [(path, mark) for path, mark in sorted(marks.items()) if mark is not None]
    if tolerance is None or not pairs:
        return checked
    mark_of_file = F.create_map(*[F.lit(x) for pair in pairs for x in pair])[F.col("_source_file")]
    event_us = F.unix_micros(F.col(f"`{contract.freshness_column}`"))
    late = event_us < mark_of_file - F.lit(tolerance * 60_000_000)
    return flag(checked, f"{WHY_FIRST}late", F.when(late, F.lit(late_reason(contract))))


def file_marks(checked: DataFrame, contract: Contract) -> DataFrame:
    """Rows and latest event time (of rows that passed the contract) per file."""
    event_us = F.unix_micros(F.col(f"`{contract.freshness_column}`"))
    return checked.groupBy(
        "_source_file", F.unix_micros(F.col(FILE_MODIFIED)).alias("modified_us")
    ).agg(
        F.count(F.lit(1)).alias("rows"),
        F.max(F.when(F.col(VALID), event_us)).alias("max_event_us"),
    )


# ------------------------------------------------------------------ load


def _timestamp(us: int | None) -> datetime | None:
    return None if us is None else _EPOCH + timedelta(microseconds=us)


def ensure_shared_tables(spark: SparkSession, lake: Lake, contract: Contract) -> None:
    """Create the quarantine and state tables before concurrent queries race to."""
    if not table_exists(spark, state_path(lake)):
        spark.createDataFrame([], STATE_SCHEMA).write.format("delta").mode("append").save(
            state_path(lake)
        )
    if not table_exists(spark, lake.quarantine):
        received = ", ".join(f"`{RAW_PREFIX}{n}` string" for n in contract.column_names)
        empty = spark.createDataFrame(
            [],
            "_source_file string, _batch_id long, _violations array<string>, "
            f"{received}, _ingested_at timestamp",
        )
        with_statistics(
            quarantine_rows(empty, contract).write.format("delta").mode("append"),
            QUARANTINE_STATISTICS,
        ).partitionBy("contract").save(lake.quarantine)


@dataclass
class MicroBatchLander:
    """The ``foreachBatch`` function of one contract's query; remembers the batches it ran."""

    lake: Lake
    contract: Contract
    checkpoint: str
    batch_ids: list[int] = field(default_factory=list)
    query_id: str | None = None

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        session = batch.sparkSession
        query_id = self._query_id(session)
        # Keyed by query too: a new checkpoint numbers its micro-batches from 0 again.
        key = f"{self.contract.name}@{query_id}"
        columns, ingested_at = self._bronze(session, batch, key, batch_id)
        # The checks read the micro-batch back from bronze (its files are read once): its
        # number and ingest time tell its rows from any other query's batch of that number.
        staged = bronze_batch(session, self.lake, self.contract, batch_id, ingested_at).select(
            *columns
        )
        annotated, files = self._check(session, staged)
        self._load(session, annotated, files, query_id, batch_id, ingested_at)
        self.batch_ids.append(batch_id)

    def _bronze(
        self, session: SparkSession, batch: DataFrame, key: str, batch_id: int
    ) -> tuple[list[str], datetime]:
        """Append the micro-batch to bronze once; its columns and the ingest time its rows carry.

        Each attempt stamps its rows with its own time and records that time in its commit.
        A replay whose append Delta skips (an earlier attempt committed it) finds the time
        of the rows that did land in the table history.
        """
        path, app_id = self.lake.bronze(self.contract), f"bronze/{key}"
        marker = f"{app_id}:{batch_id}:"
        now = datetime.now(UTC)
        received = ingest_columns(batch, self.contract.source, batch_id, ingested_at=now)
        watched, observation = observe(received, [F.count(F.lit(1)).alias("rows")])
        append_once(
            watched,
            path,
            app_id,
            batch_id,
            user_metadata=marker + now.isoformat(),
            statistics=BRONZE_STATISTICS,
        )
        if observed(observation) is not None:  # this attempt's append committed
            return received.columns, now
        found = (
            DeltaTable.forPath(session, path)
            .history(HISTORY_DEPTH)
            .filter(F.col("userMetadata").startswith(marker))
            .select("userMetadata")
            .collect()
        )
        if not found:
            raise RuntimeError(
                f"{self.contract.name}: the bronze append of micro-batch {batch_id} is not in "
                f"the last {HISTORY_DEPTH} commits of {path}; was the table rewritten?"
            )
        return received.columns, datetime.fromisoformat(found[0]["userMetadata"][len(marker) :])

    def _query_id(self, session: SparkSession) -> str:
        if self.query_id is None:
            found = session.sparkContext.getLocalProperty("sql.streaming.queryId")
            if found is None:  # not on the query's thread: the checkpoint records the id
                metadata = session.read.json(f"{self.checkpoint}/metadata").first()
                if metadata is None:
                    raise RuntimeError(f"{self.checkpoint} has no query id in its metadata")
                found = str(metadata["id"])
            self.query_id = found
        return self.query_id

    def _check(
        self, session: SparkSession, received: DataFrame
    ) -> tuple[DataFrame, list[FileMark]]:
        """Contract rules, lateness against each file's high-water mark, then references."""
        contract = self.contract
        checked = check_contract(received, contract)
        files = [
            FileMark(r["_source_file"], r["modified_us"], r["max_event_us"], r["rows"])
            for r in file_marks(checked, contract).collect()
        ]
        marks = high_water_marks(files, *self._stored_marks(session, files))
        references = {
            ref: keys
            for ref, keys in reference_keys(session, self.lake, contract).items()
            if ref.split(".")[0] not in _streamed_entities()
        }
        return check_references(flag_late(checked, contract, marks), contract, references), files

    def _load(
        self,
        session: SparkSession,
        annotated: DataFrame,
        files: list[FileMark],
        query_id: str,
        batch_id: int,
        ingested_at: datetime,
    ) -> None:
        """Quarantine, silver, then the state row that records the batch as landed.

        One pass writes the rejected rows; their reasons are then counted from the
        quarantine table, and every other row is valid. One pass writes silver.
        """
        contract, lake = self.contract, self.lake
        key = f"{contract.name}@{query_id}"
        append_once(
            quarantine_rows(invalid_rows(annotated, contract), contract),
            lake.quarantine,
            f"quarantine/{key}",
            batch_id,
            partition_by=["contract"],
            statistics=QUARANTINE_STATISTICS,
        )
        reasons = {
            str(r["reason"]): int(r["count"])
            for r in quarantined_batch(session, lake, contract, batch_id, ingested_at)
            .groupBy("reason")
            .count()
            .collect()
        }
        received = sum(f.rows for f in files)
        valid = received - sum(reasons.values())
        written = 0
        if valid:
            unique = deduplicate(
                valid_rows(annotated), contract.primary_key, [FILE_MODIFIED, "_source_file"]
            ).select(*contract.column_names, "_source_file", "_batch_id", "_ingested_at")
            written = _merge_once(
                session, lake.silver(contract), unique, contract, f"silver/{key}", batch_id
            )
        duplicates = valid - written
        state = (
            contract.name,
            query_id,
            batch_id,
            [
                (f.source_file, _timestamp(f.modified_us), f.rows, _timestamp(f.max_event_us))
                for f in sorted(files, key=lambda m: m.arrival)
            ],
            received,
            written,
            duplicates,
            reasons,
            datetime.now(UTC),
        )
        append_once(
            session.createDataFrame([state], STATE_SCHEMA).coalesce(1),
            state_path(lake),
            f"state/{key}",
            batch_id,
        )
        log.info(
            "%s micro-batch %d: %d files, %d rows, %d to silver, %d duplicates, quarantined %s",
            contract.name,
            batch_id,
            len(files),
            received,
            written,
            duplicates,
            reasons,
        )

    def _stored_marks(
        self, session: SparkSession, batch: list[FileMark]
    ) -> tuple[int | None, list[FileMark]]:
        """Stored files' event times: one mark for those before the batch, the rest listed."""
        path = state_path(self.lake)
        if not batch or not table_exists(session, path):
            return None, []
        first = min(batch, key=lambda m: m.arrival)
        files = (
            session.read.format("delta")
            .load(path)
            .filter(F.col("stream") == self.contract.name)
            .select(F.explode("files").alias("f"))
            .select(
                F.col("f.source_file").alias("source_file"),
                F.unix_micros("f.file_modified_at").alias("modified_us"),
                F.unix_micros("f.max_event_at").alias("max_event_us"),
            )
            .filter(~F.col("source_file").isin([m.source_file for m in batch]))
        )
        before = (F.col("modified_us") < first.modified_us) | (
            (F.col("modified_us") == first.modified_us) & (F.col("source_file") < first.source_file)
        )
        rows = (
            files.groupBy(
                before.alias("before"),
                F.when(~before, F.col("source_file")).alias("source_file"),
                F.when(~before, F.col("modified_us")).alias("modified_us"),
            )
            .agg(F.max("max_event_us").alias("max_event_us"))
            .collect()
        )
        seen_before = next((r["max_event_us"] for r in rows if r["before"]), None)
        seen_after = [
            FileMark(r["source_file"], r["modified_us"], r["max_event_us"])
            for r in rows
            if not r["before"]
        ]
        return seen_before, seen_after


def _streamed_entities() -> set[str]:
    """Entities landed by streams: not checked as references, since their queries run
    concurrently (a ticket's status change may land a trigger before the ticket version);
    dbt's relationships tests check those keys in the warehouse."""
    return {get_contract(n).entity for names in STREAMS.values() for n in names}


def _merge_once(
    session: SparkSession,
    path: str,
    unique: DataFrame,
    contract: Contract,
    app_id: str,
    batch_id: int,
) -> int:
    """MERGE into silver unless this (app, batch) already did; the rows the write that
    committed inserted or changed, read from the table history.

    Into a silver table with no rows yet (the first micro-batch), a MERGE could only insert:
    the rows are appended instead, under the same transaction id and marker, which skips the
    MERGE's join. A replay after that commit is skipped by Delta either way (the table then
    has rows, so it tries the MERGE, under the id that already committed).
    """
    marker = f"{app_id}:{batch_id}"
    if is_empty(session, path):  # also when no table exists: this append creates it
        append_once(
            unique,
            path,
            app_id,
            batch_id,
            user_metadata=marker,
            statistics=silver_statistics(contract),
        )
    else:
        # The query's own (cloned) session: other queries' writes are unaffected.
        session.conf.set(_TXN_APP_ID, app_id)
        session.conf.set(_TXN_VERSION, str(batch_id))
        session.conf.set(_USER_METADATA, marker)
        try:
            merge_by_key(session, unique, path, contract.primary_key)
        finally:
            for key in (_TXN_APP_ID, _TXN_VERSION, _USER_METADATA):
                session.conf.unset(key)
    found = (
        DeltaTable.forPath(session, path)
        .history(HISTORY_DEPTH)
        .filter(F.col("operation").isin("MERGE", "WRITE") & (F.col("userMetadata") == marker))
        .collect()
    )
    if not found:
        raise RuntimeError(
            f"{contract.name}: the silver write of micro-batch {batch_id} is not in the last "
            f"{HISTORY_DEPTH} commits of {path}; was the table rewritten by another job?"
        )
    metrics = found[0]["operationMetrics"] or {}
    if found[0]["operation"] == "WRITE":
        return int(metrics.get("numOutputRows", 0))
    return int(metrics.get("numTargetRowsInserted", 0)) + int(
        metrics.get("numTargetRowsUpdated", 0)
    )


@dataclass
class StreamRun:
    """A started query and the lander that records its micro-batches."""

    contract: Contract
    query: StreamingQuery
    lander: MicroBatchLander

    def report(self, spark: SparkSession, lake: Lake) -> Reconciliation:
        """What this run's micro-batches did, from their committed state rows."""
        return reconcile(spark, lake, self.contract, str(self.query.id), self.lander.batch_ids)


def start_stream(
    spark: SparkSession,
    lake: Lake,
    landing: Path,
    name: str,
    available_now: bool = True,
    max_files_per_trigger: int | None = None,
    interval_seconds: float = INTERVAL_SECONDS,
) -> StreamRun:
    """Start one contract's query (availableNow, or a processing-time trigger)."""
    if max_files_per_trigger is None:
        max_files_per_trigger = AVAILABLE_NOW_MAX_FILES if available_now else MAX_FILES_PER_TRIGGER
    contract = get_contract(name)
    ensure_shared_tables(spark, lake, contract)
    checkpoint = lake.checkpoint(f"streaming/{contract.source}/{contract.entity}")
    lander = MicroBatchLander(lake, contract, checkpoint)
    writer = (
        extract_stream(spark, landing, contract, max_files_per_trigger)
        .writeStream.queryName(f"land_{contract.source}__{contract.entity}")
        .foreachBatch(lander)
        .option("checkpointLocation", checkpoint)
    )
    if available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{interval_seconds} seconds")
    return StreamRun(contract, writer.start(), lander)


def land_stream(
    spark: SparkSession,
    lake: Lake,
    landing: Path,
    name: str,
    available_now: bool = True,
    max_files_per_trigger: int | None = None,
    interval_seconds: float = INTERVAL_SECONDS,
) -> Reconciliation:
    """Land one contract's new files (availableNow: everything there now, then stop)."""
    run = start_stream(
        spark, lake, landing, name, available_now, max_files_per_trigger, interval_seconds
    )
    run.query.awaitTermination()
    return run.report(spark, lake)


def reconcile(
    spark: SparkSession, lake: Lake, contract: Contract, query_id: str, batch_ids: list[int]
) -> Reconciliation:
    """Sum the state rows of the given micro-batches (a run's, even across restarts)."""
    if not batch_ids:
        return Reconciliation(contract.name, -1, 0, skipped=True)
    rows = (
        spark.read.format("delta")
        .load(state_path(lake))
        .filter(
            (F.col("stream") == contract.name)
            & (F.col("query_id") == query_id)
            & F.col("batch_id").isin(batch_ids)
        )
        .collect()
    )
    report = Reconciliation(contract.name, max(batch_ids), 0)
    for row in rows:
        report.inputs += len(row["files"])
        report.received += row["received"]
        report.silver += row["silver"]
        report.duplicates += row["duplicates"]
        for reason, count in (row["quarantined"] or {}).items():
            report.quarantined[reason] = report.quarantined.get(reason, 0) + count
    return report


def land_streams(
    spark: SparkSession, lake: Lake, landing: Path, names: list[str] | tuple[str, ...]
) -> list[Reconciliation]:
    """Land several contracts availableNow, their queries running side by side (streamed
    entities are not checked as each other's references, so order does not matter)."""
    runs = [start_stream(spark, lake, landing, name) for name in names]
    failures: list[StreamingQueryException] = []
    for run in runs:
        try:
            run.query.awaitTermination()
        except StreamingQueryException as exc:
            failures.append(exc)
    if failures:
        raise failures[0]
    return [run.report(spark, lake) for run in runs]


def land_telemetry(spark: SparkSession, lake: Lake, landing: Path) -> list[Reconciliation]:
    """Network KPIs and alarms, availableNow."""
    return land_streams(spark, lake, landing, STREAMS["telemetry"])


def land_interactions(spark: SparkSession, lake: Lake, landing: Path) -> list[Reconciliation]:
    """Events, tickets and ticket status changes, availableNow."""
    return land_streams(spark, lake, landing, STREAMS["interactions"])


def run_forever(
    spark: SparkSession,
    lake: Lake,
    landing: Path,
    source: str,
    interval_seconds: float = INTERVAL_SECONDS,
    max_files_per_trigger: int = MAX_FILES_PER_TRIGGER,
) -> None:
    """Run a source's queries with a processing-time trigger until one fails or is stopped."""
    runs = [
        start_stream(
            spark,
            lake,
            landing,
            contract.name,
            available_now=False,
            max_files_per_trigger=max_files_per_trigger,
            interval_seconds=interval_seconds,
        )
        for contract in streamed_contracts(source)
    ]
    try:
        spark.streams.awaitAnyTermination()
    finally:
        for run in runs:
            run.query.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m spark_jobs.streaming",
        description="Land a source's micro-batch files into bronze and silver, exactly once.",
    )
    parser.add_argument("--source", choices=sorted(STREAMS), required=True)
    parser.add_argument(
        "--available-now",
        action="store_true",
        help="land what is there now and stop (default: run continuously)",
    )
    parser.add_argument("--interval-seconds", type=float, default=INTERVAL_SECONDS)
    parser.add_argument("--max-files-per-trigger", type=int, default=MAX_FILES_PER_TRIGGER)
    args = parser.parse_args(argv)
    if args.interval_seconds <= 0 or args.max_files_per_trigger < 1:
        parser.error("--interval-seconds must be positive and --max-files-per-trigger at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)

    from data_contracts.settings import get_settings
    from spark_jobs.jars import JarsMissingError
    from spark_jobs.session import get_spark

    settings = get_settings()
    try:
        spark = get_spark(f"cems-stream-{args.source}", settings)
        lake, landing = Lake.from_settings(settings), settings.landing_path
        if args.available_now:
            for report in land_streams(spark, lake, landing, STREAMS[args.source]):
                print(json.dumps(report.to_dict(), sort_keys=True))
        else:
            run_forever(
                spark, lake, landing, args.source, args.interval_seconds, args.max_files_per_trigger
            )
    except (JarsMissingError, PySparkException) as exc:
        print(f"error: streaming {args.source} stopped: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
